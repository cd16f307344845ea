"""Entry point for `pulumi up` / `pulumi preview` (Pulumi.yaml: `main: stacks/`).

The language host puts stacks/ on sys.path, not the repo root, so the root is added to import
`components` and `stacks` as packages, the same way tests and the offline preview import them.
No module in stacks/ may share a name with a standard-library module (a `platform.py` here would
shadow `import platform` for every library the program loads).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.program import main  # noqa: E402  (needs the path above)

main()
