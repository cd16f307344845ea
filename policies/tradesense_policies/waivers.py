"""Waivers: a written, approved, expiring exception to one policy (or checkov check) for named resources.

One module decides everything about waivers, so the pack under the CLI and the offline report
agree: `load` validates the file (a waiver without reason, approver or expiry is refused, naming
the entry and the field), `match` finds the waiver for a (rule, resource) pair and says whether it
is still active. An expired waiver waives nothing; it is reported as expired next to the violation.
A waiver may be scoped to stacks (`stacks: [staging]`): it then covers only resources whose URN
names one of them, so an exception accepted for staging can never waive the same finding in prod.

Waivers cannot switch a rule off by accident (`vet`, `breadth_problems`): a waiver names resources,
and a pattern covering every resource of its rule is refused unless the entry says
`all_resources: true`; it may run at most `max_waiver_days` from today; its approver is one of the
approvers in policies/approvers.yaml (which, like waivers.yaml, is owned through .github/CODEOWNERS);
unknown rule or check ids and duplicate YAML keys are refused.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "waivers.yaml"
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
APPROVERS_PATH = Path(__file__).resolve().parent.parent / "approvers.yaml"
FIELDS = ("policy", "resources", "reason", "approved_by", "expires", "stacks", "all_resources")


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
    all_resources: bool = False
    """Set explicitly when a pattern is meant to cover every resource of the rule (shown in reports)."""

    def covers(self, rule_id: str, urn: str) -> bool:
        if rule_id != self.policy or not in_stack_scope(self.stacks, urn):
            return False
        name = urn.rsplit("::", 1)[-1] if urn else ""
        return any(
            fnmatch.fnmatchcase(urn if pattern.startswith("urn:") else name, pattern) for pattern in self.resources
        )

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def to_dict(self, today: dt.date | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "policy": self.policy,
            "resources": list(self.resources),
            "reason": self.reason,
            "approved_by": self.approved_by,
            "expires": self.expires.isoformat(),
        }
        if self.stacks:
            data["stacks"] = list(self.stacks)
        if self.all_resources:
            data["all_resources"] = True
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
    waivers = [_entry(source, index, entry) for index, entry in enumerate(entries, start=1)]
    vet(waivers, source)
    return waivers


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
            raise WaiverError(
                f"{label}: field '{name}' is missing or empty; every waiver needs "
                "policy, resources, reason, approved_by and expires"
            )
    resources = entry.get("resources")
    if isinstance(resources, str):
        resources = [resources]
    if not isinstance(resources, list) or not resources or not all(isinstance(r, str) and r for r in resources):
        raise WaiverError(f"{label}: field 'resources' must be a non-empty list of URN or name patterns")
    expires = _expiry(label, entry, "waiver")
    all_resources = entry.get("all_resources", False)
    if not isinstance(all_resources, bool):
        raise WaiverError(f"{label}: field 'all_resources' must be true or false")
    return Waiver(
        entry["policy"].strip(),
        tuple(resources),
        entry["reason"].strip(),
        entry["approved_by"].strip(),
        expires,
        stacks=_stacks(label, entry),
        all_resources=all_resources,
    )


def _expiry(label: str, entry: dict[str, Any], kind: str) -> dt.date:
    """The entry's `expires` as a date (YAML gives a date, JSON a string); refused when missing."""
    expires = entry.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise WaiverError(f"{label}: field 'expires' = {expires!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(expires, dt.datetime):
        expires = expires.date()
    if not isinstance(expires, dt.date):
        raise WaiverError(f"{label}: field 'expires' is missing; a {kind} without an expiry date is refused")
    return expires


def _stacks(label: str, entry: dict) -> tuple[str, ...]:
    """The optional `stacks:` scope: a stack name or a non-empty list of them."""
    if "stacks" not in entry:
        return ()
    stacks = entry["stacks"]
    if isinstance(stacks, str):
        stacks = [stacks]
    if (
        not isinstance(stacks, list)
        or not stacks
        or not all(isinstance(s, str) and _STACK_NAME.fullmatch(s) for s in stacks)
    ):
        raise WaiverError(
            f"{label}: field 'stacks' = {entry['stacks']!r} must be a non-empty list of "
            "stack names (letters, digits, '-', '_', '.'); leave it out to cover every stack"
        )
    return tuple(stacks)


def in_stack_scope(stacks: tuple[str, ...], urn: str) -> bool:
    """Whether a resource is in a waiver's stack scope. A scoped waiver covers only a full URN
    (`urn:pulumi:<stack>::...`) naming one of its stacks: without a URN the stack is unknown, and an
    undecidable scope waives nothing."""
    if not stacks:
        return True
    if not urn.startswith("urn:pulumi:"):
        return False
    return urn[len("urn:pulumi:") :].split("::", 1)[0] in stacks


def load(path: Path | str | None = None) -> list[Waiver]:
    path = Path(path) if path else DEFAULT_PATH
    if not path.is_file():
        return []
    return parse(_read_yaml(path), path.name)


def match(waivers: Iterable[Waiver], rule_id: str, urn: str, today: dt.date) -> tuple[Waiver | None, Waiver | None]:
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
    return (
        f"waiver for {waiver.policy} expired on {waiver.expires.isoformat()} "
        f"(approved by {waiver.approved_by}: {waiver.reason}); it no longer waives this violation"
    )


def today_from_env(environ: dict[str, str], *, honour_override: bool = True) -> dt.date:
    """Today, or TRADESENSE_WAIVER_TODAY (YYYY-MM-DD) so tests can move the clock. The pack under the
    CLI passes honour_override=False: a deploy gate's clock is the real one."""
    value = environ.get("TRADESENSE_WAIVER_TODAY") if honour_override else None
    return dt.date.fromisoformat(value) if value else dt.date.today()


# -- guards against switching a rule off by accident (their own block, so other changes merge) -------
CHECKOV_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
DEFAULT_MAX_WAIVER_DAYS = 365


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (PyYAML keeps the last one silently)."""


def _unique_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise WaiverError(
                f"duplicate key {key!r} (line {key_node.start_mark.line + 1}): each key may appear once per entry"
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _read_yaml(path: Path) -> Any:
    """One of the repo's waiver-related files, read with the loader that refuses a key twice."""
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise WaiverError(f"{path.name}: not valid YAML ({getattr(exc, 'problem', exc)})") from None


def _check_approval(
    label: str, approved_by: str, expires: dt.date, approvers: frozenset[str], max_days: int, today: dt.date
) -> None:
    """The same rule for policy and change waivers: a listed approver, and no longer than max_days."""
    if approved_by.lower() not in approvers:
        raise WaiverError(f"{label}: approved_by {approved_by!r} is not an approver listed in approvers.yaml")
    if (expires - today).days > max_days:
        raise WaiverError(
            f"{label}: expires {expires.isoformat()}, more than {max_days} days from "
            f"{today.isoformat()}; a waiver may run at most {max_days} days"
        )


def load_approvers(path: Path | str | None = None) -> tuple[frozenset[str], int]:
    """(the approvers, the longest a waiver may run in days) from policies/approvers.yaml."""
    path = Path(path) if path else APPROVERS_PATH
    if not path.is_file():
        raise WaiverError(f"{path.name}: missing; it lists who may approve a waiver")
    document = _read_yaml(path) or {}
    approvers = document.get("approvers") if isinstance(document, dict) else None
    if not isinstance(approvers, list) or not approvers or not all(isinstance(a, str) and a for a in approvers):
        raise WaiverError(f"{path.name}: expected `approvers:` as a non-empty list of e-mail addresses")
    days = document.get("max_waiver_days", DEFAULT_MAX_WAIVER_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= DEFAULT_MAX_WAIVER_DAYS:
        raise WaiverError(
            f"{path.name}: max_waiver_days = {days!r}: must be a whole number of days, 1-{DEFAULT_MAX_WAIVER_DAYS}"
        )
    return frozenset(a.strip().lower() for a in approvers), days


def _universal(pattern: str) -> bool:
    """Whether a pattern matches any resource at all (`*`, `urn:*`, `urn:pulumi:prod::*::*`)."""
    if pattern.startswith("urn:"):
        probes = (
            "urn:pulumi:prod::tradesense::aws:s3/bucket:Bucket::a",
            "urn:pulumi:prod::tradesense::tradesense:x:Y$aws:rds/instance:Instance::zz9-q",
        )
    else:
        probes = ("a", "zz9-q_x.y")
    return all(fnmatch.fnmatchcase(p, pattern) for p in probes)


def vet(
    waivers: Iterable[Waiver],
    source: str = "waivers.yaml",
    *,
    approvers_path: Path | str | None = None,
    today: dt.date | None = None,
) -> None:
    """Refuse waivers that could switch a rule off by accident. `today` is the real clock: a test
    override of the date never lengthens what a waiver may run."""
    from tradesense_policies.governance import WAIVERS_SCOPED
    from tradesense_policies.registry import all_rules

    approvers, max_days = load_approvers(approvers_path)
    today = today or dt.date.today()
    known, seen = set(all_rules()), set()
    for index, waiver in enumerate(waivers, start=1):
        label = f"{source}: waiver #{index} ({waiver.policy})"
        if waiver.policy not in known and not CHECKOV_ID.match(waiver.policy):
            raise WaiverError(f"{label}: {waiver.policy!r} is neither a policy of the pack nor a checkov check id")
        if waiver.policy == WAIVERS_SCOPED:
            raise WaiverError(f"{label}: {WAIVERS_SCOPED} guards the waivers themselves and cannot be waived")
        _check_approval(label, waiver.approved_by, waiver.expires, approvers, max_days, today)
        broad = [p for p in waiver.resources if _universal(p)]
        if broad and not waiver.all_resources:
            raise WaiverError(
                f"{label}: resources {broad} match every resource; name the resources, or say "
                "all_resources: true (with the reason) if that is really meant"
            )
        key = (waiver.policy, waiver.resources)
        if key in seen:
            raise WaiverError(f"{label}: the same policy and resources are waived twice")
        seen.add(key)


def breadth_problems(waivers: Iterable[Waiver], subjects: dict[str, list[str]]) -> list[str]:
    """Waivers whose patterns cover every resource the rule judges in this stack (at least two)
    without `all_resources: true`. `subjects`: rule id -> URNs it judged (pass or fail)."""
    problems = []
    for waiver in waivers:
        if waiver.all_resources or not any(ch in p for p in waiver.resources for ch in "*?["):
            continue
        urns = [u for u in subjects.get(waiver.policy, []) if u]
        if len(urns) >= 2 and all(waiver.covers(waiver.policy, u) for u in urns):
            problems.append(
                f"waiver for {waiver.policy} ({', '.join(waiver.resources)}) covers every one of its "
                f"{len(urns)} resources; name them, or say all_resources: true with the reason"
            )
    return problems


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

    def to_dict(self, today: dt.date | None = None) -> dict[str, Any]:
        data = {
            "urn": self.urn,
            "operations": list(self.operations),
            "reason": self.reason,
            "approved_by": self.approved_by,
            "expires": self.expires.isoformat(),
        }
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
        raise WaiverError(
            f"{label}: field 'urn' = {urn!r}: must be one exact resource URN (urn:pulumi:...), no patterns"
        )
    label += f" ({urn.rsplit('::', 1)[-1]})"
    for name in ("reason", "approved_by"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise WaiverError(
                f"{label}: field '{name}' is missing or empty; every change waiver needs "
                "urn, reason, approved_by and expires"
            )
    operations = entry.get("operations", list(CHANGE_OPERATIONS))
    if isinstance(operations, str):
        operations = [operations]
    if (
        not isinstance(operations, list)
        or not operations
        or not all(isinstance(op, str) and op in CHANGE_OPERATIONS for op in operations)
    ):
        raise WaiverError(f"{label}: field 'operations' = {operations!r}: must list delete and/or replace")
    expires = _expiry(label, entry, "change waiver")
    return ChangeWaiver(
        urn, tuple(dict.fromkeys(operations)), entry["reason"].strip(), entry["approved_by"].strip(), expires
    )


def load_change_waivers(path: Path | str | None = None) -> list[ChangeWaiver]:
    path = Path(path) if path else DEFAULT_PATH
    if not path.is_file():
        return []
    waivers = parse_change_waivers(_read_yaml(path), path.name)
    vet_change_waivers(waivers, path.name)
    return waivers


def vet_change_waivers(
    waivers: Iterable[ChangeWaiver],
    source: str = "waivers.yaml",
    *,
    approvers_path: Path | str | None = None,
    today: dt.date | None = None,
) -> None:
    """The same approvers and longest duration as policy waivers: letting data go is no smaller a decision."""
    approvers, max_days = load_approvers(approvers_path)
    today = today or dt.date.today()
    for index, waiver in enumerate(waivers, start=1):
        label = f"{source}: change waiver #{index} ({waiver.urn.rsplit('::', 1)[-1]})"
        _check_approval(label, waiver.approved_by, waiver.expires, approvers, max_days, today)


def match_change(
    waivers: Iterable[ChangeWaiver], urn: str, operation: str, today: dt.date
) -> tuple[ChangeWaiver | None, ChangeWaiver | None]:
    """(active, expired) change waiver for this operation on exactly this URN."""
    active = expired = None
    for waiver in waivers:
        if waiver.covers(urn, operation):
            if waiver.expired(today):
                expired = expired or waiver
            else:
                active = active or waiver
    return active, expired
