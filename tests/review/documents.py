"""Helpers that make a review's head from prod's preview the way a one-line change would."""

from __future__ import annotations

import json
from typing import Any

DB = "urn:pulumi:prod::tradesense::tradesense:database:PostgresDatabase$aws:rds/instance:Instance::auth-db-instance"


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
