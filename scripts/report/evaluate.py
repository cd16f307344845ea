"""From what the pack said to Findings: pass / fail / not-applicable / undecided per (policy, resource),
with evidence; then checkov findings merged in and waivers applied to all of them alike.

The Analyzer protocol only returns violations, so applicability comes from each policy's declared
resource types (the registry): an applicable resource with no violation passes. The evidence is the
values at the property paths the policy declares it reads.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable
from dataclasses import replace

from scripts.documents.reader import StackInput
from scripts.documents.secrets import SECRET_TEXT, looks_secret_name
from scripts.report.analyzer import PACK_DIR, AnalysisResult
from scripts.report.findings import Finding

if str(PACK_DIR) not in sys.path:  # the pack's package, exactly as the CLI imports it
    sys.path.insert(0, str(PACK_DIR))

from tradesense_policies import waivers as waiver_module  # noqa: E402
from tradesense_policies.model import evidence as extract_evidence  # noqa: E402
from tradesense_policies.registry import Rule, all_rules  # noqa: E402
from tradesense_policies.types import STACK as STACK_TYPE  # noqa: E402


def _finding(
    rule: Rule, urn: str, resource_type: str, status: str, enforcement: str, message: str, evidence: dict
) -> Finding:
    return Finding(
        source="policy",
        rule_id=rule.name,
        title=rule.description,
        urn=urn,
        resource_type=resource_type,
        status=status,
        enforcement=enforcement,
        severity=rule.severity,
        message=message,
        compliance=rule.compliance,
        remediation=rule.remediation,
        url=rule.url,
        evidence=evidence,
    )


def _secret_paths(evidence: dict) -> list[str]:
    """The evidence paths whose value is (or contains) a secret, so the rule saw "[secret]" instead
    of the value. A property that is a credential by nature (`secretString`, `password`) is exempt:
    no rule can read it, so a rule that lists it judges where it comes from, not what it is."""

    def secret(value) -> bool:
        return value == SECRET_TEXT or (isinstance(value, list) and any(secret(v) for v in value))

    return [
        path for path, value in evidence.items() if secret(value) and not looks_secret_name(path.rsplit(".", 1)[-1])
    ]


def _unknown(value) -> bool:
    """An evidence value that is unknown until deploy (model.evidence shows it as such)."""
    return value == UNKNOWN_EVIDENCE or (isinstance(value, list) and any(_unknown(v) for v in value))


def _about(diags: list, secret_paths: list[str]) -> bool:
    """Whether a violation is about a secret value (the rule judged the placeholder, not the value):
    its message shows "[secret]" or names a secret path. A violation about anything else stays a fail."""
    names = {p.rsplit(".", 1)[-1] for p in secret_paths}
    return bool(secret_paths) and any(SECRET_TEXT in d.message or any(n in d.message for n in names) for d in diags)


UNKNOWN_EVIDENCE = "(unknown until deploy)"  # tradesense_policies.model._collect


def policy_findings(stack_input: StackInput, analysis: AnalysisResult) -> list[Finding]:
    """One Finding per (rule, subject). Fail closed: a value the rule needs that is unknown until
    deploy (the SDK's "can't run policy" advisory) or secret ("[secret]": the rule sees a
    placeholder, not the value) makes the result `undecided`, never pass, fail or not-applicable;
    so does a stack rule on a partial document (it sees only the resources that change)."""
    rules = all_rules()
    by_urn = {r.urn: r for r in stack_input.resources}
    violations: dict[tuple[str, str], list] = {}
    for diag in analysis.violations:
        violations.setdefault((diag.policy, diag.urn), []).append(diag)
    findings: list[Finding] = []
    for rule in rules.values():
        enforcement = analysis.policies.get(rule.name, {}).get("enforcement", rule.enforcement)
        if enforcement == "disabled":
            continue
        stack_key = (rule.name, "")
        subjects = [
            r
            for r in stack_input.resources
            if r.type in rule.resource_types and (rule.kind == "stack" or r.analyzed) and r.judged
        ]
        judged = {r.urn for r in subjects}
        # Violations on resources outside the declared subjects still count (not on read ones).
        for name, urn in violations:
            if name == rule.name and urn not in judged and urn in by_urn and by_urn[urn].judged:
                subjects.append(by_urn[urn])
                judged.add(urn)
        partial = rule.kind == "stack" and stack_input.partial
        for resource in subjects:
            props = resource.state if rule.kind == "stack" else resource.inputs
            evidence = extract_evidence(props, rule.evidence)
            key = (rule.name, resource.urn)
            secrets = _secret_paths(evidence)

            def judge(status: str, message: str, level: str = enforcement) -> None:
                findings.append(_finding(rule, resource.urn, resource.type, status, level, message, evidence))  # noqa: B023  (called at once)

            if key in analysis.unknown or stack_key in analysis.unknown:
                # The SDK's "can't run policy ... during preview" advisory: raised for a value unknown
                # until deploy, and by the pack for a secret it cannot read. Say which it was.
                reason = analysis.unknown.get(key) or analysis.unknown[stack_key]
                what = (
                    f"{', '.join(secrets)} is a secret ([secret]) it cannot read"
                    if secrets
                    else "a value it needs is not known until deploy"
                )
                judge("undecided", f"undecided: {what} ({reason})")
            elif partial:
                judge("undecided", "undecided: " + stack_input.partial)
            elif key in violations and not _about(violations[key], secrets):
                diags = violations[key]
                judge("fail", "; ".join(d.message for d in diags), diags[0].enforcement)
            elif secrets:
                judge(
                    "undecided",
                    f"undecided: {', '.join(secrets)} is a secret ([secret]); the rule "
                    "cannot read it, so it neither passes nor fails",
                )
            elif key in analysis.not_applicable or (rule.kind == "stack" and stack_key in analysis.not_applicable):
                reason = analysis.not_applicable.get(key) or analysis.not_applicable[stack_key]
                unknown = [p for p, v in evidence.items() if _unknown(v)]
                # "Does not apply" decided while a value it reads is unknown may be the unknown
                # folded into not-applicable: never accept that silently.
                judge(
                    "undecided" if unknown else "not-applicable",
                    (f"undecided: {', '.join(unknown)} not known until deploy, and the rule said: {reason}")
                    if unknown
                    else reason,
                )
            else:
                judge("pass", "")
        for (name, urn), diags in violations.items():
            if name == rule.name and urn not in by_urn:  # a stack-level violation without a resource
                findings.append(
                    _finding(
                        rule,
                        urn,
                        "",
                        "undecided" if partial else "fail",
                        diags[0].enforcement,
                        ("undecided: " + stack_input.partial) if partial else "; ".join(d.message for d in diags),
                        {},
                    )
                )
        if not subjects:
            if stack_key in analysis.unknown:
                findings.append(
                    _finding(
                        rule,
                        "",
                        "",
                        "undecided",
                        enforcement,
                        "undecided: a value it needs is not known until deploy (" + analysis.unknown[stack_key] + ")",
                        {},
                    )
                )
                continue
            if STACK_TYPE in rule.resource_types:
                # A rule about the stack as a whole (waivers-scoped): the engine sends no stack resource
                # to analyse, so the stack itself is its one subject. A failure was recorded above.
                if stack_key not in violations:
                    status = "undecided" if partial else "pass"
                    findings.append(
                        _finding(
                            rule,
                            "",
                            STACK_TYPE,
                            status,
                            enforcement,
                            "undecided: " + stack_input.partial if partial else "",
                            {},
                        )
                    )
                continue
            where = (
                " among the changed resources this partial document lists" if stack_input.partial else " in this stack"
            )
            findings.append(
                _finding(
                    rule,
                    "",
                    "",
                    "not-applicable",
                    enforcement,
                    # A stack rule that said why it does not apply is quoted.
                    analysis.not_applicable.get(stack_key)
                    or "no resource of type "
                    + ", ".join(rule.resource_types[:4])
                    + (" ..." if len(rule.resource_types) > 4 else "")
                    + where,
                    {},
                )
            )
    return findings


def merge(*groups: Iterable[Finding]) -> list[Finding]:
    """Findings of every source in one list, deduplicated on (source, rule, resource), order kept."""
    seen: set[tuple[str, str, str]] = set()
    merged = []
    for group in groups:
        for finding in group:
            key = (finding.source, finding.rule_id, finding.urn)
            if key in seen:
                continue
            seen.add(key)
            merged.append(finding)
    return merged


def apply_waivers(
    findings: Iterable[Finding], waivers: list[waiver_module.Waiver], today: dt.date | None = None
) -> list[Finding]:
    """A fail covered by an active waiver becomes `waived`; one covered only by an expired waiver
    stays `fail`, with the expired waiver attached and named in the message."""
    today = today or dt.date.today()
    result = []
    for finding in findings:
        if finding.status != "fail":
            result.append(finding)
            continue
        active, expired = waiver_module.match(waivers, finding.rule_id, finding.urn, today)
        if active:
            finding = replace(finding, status="waived", waiver=active.to_dict(today))
        elif expired:
            finding = replace(
                finding,
                waiver=expired.to_dict(today),
                message=f"{finding.message}\n{waiver_module.expired_note(expired)}",
            )
        result.append(finding)
    return result


def waiver_register(findings: Iterable[Finding], waivers: list[waiver_module.Waiver], today: dt.date) -> list[dict]:
    """Every waiver with its status (active/expired) and the results it applied to."""
    findings = list(findings)
    register = []
    for waiver in waivers:
        entry = waiver.to_dict(today)
        entry["applies_to"] = [
            f.urn
            for f in findings
            if f.waiver and f.waiver["policy"] == waiver.policy and waiver.covers(f.rule_id, f.urn)
        ]
        register.append(entry)
    return register
