"""Governance: the pack's guard on the exceptions it honours itself.

Under the Pulumi CLI the pack applies policies/waivers.yaml (pack.Gate): an active waiver silences
the violations it covers. A waiver names resources; one whose pattern covers every resource its
policy judges in this stack switches that policy off for the stack, which is a decision the entry
must state (`all_resources: true`, with its reason), not a side effect of a loose pattern. The
policy `waivers-scoped` reports each such waiver as a mandatory stack violation, so the deploy stops.

Raw mode (TRADESENSE_POLICY_RAW=1: the offline report and the change review): the pack applies no
waiver there, but reads the file its caller applies (TRADESENSE_WAIVERS) and judges it the same way.
The report refuses a too-broad waiver itself as well (exit 2, checkov's findings included), so under
the report this policy passes whenever a report is written at all.

Change management: a waiver is an approved change to what the gate enforces, so it must say exactly
what it changes (PCI DSS v4.0 6.5.1 "reason for, and description of, the change" and "documented
change approval by authorized parties"; SOC 2 CC8.1, changes are authorized, documented and approved).
"""

from __future__ import annotations

from collections.abc import Sequence

from tradesense_policies import rules as _rules  # noqa: F401  (every other policy registers first; this one lists last)
from tradesense_policies import types as t
from tradesense_policies import waivers as waiver_module
from tradesense_policies.model import Stack
from tradesense_policies.registry import PCI, SOC2, all_rules, stack_rule

WAIVERS_SCOPED = "waivers-scoped"


@stack_rule(
    name=WAIVERS_SCOPED,
    description=(
        "No waiver the pack applies covers every resource its policy judges in the stack, unless the "
        "waiver says all_resources: true."
    ),
    resource_types=(t.STACK,),  # the stack as a whole (its waivers), no one resource
    severity="high",
    remediation=(
        "In policies/waivers.yaml name the resources the waiver is for, or set all_resources: true "
        "and say in the reason why the policy must be waived for every resource of the stack."
    ),
    url="https://www.pulumi.com/docs/discovery-governance/concepts/policy-as-code/policies/",
    compliance=((SOC2, "CC8.1"), (PCI, "6.5.1")),
)
def waivers_scoped(stack: Stack, waivers: Sequence[waiver_module.Waiver] | None = None) -> list[tuple[str, str]]:
    """One stack-level violation per waiver covering every resource its policy judges here.
    `waivers`: those the pack applies (pack.Gate); None reads the committed policies/waivers.yaml."""
    if waivers is None:
        waivers = waiver_module.load()
    subjects = {
        rule.name: [r.urn for r in stack.resources if r.type in rule.resource_types] for rule in all_rules().values()
    }
    return [("", f"waivers.yaml refused: {problem}") for problem in waiver_module.breadth_problems(waivers, subjects)]
