"""The policy registry: every rule as a plain function plus the metadata auditors need.

Rules register themselves with `resource_rule` / `stack_rule`. Nothing here imports pulumi-policy,
so the offline report, the docs generator and the tests read the same metadata cheaply; `pack.py`
turns the registry into CrossGuard policies.

A resource rule is `check(props, resource) -> Violations` (`ResourceCheck`): nothing means
compliant, each string is one violation. It may raise `NotApplicable(reason)`, and reading a value
that is unknown until deploy (through `model.get_path`) raises `Unknown`, which the pack reports the
way the SDK does ("can't run policy during preview"), never as a failure.

A stack rule is `check(stack) -> Iterable[Finding]` (`StackCheck`), a finding being (urn, message),
over a `Stack` of all resources; its `resource_types` are the subjects it judges (the report marks
each of them pass or fail).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tradesense_policies.model import Props, Resource, Stack

# Re-exported (`as`): rules and the pack import them from here.
from tradesense_policies.outcomes import NotApplicable as NotApplicable
from tradesense_policies.outcomes import Unknown as Unknown

# The frameworks every policy is mapped to (framework names exactly as reports print them).
PCI = "PCI DSS v4.0"
SOC2 = "SOC 2"
GDPR = "GDPR"
CIS = "CIS AWS Foundations v3.0.0"
FSBP = "AWS FSBP"
FRAMEWORKS = (PCI, SOC2, GDPR, CIS, FSBP)
FRAMEWORK_URLS = {
    PCI: "https://docs-prv.pcisecuritystandards.org/PCI%20DSS/Standard/PCI-DSS-v4_0.pdf",
    SOC2: "https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022",
    GDPR: "https://gdpr-info.eu/art-32-gdpr/",
    CIS: "https://www.cisecurity.org/benchmark/amazon_web_services",
    FSBP: "https://docs.aws.amazon.com/securityhub/latest/userguide/fsbp-standard.html",
}
SEVERITIES = ("low", "medium", "high", "critical")
ENFORCEMENTS = ("mandatory", "advisory")

Violations = str | list[str] | None
"""A resource rule's verdict: None (or an empty list) is compliant, each string one violation."""
Finding = tuple[str, str]
"""One violation of a stack rule: the URN of the resource it is about, and the message."""
ResourceCheck = Callable[[Props, Resource], Violations]
StackCheck = Callable[[Stack], Iterable[Finding]]
_ResourceCheckT = TypeVar("_ResourceCheckT", bound=ResourceCheck)
_StackCheckT = TypeVar("_StackCheckT", bound=StackCheck)
_CheckT = TypeVar("_CheckT", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    kind: str
    """`resource` or `stack`."""
    domain: str
    """The module the rule lives in (encryption, transit, exposure, ...): groups docs and JUnit."""
    resource_types: tuple[str, ...]
    """Types the rule judges: a resource rule runs on them, a stack rule reports on them."""
    severity: str
    enforcement: str
    remediation: str
    url: str
    compliance: tuple[tuple[str, str], ...]
    evidence: tuple[str, ...]
    """Property paths the rule reads (`a.b`, lists flattened), shown to auditors as evidence."""
    check: Callable[..., Any] = field(repr=False, compare=False)
    """A `ResourceCheck` or a `StackCheck`, as `kind` says (callers choose the arguments by kind)."""
    advisory_reason: str = ""
    """Why the rule is advisory rather than mandatory (required when it is)."""
    config: tuple[str, ...] = ()
    """Keys of `floors.FLOORS` the rule reads: its CrossGuard config schema."""

    @property
    def tags(self) -> list[str]:
        return [f"{fw}:{control}" for fw, control in self.compliance]


REGISTRY: dict[str, Rule] = {}


def _register(
    kind: str,
    *,
    name: str,
    description: str,
    resource_types: Iterable[str],
    severity: str,
    remediation: str,
    url: str,
    compliance: Iterable[tuple[str, str]],
    evidence: Iterable[str] = (),
    enforcement: str = "mandatory",
    advisory_reason: str = "",
    config: Iterable[str] = (),
) -> Callable[[_CheckT], _CheckT]:
    def decorate(check: _CheckT) -> _CheckT:
        pairs = tuple(compliance)
        problems = []
        if name in REGISTRY:
            problems.append("duplicate name")
        if severity not in SEVERITIES:
            problems.append(f"severity {severity!r}")
        if enforcement not in ENFORCEMENTS:
            problems.append(f"enforcement {enforcement!r}")
        if enforcement == "advisory" and not advisory_reason:
            problems.append("advisory without advisory_reason")
        if not pairs or any(fw not in FRAMEWORKS for fw, _ in pairs):
            problems.append("compliance must be (framework, control) pairs over " + ", ".join(FRAMEWORKS))
        if not (remediation and url.startswith("https://") and resource_types):
            problems.append("remediation, an https url and resource_types are required")
        from tradesense_policies.floors import FLOORS

        problems += [f"unknown config key {key!r}" for key in config if key not in FLOORS]
        if problems:
            raise ValueError(f"policy {name}: " + "; ".join(problems))
        REGISTRY[name] = Rule(
            name=name,
            description=description,
            kind=kind,
            domain=check.__module__.rsplit(".", 1)[-1],
            resource_types=tuple(resource_types),
            severity=severity,
            enforcement=enforcement,
            remediation=remediation,
            url=url,
            compliance=pairs,
            evidence=tuple(evidence),
            check=check,
            advisory_reason=advisory_reason,
            config=tuple(config),
        )
        return check

    return decorate


def resource_rule(**meta: Any) -> Callable[[_ResourceCheckT], _ResourceCheckT]:
    """Registers a `ResourceCheck` (mypy checks the decorated function's signature against it)."""
    return _register("resource", **meta)


def stack_rule(**meta: Any) -> Callable[[_StackCheckT], _StackCheckT]:
    """Registers a `StackCheck`."""
    return _register("stack", **meta)


def all_rules() -> dict[str, Rule]:
    """Every rule, after importing each domain module once."""
    from tradesense_policies import governance, rules  # noqa: F401  (register on import)

    return REGISTRY


def rule(name: str) -> Rule | None:
    return all_rules().get(name)
