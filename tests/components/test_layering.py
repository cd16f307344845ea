"""Dependencies point one way: stacks/ composes components/, and no component reads the stack's
settings. A component that imported stacks.settings could not be reused by another stack, and the
settings could never validate against the component's own limits without a cycle."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

COMPONENTS = Path(__file__).resolve().parents[2] / "components"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved inside the components package
                found.add("components." + (node.module or ""))
            elif node.module:
                found.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found.update(arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str))
    return found


@pytest.mark.parametrize("path", sorted(COMPONENTS.glob("*.py")), ids=lambda p: p.name)
def test_no_component_imports_the_stacks_package(path):
    wrong = sorted(m for m in imported_modules(path) if m == "stacks" or m.startswith("stacks."))
    assert not wrong, f"components/{path.name} imports {wrong}: components must not depend on stacks/"


def test_the_check_sees_an_import_of_stacks(tmp_path):
    # The test above must be able to fail: every spelling of the import is caught.
    for source in (
        "from stacks.settings import RateLimit",
        "import stacks.settings",
        "import stacks",
        "importlib.import_module('stacks.settings')",
    ):
        probe = tmp_path / "probe.py"
        probe.write_text(source + "\n")
        assert any(m.startswith("stacks") for m in imported_modules(probe)), source


def test_limits_need_only_the_standard_library():
    # The policy pack's own venv (policies/requirements.txt) has no pulumi-aws, yet reads the
    # stack's settings, which import components.limits.
    modules = {m.split(".")[0] for m in imported_modules(COMPONENTS / "limits.py")}
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules
