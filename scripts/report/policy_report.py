"""Evaluate the policy pack offline and report: `python -m scripts.report.policy_report INPUT --format F [--out FILE]`.

INPUT is the offline preview.json, a `pulumi preview --json` output or a `pulumi stack export`. The
pack is started and asked over the Analyzer gRPC protocol, as the engine would; checkov findings
(`--with-checkov` or `--checkov-results FILE`) are merged in; waivers (policies/waivers.yaml) are
applied to all of them alike.

Exit codes: 0 no unwaived mandatory violation, 1 at least one, 2 unusable input or waiver file.
`--strict` (the deploy gate's mode) also exits 1 when a mandatory check is undecided: a value it
needs is unknown until deploy, a secret, or on a resource a partial document does not list.

Exit 2, one line, nothing written: a file that is not a preview or export (or is a backend
checkpoint), a failed preview (error diagnostics), a document with nothing to judge (no resource any
policy applies to), a missing `--waivers` file, `--out` into a missing directory or onto the input.

A plain `pulumi preview --json` lists only changed resources: run `pulumi preview --json
--show-sames` (the report says so, and leaves the rules that join resources undecided otherwise).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from scripts.cli import ArgumentParser, UsageError
from scripts.documents.reader import InputError, StackInput, read_input
from scripts.documents.secrets import redact
from scripts.report import formats
from scripts.report.analyzer import REPO_ROOT, PackError, analyze
from scripts.report.evaluate import apply_waivers, merge, policy_findings, waiver_register
from scripts.report.findings import Finding
from tradesense_policies import waivers as waiver_module
from tradesense_policies.registry import all_rules

FORMATS = ("text", "markdown", "json", "sarif", "junit", "html")


def load_checkov_results(path: str) -> list[Finding]:
    """A JSON list of Finding dicts, or the document `python -m scripts.checkov_bridge.scan --out` writes
    (whose coverage gaps become not-applicable findings, as with --with-checkov)."""
    try:
        data = json.loads(Path(path).read_text())
        if isinstance(data, dict) and "findings" in data:
            from scripts.checkov_bridge.scan import ScanResult

            result = ScanResult(
                findings=[_finding_from_dict(item) for item in data["findings"]],
                unchecked_resources=data.get("unchecked_resources", []),
                unknown_types=data.get("unknown_types", []),
            )
            return [*result.findings, *result.coverage_findings()]
        return [_finding_from_dict(item) for item in data]
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"{path}: cannot be read ({type(exc).__name__})") from None
    except (json.JSONDecodeError, TypeError, ValueError, KeyError, AttributeError) as exc:
        # The reason names the field; a value it quotes is redacted if it looks like a credential.
        raise UsageError(f"{path}: not a JSON list of findings ({redact(str(exc).splitlines()[0])})") from None


def _finding_from_dict(item: dict) -> Finding:
    data = dict(item)
    data["compliance"] = tuple(
        (c["framework"], c["control"]) if isinstance(c, dict) else tuple(c) for c in data.get("compliance", ())
    )
    return Finding(**data)


def run_checkov(input_path: str) -> list[Finding]:
    from scripts.checkov_bridge.scan import CheckovError, scan  # lazily: it needs its own venv
    from scripts.checkov_bridge.tfplan import ConversionError

    try:
        result = scan(Path(input_path))
    except (CheckovError, InputError, ConversionError) as exc:
        raise UsageError(f"checkov: {exc}") from None
    return [*result.findings, *result.coverage_findings()]


def judgeable(stack_input: StackInput, source: str) -> None:
    """UsageError unless the document can be judged: a failed preview, or nothing any policy applies
    to, is exit 2 in every mode (an empty verdict is not a pass, and not a finding either)."""
    reason = stack_input.incomplete()
    if reason:
        raise UsageError(f"{source}: {reason}")
    types = {t for rule in all_rules().values() for t in rule.resource_types}
    if not any(r.type in types for r in stack_input.judged):
        found = sorted({r.type for r in stack_input.resources if not r.type.startswith("pulumi:")})
        raise UsageError(
            f"{source}: nothing to judge: no resource of a type any policy applies to"
            + (
                f" (found {', '.join(found[:5])}{' ...' if len(found) > 5 else ''})"
                if found
                else " (the document lists no resources)"
            )
        )


def read(input_path: str) -> StackInput:
    """The input, read and found judgeable, or UsageError (exit 2)."""
    try:
        stack_input = read_input(input_path)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    judgeable(stack_input, input_path)
    return stack_input


def notes_for(stack_input: StackInput) -> list[str]:
    notes = []
    if stack_input.partial:
        notes.append("partial document: " + stack_input.partial)
    if stack_input.skipped:
        notes.append(
            f"{len(stack_input.skipped)} resource(s) pending deletion not judged: "
            + ", ".join(urn.rsplit("::", 1)[-1] for urn, _ in stack_input.skipped[:5])
        )
    external = [r.name for r in stack_input.resources if not r.judged]
    if external:
        notes.append(
            f"{len(external)} read resource(s) (external: not managed by this stack) not judged: "
            + ", ".join(external[:5])
        )
    return notes


def domain_of(finding: Finding) -> str:
    rule = all_rules().get(finding.rule_id)
    return rule.domain if rule else finding.rule_id.split("_")[1].lower() if "_" in finding.rule_id else "other"


def load_policy_config(path: str | None) -> dict | None:
    """A `--policy-pack-config` JSON file (the format `pulumi up --policy-pack-config` reads)."""
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a readable JSON file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a policy pack config is a JSON object keyed by policy name")
    return data


def build_report(
    input_path: str,
    *,
    waivers_path: str | None = None,
    today: dt.date | None = None,
    extra: Sequence[Finding] = (),
    pack_env: dict | None = None,
    pending: Future | None = None,
    strict: bool = False,
    stack_input: StackInput | None = None,
    policy_config_path: str | None = None,
    pack=None,
) -> formats.Report:
    """`pending`: findings still being computed (checkov, started before the pack) to merge in;
    `stack_input`: the input already read (and found judgeable) by the caller;
    `pack`: a pack process already started (analyzer.spawn_pack) with the same environment."""
    today = today or dt.date.today()
    if waivers_path and not Path(waivers_path).is_file():
        raise UsageError(f"--waivers {waivers_path}: no such file (omit --waivers to use policies/waivers.yaml)")
    try:
        waivers = waiver_module.load(waivers_path)
    except waiver_module.WaiverError as exc:
        raise UsageError(str(exc)) from None
    if stack_input is None:
        stack_input = read(input_path)
    env = dict(pack_env or {})
    if waivers_path:
        env["TRADESENSE_WAIVERS"] = str(Path(waivers_path).resolve())
    policy_config = load_policy_config(policy_config_path)
    analysis = analyze(
        stack_input, env=env, preview=stack_input.kind != "export", policy_config=policy_config, proc=pack
    )
    if pending is not None:
        extra = [*extra, *pending.result()]
    merged = merge(policy_findings(stack_input, analysis), extra)
    subjects: dict[str, list[str]] = {}
    for finding in merged:
        subjects.setdefault(finding.rule_id, []).append(finding.urn)
    too_broad = waiver_module.breadth_problems(waivers, subjects)
    if too_broad:
        raise UsageError(too_broad[0])
    findings = apply_waivers(merged, waivers, today)
    return formats.Report(
        findings=findings,
        stack=stack_input.stack,
        source=input_path,
        waivers=waiver_register(findings, waivers, today),
        locations=formats.component_locations((r.urn for r in stack_input.resources), REPO_ROOT, stack_input.stack),
        strict=strict,
        notes=notes_for(stack_input),
    )


def check_out(out: str | None, input_path: str, checkov_results: str | None) -> None:
    """--out must name a new or existing file in an existing directory, and never an input."""
    if not out:
        return
    target = Path(out)
    if not target.parent.is_dir():
        raise UsageError(f"--out {out}: directory {target.parent} does not exist (create it first)")
    if target.is_dir():
        raise UsageError(f"--out {out}: is a directory; name the report file")
    for given in (input_path, checkov_results):
        if given and target.resolve() == Path(given).resolve():
            raise UsageError(f"--out {out}: is the input file; writing there would destroy it")


def render(report: formats.Report, fmt: str) -> str:
    if fmt == "junit":
        return formats.to_junit(report, domain_of)
    return getattr(formats, f"to_{fmt}")(report)


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m scripts.report.policy_report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "input", help="preview.json, `pulumi preview --json --show-sames` output or `pulumi stack export` file"
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--out", help="write here instead of stdout")
    parser.add_argument("--waivers", help="waiver file (default policies/waivers.yaml)")
    parser.add_argument("--with-checkov", action="store_true", help="also run scripts.checkov_bridge.scan on INPUT")
    parser.add_argument("--checkov-results", help="JSON list of checkov Finding dicts to merge")
    parser.add_argument("--summary", action="store_true", help="also print the one-line summary on stderr")
    parser.add_argument(
        "--policy-pack-config",
        help="policy config JSON, as `pulumi up --policy-pack-config` takes (floors a stack makes stricter)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 also when a mandatory check is undecided (the deploy gate's mode)"
    )
    try:
        args = parser.parse_args(argv)  # a bad argument is one UsageError line, like every command's
        check_out(args.out, args.input, args.checkov_results)
        extra: list[Finding] = []
        if args.checkov_results:
            extra += load_checkov_results(args.checkov_results)
        stack_input = read(args.input)  # unusable input stops here, before checkov starts
        # checkov (seconds, in its own process) runs while the pack analyses: they share nothing.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(run_checkov, args.input) if args.with_checkov else None
            report = build_report(
                args.input,
                waivers_path=args.waivers,
                extra=extra,
                pending=pending,
                strict=args.strict,
                stack_input=stack_input,
                policy_config_path=args.policy_pack_config,
            )
    except (UsageError, PackError, InputError) as exc:
        message = redact(" ".join(str(exc).split()))
        # the parser's own errors already start with the program's name
        print(message if message.startswith(parser.prog) else f"{parser.prog}: {message}", file=sys.stderr)
        return 2
    text = render(report, args.format)
    if args.out:
        try:
            Path(args.out).write_text(text)
        except OSError as exc:
            print(f"policy_report: --out {args.out}: cannot write ({exc.strerror})", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    if args.summary:
        print(formats.summary_line(report), file=sys.stderr)
    return 1 if report.blocking else 0


if __name__ == "__main__":
    sys.exit(main())
