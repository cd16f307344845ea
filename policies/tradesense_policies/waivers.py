"""Waivers: a written, approved, expiring exception to one policy (or checkov check) for named resources.

One module decides everything about waivers, so the pack under the CLI and the offline report
agree: `load` validates the file (a waiver without reason, approver or expiry is refused, naming
the entry and the field), `match` finds the waiver for a (rule, resource) pair and says whether it
is still active. An expired waiver waives nothing; it is reported as expired next to the violation.
A waiver may be scoped to stacks (`stacks: [staging]`): it then covers only resources whose URN
names one of them, so an exception accepted for staging can never waive the same finding in prod.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "waivers.yaml"
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
FIELDS = ("policy", "resources", "reason", "approved_by", "expires", "stacks")


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
    stacks: tuple[str, ...] = ()
    """Stacks the waiver applies to; empty means every stack."""

    def covers(self, rule_id: str, urn: str) -> bool:
        if rule_id != self.policy or not in_stack_scope(self.stacks, urn):
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
        if self.stacks:
            data["stacks"] = list(self.stacks)
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
                  entry["approved_by"].strip(), expires, stacks=_stacks(label, entry))


def _stacks(label: str, entry: dict) -> tuple[str, ...]:
    """The optional `stacks:` scope: a stack name or a non-empty list of them."""
    if "stacks" not in entry:
        return ()
    stacks = entry["stacks"]
    if isinstance(stacks, str):
        stacks = [stacks]
    if not isinstance(stacks, list) or not stacks or not all(
        isinstance(s, str) and _STACK_NAME.fullmatch(s) for s in stacks
    ):
        raise WaiverError(f"{label}: field 'stacks' = {entry['stacks']!r} must be a non-empty list of "
                          "stack names (letters, digits, '-', '_', '.'); leave it out to cover every stack")
    return tuple(stacks)


def in_stack_scope(stacks: tuple[str, ...], urn: str) -> bool:
    """Whether a resource is in a waiver's stack scope. A scoped waiver covers only a full URN
    (`urn:pulumi:<stack>::...`) naming one of its stacks: without a URN the stack is unknown, and an
    undecidable scope waives nothing."""
    if not stacks:
        return True
    if not urn.startswith("urn:pulumi:"):
        return False
    return urn[len("urn:pulumi:"):].split("::", 1)[0] in stacks


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
