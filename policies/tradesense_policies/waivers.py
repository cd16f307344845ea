"""Waivers: a written, approved, expiring exception to one policy (or checkov check) for named resources.

One module decides everything about waivers, so the pack under the CLI and the offline report
agree: `load` validates the file (a waiver without reason, approver or expiry is refused, naming
the entry and the field), `match` finds the waiver for a (rule, resource) pair and says whether it
is still active. An expired waiver waives nothing; it is reported as expired next to the violation.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "waivers.yaml"
FIELDS = ("policy", "resources", "reason", "approved_by", "expires")


class WaiverError(ValueError):
    """The waiver file is unusable; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Waiver:
    policy: str
    """Policy name (`s3-bucket-encrypted-with-cmk`) or checkov check id (`CKV_AWS_16`)."""
    resources: tuple[str, ...]
    """URN patterns (starting `urn:`) or resource-name patterns, fnmatch-style."""
    reason: str
    approved_by: str
    expires: dt.date

    def covers(self, rule_id: str, urn: str) -> bool:
        if rule_id != self.policy:
            return False
        name = urn.rsplit("::", 1)[-1] if urn else ""
        return any(
            fnmatch.fnmatchcase(urn if pattern.startswith("urn:") else name, pattern)
            for pattern in self.resources
        )

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def to_dict(self, today: Optional[dt.date] = None) -> dict[str, Any]:
        data = {"policy": self.policy, "resources": list(self.resources), "reason": self.reason,
                "approved_by": self.approved_by, "expires": self.expires.isoformat()}
        if today is not None:
            data["status"] = "expired" if self.expired(today) else "active"
        return data


def parse(document: Any, source: str = "waivers.yaml") -> list[Waiver]:
    if document is None:
        return []
    entries = document.get("waivers") if isinstance(document, dict) else None
    if entries is None:
        entries = [] if isinstance(document, dict) and not document else None
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: expected a top-level `waivers:` list")
    return [_entry(source, index, entry) for index, entry in enumerate(entries, start=1)]


def _entry(source: str, index: int, entry: Any) -> Waiver:
    label = f"{source}: waiver #{index}"
    if not isinstance(entry, dict):
        raise WaiverError(f"{label}: must be a mapping with {', '.join(FIELDS)}")
    label += f" ({entry.get('policy', '?')})"
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise WaiverError(f"{label}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    for name in ("policy", "reason", "approved_by"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise WaiverError(f"{label}: field '{name}' is missing or empty; every waiver needs "
                              "policy, resources, reason, approved_by and expires")
    resources = entry.get("resources")
    if isinstance(resources, str):
        resources = [resources]
    if not isinstance(resources, list) or not resources or not all(isinstance(r, str) and r for r in resources):
        raise WaiverError(f"{label}: field 'resources' must be a non-empty list of URN or name patterns")
    expires = entry.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise WaiverError(f"{label}: field 'expires' = {expires!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(expires, dt.datetime):
        expires = expires.date()
    if not isinstance(expires, dt.date):
        raise WaiverError(f"{label}: field 'expires' is missing; a waiver without an expiry date is refused")
    return Waiver(entry["policy"].strip(), tuple(resources), entry["reason"].strip(),
                  entry["approved_by"].strip(), expires)


def load(path: Path | str | None = None) -> list[Waiver]:
    path = Path(path) if path else DEFAULT_PATH
    if not path.is_file():
        return []
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise WaiverError(f"{path.name}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse(document, path.name)


def match(waivers: Iterable[Waiver], rule_id: str, urn: str, today: dt.date) -> tuple[Optional[Waiver], Optional[Waiver]]:
    """(active waiver, expired waiver) covering this rule on this resource; either may be None."""
    active = expired = None
    for waiver in waivers:
        if waiver.covers(rule_id, urn):
            if waiver.expired(today):
                expired = expired or waiver
            else:
                active = active or waiver
    return active, expired


def expired_note(waiver: Waiver) -> str:
    return (f"waiver for {waiver.policy} expired on {waiver.expires.isoformat()} "
            f"(approved by {waiver.approved_by}: {waiver.reason}); it no longer waives this violation")


def today_from_env(environ: dict[str, str]) -> dt.date:
    """Today, or TRADESENSE_WAIVER_TODAY (YYYY-MM-DD) so tests can move the clock."""
    value = environ.get("TRADESENSE_WAIVER_TODAY")
    return dt.date.fromisoformat(value) if value else dt.date.today()


# ==== Change waivers ==========================================================================
# scripts/review blocks a pull request that deletes or replaces a stateful resource (database,
# cache, bucket, backup vault, key, secret, log group, trail): the data goes with it. A change
# waiver is the written approval to do so anyway, for exactly one URN (no patterns: a waiver for
# "every database" is how data gets lost), with reason, approver and expiry, in the same file.

CHANGE_FIELDS = ("urn", "operations", "reason", "approved_by", "expires")
CHANGE_OPERATIONS = ("delete", "replace")


@dataclass(frozen=True)
class ChangeWaiver:
    urn: str
    """The exact URN of the resource, as the review names it."""
    operations: tuple[str, ...]
    """`delete` and/or `replace`."""
    reason: str
    approved_by: str
    expires: dt.date

    def covers(self, urn: str, operation: str) -> bool:
        return urn == self.urn and operation in self.operations

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def to_dict(self, today: Optional[dt.date] = None) -> dict[str, Any]:
        data = {"urn": self.urn, "operations": list(self.operations), "reason": self.reason,
                "approved_by": self.approved_by, "expires": self.expires.isoformat()}
        if today is not None:
            data["status"] = "expired" if self.expired(today) else "active"
        return data


def parse_change_waivers(document: Any, source: str = "waivers.yaml") -> list[ChangeWaiver]:
    """The `change_waivers:` list of a waiver file (absent: none)."""
    if not isinstance(document, dict) or document.get("change_waivers") is None:
        return []
    entries = document["change_waivers"]
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: `change_waivers:` must be a list")
    return [_change_entry(source, index, entry) for index, entry in enumerate(entries, start=1)]


def _change_entry(source: str, index: int, entry: Any) -> ChangeWaiver:
    label = f"{source}: change waiver #{index}"
    if not isinstance(entry, dict):
        raise WaiverError(f"{label}: must be a mapping with {', '.join(CHANGE_FIELDS)}")
    unknown = sorted(set(entry) - set(CHANGE_FIELDS))
    if unknown:
        raise WaiverError(f"{label}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(CHANGE_FIELDS)}")
    urn = entry.get("urn")
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:") or any(c in urn for c in "*?["):
        raise WaiverError(f"{label}: field 'urn' = {urn!r}: must be one exact resource URN (urn:pulumi:...), "
                          "no patterns")
    label += f" ({urn.rsplit('::', 1)[-1]})"
    for name in ("reason", "approved_by"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise WaiverError(f"{label}: field '{name}' is missing or empty; every change waiver needs "
                              "urn, reason, approved_by and expires")
    operations = entry.get("operations", list(CHANGE_OPERATIONS))
    if isinstance(operations, str):
        operations = [operations]
    if (not isinstance(operations, list) or not operations
            or not all(isinstance(op, str) and op in CHANGE_OPERATIONS for op in operations)):
        raise WaiverError(f"{label}: field 'operations' = {operations!r}: must list delete and/or replace")
    expires = entry.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise WaiverError(f"{label}: field 'expires' = {expires!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(expires, dt.datetime):
        expires = expires.date()
    if not isinstance(expires, dt.date):
        raise WaiverError(f"{label}: field 'expires' is missing; a change waiver without an expiry date is refused")
    return ChangeWaiver(urn, tuple(dict.fromkeys(operations)), entry["reason"].strip(),
                        entry["approved_by"].strip(), expires)


def load_change_waivers(path: Path | str | None = None) -> list[ChangeWaiver]:
    path = Path(path) if path else DEFAULT_PATH
    if not path.is_file():
        return []
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise WaiverError(f"{path.name}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_change_waivers(document, path.name)


def match_change(waivers: Iterable[ChangeWaiver], urn: str, operation: str,
                 today: dt.date) -> tuple[Optional[ChangeWaiver], Optional[ChangeWaiver]]:
    """(active, expired) change waiver for this operation on exactly this URN."""
    active = expired = None
    for waiver in waivers:
        if waiver.covers(urn, operation):
            if waiver.expired(today):
                expired = expired or waiver
            else:
                active = active or waiver
    return active, expired
