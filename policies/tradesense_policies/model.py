"""What rules see: plain resource inputs (camelCase, as the engine sends them) and small helpers.

Rules never touch pulumi-policy's proxies: the pack unwraps them into plain dicts, so an unknown
value is just its sentinel string here, and `get_path` turns it into `Unknown` on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tradesense_policies.outcomes import Unknown

# The engine's sentinels for values not known until deploy (pulumi_policy.proxy uses the same).
UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# How `pulumi preview --json` (and the pack's stack view) shows a secret: its value cannot be judged.
SECRET_TEXT = "[secret]"
# The key that marks a secret value in the engine's wire format ({SECRET_SIG: <its value>, "value": ...}).
SECRET_SIG = "4dabf18193072939515e22adb298388d"
_MISSING = object()

Props = Mapping[str, Any]
"""A resource's inputs as the engine sends them: camelCase keys, decoded JSON values (objects,
lists, text, numbers as floats, booleans, null); an unknown or secret value is its sentinel text."""
Document = Mapping[str, Any]
"""An IAM, bucket, key, topic or vault policy document, parsed (`policy_document`)."""
Statement = Mapping[str, Any]
"""One statement of a `Document` (`statements`)."""


def is_unknown(value: Any) -> bool:
    """Unknown until deploy, or a secret whose value the pack may not read: either way undecidable."""
    return isinstance(value, str) and (value in UNKNOWN_SENTINELS or value == SECRET_TEXT)


def is_secret_text(value: Any) -> bool:
    return isinstance(value, str) and value == SECRET_TEXT


def get_path(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """`props` at a dotted path (`viewerCertificate.minimumProtocolVersion`); Unknown if unknown."""
    value: Any = props
    for part in path.split("."):
        if is_unknown(value):
            raise Unknown(path)
        if isinstance(value, list) and part.isdigit():
            index = int(part)
            value = value[index] if index < len(value) else _MISSING
        elif isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        else:
            value = _MISSING
        if value is _MISSING:
            return default
    if is_unknown(value):
        raise Unknown(path)
    return value


def evidence(props: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """The values at each path for auditors: lists are flattened, unknowns shown as such."""
    result: dict[str, Any] = {}
    for path in paths:
        values = _collect(props, path.split("."))
        result[path] = None if not values else values[0] if len(values) == 1 else values
    return result


def _collect(value: Any, parts: list[str]) -> list[Any]:
    if is_secret_text(value):
        return [SECRET_TEXT]  # a secret is shown as one, not as a value still to come
    if is_unknown(value):
        return ["(unknown until deploy)"]
    if not parts:
        return [value]
    if isinstance(value, list):
        return [v for item in value for v in _collect(item, parts)]
    if isinstance(value, Mapping) and parts[0] in value:
        return _collect(value[parts[0]], parts[1:])
    return []


def as_bool(value: Any) -> bool:
    """Booleans may arrive as strings from some providers' inputs ("true")."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def as_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def policy_document(value: Any) -> dict[str, Any]:
    """An IAM/bucket policy input (JSON text or object) as a dict; {} when not parseable."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def statements(document: Document) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]


def camel_keys(value: Any) -> Any:
    """An AWS API document's PascalCase keys as Pulumi's camelCase inputs, at every depth (WAF rules
    given as `ruleJson`; the live validator's CloudTrail selectors)."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def tags_of(props: Mapping[str, Any]) -> dict[str, Any]:
    tags = props.get("tags")
    return dict(tags) if isinstance(tags, Mapping) else {}


@dataclass
class Resource:
    """One resource as a rule sees it."""

    type: str
    urn: str
    name: str
    props: dict[str, Any]
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    """The policy's CrossGuard config (`--policy-pack-config`); `setting` applies the floors."""

    def get(self, path: str, default: Any = None) -> Any:
        return get_path(self.props, path, default)

    def setting(self, key: str) -> Any:
        from tradesense_policies.floors import effective

        return effective(self.config, key)

    def depends_through(self, prop: str, target: Resource) -> bool:
        """Whether input `prop` was computed from `target` (the engine records this)."""
        return target.urn in self.property_dependencies.get(prop, ())


class Stack:
    """All resources of one stack, indexed by type, for rules that join resources."""

    def __init__(self, resources: Iterable[Resource], config: Mapping[str, Any] | None = None) -> None:
        self.resources = list(resources)
        self.config = dict(config or {})
        self._by_type: dict[str, list[Resource]] = {}
        for resource in self.resources:
            self._by_type.setdefault(resource.type, []).append(resource)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for t in types for r in self._by_type.get(t, ())]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def setting(self, key: str) -> Any:
        from tradesense_policies.floors import effective

        return effective(self.config, key)

    def by_urn(self, urn: str) -> Resource | None:
        if not hasattr(self, "_urns"):
            self._urns = {r.urn: r for r in self.resources}
        return self._urns.get(urn)


def refers_to(source: Resource, prop: str, value: Any, target: Resource, *target_keys: str) -> bool:
    """Whether `value` (from `source.props[prop]`) names `target`, judged on the value: equality with
    one of the target's identifying inputs/outputs (`arn`, `name`, `id`, ...). The recorded property
    dependency only says the value was computed from the target, not that it names it (an empty id
    "depends on" the web ACL too), so it never decides a known value; an unknown value refers to
    nothing here and callers raise Unknown for it (see `refers_to_any`)."""
    if value in (None, "") or is_unknown(value):
        return False
    for key in target_keys:
        candidate = target.props.get(key)
        if candidate not in (None, "") and not is_unknown(candidate) and candidate == value:
            return True
    return False


def refers_to_any(source: Resource, prop: str, targets: Iterable[Resource], *target_keys: str) -> bool:
    """Whether `source.props[prop]` names one of `targets`. Raises Unknown when that cannot be told
    before deploy (the value is computed), so the rule reports undecided instead of passing."""
    value = source.props.get(prop)
    targets = list(targets)
    if any(refers_to(source, prop, value, target, *target_keys) for target in targets):
        return True
    if is_unknown(value):
        raise Unknown(f"{source.name}.{prop}")
    unknown_target = next((tg for tg in targets if identity_unknown(tg, target_keys)), None)
    if value not in (None, "") and unknown_target is not None:
        raise Unknown(f"{unknown_target.name}.{'/'.join(target_keys)}")
    return False


def identity_unknown(target: Resource, target_keys: Iterable[str]) -> bool:
    """Whether what names `target` is not known until deploy (a new or replaced resource whose id,
    ARN or generated name the provider chooses): a comparison with it cannot be decided."""
    return any(is_unknown(target.props.get(k)) for k in target_keys)


def referrers(sources: Iterable[Resource], prop: str, target: Resource, *target_keys: str) -> list[Resource]:
    """The `sources` whose `prop` names `target`; Unknown when none does and one cannot be told."""
    sources = list(sources)
    found = [s for s in sources if refers_to(s, prop, s.props.get(prop), target, *target_keys)]
    if not found:
        for source in sources:
            if is_unknown(source.props.get(prop)):
                raise Unknown(f"{source.name}.{prop}")
        if sources and identity_unknown(target, target_keys):
            raise Unknown(f"{target.name}.{'/'.join(target_keys)}")
    return found


def names(value: Any, target: Resource, *target_keys: str) -> bool:
    """Whether a plain value (an element of a list input) equals one of the target's identifiers."""
    if value in (None, "") or is_unknown(value):
        return False
    return any(target.props.get(k) not in (None, "") and target.props.get(k) == value for k in target_keys)


def account_of(arn: Any) -> str:
    """The account field of an ARN ("" when not an ARN)."""
    parts = str(arn).split(":")
    return parts[4] if len(parts) >= 6 and parts[0] == "arn" else ""


def region_of(arn: Any) -> str:
    parts = str(arn).split(":")
    return parts[3] if len(parts) >= 6 and parts[0] == "arn" else ""
