"""Turn the registry into CrossGuard policies and serve them (what `pulumi preview --policy-pack` runs).

Under the CLI the pack applies waivers itself: a violation covered by an active waiver is not
reported, one covered only by an expired waiver is reported with a note saying so. The offline
report starts the pack with TRADESENSE_POLICY_RAW=1 to receive every violation and applies the very
same waiver module, so it can list waived results for auditors. A waiver covering every resource its
policy judges in the stack (without `all_resources: true`) is reported by the mandatory stack policy
`waivers-scoped` (governance.py), in both modes: it judges the waiver file the gate read.

Under the CLI the SDK's public PolicyPack serves; in raw mode the indexed servicer (fastpack.py, on the
SDK's private servicer, for the pulumi-policy release it was written for) answers the same protocol.

Environment: TRADESENSE_WAIVERS (another waivers file), TRADESENSE_POLICY_RAW=1 (report everything;
the report marks waivers itself). TRADESENSE_WAIVER_TODAY (YYYY-MM-DD) moves the clock in raw mode
only: the pack applying waivers itself (under the CLI) always uses the real date.

Thresholds come from each policy's CrossGuard config (`floors.py`), never from the stack's config.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from tradesense_policies import waivers as waiver_module
from tradesense_policies.floors import FLOORS
from tradesense_policies.governance import WAIVERS_SCOPED
from tradesense_policies.model import UNKNOWN, Resource, Stack
from tradesense_policies.outcomes import NotApplicable, Unknown
from tradesense_policies.registry import Rule, all_rules

PACK_NAME = "tradesense-security"
_SEVERITY = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH, "critical": Severity.CRITICAL}
_ENFORCEMENT = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
Report = Callable[[str, Any], None]
Validate = Callable[[Any, ReportViolation], None]


def plain(value: Any) -> Any:
    """pulumi-policy's unknown-checking proxies as plain dicts/lists (unknowns stay sentinels)."""
    if isinstance(value, Mapping):
        target = value["__target"] if _is_proxy(value) else value
        return {k: plain(v) for k, v in target.items()}
    if isinstance(value, (list, tuple)) or _is_proxy(value):
        target = value["__target"] if _is_proxy(value) else value
        return [plain(v) for v in target]
    return value


def _is_proxy(value: Any) -> bool:
    return type(value).__module__ == "pulumi_policy.proxy"


def messages(outcome: Any) -> list[str]:
    if not outcome:
        return []
    if isinstance(outcome, str):
        return [outcome]
    return [str(m) for m in outcome if m]


class Gate:
    """Reports a violation unless an active waiver covers it (only when `suppress`)."""

    def __init__(self, waivers: Iterable[waiver_module.Waiver], today: dt.date, suppress: bool) -> None:
        self.waivers = list(waivers)
        self.today = today
        self.suppress = suppress

    def __call__(self, rule_id: str, urn: str, message: str, report: Report) -> None:
        if self.suppress:
            active, expired = waiver_module.match(self.waivers, rule_id, urn, self.today)
            if active:
                return
            if expired:
                message = f"{message}\n{waiver_module.expired_note(expired)}"
        report(message, urn or None)


def _resource_validate(rule: Rule, gate: Gate) -> Validate:
    types = frozenset(rule.resource_types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in types:  # CrossGuard calls every policy for every resource
            return
        props = plain(args.props)
        resource = Resource(args.resource_type, args.urn, args.name, props, config=args.get_config() or {})
        try:
            outcome = rule.check(props, resource)
        except NotApplicable as exc:
            args.not_applicable(exc.reason)
        except Unknown as exc:
            raise UnknownValueError(UNKNOWN, exc.path.split(".")) from None
        except Exception as exc:  # noqa: BLE001 - fail closed: a rule that errors blocks, it never passes
            outcome = rule_error(exc)
        for message in messages(outcome):
            gate(rule.name, args.urn, message, report_violation)

    return validate


def rule_error(exc: Exception) -> str:
    """The violation a crashing rule reports (fail closed: an error is never a silent pass)."""
    return f"the policy could not judge this input and fails closed: {type(exc).__name__}: {exc}"


_LAST_STACK: list[Any] = [None, None]
"""(the engine's resource list, its plain Resources): every stack policy of one AnalyzeStack call gets
the same list, so it is converted from the SDK's proxies once, not once per policy."""


def to_stack(resources: Iterable[Any], config: Mapping[str, Any] | None = None) -> Stack:
    if _LAST_STACK[0] is not resources:
        _LAST_STACK[:] = [
            resources,
            [
                Resource(
                    r.resource_type,
                    r.urn,
                    r.name,
                    plain(r.props),
                    parent=r.parent.urn if r.parent is not None else "",
                    dependencies=[d.urn for d in r.dependencies],
                    property_dependencies={k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
                )
                for r in resources
            ],
        ]
    return Stack(_LAST_STACK[1], config)


def _stack_validate(rule: Rule, gate: Gate) -> Validate:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = to_stack(args.resources, args.get_config())
        violations: list[tuple[str, str]] = []
        try:
            violations = list(_check_stack(rule, stack, gate))
        except NotApplicable as exc:
            args.not_applicable(exc.reason)
        except Unknown as exc:
            raise UnknownValueError(UNKNOWN, exc.path.split(".")) from None
        except Exception as exc:  # noqa: BLE001 - fail closed, as for resource rules
            violations = [("", rule_error(exc))]
        for urn, message in violations:
            gate(rule.name, urn, message, report_violation)

    return validate


def _check_stack(rule: Rule, stack: Stack, gate: Gate) -> Iterable[tuple[str, str]]:
    """A stack rule's violations. `waivers-scoped` judges the waiver file the gate read: the one this
    pack applies under the CLI, and in raw mode the one its caller applies (TRADESENSE_WAIVERS)."""
    if rule.name == WAIVERS_SCOPED:
        found: Iterable[tuple[str, str]] = rule.check(stack, gate.waivers)
        return found
    found = rule.check(stack)
    return found


def build_policies(gate: Gate) -> list[Policy]:
    policies: list[Policy] = []
    for rule in all_rules().values():
        first_framework, first_control = rule.compliance[0]
        meta: dict[str, Any] = dict(
            name=rule.name,
            description=rule.description,
            enforcement_level=_ENFORCEMENT[rule.enforcement],
            severity=_SEVERITY[rule.severity],
            framework=PolicyComplianceFramework(name=first_framework, reference=first_control),
            tags=[rule.domain] + rule.tags,
            remediation_steps=rule.remediation,
            url=rule.url,
        )
        if rule.config:
            meta["config_schema"] = PolicyConfigSchema(properties={k: FLOORS[k].schema() for k in rule.config})
        if rule.kind == "resource":
            policies.append(ResourceValidationPolicy(validate=_resource_validate(rule, gate), **meta))
        else:
            policies.append(StackValidationPolicy(validate=_stack_validate(rule, gate), **meta))
    return policies


def make_gate(environ: Mapping[str, str] = os.environ) -> Gate:
    """The waivers in force; raises WaiverError (the pack refuses to start) on a malformed file."""
    suppress = environ.get("TRADESENSE_POLICY_RAW") != "1"
    return Gate(
        waiver_module.load(environ.get("TRADESENSE_WAIVERS") or None),
        waiver_module.today_from_env(dict(environ), honour_override=not suppress),
        suppress=suppress,
    )


PACK_ARGS: dict[str, Any] = dict(
    enforcement_level=EnforcementLevel.MANDATORY,
    description="TradeSense security and compliance gate",
    display_name="TradeSense security",
    provider="aws",
    tags=["pci-dss", "soc2", "gdpr", "cis", "fsbp"],
)


def serve() -> None:
    """Serve the pack.

    Under the CLI (no TRADESENSE_POLICY_RAW=1) the SDK's public PolicyPack always serves: the deploy
    gate depends on no private SDK name. In raw mode (the offline report and the change review) the
    type-indexed servicer in `fastpack` answers the same protocol faster, provided it was written for
    the installed pulumi-policy (it subclasses the SDK's private servicer); if not, the SDK's
    PolicyPack serves and one line on stderr says why. TRADESENSE_POLICY_STOCK=1 uses the PolicyPack
    in raw mode too (a test compares the two on prod)."""
    try:
        gate = make_gate()
    except waiver_module.WaiverError as exc:
        sys.stderr.write(f"policy pack {PACK_NAME} refuses to start: {exc}\n")
        raise SystemExit(2) from None
    policies = build_policies(gate)
    fast = not gate.suppress and os.environ.get("TRADESENSE_POLICY_STOCK") != "1"
    problem = _indexed_servicer_problem() if fast else ""
    if problem:
        sys.stderr.write(f"policy pack {PACK_NAME}: {problem}; serving through the SDK's PolicyPack\n")
    if not fast or problem:
        PolicyPack(name=PACK_NAME, policies=policies, **PACK_ARGS)
    else:
        from tradesense_policies.fastpack import serve_indexed

        serve_indexed(PACK_NAME, policies, {r.name: r.resource_types for r in all_rules().values()}, **PACK_ARGS)


def _indexed_servicer_problem() -> str:
    """Why `fastpack` must not serve ("" when it may): another pulumi-policy release, or its private
    names gone from the SDK."""
    try:
        from tradesense_policies import fastpack
    except ImportError as exc:
        return f"the indexed servicer cannot load on this pulumi-policy ({exc})"
    return fastpack.version_problem()
