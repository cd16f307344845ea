"""checkov's verdict on a Pulumi preview, as Findings beside the policy pack's.

The preview is converted to a Terraform plan (scripts.checkov_bridge.tfplan), checkov scans it from its own virtual
environment (it cannot share one with pulumi: it pins packaging<24, pulumi needs >=26) as a
subprocess, never touching the network (`--skip-download`), and every result is mapped back from
the Terraform address to the Pulumi URN. Waivers use the same file format and rules as the policy
pack's: a checkov check id in `policy:`.

Coverage is part of the answer: a resource whose Terraform type checkov has checks for, but that no
check evaluated, is listed in `unchecked_resources`; a type the converter does not map is listed in
`unknown_types`. Neither is silently dropped.

    python -m scripts.checkov_bridge.scan INPUT [--out results.json]   # INPUT: preview.json / stack export
    python -m scripts.checkov_bridge.scan --repo .                      # the repo's workflows and secrets
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.checkov_bridge import tfplan
from scripts.cli import ArgumentParser, UsageError
from scripts.documents.secrets import redact
from scripts.report.findings import Finding

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIVER_FILES = (REPO_ROOT / "policies" / "waivers.yaml",)
# checkov offline has no severities (they come from the Prisma platform): a failed check is treated
# as medium unless checkov says otherwise. Every unwaived failure still blocks (`mandatory`).
DEFAULT_SEVERITY = "medium"
SEVERITIES = {"INFO": "low", "LOW": "low", "MEDIUM": "medium", "HIGH": "high", "CRITICAL": "critical"}
# Offline, checkov knows no per-check guideline URL; its policy index is the closest stable page.
POLICY_INDEX = "https://www.checkov.io/5.Policy%20Index/terraform.html"
# Graph checks that name (almost) every resource type are generic (tags, CORS on anything); they do
# not make a type "one checkov has checks for".
_GENERIC_CHECK_TYPES = 40
REPO_FRAMEWORKS = ("github_actions", "secrets")
# Generated or installed trees: not the repo's own files (a venv alone holds thousands of test keys).
# tests/fixtures/cli holds public sample exports whose secrets are ciphertext of a throw-away
# passphrase stack (pulumi-aws test recordings): high-entropy by design, no secret of ours.
REPO_SKIP_PATHS = ("build", ".venv", ".venv-checkov", "node_modules", "tests/fixtures/cli")

_TYPES_PROBE = f"""
import json, sys
from checkov.terraform.checks.resource.registry import resource_registry
import checkov.terraform.checks.resource.aws  # registers the AWS resource checks
from checkov.common.checks_infra.registry import get_graph_checks_registry
types = {{}}
for name, checks in resource_registry.checks.items():
    if name.startswith("aws_"):
        types.setdefault(name, set()).update(c.id for c in checks)
graph = get_graph_checks_registry("terraform")
graph.load_checks()
for check in graph.checks:
    names = list(getattr(check, "resource_types", None) or [])
    if len(names) <= {_GENERIC_CHECK_TYPES}:
        for name in names:
            if name.startswith("aws_"):
                types.setdefault(name, set()).add(check.id)
json.dump({{name: sorted(ids) for name, ids in sorted(types.items())}}, sys.stdout)
"""


class CheckovError(RuntimeError):
    """checkov did not produce a result (missing venv, crash, unreadable output)."""


class NothingToScan(CheckovError):
    """The input holds no resource checkov could judge: exit 2, as the policy report does."""


# Rule id of the coverage entries: resources checkov did not judge.
COVERAGE_RULE = "CHECKOV_NOT_CHECKED"


@dataclass
@dataclass
class ScanResult:
    """checkov's findings on one stack plus what it could not look at."""

    findings: list[Finding]
    unchecked_resources: list[dict[str, str]] = field(default_factory=list)
    """Resources of a type checkov has checks for that no check evaluated: {urn, type, terraform_address}."""
    unknown_types: list[dict[str, str]] = field(default_factory=list)
    """Resources the converter has no Terraform type for (not converted, so not checked)."""
    not_applicable: list[dict[str, str]] = field(default_factory=list)
    """Resources that are not cloud resources (pulumi-random): nothing to check."""
    checkov_seconds: float = 0.0
    total_seconds: float = 0.0

    def __iter__(self):
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    def coverage_findings(self) -> list[Finding]:
        """What checkov did not judge, as not-applicable Findings, so every report lists it:
        resources no check evaluated, and types the converter does not know."""
        gaps = [
            (r, "no checkov check evaluated this resource (its type's checks apply only in other cases)")
            for r in self.unchecked_resources
        ]
        gaps += [
            (r, "the converter has no Terraform type for this resource, so checkov never saw it")
            for r in self.unknown_types
        ]
        return [
            Finding(
                source="checkov",
                rule_id=COVERAGE_RULE,
                title="checkov coverage",
                urn=item["urn"],
                resource_type=item["type"],
                status="not-applicable",
                enforcement="advisory",
                severity="low",
                message=message,
                evidence={k: v for k, v in item.items() if k != "urn"},
            )
            for item, message in gaps
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "unchecked_resources": self.unchecked_resources,
            "unknown_types": self.unknown_types,
            "not_applicable": self.not_applicable,
            "checkov_seconds": round(self.checkov_seconds, 3),
            "total_seconds": round(self.total_seconds, 3),
        }


# ---------------------------------------------------------------------------------------------
# Running checkov.


def checkov_bin() -> Path:
    """CHECKOV_BIN if set, else the repo's own `.venv-checkov`."""
    path = Path(os.environ.get("CHECKOV_BIN") or REPO_ROOT / ".venv-checkov" / "bin" / "checkov")
    if not path.exists():
        raise CheckovError(
            f"checkov not found at {path}: create its venv with `python -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install -r requirements-checkov.txt -c constraints-checkov.txt` "
            "(or set CHECKOV_BIN)"
        )
    return path


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # No platform, no telemetry, no update check: the scan must work with the network unplugged.
    env.update(
        BC_SKIP_MAPPING="TRUE",
        CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false",
        LOG_LEVEL="ERROR",
        ENABLE_DEFINITION_KEY="false",
    )
    return env


def run_checkov(args: Sequence[str]) -> tuple[list[dict[str, Any]], float]:
    """Run checkov with `args` plus `-o json --skip-download`; returns its reports and wall seconds."""
    command = [str(checkov_bin()), *args, "-o", "json", "--skip-download", "--compact"]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=_environment(), check=False)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1 = some check failed: a result, not an error
        raise CheckovError(f"checkov exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    try:
        document = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise CheckovError(f"checkov printed no JSON: {proc.stdout[:500]!r} {proc.stderr[-1000:]!r}") from None
    reports = document if isinstance(document, list) else [document]
    # With nothing to scan checkov prints a bare summary instead of a report.
    return [r for r in reports if isinstance(r, dict) and "results" in r], seconds


def checked_types() -> dict[str, frozenset[str]]:
    """Terraform AWS type -> ids of the checkov checks that look at it (cached per install).

    A graph check names every type whose attributes it reads: CKV_AWS_21 names aws_s3_bucket and
    aws_s3_bucket_versioning, though it reports its result on the bucket."""
    binary = checkov_bin()
    python = binary.parent / "python"
    marker = binary.resolve().parent.parent / "pyvenv.cfg"
    stamp = f"{binary.resolve()}:{marker.stat().st_mtime_ns if marker.exists() else 0}"
    cache = (
        Path(tempfile.gettempdir())
        / f"tradesense-checkov-types-v2-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.json"
    )
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("stamp") == stamp:
            return {name: frozenset(ids) for name, ids in cached["types"].items()}
    proc = subprocess.run(
        [str(python), "-c", _TYPES_PROBE], capture_output=True, text=True, env=_environment(), check=False
    )
    if proc.returncode != 0:
        raise CheckovError(f"could not list checkov's checks: {proc.stderr.strip()[-1000:]}")
    types = json.loads(proc.stdout)
    cache.write_text(json.dumps({"stamp": stamp, "types": types}))
    return {name: frozenset(ids) for name, ids in types.items()}


# ---------------------------------------------------------------------------------------------
# checkov results -> Findings.


def _severity(value: str | None) -> str:
    return SEVERITIES.get(str(value or "").upper(), DEFAULT_SEVERITY)


def _finding(check: Mapping[str, Any], status: str, urn: str, resource_type: str) -> Finding:
    result = check.get("check_result") or {}
    evaluated = result.get("evaluated_keys") or []
    address = check.get("resource_address") or check.get("resource", "")
    verb = "passed" if status == "pass" else "FAILED"
    keys = f" (evaluated: {', '.join(map(str, evaluated))})" if evaluated else ""
    return Finding(
        source="checkov",
        rule_id=check["check_id"],
        title=check.get("check_name", ""),
        urn=urn,
        resource_type=resource_type,
        status=status,
        severity=_severity(check.get("severity")),
        message=f"checkov {check['check_id']} {verb} on {address}{keys}",
        url=check.get("guideline") or POLICY_INDEX,
        evidence={
            "terraform_address": address,
            "check_class": check.get("check_class", ""),
            "evaluated_keys": list(map(str, evaluated)),
        },
    )


def findings_from_reports(reports: Iterable[Mapping[str, Any]], conversion: tfplan.Conversion) -> list[Finding]:
    findings = []
    for report in reports:
        results = report.get("results") or {}
        for key, status in (("failed_checks", "fail"), ("passed_checks", "pass")):
            for check in results.get(key) or []:
                address = check.get("resource_address") or check.get("resource", "")
                urn = conversion.address_to_urn.get(address)
                if urn is None:
                    continue  # the provider block (`aws.default`): not a Pulumi resource
                findings.append(_finding(check, status, urn, conversion.urn_to_type.get(urn, "")))
    findings.sort(key=lambda f: (f.status != "fail", f.urn, f.rule_id))
    return findings


def unchecked(
    conversion: tfplan.Conversion, findings: Iterable[Finding], types: Mapping[str, frozenset[str]]
) -> list[dict[str, str]]:
    """Resources of a type checkov has checks for that no check evaluated.

    A resource counts as evaluated when a check reported on it, or when a check that reads its
    type reported on a resource joined to it by a reference (the versioning resource of a bucket is
    evaluated by CKV_AWS_21, reported on the bucket)."""
    checks_on: dict[str, set[str]] = {}
    for f in findings:
        checks_on.setdefault(f.evidence.get("terraform_address", ""), set()).add(f.rule_id)
    joined: dict[str, set[str]] = {}
    for address, refs in conversion.references.items():
        for ref in refs:
            joined.setdefault(address, set()).add(ref)
            joined.setdefault(ref, set()).add(address)
    missing = []
    for address, urn in sorted(conversion.address_to_urn.items()):
        relevant = types.get(address.split(".", 1)[0])
        if not relevant or checks_on.get(address):
            continue
        if any(checks_on.get(other, set()) & relevant for other in joined.get(address, ())):
            continue
        missing.append({"urn": urn, "type": conversion.urn_to_type[urn], "terraform_address": address})
    return missing


# ---------------------------------------------------------------------------------------------
# Waivers: the policy pack's module, so both sources obey the same rules.


def load_waivers(paths: Iterable[Path] = WAIVER_FILES) -> list[Any]:
    """The policy pack's waiver loader: checkov ids obey the same rules as policies."""
    from scripts.report.evaluate import waiver_module

    return [w for path in paths for w in waiver_module.load(path)]


def apply_waivers(findings: Iterable[Finding], waivers: Iterable[Any], today: dt.date) -> list[Finding]:
    from scripts.report.evaluate import apply_waivers as apply

    return apply(findings, list(waivers), today)


def joining_checks(types: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """Checks that read more than one resource type (graph checks, and resource checks such as
    CKV_AWS_21 that find a bucket's versioning in its aws_s3_bucket_versioning): on a document that
    omits unchanged resources, their failure may only mean the other resource is not listed."""
    seen = Counter(check for ids in types.values() for check in ids)
    return frozenset(check for check, count in seen.items() if count > 1 or check.startswith("CKV2_"))


def _reads_elsewhere(finding: Finding, values: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the check failed on an attribute the resource itself does not carry: checkov then found
    it (or not) on a connected resource (CKV_AWS_18 reads a bucket's `logging` from its
    aws_s3_bucket_logging), which a partial document may not list."""
    own = values.get(finding.evidence.get("terraform_address", ""), {})
    keys = {k.split("/", 1)[0] for k in finding.evidence.get("evaluated_keys", []) if k != "resource_type"}
    return any(k not in own for k in keys)


def scan_document(document: Mapping[str, Any], *, workdir: Path | None = None, source: str = "input") -> ScanResult:
    """Scan an already parsed preview or stack export. Findings are raw: pass or fail, no waivers.

    Like the policy report, it refuses (exit 2) a document with nothing it can judge: the two gates
    give the same exit on the same input. On a partial document (a plain `pulumi preview --json`),
    a failed graph check (CKV2_*: it joins resources, some of which the document does not list) is
    undecided, never a failure."""
    started = time.perf_counter()
    conversion = tfplan.convert(document, source)
    if not conversion.resources:
        found = sorted({e["type"] for e in conversion.unknown + conversion.not_applicable})
        raise NothingToScan(
            f"{source}: nothing to judge: no resource converts to a Terraform type checkov checks"
            + (
                f" (found {', '.join(found[:5])}{' ...' if len(found) > 5 else ''})"
                if found
                else " (the document lists no resources)"
            )
        )
    with tempfile.TemporaryDirectory(prefix="checkov-") as tmp:
        plan_path = Path(workdir or tmp) / "plan.json"
        plan_path.parent.mkdir(parents=True, exist_ok=True)
        plan_path.write_text(json.dumps(conversion.plan))
        reports, seconds = run_checkov(["-f", str(plan_path), "--framework", "terraform_plan"])
    findings = findings_from_reports(reports, conversion)
    types = checked_types()
    if conversion.partial:
        joining = joining_checks(types)
        values = {r["address"]: r["values"] for r in conversion.resources}
        findings = [
            dataclasses.replace(
                f, status="undecided", message=f"undecided: {f.message}; partial document: " + conversion.partial
            )
            if f.status == "fail" and (f.rule_id in joining or _reads_elsewhere(f, values))
            else f
            for f in findings
        ]
    return ScanResult(
        findings=findings,
        unchecked_resources=unchecked(conversion, findings, types),
        unknown_types=conversion.unknown,
        not_applicable=conversion.not_applicable,
        checkov_seconds=seconds,
        total_seconds=time.perf_counter() - started,
    )


def scan(preview_path: Path, *, waivers: bool = False, today: dt.date | None = None) -> ScanResult:
    """checkov's Findings for a preview.json / `pulumi preview --json` / `pulumi stack export`.

    Iterating the result yields the Findings (so `list(scan(path))` is a list of Findings). With
    `waivers=True` the checkov waivers are applied here; a report that applies waivers itself to
    every source leaves it False.
    """
    result = scan_document(tfplan.load_document(Path(preview_path)), source=str(preview_path))
    if waivers:
        result.findings = apply_waivers(result.findings, load_waivers(), today or dt.date.today())
    return result


def scan_repo(root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """checkov on the repo's own files it understands (GitHub workflows, secrets): its failed checks."""
    skips = [arg for path in REPO_SKIP_PATHS for arg in ("--skip-path", path)]
    reports, _ = run_checkov(["-d", str(root), "--framework", *REPO_FRAMEWORKS, *skips])
    return [
        {
            "check_id": c["check_id"],
            "check_name": c.get("check_name", ""),
            "file": c.get("file_path", ""),
            "lines": c.get("file_line_range"),
            "resource": c.get("resource", ""),
        }
        for report in reports
        for c in (report.get("results") or {}).get("failed_checks") or []
    ]


def _print_summary(result: ScanResult, out=sys.stdout) -> None:
    counts = {s: sum(1 for f in result.findings if f.status == s) for s in ("pass", "fail", "waived", "undecided")}
    print(
        f"checkov: {counts['pass']} passed, {counts['fail']} failed, {counts['undecided']} undecided, "
        f"{counts['waived']} waived "
        f"(checkov {result.checkov_seconds:.2f}s, total {result.total_seconds:.2f}s)",
        file=out,
    )
    for f in result.failures:
        print(f"  FAIL {f.rule_id} {f.evidence['terraform_address']}: {f.title}\n       {f.urn}", file=out)
    for f in result.findings:
        if f.status == "waived":
            print(f"  waived {f.rule_id} {f.evidence['terraform_address']} ({f.waiver['reason'][:90]})", file=out)
    for entry in result.unchecked_resources:
        print(f"  NOT CHECKED by any checkov check: {entry['terraform_address']} ({entry['urn']})", file=out)
    for entry in result.unknown_types:
        print(f"  UNKNOWN type, not converted: {entry['type']} ({entry['urn']})", file=out)
    for type_, count in sorted(Counter(e["type"] for e in result.not_applicable).items()):
        print(f"  not applicable (not a cloud resource): {count} x {type_}", file=out)


def main(argv: Iterable[str] | None = None) -> int:
    parser = ArgumentParser(description="checkov on a Pulumi preview, mapped to URNs")
    parser.add_argument(
        "input", nargs="?", type=Path, help="preview.json, `pulumi preview --json --show-sames` or a stack export"
    )
    parser.add_argument("--out", type=Path, help="write the findings and coverage as JSON here")
    parser.add_argument("--no-waivers", action="store_true", help="report raw results (no waivers applied)")
    parser.add_argument("--repo", type=Path, help="instead: scan this repo's workflows and secrets")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.repo:
        failures = scan_repo(args.repo)
        for f in failures:
            print(f"FAIL {f['check_id']} {f['file']}:{f['lines']} {f['check_name']}")
        print(f"checkov repo scan ({', '.join(REPO_FRAMEWORKS)}): {len(failures)} failed")
        return 1 if failures else 0
    if args.input is None:
        parser.error("INPUT is required (or --repo DIR)")
    try:
        result = scan(args.input, waivers=not args.no_waivers)
    except (CheckovError, tfplan.ConversionError) as exc:
        print(f"checkov scan: {redact(' '.join(str(exc).split()))}", file=sys.stderr)
        return 2
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result.to_dict(), indent=1, default=str))
    _print_summary(result)
    # Unchecked resources are listed, not fatal: checkov's checks for a type can be conditional
    # (CKV2_AWS_23 looks only at A records), so "no check applied" is information for review.
    return 1 if result.failures or result.unknown_types else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (CheckovError, tfplan.ConversionError, UsageError) as exc:  # one line, exit 2 (scripts.cli)
        print(f"checkov scan: {exc}", file=sys.stderr)
        sys.exit(2)
