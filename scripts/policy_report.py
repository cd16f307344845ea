"""Evaluate the policy pack offline and report: `python -m scripts.policy_report INPUT --format F [--out FILE]`.

INPUT is the offline preview.json, a `pulumi preview --json` output or a `pulumi stack export`. The
pack is started and asked over the Analyzer gRPC protocol, as the engine would; checkov findings
(`--with-checkov` or `--checkov-results FILE`) are merged in; waivers (policies/waivers.yaml) are
applied to all of them alike.

Exit codes: 0 no unwaived mandatory violation, 1 at least one, 2 unusable input or waiver file.
"""

from __future__ import annotations

import argparse
from concurrent.futures import Future, ThreadPoolExecutor
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from scripts.findings import Finding
from scripts.report import formats
from scripts.report.analyzer import REPO_ROOT, PackError, analyze
from scripts.report.evaluate import apply_waivers, merge, policy_findings, waiver_register
from scripts.report.inputs import InputError, load
from tradesense_policies import waivers as waiver_module
from tradesense_policies.registry import all_rules

FORMATS = ("text", "markdown", "json", "sarif", "junit", "html")


class UsageError(Exception):
    """Exit 2 with this one-line message."""


def load_checkov_results(path: str) -> list[Finding]:
    """A JSON list of Finding dicts, or the document `python -m scripts.checkov_scan --out` writes
    (whose coverage gaps become not-applicable findings, as with --with-checkov)."""
    try:
        data = json.loads(Path(path).read_text())
        if isinstance(data, dict) and "findings" in data:
            from scripts.checkov_scan import ScanResult

            result = ScanResult(findings=[_finding_from_dict(item) for item in data["findings"]],
                                unchecked_resources=data.get("unchecked_resources", []),
                                unknown_types=data.get("unknown_types", []))
            return [*result.findings, *result.coverage_findings()]
        return [_finding_from_dict(item) for item in data]
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (json.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
        raise UsageError(f"{path}: not a JSON list of findings ({exc})") from None


def _finding_from_dict(item: dict) -> Finding:
    data = dict(item)
    data["compliance"] = tuple(
        (c["framework"], c["control"]) if isinstance(c, dict) else tuple(c) for c in data.get("compliance", ())
    )
    return Finding(**data)


def run_checkov(input_path: str) -> list[Finding]:
    from scripts.checkov_scan import CheckovError, scan  # lazily: it needs its own venv

    try:
        result = scan(Path(input_path))
    except CheckovError as exc:
        raise UsageError(f"checkov: {exc}") from None
    return [*result.findings, *result.coverage_findings()]


def domain_of(finding: Finding) -> str:
    rule = all_rules().get(finding.rule_id)
    return rule.domain if rule else finding.rule_id.split("_")[1].lower() if "_" in finding.rule_id else "other"


def build_report(input_path: str, *, waivers_path: Optional[str] = None, today: Optional[dt.date] = None,
                 extra: Sequence[Finding] = (), pack_env: Optional[dict] = None,
                 pending: Optional[Future] = None, pack=None) -> formats.Report:
    """`pending`: findings still being computed (checkov, started before the pack) to merge in.
    `pack`: a pack process already started (analyzer.spawn_pack) with the same environment."""
    today = today or dt.date.today()
    try:
        waivers = waiver_module.load(waivers_path)
    except waiver_module.WaiverError as exc:
        raise UsageError(str(exc)) from None
    try:
        stack_input = load(input_path)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    env = dict(pack_env or {})
    if waivers_path:
        env["TRADESENSE_WAIVERS"] = str(Path(waivers_path).resolve())
    analysis = analyze(stack_input, env=env, preview=stack_input.kind != "export", proc=pack)
    if pending is not None:
        extra = [*extra, *pending.result()]
    findings = apply_waivers(merge(policy_findings(stack_input, analysis), extra), waivers, today)
    return formats.Report(
        findings=findings, stack=stack_input.stack, source=input_path,
        waivers=waiver_register(findings, waivers, today),
        locations=formats.component_locations((r.urn for r in stack_input.resources), REPO_ROOT, stack_input.stack),
    )


def render(report: formats.Report, fmt: str) -> str:
    if fmt == "junit":
        return formats.to_junit(report, domain_of)
    return getattr(formats, f"to_{fmt}")(report)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.policy_report", description=__doc__.splitlines()[0])
    parser.add_argument("input", help="preview.json, `pulumi preview --json` output or `pulumi stack export` file")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--out", help="write here instead of stdout")
    parser.add_argument("--waivers", help="waiver file (default policies/waivers.yaml)")
    parser.add_argument("--with-checkov", action="store_true", help="also run scripts.checkov_scan on INPUT")
    parser.add_argument("--checkov-results", help="JSON list of checkov Finding dicts to merge")
    parser.add_argument("--summary", action="store_true", help="also print the one-line summary on stderr")
    args = parser.parse_args(argv)
    try:
        extra: list[Finding] = []
        if args.checkov_results:
            extra += load_checkov_results(args.checkov_results)
        # checkov (seconds, in its own process) runs while the pack analyses: they share nothing.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(run_checkov, args.input) if args.with_checkov else None
            report = build_report(args.input, waivers_path=args.waivers, extra=extra, pending=pending)
    except (UsageError, PackError) as exc:
        print(f"policy_report: {exc}", file=sys.stderr)
        return 2
    text = render(report, args.format)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    if args.summary:
        print(formats.summary_line(report), file=sys.stderr)
    return 1 if report.blocking else 0


if __name__ == "__main__":
    sys.exit(main())
