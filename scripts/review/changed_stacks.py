"""Which stacks a change touches: `git diff --name-only BASE...HEAD | python -m scripts.review.changed_stacks`.

Prints a JSON list of stack names (the pull-request workflow's preview matrix). A changed
`Pulumi.<stack>.yaml` touches that stack; a change to the code every stack runs (the program, its
components, the policy pack and waivers, the tooling, the pinned dependencies, the workflow itself)
touches every `Pulumi.*.yaml` in the repo. Anything else (docs, tests) touches none. A deleted
stack file is not previewed.

Exit codes: 0 the list was printed; 2 unusable arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

# Standard library only: the workflow runs this before installing anything.
REPO_ROOT = Path(__file__).resolve().parents[2]

# Paths (prefixes) whose change can alter what any stack deploys or how it is judged.
SHARED_CODE = (
    "components/",
    "stacks/",
    "policies/",
    "scripts/",
    "Pulumi.yaml",
    "requirements",
    "constraints",
    ".github/workflows/pull-request.yml",
)
_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.yaml$")


def all_stacks(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def changed_stacks(paths: Iterable[str], root: Path = REPO_ROOT) -> list[str]:
    """The stacks to preview for a change to `paths` (repo-relative, as git prints them)."""
    existing = all_stacks(root)
    touched: set[str] = set()
    for path in (p.strip() for p in paths):
        if not path:
            continue
        match = _STACK_FILE.match(path)
        if match:
            touched.add(match["stack"])
        elif path.startswith(SHARED_CODE):
            return existing
    return sorted(touched & set(existing))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.review.changed_stacks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--project-dir", type=Path, default=REPO_ROOT, help="where the Pulumi.*.yaml files are")
    args = parser.parse_args(argv)
    if not (args.project_dir / "Pulumi.yaml").is_file():
        print(f"error: --project-dir = {str(args.project_dir)!r}: no Pulumi.yaml there", file=sys.stderr)
        return 2
    print(json.dumps(changed_stacks(sys.stdin.read().splitlines(), args.project_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
