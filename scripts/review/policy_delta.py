"""Policy delta: which violations a pull request introduces, fixes or leaves, and how its waivers move.

Both previews are evaluated by the same, head revision's, policy pack (the rules under review), each
with its own revision's waiver file, through the existing report (scripts.report.policy_report: the pack
served over gRPC as the engine does). Findings are matched on (source, rule, resource), the head's
resources named by the base URN they correspond to (an alias or a move), so renaming a resource does
not read as "fixed here, introduced there".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.report import formats
from scripts.report.findings import Finding
from scripts.review.guard import waiver_module
from scripts.review.plan import ChangePlan

EXPIRY_WINDOW_DAYS = 30


@dataclass
class PolicyDelta:
    introduced: list[Finding] = field(default_factory=list)
    """Unwaived violations in the head that the base did not have (or had waived)."""
    fixed: list[Finding] = field(default_factory=list)
    """Base violations the head no longer has (the base's Finding)."""
    newly_waived: list[Finding] = field(default_factory=list)
    """Base violations the head waives instead of fixing (the head's Finding)."""
    unchanged: list[Finding] = field(default_factory=list)
    waivers_added: list[dict[str, Any]] = field(default_factory=list)
    waivers_removed: list[dict[str, Any]] = field(default_factory=list)
    waivers_expiring: list[dict[str, Any]] = field(default_factory=list)
    """Head waivers expired or expiring within EXPIRY_WINDOW_DAYS."""
    notes: list[str] = field(default_factory=list)
    computed: bool = True

    @property
    def blocking(self) -> list[Finding]:
        """New unwaived mandatory violations: exit 1, like the deploy gate."""
        return [f for f in self.introduced if f.blocks_deploy]

    def to_dict(self) -> dict[str, Any]:
        def brief(f: Finding) -> dict[str, Any]:
            return {
                "source": f.source,
                "rule_id": f.rule_id,
                "urn": f.urn,
                "status": f.status,
                "enforcement": f.enforcement,
                "severity": f.severity,
                "message": f.message,
            }

        return {
            "computed": self.computed,
            "notes": self.notes,
            "introduced": [brief(f) for f in self.introduced],
            "fixed": [brief(f) for f in self.fixed],
            "newly_waived": [brief(f) for f in self.newly_waived],
            "unchanged": [brief(f) for f in self.unchanged],
            "waivers": {
                "added": self.waivers_added,
                "removed": self.waivers_removed,
                "expiring": self.waivers_expiring,
            },
        }


def pack_env(waivers: Path | None) -> dict[str, str]:
    """The pack's environment as the report starts it (every violation; waivers applied after)."""
    env = {"TRADESENSE_POLICY_RAW": "1"}
    if waivers:
        env["TRADESENSE_WAIVERS"] = str(Path(waivers).resolve())
    return env


def start_pack(waivers: Path | None):
    """A pack process started now, so its start-up overlaps the preview it will judge."""
    from scripts.report.analyzer import PACK_DIR, spawn_pack

    return spawn_pack(PACK_DIR, pack_env(waivers))


def warm_report_modules() -> None:
    """Import what `evaluate` needs (the report, the gRPC client) now, while the previews run:
    imported by the first side to finish, they would sit between its preview and its report."""
    import grpc  # noqa: F401
    from pulumi.runtime.proto import analyzer_pb2_grpc  # noqa: F401

    from scripts.report import policy_report  # noqa: F401


def stop_pack(proc) -> None:
    """Stop a pack that was started but not used (the other side failed)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.error_file.close()


def evaluate(
    preview: Path, waivers: Path | None, today: dt.date, with_checkov: bool = False, pack=None
) -> formats.Report:
    """The policy report of one preview (pack over gRPC, optionally checkov), waivers applied."""
    from scripts.report.policy_report import build_report, run_checkov

    extra = run_checkov(str(preview)) if with_checkov else []
    return build_report(
        str(preview), waivers_path=str(waivers) if waivers else None, today=today, extra=extra, pack=pack
    )


def compare(base: formats.Report | None, head: formats.Report, plan: ChangePlan) -> PolicyDelta:
    delta = PolicyDelta()
    base_by_key = {(f.source, f.rule_id, f.urn): f for f in (base.findings if base else [])}
    to_base = plan.head_to_base()
    head_by_key = {(f.source, f.rule_id, to_base.get(f.urn, f.urn)): f for f in head.findings}
    for key, finding in head_by_key.items():
        before = base_by_key.get(key)
        if finding.status == "fail":
            if before is not None and before.status == "fail":
                delta.unchanged.append(finding)
            else:
                delta.introduced.append(finding)
        elif finding.status == "waived" and before is not None and before.status == "fail":
            delta.newly_waived.append(finding)
    for key, finding in base_by_key.items():
        after = head_by_key.get(key)
        if finding.status == "fail" and (after is None or after.status in ("pass", "not-applicable")):
            delta.fixed.append(finding)
    order = lambda f: (not f.blocks_deploy, f.rule_id, f.urn)  # noqa: E731
    for group in (delta.introduced, delta.fixed, delta.newly_waived, delta.unchanged):
        group.sort(key=order)
    return delta


def _waiver_entries(path: Path | None, today: dt.date) -> list[dict[str, Any]]:
    if path is None or not path.is_file():
        return []
    entries = [{"kind": "policy", **w.to_dict(today)} for w in waiver_module.load(path)]
    entries += [{"kind": "change", **w.to_dict(today)} for w in waiver_module.load_change_waivers(path)]
    return entries


def waiver_changes(delta: PolicyDelta, base: Path | None, head: Path | None, today: dt.date) -> None:
    """Waivers added and removed between the two files (a changed one is both), and head waivers
    that expired or expire within EXPIRY_WINDOW_DAYS."""
    try:
        head_entries = _waiver_entries(head, today)
    except waiver_module.WaiverError as exc:
        delta.notes.append(f"head waivers unreadable: {exc}")
        return
    try:
        base_entries = _waiver_entries(base, today)
    except waiver_module.WaiverError as exc:
        delta.notes.append(f"base waivers unreadable with the head's rules ({exc}); waiver delta not computed")
        base_entries = None

    def identity(entry: dict[str, Any]) -> str:
        return repr(sorted((k, repr(v)) for k, v in entry.items() if k != "status"))

    if base_entries is not None:
        base_ids = {identity(e) for e in base_entries}
        head_ids = {identity(e) for e in head_entries}
        delta.waivers_added = [e for e in head_entries if identity(e) not in base_ids]
        delta.waivers_removed = [e for e in base_entries if identity(e) not in head_ids]
    horizon = today + dt.timedelta(days=EXPIRY_WINDOW_DAYS)
    delta.waivers_expiring = sorted(
        (e for e in head_entries if dt.date.fromisoformat(e["expires"]) <= horizon), key=lambda e: e["expires"]
    )
