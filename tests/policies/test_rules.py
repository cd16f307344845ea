"""Every policy against the real prod stack: it passes as built, and fails when the one property
it guards is flipped (the mutation), on the resource that was changed."""

from __future__ import annotations

import pytest

from tests.policies.evaluate import violations
from tests.policies.mutations import MUTATIONS
from tradesense_policies import waivers
from tradesense_policies.governance import WAIVERS_SCOPED
from tradesense_policies.registry import all_rules

RULES = all_rules()
# waivers-scoped judges the waivers the pack applies, not a property of a resource: its passing and
# failing cases (in process and through the CLI pack) are in test_waivers.py.
RESOURCE_GUARDS = {name: rule for name, rule in RULES.items() if name != WAIVERS_SCOPED}
WAIVERS = waivers.load()
TODAY = __import__("datetime").date(2026, 1, 15)


def unwaived(name, found):
    return [(urn, m) for urn, m in found if not waivers.match(WAIVERS, name, urn, TODAY)[0]]


def test_every_rule_has_a_mutation():
    assert set(MUTATIONS) == set(RESOURCE_GUARDS)


@pytest.mark.parametrize("name", sorted(RESOURCE_GUARDS))
def test_prod_passes_and_the_flipped_property_fails(name, prod_resources):
    rule = RULES[name]
    applicable = [r for r in prod_resources if r.type in rule.resource_types]
    assert applicable, f"{name}: prod has no {rule.resource_types[:3]} to judge"
    assert unwaived(name, violations(rule, prod_resources)) == [], "the real prod inputs must pass"
    found = unwaived(name, violations(rule, MUTATIONS[name](prod_resources)))
    assert found, f"{name}: flipping its property went unnoticed"
    for urn, message in found:
        # A stack rule may report a control missing from the whole stack (no resource to name).
        assert message and (urn or rule.kind == "stack")


def test_unknown_values_are_not_failures(prod_resources):
    from tradesense_policies.model import UNKNOWN
    from tradesense_policies.registry import Unknown

    instance = next(r for r in prod_resources if r.type == "aws:rds/instance:Instance")
    instance.inputs["kmsKeyId"] = UNKNOWN
    with pytest.raises(Unknown):
        violations(RULES["rds-storage-encrypted-cmk"], prod_resources)
