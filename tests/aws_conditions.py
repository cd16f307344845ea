"""Evaluate resource-policy statements against a request context, the way IAM's documentation says.

Enough of IAM's evaluation logic to ask "is this request denied by an explicit Deny?" of the policies
the program writes, so tests pin AWS's behaviour rather than the spelling we chose:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html

- Several keys under one operator, and several operators in one block, must all be true (AND); several
  values for one key match if any does (OR).
- A positive operator (StringEquals, StringLike, ArnLike, Bool) is false when the key is missing from
  the request; a negated one (StringNotEquals, StringNotLike, ArnNotLike) is TRUE when it is missing
  ("...IfExists" makes a positive operator true for a missing key as well).
- `Null: "true"` is true when the key is missing, `Null: "false"` when it is present.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotLike", "ArnNotEquals", "StringNotEqualsIgnoreCase"}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _match_one(operator: str, actual: str, expected: str) -> bool:
    if operator in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals", "Bool"):
        return str(actual) == str(expected)
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return str(actual).lower() == str(expected).lower()
    if operator in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return fnmatch.fnmatchcase(str(actual), str(expected))
    raise NotImplementedError(f"condition operator {operator} is not modelled here")


def condition_true(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    """One operator/key pair of a Condition block against the request context."""
    present = key in context and context[key] is not None
    if operator == "Null":
        return (not present) == (str(expected).lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    if not present:
        return base in _NEGATED or if_exists
    actuals = _as_list(context[key])
    hits = any(_match_one(base, actual, value) for actual in actuals for value in _as_list(expected))
    return not hits if base in _NEGATED else hits


def conditions_true(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    return all(
        condition_true(operator, key, expected, context)
        for operator, block in (condition or {}).items()
        for key, expected in block.items()
    )


def statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    actions = _as_list(statement.get("Action", []))
    resources = _as_list(statement.get("Resource", []))
    return (
        any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)
        and any(fnmatch.fnmatchcase(resource, r) for r in resources)
        and conditions_true(statement.get("Condition"), context)
    )


def explicitly_denied(policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> list[str]:
    """The Sids of the Deny statements that apply to this request (empty: not denied by this policy)."""
    return [
        statement.get("Sid", "?")
        for statement in policy["Statement"]
        if statement["Effect"] == "Deny" and statement_applies(statement, action, resource, context)
    ]


def allowing_statements(
    policy: Mapping[str, Any], principal_service: str, action: str, context: Mapping[str, Any]
) -> list[str]:
    """The Sids of Allow statements naming this service principal that apply to the request
    (resource "*", as in a key policy)."""
    found = []
    for statement in policy["Statement"]:
        services = (
            _as_list((statement.get("Principal") or {}).get("Service", []))
            if isinstance(statement.get("Principal"), dict)
            else []
        )
        if (
            statement["Effect"] == "Allow"
            and principal_service in services
            and statement_applies(statement, action, "*", context)
        ):
            found.append(statement.get("Sid", "?"))
    return found
