"""Entry point for `pulumi up` / `pulumi preview` (Pulumi.yaml: `main: stacks/`).

The language host puts stacks/ on sys.path, not the repo root, so the root is added to import
`components` and `stacks` as packages, the same way tests and the offline preview import them.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.platform import main  # noqa: E402  (needs the path above)

main()
