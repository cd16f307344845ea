"""The contract every component keeps, checked once over all of them instead of a copy per file.

Each module in components/ that declares a ComponentResource must have: a frozen, keyword-only
`<Component>Args` whose every field is documented; insecure choices as opt-ins that default off;
a type token `tradesense:<module>:<Noun>`; and `register_outputs` as the last thing its constructor
does (callers read outputs; the engine only sees them once registered).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
from pathlib import Path

import pytest

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
TYPE_TOKEN = re.compile(r"^tradesense:[a-z]+:[A-Z][A-Za-z]+$")
# Field names that switch a protection off: they must say so and default to the secure value.
INSECURE_WORDS = ("insecure", "allow_public", "skip_final_snapshot", "disable")


def _component_modules() -> list[str]:
    modules = []
    for path in sorted(COMPONENTS.glob("*.py")):
        tree = ast.parse(path.read_text())
        if any(
            isinstance(node, ast.ClassDef) and any(ast.unparse(b).endswith("ComponentResource") for b in node.bases)
            for node in tree.body
        ):
            modules.append(path.stem)
    return modules


MODULES = _component_modules()


def _classes(module: str) -> tuple[ast.Module, dict[str, ast.ClassDef]]:
    tree = ast.parse((COMPONENTS / f"{module}.py").read_text())
    return tree, {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _components(module: str) -> list[ast.ClassDef]:
    _, classes = _classes(module)
    return [c for c in classes.values() if any(ast.unparse(b).endswith("ComponentResource") for b in c.bases)]


def test_there_is_one_component_per_file_and_all_are_checked():
    assert len(MODULES) >= 11
    for module in MODULES:
        assert len(_components(module)) == 1, f"components/{module}.py declares more than one component"


@pytest.mark.parametrize("module", MODULES)
def test_args_are_frozen_keyword_only_and_every_field_is_documented(module):
    (component,) = _components(module)
    _, classes = _classes(module)
    args_name = f"{component.name}Args"
    assert args_name in classes, f"components/{module}.py: {component.name} has no {args_name}"
    cls = getattr(importlib.import_module(f"components.{module}"), args_name)
    params = cls.__dataclass_params__
    assert params.frozen, f"{args_name} must be frozen"
    assert all(f.kw_only for f in dataclasses.fields(cls)), f"{args_name} must be keyword-only"
    body = classes[args_name].body
    undocumented = []
    for index, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            following = body[index + 1] if index + 1 < len(body) else None
            if not (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                and following.value.value.strip()
            ):
                undocumented.append(node.target.id)
    assert not undocumented, f"{args_name}: undocumented fields {undocumented}"


@pytest.mark.parametrize("module", MODULES)
def test_insecure_choices_are_named_opt_ins_that_default_off(module):
    (component,) = _components(module)
    cls = getattr(importlib.import_module(f"components.{module}"), f"{component.name}Args")
    for f in dataclasses.fields(cls):
        if any(word in f.name for word in INSECURE_WORDS):
            assert f.default is False, f"{cls.__name__}.{f.name} must default to False (the secure posture)"


@pytest.mark.parametrize("module", MODULES)
def test_type_token_names_the_module_and_outputs_are_registered_last(module):
    (component,) = _components(module)
    init = next(n for n in component.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    first = (
        init.body[1]
        if isinstance(init.body[0], ast.Expr) and isinstance(init.body[0].value, ast.Constant)
        else init.body[0]
    )
    tokens = [
        arg.value
        for node in ast.walk(first)
        if isinstance(node, ast.Call)
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    ]
    assert tokens and TYPE_TOKEN.match(tokens[0]), f"{component.name}: first statement must be super().__init__(token)"
    assert tokens[0].endswith(f":{component.name}")
    last = init.body[-1]
    assert (
        isinstance(last, ast.Expr)
        and isinstance(last.value, ast.Call)
        and ast.unparse(last.value.func) == "self.register_outputs"
    ), f"{component.name}.__init__ must end with self.register_outputs(...)"
    calls = [n for n in ast.walk(init) if isinstance(n, ast.Call) and ast.unparse(n.func) == "self.register_outputs"]
    assert len(calls) == 1
