"""Review fixtures: prod's offline preview (built once per session, tests/conftest.py) as the base,
and helpers that make a head from it the way a one-line change would."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

DB = "urn:pulumi:prod::tradesense::tradesense:database:PostgresDatabase$aws:rds/instance:Instance::auth-db-instance"


@pytest.fixture
def base_doc(prod_preview) -> dict[str, Any]:
    return copy.deepcopy(prod_preview)


@pytest.fixture
def head_doc(prod_preview) -> dict[str, Any]:
    return copy.deepcopy(prod_preview)


def state(document: dict[str, Any], urn: str) -> dict[str, Any]:
    for step in document["steps"]:
        if step["newState"]["urn"] == urn:
            return step["newState"]
    raise LookupError(urn)


def first_of_type(document: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(s["newState"] for s in document["steps"] if s["newState"]["type"] == type_)


def rename_subtree(document: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The head a rename of component `old` to `new` (children `old-x` -> `new-x`) produces, without
    alias: every URN ending in `::old` or `::old-...` takes the new name (parents and references too)."""
    text = json.dumps(document)
    text = text.replace(f'::{old}"', f'::{new}"').replace(f"::{old}-", f"::{new}-")
    return json.loads(text)


@pytest.fixture
def write_json(tmp_path) -> Callable[[str, Any], Any]:
    def write(name: str, document: Any):
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return path

    return write
