"""From what the pack said to Findings: pass / fail / not-applicable per (policy, resource),
with evidence; then checkov findings merged in and waivers applied to all of them alike.

The Analyzer protocol only returns violations, so applicability comes from each policy's declared
resource types (the registry): an applicable resource with no violation passes. The evidence is the
values at the property paths the policy declares it reads.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from typing import Iterable, Optional

from scripts.report.findings import Finding
from scripts.report.analyzer import PACK_DIR, AnalysisResult
from scripts.documents.reader import StackInput

if str(PACK_DIR) not in sys.path:  # the pack's package, exactly as the CLI imports it
    sys.path.insert(0, str(PACK_DIR))

from tradesense_policies import waivers as waiver_module  # noqa: E402
from tradesense_policies.model import evidence as extract_evidence  # noqa: E402
from tradesense_policies.registry import Rule, all_rules  # noqa: E402


def _finding(rule: Rule, urn: str, resource_type: str, status: str, enforcement: str, message: str,
             evidence: dict) -> Finding:
    return Finding(
        source="policy", rule_id=rule.name, title=rule.description, urn=urn, resource_type=resource_type,
        status=status, enforcement=enforcement, severity=rule.severity, message=message,
        compliance=rule.compliance, remediation=rule.remediation, url=rule.url, evidence=evidence,
    )


def policy_findings(stack_input: StackInput, analysis: AnalysisResult) -> list[Finding]:
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
        subjects = [r for r in stack_input.resources if r.type in rule.resource_types
                    and (rule.kind == "stack" or r.analyzed)]
        judged = {r.urn for r in subjects}
        # Violations on resources outside the declared subjects still count.
        for (name, urn), diags in violations.items():
            if name == rule.name and urn not in judged and urn in by_urn:
                subjects.append(by_urn[urn])
                judged.add(urn)
        for resource in subjects:
            props = resource.state if rule.kind == "stack" else resource.inputs
            evidence = extract_evidence(props, rule.evidence)
            key = (rule.name, resource.urn)
            if key in violations:
                diags = violations[key]
                findings.append(_finding(rule, resource.urn, resource.type, "fail", diags[0].enforcement,
                                         "; ".join(d.message for d in diags), evidence))
            elif key in analysis.unknown or stack_key in analysis.unknown:
                reason = analysis.unknown.get(key) or analysis.unknown[stack_key]
                findings.append(_finding(rule, resource.urn, resource.type, "not-applicable", enforcement,
                                         "not decidable before deploy: " + reason, evidence))
            elif key in analysis.not_applicable or (rule.kind == "stack" and stack_key in analysis.not_applicable):
                reason = analysis.not_applicable.get(key) or analysis.not_applicable[stack_key]
                findings.append(_finding(rule, resource.urn, resource.type, "not-applicable", enforcement,
                                         reason, evidence))
            else:
                findings.append(_finding(rule, resource.urn, resource.type, "pass", enforcement, "", evidence))
        for (name, urn), diags in violations.items():
            if name == rule.name and urn not in by_urn:  # a stack-level violation without a resource
                findings.append(_finding(rule, urn, "", "fail", diags[0].enforcement,
                                         "; ".join(d.message for d in diags), {}))
        if not subjects:
            findings.append(_finding(rule, "", "", "not-applicable", enforcement,
                                     "no resource of type " + ", ".join(rule.resource_types[:4])
                                     + (" ..." if len(rule.resource_types) > 4 else "") + " in this stack", {}))
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


def apply_waivers(findings: Iterable[Finding], waivers: list[waiver_module.Waiver],
                  today: Optional[dt.date] = None) -> list[Finding]:
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
            finding = replace(finding, waiver=expired.to_dict(today),
                              message=f"{finding.message}\n{waiver_module.expired_note(expired)}")
        result.append(finding)
    return result


def waiver_register(findings: Iterable[Finding], waivers: list[waiver_module.Waiver],
                    today: dt.date) -> list[dict]:
    """Every waiver with its status (active/expired) and the results it applied to."""
    findings = list(findings)
    register = []
    for waiver in waivers:
        entry = waiver.to_dict(today)
        entry["applies_to"] = [f.urn for f in findings
                               if f.waiver and f.waiver["policy"] == waiver.policy and waiver.covers(f.rule_id, f.urn)]
        register.append(entry)
    return register
