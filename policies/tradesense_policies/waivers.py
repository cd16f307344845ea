"""Waivers: a written, approved, expiring exception to one policy (or checkov check) for named resources.

One module decides everything about waivers, so the pack under the CLI and the offline report
agree: `load` validates the file through pydantic models of its entries (`Waiver`, `ChangeWaiver`,
and approvers.yaml's `_ApproverFile`; unknown keys refused): a waiver without reason, approver or
expiry is refused on one line naming the entry, the field, its value and what is allowed. `match` finds the waiver for a (rule, resource) pair and says whether it
is still active. An expired waiver waives nothing; it is reported as expired next to the violation.
A waiver may be scoped to stacks (`stacks: [staging]`): it then covers only resources whose URN
names one of them, so an exception accepted for staging can never waive the same finding in prod.

Waivers cannot switch a rule off by accident (`vet`, `breadth_problems`): a waiver names resources,
and a pattern covering every resource of its rule is refused unless the entry says
`all_resources: true`; it may run at most `max_waiver_days` from today; its approver is one of the
approvers in policies/approvers.yaml (which, like waivers.yaml, is owned through .github/CODEOWNERS);
unknown rule or check ids and duplicate YAML keys are refused. Under the CLI the pack's stack policy
`waivers-scoped` (governance.py) applies `breadth_problems` to the stack it judges.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic import ValidationError as _ValidationError
from pydantic_core import ErrorDetails

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "waivers.yaml"
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
APPROVERS_PATH = Path(__file__).resolve().parent.parent / "approvers.yaml"


class WaiverError(ValueError):
    """The waiver file is unusable; the message names the file, the entry and the field."""


# -- the files' shapes (pydantic models: unknown keys refused; every refusal one line) ---------------
def _listed(value: Any) -> Any:
    """A list as given, or one string as a list of one (`stacks: staging`); anything else is refused."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise ValueError("not a list")
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("empty")
    return value.strip()


def _not_empty(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if not values:
        raise ValueError("empty")
    return values


def _stack_name(value: str) -> str:
    if not _STACK_NAME.fullmatch(value):
        raise ValueError("not a stack name")
    return value


def _date(value: Any) -> dt.date:
    """YAML gives a date (or a datetime), JSON an ISO string; nothing else is a date here."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise ValueError("not a date")


def _exact_urn(value: str) -> str:
    if not value.startswith("urn:pulumi:") or any(c in value for c in "*?["):
        raise ValueError("not one exact URN")
    return value


Text = Annotated[StrictStr, AfterValidator(_text)]
Patterns = Annotated[tuple[Annotated[StrictStr, AfterValidator(_text)], ...], BeforeValidator(_listed)]
Expiry = Annotated[dt.date, BeforeValidator(_date)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_M = TypeVar("_M", bound=_Model)


class Waiver(_Model):
    """One entry of `waivers:`: an approved, expiring exception to one policy or checkov check."""

    policy: Text
    """Policy name (`s3-bucket-encrypted-with-cmk`) or checkov check id (`CKV_AWS_16`)."""
    resources: Annotated[Patterns, AfterValidator(_not_empty)]
    """URN patterns (starting `urn:`) or resource-name patterns, fnmatch-style."""
    reason: Text
    approved_by: Text
    expires: Expiry
    stacks: Annotated[
        tuple[Annotated[StrictStr, AfterValidator(_stack_name)], ...],
        BeforeValidator(_listed),
        AfterValidator(_not_empty),
    ] = ()
    """Stacks the waiver applies to; empty (left out) means every stack."""
    all_resources: StrictBool = False
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


_WAIVER_NEEDS = "every waiver needs policy, resources, reason, approved_by and expires"
WAIVER_ALLOWED = {
    "policy": "must name a policy of the pack or a checkov check id",
    "resources": "must be a non-empty list of URN or name patterns",
    "reason": "must say why the policy cannot be met",
    "approved_by": "must be an approver listed in approvers.yaml",
    "expires": "is not a date (YYYY-MM-DD)",
    "stacks": (
        "must be a non-empty list of stack names (letters, digits, '-', '_', '.'); leave it out to cover every stack"
    ),
    "all_resources": "must be true or false",
}


class _WaiverFile(_Model):
    """waivers.yaml: the policy waivers and the change waivers; no other top-level key."""

    waivers: list[Any] | None = None
    change_waivers: list[Any] | None = None


_FILE_ALLOWED = {
    "waivers": "must be a list of waivers",
    "change_waivers": "must be a list of change waivers",
}


# A value that looks like a credential is never echoed (AWS key ids, PEM blocks, long random tokens).
_SECRET_LIKE = re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}|-----BEGIN|^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9+/_=.~-]{24,}$")


def _shown(value: Any) -> str:
    """The value as JSON on one line (shortened), or [secret] if a string in it looks like a credential."""
    text = json.dumps(value, default=str, ensure_ascii=True)
    strings = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, str) and _SECRET_LIKE.search(v) for v in strings):
        return "[secret]"
    return text if len(text) <= 100 else text[:97] + "..."


def _refusal(
    model: type[_Model], label: str, entry: Any, error: ErrorDetails, allowed: Mapping[str, str], needs: str, kind: str
) -> str:
    """One pydantic error as one line: `<label>: field '<key>' = <value>: <what is allowed>`."""
    if not error["loc"]:
        return f"{label}: must be a mapping with {', '.join(allowed)}"
    key = str(error["loc"][0])
    if error["type"] == "extra_forbidden":
        return f"{label}: field '{key}' is an unknown field; allowed: {', '.join(allowed)}"
    value = entry.get(key) if isinstance(entry, Mapping) else None
    if key == "expires" and error["type"] == "missing":
        return f"{label}: field 'expires' is missing; a {kind} without an expiry date is refused"
    blank = isinstance(value, str) and not value.strip() and model.model_fields[key].is_required()
    if error["type"] == "missing" or blank:
        return f"{label}: field '{key}' is missing or empty; {needs}"
    return f"{label}: field '{key}' = {_shown(value)}: {allowed[key]}"


def _validated(model: type[_M], entry: Any, label: str, allowed: Mapping[str, str], needs: str, kind: str) -> _M:
    """`entry` as `model`, or WaiverError naming the first problem on one line."""
    try:
        return model.model_validate(entry)
    except _ValidationError as exc:
        raise WaiverError(_refusal(model, label, entry, exc.errors()[0], allowed, needs, kind)) from None


def _waiver_file(document: Any, source: str) -> _WaiverFile:
    if document is None:
        return _WaiverFile()
    return _validated(_WaiverFile, document, source, _FILE_ALLOWED, "", "file")


def parse(document: Any, source: str = "waivers.yaml") -> list[Waiver]:
    entries = _waiver_file(document, source).waivers or []
    waivers = [_entry(source, index, entry) for index, entry in enumerate(entries, start=1)]
    vet(waivers, source)
    return waivers


def _entry(source: str, index: int, entry: Any) -> Waiver:
    label = f"{source}: waiver #{index}"
    if isinstance(entry, Mapping):
        label += f" ({entry.get('policy', '?')})"
    return _validated(Waiver, entry, label, WAIVER_ALLOWED, _WAIVER_NEEDS, "waiver")


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


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
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


class _ApproverFile(_Model):
    """policies/approvers.yaml: who may approve a waiver, and the longest one may run."""

    approvers: Annotated[tuple[Text, ...], AfterValidator(_not_empty)]
    max_waiver_days: Annotated[StrictInt, Field(ge=1, le=DEFAULT_MAX_WAIVER_DAYS)] = DEFAULT_MAX_WAIVER_DAYS


_APPROVERS_ALLOWED = {
    "approvers": "must be a non-empty list of e-mail addresses",
    "max_waiver_days": f"must be a whole number of days, 1-{DEFAULT_MAX_WAIVER_DAYS}",
}


def load_approvers(path: Path | str | None = None) -> tuple[frozenset[str], int]:
    """(the approvers, the longest a waiver may run in days) from policies/approvers.yaml."""
    path = Path(path) if path else APPROVERS_PATH
    if not path.is_file():
        raise WaiverError(f"{path.name}: missing; it lists who may approve a waiver")
    needs = "approvers.yaml lists who may approve a waiver"
    document = _validated(_ApproverFile, _read_yaml(path) or {}, path.name, _APPROVERS_ALLOWED, needs, "file")
    return frozenset(a.lower() for a in document.approvers), document.max_waiver_days


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
    """Policies whose waivers, together, cover every resource the rule judges in this stack (at least
    two) through a pattern, without `all_resources: true`. Judged per policy, not per entry: patterns
    split over several waivers (`a*`, `[b-z]*`) switch the policy off as surely as one `*` does.
    `subjects`: rule id -> URNs it judged (pass or fail)."""
    by_policy: dict[str, list[Waiver]] = {}
    for waiver in waivers:
        if not waiver.all_resources:
            by_policy.setdefault(waiver.policy, []).append(waiver)
    problems = []
    for policy, group in by_policy.items():
        if not any(ch in p for w in group for p in w.resources for ch in "*?["):
            continue  # every resource named one by one: a decision written out, not a loose pattern
        urns = [u for u in subjects.get(policy, []) if u]
        if len(urns) < 2 or not all(any(w.covers(policy, u) for w in group) for u in urns):
            continue
        patterns = ", ".join(p for w in group for p in w.resources)
        together = "waiver" if len(group) == 1 else f"{len(group)} waivers"
        covers = "covers" if len(group) == 1 else "together cover"
        problems.append(
            f"{together} for {policy} ({patterns}) {covers} every one of its {len(urns)} resources; "
            "name them, or say all_resources: true with the reason"
        )
    return problems


# ==== Change waivers ==========================================================================
# scripts/review blocks a pull request that deletes or replaces a stateful resource (database,
# cache, bucket, backup vault, key, secret, log group, trail): the data goes with it. A change
# waiver is the written approval to do so anyway, for exactly one URN (no patterns: a waiver for
# "every database" is how data gets lost), with reason, approver and expiry, in the same file.

Operation = Literal["delete", "replace"]
CHANGE_OPERATIONS: tuple[Operation, ...] = ("delete", "replace")


def _unique(values: tuple[Operation, ...]) -> tuple[Operation, ...]:
    if not values:
        raise ValueError("empty")
    return tuple(dict.fromkeys(values))


class ChangeWaiver(_Model):
    """One entry of `change_waivers:`: the approval to delete or replace exactly one stateful resource."""

    urn: Annotated[StrictStr, AfterValidator(_exact_urn)]
    """The exact URN of the resource, as the review names it."""
    operations: Annotated[tuple[Operation, ...], BeforeValidator(_listed), AfterValidator(_unique)] = CHANGE_OPERATIONS
    """`delete` and/or `replace`."""
    reason: Text
    approved_by: Text
    expires: Expiry

    def covers(self, urn: str, operation: str) -> bool:
        return urn == self.urn and operation in self.operations

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def to_dict(self, today: dt.date | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "urn": self.urn,
            "operations": list(self.operations),
            "reason": self.reason,
            "approved_by": self.approved_by,
            "expires": self.expires.isoformat(),
        }
        if today is not None:
            data["status"] = "expired" if self.expired(today) else "active"
        return data


_CHANGE_NEEDS = "every change waiver needs urn, reason, approved_by and expires"
CHANGE_ALLOWED = {
    "urn": "must be one exact resource URN (urn:pulumi:...), no patterns",
    "operations": "must list delete and/or replace",
    "reason": "must say why the data may go",
    "approved_by": "must be an approver listed in approvers.yaml",
    "expires": "is not a date (YYYY-MM-DD)",
}


def parse_change_waivers(document: Any, source: str = "waivers.yaml") -> list[ChangeWaiver]:
    """The `change_waivers:` list of a waiver file (absent: none)."""
    entries = _waiver_file(document, source).change_waivers or []
    return [_change_entry(source, index, entry) for index, entry in enumerate(entries, start=1)]


def _change_entry(source: str, index: int, entry: Any) -> ChangeWaiver:
    label = f"{source}: change waiver #{index}"
    urn = entry.get("urn") if isinstance(entry, Mapping) else None
    if isinstance(urn, str) and urn.startswith("urn:pulumi:"):
        label += f" ({urn.rsplit('::', 1)[-1]})"
    return _validated(ChangeWaiver, entry, label, CHANGE_ALLOWED, _CHANGE_NEEDS, "change waiver")


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
