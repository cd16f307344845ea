"""Every output format, written from the same Findings (scripts.report.findings) and waiver register."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.report.findings import Finding

INFORMATION_URI = "https://github.com/tradesense/infrastructure/blob/main/docs/policies.md"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
MARKDOWN_LIMIT = 64 * 1024
SECURITY_SEVERITY = {"low": "3.0", "medium": "5.5", "high": "8.0", "critical": "9.5"}
STATUS_ORDER = ("fail", "undecided", "waived", "pass", "not-applicable")


@dataclass
class Report:
    findings: list[Finding]
    stack: str
    source: str
    """The input file, as given."""
    waivers: list[dict[str, Any]] = field(default_factory=list)
    """The waiver register (waivers.to_dict + status + applies_to)."""
    locations: dict[str, str] = field(default_factory=dict)
    """URN -> repo-relative source file (component module, else Pulumi.<stack>.yaml)."""
    strict: bool = False
    """The deploy gate's mode: an undecided mandatory check blocks like a failure."""
    notes: list[str] = field(default_factory=list)
    """What the reader must know about the input (a partial document, resources not judged)."""

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if (f.blocks_strict if self.strict else f.blocks_deploy)]

    @property
    def undecided(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "undecided"]

    def counts(self) -> Counter:
        return Counter(f.status for f in self.findings)

    def name(self, urn: str) -> str:
        """The resource's name, qualified by its type when another judged resource has the same name
        (and by its whole URN when even type and name collide), so a reader can tell them apart."""
        if not urn:
            return "(stack)"
        if self._names is None:
            urns = {f.urn for f in self.findings if f.urn}
            by_name: dict[str, set[str]] = defaultdict(set)
            for u in urns:
                by_name[_name(u)].add(u)
            names = {}
            for short, group in by_name.items():
                typed = {u: f"{_type_of(u)} {short}" for u in group}
                for u in group:
                    if len(group) == 1:
                        names[u] = short
                    elif list(typed.values()).count(typed[u]) == 1:
                        names[u] = typed[u]
                    else:
                        names[u] = u
            self._names = names
        return self._names.get(urn) or _name(urn)

    _names: Any = field(default=None, init=False, repr=False, compare=False)


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else "(stack)"


def _type_of(urn: str) -> str:
    """The resource's own type token from its URN (`...::parent$aws:s3/bucket:Bucket::name`)."""
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def _refs(finding: Finding) -> str:
    return ", ".join(f"{fw} {c}" for fw, c in finding.compliance)


def summary_line(report: Report) -> str:
    c = report.counts()
    verdict = "BLOCKED" if report.blocking else "OK"
    mode = " (strict: undecided mandatory checks block)" if report.strict else ""
    return (
        f"policy report for stack {report.stack}: {verdict} - {len(report.blocking)} blocking, "
        f"{c['fail']} failed, {c['undecided']} undecided, {c['waived']} waived, {c['pass']} passed, "
        f"{c['not-applicable']} not applicable{mode}"
    )


# -- text --------------------------------------------------------------------------------------
def to_text(report: Report) -> str:
    """For a terminal: the verdict, counts per source, every failure in full, and waivers grouped
    by rule (one line each) so a clean stack reads in a screen."""
    lines = [summary_line(report)]
    for source in sorted({f.source for f in report.findings}):
        counts = Counter(f.status for f in report.findings if f.source == source)
        rules = len({f.rule_id for f in report.findings if f.source == source})
        lines.append(
            f"  {source}: {rules} rules; "
            + ", ".join(f"{counts[status]} {status}" for status in STATUS_ORDER if counts[status])
        )
    lines += [f"  NOTE: {note}" for note in report.notes]
    unjudged = sorted(
        {report.name(f.urn) for f in report.findings if f.source == "checkov" and f.status == "not-applicable"}
    )
    if unjudged:
        lines.append(f"  checkov judged no check on: {', '.join(unjudged)}")
    failures = sorted(
        (f for f in report.findings if f.status == "fail"),
        key=lambda f: (f.enforcement != "mandatory", f.rule_id, f.urn),
    )
    if failures:
        lines.append("Failures:")
    for finding in failures:
        lines.append(
            f"  [FAIL] {finding.enforcement}/{finding.severity} {finding.rule_id} "
            f"({finding.source}) on {report.name(finding.urn)}: {finding.message.splitlines()[0] if finding.message else ''}"
        )
        if finding.remediation:
            lines.append(f"      fix: {finding.remediation.splitlines()[0]}")
        if finding.waiver:
            lines.append(f"      waiver EXPIRED on {finding.waiver['expires']}")
    undecided = sorted(report.undecided, key=lambda f: (f.enforcement != "mandatory", f.rule_id, f.urn))
    if undecided:
        lines.append("Undecided (the rule could not read a value it needs; --strict blocks on mandatory ones):")
    for finding in undecided:
        lines.append(
            f"  [UNDECIDED] {finding.enforcement}/{finding.severity} {finding.rule_id} ({finding.source}) "
            f"on {report.name(finding.urn)}: {finding.message.splitlines()[0] if finding.message else ''}"
        )
    waived: dict[tuple, list[Finding]] = {}
    for finding in report.findings:
        if finding.status == "waived" and finding.waiver:
            waived.setdefault(
                (
                    finding.rule_id,
                    finding.source,
                    finding.waiver["expires"],
                    finding.waiver["approved_by"],
                    finding.waiver["reason"],
                ),
                [],
            ).append(finding)
    if waived:
        lines.append("Waived (by rule; full reasons in the waiver file and the json/html reports):")
    for (rule_id, source, expires, approver, reason), findings in sorted(waived.items()):
        names = ", ".join(sorted({report.name(f.urn) for f in findings}))
        short = reason if len(reason) <= 110 else reason[:107].rstrip() + "..."
        lines.append(f"  [WAIVED] {rule_id} ({source}) until {expires} by {approver} on {names}")
        lines.append(f"      {short}")
    for waiver in (w for w in report.waivers if w.get("status") == "expired"):
        lines.append(
            f"  expired waiver: {waiver['policy']} on {', '.join(waiver['resources'])} (expired {waiver['expires']})"
        )
    return "\n".join(lines) + "\n"


# -- json --------------------------------------------------------------------------------------
def to_json(report: Report) -> str:
    c = report.counts()
    document = {
        "stack": report.stack,
        "input": report.source,
        "summary": {
            "blocking": len(report.blocking),
            "fail": c["fail"],
            "undecided": c["undecided"],
            "waived": c["waived"],
            "pass": c["pass"],
            "not_applicable": c["not-applicable"],
            "total": len(report.findings),
            "strict": report.strict,
            "line": summary_line(report),
        },
        "notes": report.notes,
        "violations": [f.to_dict() for f in report.violations],
        "undecided": [f.to_dict() for f in report.undecided],
        "results": [f.to_dict() for f in report.findings],
        "waivers": report.waivers,
    }
    return json.dumps(document, indent=1, default=str) + "\n"


# -- markdown ----------------------------------------------------------------------------------
def _md(text: str) -> str:
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    by_rule: dict[str, Counter] = defaultdict(Counter)
    meta: dict[str, Finding] = {}
    for f in report.findings:
        by_rule[f.rule_id][f.status] += 1
        meta.setdefault(f.rule_id, f)
    icon = "❌" if report.blocking else "⚠️" if report.undecided else "✅"
    head = [
        f"### {icon} Policy report: `{report.stack}`",
        "",
        summary_line(report),
        "",
        "| result | count |",
        "| --- | --- |",
    ]
    head += [f"| {status} | {report.counts()[status]} |" for status in STATUS_ORDER]
    head.append("")
    head += [f"> **Note:** {_md(note)}\n" for note in report.notes]
    problems = [f for f in report.findings if f.status in ("fail", "undecided", "waived")]
    if problems:
        head += ["| status | policy | resource | enforcement | message |", "| --- | --- | --- | --- | --- |"]
        head += [
            f"| {f.status} | `{f.rule_id}` | `{_md(report.name(f.urn))}` | {f.enforcement} | "
            f"{_md((f.message.splitlines() or [''])[0])[:200]} |"
            for f in problems[:50]
        ]
        if len(problems) > 50:
            head.append(f"\n… and {len(problems) - 50} more (see the JSON report).")
        head.append("")
    details = [
        "<details><summary>All policies</summary>",
        "",
        "| policy | severity | pass | fail | undecided | waived | n/a | compliance |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rule_id in sorted(by_rule):
        c, f = by_rule[rule_id], meta[rule_id]
        details.append(
            f"| `{rule_id}` | {f.severity} | {c['pass']} | {c['fail']} | {c['undecided']} | {c['waived']} | "
            f"{c['not-applicable']} | {_md(_refs(f))} |"
        )
    details += ["", "</details>", ""]
    if report.waivers:
        details += [
            "<details><summary>Waivers</summary>",
            "",
            "| policy | resources | expires | status | approved by | reason |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        details += [
            f"| `{w['policy']}` | {_md(', '.join(w['resources']))} | {w['expires']} | {w.get('status', '')} | "
            f"{_md(w['approved_by'])} | {_md(w['reason'])} |"
            for w in report.waivers
        ]
        details += ["", "</details>", ""]
    text = "\n".join(head + details)
    if len(text.encode()) > MARKDOWN_LIMIT:
        note = "\n\n_Details truncated to fit a pull-request comment; see the JSON report._\n"
        text = text.encode()[: MARKDOWN_LIMIT - len(note.encode()) - 16].decode(errors="ignore") + note
    return text


# -- sarif -------------------------------------------------------------------------------------
def to_sarif(report: Report) -> str:
    rules: dict[str, dict[str, Any]] = {}
    for f in report.findings:
        rules.setdefault(
            f.rule_id,
            {
                "id": f.rule_id,
                "name": re.sub(r"[^A-Za-z0-9]", "", f.rule_id.title()),
                "shortDescription": {"text": f.title or f.rule_id},
                "fullDescription": {"text": f"{f.title} Remediation: {f.remediation}".strip()},
                "helpUri": f.url or INFORMATION_URI,
                "help": {"text": f.remediation or f.title},
                "properties": {
                    "security-severity": SECURITY_SEVERITY[f.severity],
                    "tags": ["security", f.source] + [f"{fw} {c}" for fw, c in f.compliance],
                },
            },
        )
    order = list(rules)
    results = []
    for f in report.findings:
        if f.status not in ("fail", "waived", "undecided"):
            continue
        level = "error" if f.enforcement == "mandatory" else "warning"
        if f.status == "undecided" and not (report.strict and f.enforcement == "mandatory"):
            level = "warning"
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": order.index(f.rule_id),
            "level": level,
            "kind": "review" if f.status == "undecided" else "fail",
            "message": {"text": f"{report.name(f.urn)}: {f.message or f.title}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": report.locations.get(f.urn, f"Pulumi.{report.stack}.yaml")},
                        "region": {"startLine": 1},
                    },
                    "logicalLocations": [{"fullyQualifiedName": f.urn or f"stack:{report.stack}", "kind": "resource"}],
                }
            ],
            "partialFingerprints": {"policyResource/v1": f"{f.rule_id}:{f.urn}"},
            "properties": {
                "resourceType": f.resource_type,
                "severity": f.severity,
                "status": f.status,
                "evidence": f.evidence,
            },
        }
        if f.status == "waived" and f.waiver:
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"{f.waiver['reason']} (approved by {f.waiver['approved_by']}, "
                    f"expires {f.waiver['expires']})",
                }
            ]
        results.append(result)
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tradesense-policy-report",
                        "informationUri": INFORMATION_URI,
                        "version": "1.0.0",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                "properties": {
                    "stack": report.stack,
                    "summary": summary_line(report),
                    "notes": report.notes,
                    "counts": {status: report.counts()[status] for status in STATUS_ORDER},
                },
            }
        ],
    }
    return json.dumps(document, indent=1, default=str) + "\n"


# -- junit -------------------------------------------------------------------------------------
def to_junit(report: Report, domain_of: Callable[[Finding], str]) -> str:
    suites: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        suites[f"{f.source}.{domain_of(f)}"].append(f)
    strict_blocks = [f for f in report.undecided if report.strict and f.enforcement == "mandatory"]
    root = ET.Element(
        "testsuites",
        name=summary_line(report),
        tests=str(len(report.findings)),
        failures=str(len(report.violations) + len(strict_blocks)),
    )
    for suite_name in sorted(suites):
        items = suites[suite_name]
        blocks = [f for f in items if f.status == "fail" or f in strict_blocks]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=suite_name,
            tests=str(len(items)),
            failures=str(len(blocks)),
            skipped=str(
                sum(f.status in ("waived", "not-applicable", "undecided") for f in items)
                - sum(f in strict_blocks for f in items)
            ),
        )
        for f in items:
            case = ET.SubElement(
                suite, "testcase", classname=f"{suite_name}.{f.rule_id}", name=f"{f.rule_id} :: {report.name(f.urn)}"
            )
            if f in strict_blocks:
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=(f.message.splitlines() or [""])[0],
                    type=f"undecided/{f.enforcement}/{f.severity}",
                )
                failure.text = f"{f.urn}\n{f.message}"
            elif f.status == "undecided":
                ET.SubElement(case, "skipped", message=f.message or "undecided")
            elif f.status == "fail":
                failure = ET.SubElement(
                    case, "failure", message=(f.message.splitlines() or [""])[0], type=f"{f.enforcement}/{f.severity}"
                )
                failure.text = f"{f.urn}\n{f.message}\nRemediation: {f.remediation}\nEvidence: {json.dumps(f.evidence, default=str)}"
            elif f.status in ("waived", "not-applicable"):
                reason = (
                    f"waived until {f.waiver['expires']}: {f.waiver['reason']}"
                    if f.waiver
                    else f.message or "not applicable"
                )
                ET.SubElement(case, "skipped", message=reason)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# -- html --------------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;font-size:90%}.fail{color:#b00;font-weight:bold}
.waived{color:#a60}.undecided{color:#a0a}.pass{color:#070}.not-applicable{color:#777}code{font-size:85%}details{margin:.25em 0 .25em 1em}"""


def to_html(report: Report) -> str:
    e = html.escape
    c = report.counts()
    tree: dict[str, dict[str, dict[str, list[Finding]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for f in report.findings:
        for framework, control in f.compliance or (("(unmapped)", "-"),):
            tree[framework][control][f.rule_id].append(f)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Compliance evidence: {e(report.stack)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Compliance evidence for stack <code>{e(report.stack)}</code></h1>",
        f"<p>{e(summary_line(report))}</p><p>Input: <code>{e(report.source)}</code></p>",
        *(f"<p><b>Note:</b> {e(note)}</p>" for note in report.notes),
        "<table><tr>"
        + "".join(f"<th>{e(s)}</th>" for s in STATUS_ORDER)
        + "</tr><tr>"
        + "".join(f'<td class="{s}">{c[s]}</td>' for s in STATUS_ORDER)
        + "</tr></table>",
    ]
    for framework in sorted(tree):
        out.append(f"<h2>{e(framework)}</h2>")
        for control in sorted(tree[framework], key=_control_key):
            policies = tree[framework][control]
            failed = sum(f.status == "fail" for fs in policies.values() for f in fs)
            open_ = sum(f.status == "undecided" for fs in policies.values() for f in fs)
            out.append(
                f"<details{' open' if failed or open_ else ''}><summary>Control <b>{e(control)}</b>: "
                f"{len(policies)} polic{'y' if len(policies) == 1 else 'ies'}, "
                f'<span class="{"fail" if failed else "pass"}">{failed} failing</span>'
                + (f', <span class="undecided">{open_} undecided</span>' if open_ else "")
                + "</summary>"
            )
            for rule_id, findings in sorted(policies.items()):
                first = findings[0]
                out.append(
                    f"<details><summary><code>{e(rule_id)}</code> ({e(first.severity)}): {e(first.title)}</summary>"
                    f"<p>Remediation: {e(first.remediation)}</p>"
                    "<table><tr><th>resource</th><th>type</th><th>result</th><th>message</th><th>evidence</th></tr>"
                )
                for f in findings:
                    out.append(
                        f"<tr><td><code>{e(f.urn or '(stack)')}</code></td><td>{e(f.resource_type)}</td>"
                        f'<td class="{e(f.status)}">{e(f.status)}</td><td>{e(f.message)}</td>'
                        f"<td><code>{e(json.dumps(f.evidence, default=str))}</code></td></tr>"
                    )
                out.append("</table></details>")
            out.append("</details>")
    out.append("<h2>Waiver register</h2>")
    if report.waivers:
        out.append(
            "<table><tr><th>policy</th><th>resources</th><th>reason</th><th>approved by</th><th>expires</th>"
            "<th>status</th><th>applies to</th></tr>"
        )
        for w in report.waivers:
            out.append(
                f"<tr><td><code>{e(w['policy'])}</code></td><td>{e(', '.join(w['resources']))}</td>"
                f"<td>{e(w['reason'])}</td><td>{e(w['approved_by'])}</td><td>{e(w['expires'])}</td>"
                f'<td class="{"fail" if w.get("status") == "expired" else "pass"}">{e(w.get("status", ""))}</td>'
                f"<td>{e(', '.join(report.name(u) for u in w.get('applies_to', [])))}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>No waivers.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _control_key(control: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", control)]


def component_locations(urns: Iterable[str], root: Path, stack: str) -> dict[str, str]:
    """URN -> the component module that declares the resource's outermost `tradesense:` parent."""
    files: dict[str, str] = {}
    for path in sorted((root / "components").glob("*.py")):
        for token in re.findall(r"[\"'](tradesense:[\w-]+:\w+)[\"']", path.read_text()):
            files.setdefault(token, str(path.relative_to(root)))
    result = {}
    for urn in urns:
        qualified = urn.split("::")[2] if urn.count("::") >= 3 else ""
        owner = next((files[t] for t in qualified.split("$") if t in files), None)
        result[urn] = owner or f"Pulumi.{stack}.yaml"
    return result
