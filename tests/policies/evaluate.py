"""Evaluate one rule in-process exactly as the pack does: for tests that flip a property and look."""

from __future__ import annotations

from scripts.documents import reader as inputs
from tradesense_policies.model import Resource, Stack
from tradesense_policies.pack import messages
from tradesense_policies.registry import NotApplicable


def violations(rule, resources: list[inputs.ResourceState]) -> list[tuple[str, str]]:
    """(urn, message) of every violation of `rule`, computed in-process exactly as the pack does."""
    if rule.kind == "stack":
        stack = Stack(
            Resource(r.type, r.urn, r.name, r.state, r.parent, r.dependencies, r.property_dependencies)
            for r in resources
        )
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
