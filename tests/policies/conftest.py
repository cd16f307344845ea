"""Policy fixtures: the real prod preview (tests/conftest.py builds it once per session) as the
report reads it, and one gRPC evaluation of it shared by the tests that only read results."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from scripts.report import inputs
from tradesense_policies.model import Resource, Stack
from tradesense_policies.pack import messages
from tradesense_policies.registry import NotApplicable


@pytest.fixture(scope="session")
def prod_input(prod_preview) -> inputs.StackInput:
    return inputs.parse(prod_preview, "prod preview")


@pytest.fixture
def prod_resources(prod_input) -> list[inputs.ResourceState]:
    """A private deep copy of prod's resources, free to mutate."""
    return copy.deepcopy(prod_input.resources)


@pytest.fixture(scope="session")
def prod_report(prod_preview_path):
    from scripts.policy_report import build_report

    return build_report(str(prod_preview_path), today=dt.date(2026, 1, 15))


def violations(rule, resources: list[inputs.ResourceState]) -> list[tuple[str, str]]:
    """(urn, message) of every violation of `rule`, computed in-process exactly as the pack does."""
    if rule.kind == "stack":
        stack = Stack(Resource(r.type, r.urn, r.name, r.state, r.parent, r.dependencies, r.property_dependencies)
                      for r in resources)
        return list(rule.check(stack))
    found = []
    for r in resources:
        if r.type in rule.resource_types and r.analyzed:
            try:
                outcome = rule.check(r.inputs, Resource(r.type, r.urn, r.name, r.inputs))
            except NotApplicable:
                continue
            found += [(r.urn, m) for m in messages(outcome)]
    return found
