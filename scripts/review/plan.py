"""The change plan: what a pull request creates, updates, replaces or deletes, and why.

Two sources, one model:

* two offline previews (base and head, every step a `create`): the plan is computed here, the way
  the engine would compute it against a deployed base. Resources are matched by URN, then by the
  aliases the head declares (scripts/engine/offline.py records them as the engine resolves them); a base
  URN nobody claims is a delete, a head URN with no base is a create. A matched pair whose inputs
  differ is an update, or a replace when a changed input is `ForceNew` in the provider's schema
  (scripts.review.replacements) or its provider (region, account) changed.
* one real `pulumi preview --json --show-sames`: the engine's own `op`, `replaceReasons` and
  `oldState`/`newState` are authoritative; only the property diff is recomputed for display.

Either way a delete and a create of the same type are paired when they look like one resource that
moved (renamed, or re-parented) without an alias, and the alias that would have kept it is named.
Values are compared as the documents hold them: secrets are already `[secret]`, so a changed
secret is not visible (the real engine's diff is).
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scripts.documents.secrets import mask_secrets
from scripts.review import replacements

OPS = ("create", "update", "replace", "delete", "same")
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
STACK_TYPE = "pulumi:pulumi:Stack"
# Provider inputs (and their stack config `aws:<key>` for the default provider) that move every
# resource under the provider to another region or account: the resource is created again there.
# A resource lives in its effective region (its own `region` input, else the provider's):
# https://hashicorp.github.io/terraform-provider-aws/enhanced-region-support/ and
# https://www.pulumi.com/registry/packages/aws/how-to-guides/aws-enhanced-region-support/
PROVIDER_PLACEMENT_KEYS = ("region", "allowedAccountIds", "assumeRole", "assumeRoles", "profile", "accessKey")


class PlanError(ValueError):
    """A document cannot be used; the message is one line."""


@dataclass
class PropertyDiff:
    path: str
    old: Any
    new: Any

    @property
    def top(self) -> str:
        return self.path.split(".", 1)[0].split("[", 1)[0]


@dataclass
class Move:
    """A delete paired with a create that looks like the same resource under a new URN."""

    from_urn: str
    to_urn: str
    alias: str
    """The `pulumi.ResourceOptions(aliases=[...])` that keeps the resource, as Python source."""
    inherited_from: str = ""
    """When the move follows a renamed parent: that parent's URN (one alias there covers this one)."""


@dataclass
class Change:
    op: str
    urn: str
    type: str
    custom: bool = True
    old_urn: str = ""
    """The base URN, when it differs (matched through an alias)."""
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    diffs: list[PropertyDiff] = field(default_factory=list)
    replace_reasons: dict[str, str] = field(default_factory=dict)
    """Input (or `provider`) -> why it forces a replacement (a schema citation, or the engine)."""
    may_replace: dict[str, str] = field(default_factory=dict)
    """Inputs whose change replaces the resource only under a condition the preview cannot see."""
    move: Move | None = None
    """For a delete or a create that is one half of a move without alias."""

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def protected(self) -> bool:
        """The engine refuses to delete or replace a resource whose *deployed* state is protected."""
        return bool((self.old or {}).get("protect"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "urn": self.urn,
            "type": self.type,
            "custom": self.custom,
            "old_urn": self.old_urn or None,
            "protected": self.protected,
            "diffs": [{"path": d.path, "old": d.old, "new": d.new} for d in self.diffs],
            "replace_reasons": self.replace_reasons,
            "may_replace": self.may_replace,
            "move": None
            if not self.move
            else {
                "from": self.move.from_urn,
                "to": self.move.to_urn,
                "alias": self.move.alias,
                "inherited_from": self.move.inherited_from or None,
            },
        }


@dataclass
class ChangePlan:
    stack: str
    source: str
    """`offline` (two previews diffed here) or `engine` (a real `pulumi preview --json`)."""
    changes: list[Change]
    notes: list[str] = field(default_factory=list)
    complete: bool = True
    """False when a real preview left out the unchanged resources (no `--show-sames`)."""

    def counts(self) -> Counter:
        return Counter(c.op for c in self.changes if c.custom)

    def of(self, op: str) -> list[Change]:
        return [c for c in self.changes if c.op == op]

    def head_to_base(self) -> dict[str, str]:
        """{head URN: the base URN it corresponds to}, for resources aliased or moved."""
        mapping = {}
        for change in self.changes:
            if change.old_urn:
                mapping[change.urn] = change.old_urn
            if change.op == "create" and change.move:
                mapping[change.urn] = change.move.from_urn
        return mapping

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "stack": self.stack,
            "source": self.source,
            "complete": self.complete,
            "counts": {op: counts.get(op, 0) for op in OPS},
            "notes": self.notes,
            "changes": [c.to_dict() for c in self.changes if c.op != "same"],
        }


# ---------------------------------------------------------------------------------------------
# Reading documents


def _states(document: Any, source: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """{urn: state} of an offline preview (or any preview's newStates), and its config."""
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        raise PlanError(f"{source}: not a `pulumi preview --json` document (no `steps` list)")
    states: dict[str, dict[str, Any]] = {}
    for index, step in enumerate(document["steps"]):
        state = step.get("newState") if isinstance(step, dict) else None
        if not isinstance(state, dict) or not isinstance(state.get("urn"), str):
            raise PlanError(f"{source}: steps[{index}] has no newState with a urn")
        states[state["urn"]] = state
    return states, dict(document.get("config") or {})


def load_document(path) -> dict[str, Any]:
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise PlanError(f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: not JSON ({exc.__class__.__name__})") from None


def stack_of(urns: Iterable[str]) -> str:
    for urn in urns:
        if urn.startswith("urn:pulumi:"):
            return urn.split(":", 2)[2].split("::", 1)[0]
    return ""


# ---------------------------------------------------------------------------------------------
# Property diff


def property_diff(old: Any, new: Any, path: str = "") -> list[PropertyDiff]:
    """Leaf-level differences between two input trees; secrets stay `[secret]`."""
    if isinstance(old, dict) and isinstance(new, dict):
        diffs: list[PropertyDiff] = []
        for key in sorted(set(old) | set(new)):
            if key.startswith("__"):  # engine bookkeeping (`__defaults`), not an input
                continue
            sub = f"{path}.{key}" if path else key
            if key not in old:
                diffs.append(PropertyDiff(sub, None, new[key]))
            elif key not in new:
                diffs.append(PropertyDiff(sub, old[key], None))
            else:
                diffs += property_diff(old[key], new[key], sub)
        return diffs
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        diffs = []
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            diffs += property_diff(a, b, f"{path}[{index}]")
        return diffs
    if _normal(old) == _normal(new):
        return []
    old_doc, new_doc = _json_document(old), _json_document(new)
    if old_doc is not None and new_doc is not None:  # an IAM policy: show the statement that changed
        return property_diff(old_doc, new_doc, path)
    return [PropertyDiff(path, old, new)]


def _json_document(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def _normal(value: Any) -> Any:
    # The engine carries numbers as floats; 5432 and 5432.0 are the same input.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _inputs(state: Mapping[str, Any] | None) -> dict[str, Any]:
    return mask_secrets(dict((state or {}).get("inputs") or {}))


# ---------------------------------------------------------------------------------------------
# Offline: two previews


def diff_previews(
    base: dict[str, Any] | None, head: dict[str, Any], *, base_source: str = "base", head_source: str = "head"
) -> ChangePlan:
    """The plan that deploying `head` over a stack deployed from `base` would show.

    `base` None means the base revision has no such stack: everything is a create.
    """
    head_states, head_config = _states(head, head_source)
    base_states, base_config = _states(base, base_source) if base is not None else ({}, {})
    stack = stack_of(head_states)
    plan = ChangePlan(stack=stack, source="offline", changes=[])
    if base is None:
        plan.notes.append("the base revision has no such stack: everything is created")

    # 1. Match head resources to base ones: same URN, else the first alias the base holds
    #    (parents before children, as the engine registers them).
    matched: dict[str, str] = {}  # head urn -> base urn
    claimed: set[str] = set()
    for urn in head_states:
        if urn in base_states:
            matched[urn] = urn
            claimed.add(urn)
    for urn, state in head_states.items():
        if urn in matched:
            continue
        for alias in state.get("aliases") or []:
            if alias in base_states and alias not in claimed and alias not in head_states:
                matched[urn] = alias
                claimed.add(alias)
                break

    # 2. Ids and ARNs of aliased resources: the engine keeps the deployed resource, so every input
    #    that quoted the head's mock id quotes the base's.
    substitutions = _kept_identities(matched, base_states, head_states)
    placement = _provider_placement_changes(base_states, head_states, base_config, head_config, matched)

    for urn, state in head_states.items():
        if state.get("type") == STACK_TYPE:
            continue
        base_urn = matched.get(urn)
        if base_urn is None:
            plan.changes.append(Change("create", urn, state["type"], bool(state.get("custom")), new=state))
            continue
        old = base_states[base_urn]
        new_inputs = _substitute(_inputs(state), substitutions) if substitutions else _inputs(state)
        diffs = property_diff(_inputs(old), new_inputs)
        change = Change(
            "same",
            urn,
            state["type"],
            bool(state.get("custom")),
            old_urn=base_urn if base_urn != urn else "",
            old=old,
            new=state,
            diffs=diffs,
        )
        changed = sorted({d.top for d in diffs})
        change.replace_reasons = replacements.replace_reasons(change.type, changed)
        change.may_replace = replacements.conditional_reasons(change.type, changed)
        if "region" in changed and change.custom and not change.type.startswith("pulumi:providers:"):
            change.replace_reasons["region"] = "the resource's region changes: it is created in the new region"
        moved_provider = placement.get(_provider_urn(state.get("provider")))
        if moved_provider and change.custom:
            change.replace_reasons["provider"] = moved_provider
        old_provider, new_provider = _provider_urn(old.get("provider")), _provider_urn(state.get("provider"))
        if change.custom and old_provider and new_provider and matched.get(new_provider, new_provider) != old_provider:
            change.replace_reasons["provider"] = (
                f"moves from provider {old_provider.rsplit('::', 1)[-1]} to "
                f"{new_provider.rsplit('::', 1)[-1]}: created again under the new one"
            )
        if change.replace_reasons:
            change.op = "replace"
        elif diffs:
            change.op = "update"
        plan.changes.append(change)

    for urn, state in base_states.items():
        if urn not in claimed and state.get("type") != STACK_TYPE:
            plan.changes.append(Change("delete", urn, state["type"], bool(state.get("custom")), old=state))

    pair_moves(plan)
    plan.changes.sort(key=lambda c: (OPS.index(c.op), c.urn))
    return plan


def _kept_identities(matched: Mapping[str, str], base: Mapping[str, dict], head: Mapping[str, dict]) -> dict[str, str]:
    """{head id/arn/name: base value} for resources matched under another URN (aliases)."""
    subs: dict[str, str] = {}
    for head_urn, base_urn in matched.items():
        if head_urn == base_urn:
            continue
        old, new = base[base_urn], head[head_urn]
        pairs = [(new.get("id"), old.get("id"))] + list(_leaf_pairs(new.get("outputs") or {}, old.get("outputs") or {}))
        for new_value, old_value in pairs:
            if (
                isinstance(new_value, str)
                and isinstance(old_value, str)
                and new_value != old_value
                and len(new_value) >= 6
            ):
                subs[new_value] = old_value
                # Programs quote parts of an ARN too (the `prx-...` of a proxy ARN in a policy).
                new_parts, old_parts = re.split(r"[:/]", new_value), re.split(r"[:/]", old_value)
                if len(new_parts) == len(old_parts):
                    subs.update({n: o for n, o in zip(new_parts, old_parts, strict=False) if n != o and len(n) >= 6})
    # Longest first, so a whole ARN is replaced before the parts of it.
    return dict(sorted(subs.items(), key=lambda item: -len(item[0])))


def _leaf_pairs(new: Any, old: Any) -> Iterable[tuple[Any, Any]]:
    """(new, old) leaves at the same path of two output trees (`masterUserSecrets[0].secretArn`)."""
    if isinstance(new, dict) and isinstance(old, dict):
        for key in new.keys() & old.keys():
            yield from _leaf_pairs(new[key], old[key])
    elif isinstance(new, list) and isinstance(old, list):
        for a, b in zip(new, old, strict=False):
            yield from _leaf_pairs(a, b)
    else:
        yield new, old


def _substitute(value: Any, subs: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, subs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, subs) for v in value]
    if isinstance(value, str):
        if value in subs:
            return subs[value]
        for new, old in subs.items():  # longest first (see _kept_identities)
            if new in value:  # an ARN inside a policy document
                value = value.replace(new, old)
        return value
    return value


def _provider_urn(reference: Any) -> str:
    """`<provider urn>::<id>` -> the provider's URN."""
    if not isinstance(reference, str) or not reference:
        return ""
    return reference.rsplit("::", 1)[0]


def _provider_placement_changes(
    base: Mapping[str, dict],
    head: Mapping[str, dict],
    base_config: Mapping[str, Any],
    head_config: Mapping[str, Any],
    matched: Mapping[str, str],
) -> dict[str, str]:
    """{head provider urn: why} for providers whose region or account changed."""
    moved: dict[str, str] = {}
    for urn, state in head.items():
        if not state.get("type", "").startswith("pulumi:providers:"):
            continue
        package = state["type"].split(":")[-1]
        base_urn = matched.get(urn)
        old_state = base.get(base_urn) if base_urn else None
        if old_state is None:
            continue
        old_inputs, new_inputs = dict(old_state.get("inputs") or {}), dict(state.get("inputs") or {})
        if urn.rsplit("::", 1)[-1].startswith("default"):
            # A default provider is configured by the stack's `<package>:<key>` config.
            old_inputs.update({k.split(":", 1)[1]: v for k, v in base_config.items() if k.startswith(package + ":")})
            new_inputs.update({k.split(":", 1)[1]: v for k, v in head_config.items() if k.startswith(package + ":")})
        changed = [
            key for key in PROVIDER_PLACEMENT_KEYS if _normal(old_inputs.get(key)) != _normal(new_inputs.get(key))
        ]
        if changed:
            moved[urn] = (
                "provider "
                + urn.rsplit("::", 1)[-1]
                + " changes "
                + ", ".join(f"{key} {old_inputs.get(key)!r} -> {new_inputs.get(key)!r}" for key in changed)
                + ": every resource under it is created again there"
            )
    return moved


# ---------------------------------------------------------------------------------------------
# Moves: a delete plus a create that are one resource under a new URN


def _parent(state: Mapping[str, Any] | None) -> str:
    return str((state or {}).get("parent") or "")


def _similarity(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    keys = set(a) | set(b)
    if not keys:
        return 1.0
    same = sum(
        1 for k in keys if k in a and k in b and json.dumps(a[k], sort_keys=True) == json.dumps(b[k], sort_keys=True)
    )
    return same / len(keys)


def pair_moves(plan: ChangePlan) -> None:
    """Attach a Move to each delete/create pair that is one resource under a new URN."""
    deletes = [c for c in plan.changes if c.op == "delete"]
    creates = [c for c in plan.changes if c.op == "create"]
    if not deletes or not creates:
        return
    to_new: dict[str, str] = {}  # old urn -> new urn, for parents already paired
    moves: dict[str, Move] = {}
    # Parents first: fewer `$` in the type chain means higher in the tree.
    for gone in sorted(deletes, key=lambda c: (c.urn.split("::")[2].count("$"), c.urn)):
        candidates = [c for c in creates if c.type == gone.type and c.urn not in moves]
        if not candidates:
            continue
        old_parent = _parent(gone.old)
        old_parent_name = old_parent.rsplit("::", 1)[-1] if old_parent else ""
        best, inherited = None, ""
        if old_parent in to_new:
            new_parent = to_new[old_parent]
            new_parent_name = new_parent.rsplit("::", 1)[-1]
            for cand in candidates:
                expected = gone.name
                if old_parent_name and gone.name.startswith(old_parent_name):
                    expected = new_parent_name + gone.name[len(old_parent_name) :]
                if _parent(cand.new) == new_parent and cand.name == expected:
                    best = cand
                    inherited = moves[new_parent].inherited_from or new_parent if new_parent in moves else new_parent
                    break
        if best is None:
            same_name = [c for c in candidates if c.name == gone.name]
            if len(same_name) == 1:
                best = same_name[0]
        if best is None:
            # Same type: the most alike by inputs, names breaking ties ("auth-db" -> "auth-database",
            # not "analytics-database"); only an unambiguous best counts.
            scored = sorted(
                (
                    (
                        _similarity(_inputs(gone.old), _inputs(c.new)),
                        difflib.SequenceMatcher(None, gone.name, c.name).ratio(),
                        c.urn,
                        c,
                    )
                    for c in candidates
                ),
                key=lambda t: (t[0] + t[1], t[2]),
                reverse=True,
            )
            top = scored[0] if scored else None
            if (
                top
                and (top[0] >= 0.6 or top[1] >= 0.6)
                and (len(scored) == 1 or top[0] + top[1] > scored[1][0] + scored[1][1])
            ):
                best = top[3]
        if best is None:
            continue
        move = Move(gone.urn, best.urn, _alias_source(gone, best), inherited_from=inherited)
        moves[best.urn] = move
        to_new[gone.urn] = best.urn
        gone.move = move
        best.move = move


def _alias_source(gone: Change, new: Change) -> str:
    """The alias to add to the new resource so the engine finds the deployed one."""
    parts = []
    if gone.name != new.name:
        parts.append(f'name="{gone.name}"')
    old_parent, new_parent = _parent(gone.old), _parent(new.new)
    if old_parent != new_parent:
        if not old_parent or old_parent.split("::")[2] == STACK_TYPE:
            parts.append("parent=pulumi.ROOT_STACK_RESOURCE")
        else:
            parts.append(f'parent=<the resource whose URN is "{old_parent}">')
    if not parts:
        return f'pulumi.ResourceOptions(aliases=["{gone.urn}"])'
    return f"pulumi.ResourceOptions(aliases=[pulumi.Alias({', '.join(parts)})])"


# ---------------------------------------------------------------------------------------------
# A real preview


ENGINE_OPS = {
    "create": "create",
    "import": "create",
    "create-replacement": "replace",
    "replace": "replace",
    "delete-replaced": "replace",
    "update": "update",
    "same": "same",
    "read": "same",
    "refresh": "same",
    "delete": "delete",
    "discard": "delete",
    "read-replacement": "replace",
    "import-replacement": "replace",
}
SKIPPED_ENGINE_OPS = ("remove-pending-replace",)


def engine_plan(document: Any, source: str = "preview") -> ChangePlan:
    """The plan of a real `pulumi preview --json` (best with `--show-sames`): the engine decided."""
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        raise PlanError(f"{source}: not a `pulumi preview --json` document (no `steps` list)")
    by_urn: dict[str, Change] = {}
    for index, step in enumerate(document["steps"]):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str):
            raise PlanError(f"{source}: steps[{index}] has no `op`")
        raw_op = step["op"]
        if raw_op in SKIPPED_ENGINE_OPS:
            continue
        if raw_op not in ENGINE_OPS:
            raise PlanError(
                f"{source}: steps[{index}].op = {raw_op!r}: not an operation the engine prints "
                f"({', '.join(sorted(ENGINE_OPS))})"
            )
        old, new = step.get("oldState"), step.get("newState")
        urn = step.get("urn") or (new or {}).get("urn") or (old or {}).get("urn")
        state = new or old
        if not isinstance(urn, str) or not isinstance(state, dict):
            raise PlanError(f"{source}: steps[{index}] has no urn or state")
        if state.get("type") == STACK_TYPE:
            continue
        op = ENGINE_OPS[raw_op]
        change = by_urn.get(urn)
        if change is None:
            change = by_urn[urn] = Change(op, urn, state.get("type", ""), bool(state.get("custom", True)))
        elif op == "replace" or change.op == "replace":
            change.op = "replace"
        change.old = change.old or old
        change.new = change.new or new
        for reason in step.get("replaceReasons") or []:
            change.replace_reasons[str(reason)] = "the engine: the provider's diff requires replacement"
    for change in by_urn.values():
        if change.old and change.old.get("urn") and change.old["urn"] != change.urn:
            change.old_urn = change.old["urn"]
        if change.old is not None and change.new is not None:
            change.diffs = property_diff(_inputs(change.old), _inputs(change.new))
    stack = stack_of(by_urn)
    plan = ChangePlan(stack=stack, source="engine", changes=list(by_urn.values()))
    summary = document.get("changeSummary") or {}
    listed_same = sum(1 for step in document["steps"] if step.get("op") == "same")
    if isinstance(summary.get("same"), int) and summary["same"] > listed_same:
        plan.complete = False
        plan.notes.append(
            f"the preview lists {listed_same} of {summary['same']} unchanged resources "
            "(run `pulumi preview --json --show-sames`); the policy delta needs all of them"
        )
    pair_moves(plan)
    plan.changes.sort(key=lambda c: (OPS.index(c.op), c.urn))
    return plan


def engine_states(plan: ChangePlan) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(base states, head states) of a real preview: what is deployed, and what will be."""
    base = [c.old for c in plan.changes if c.old is not None]
    head = [c.new for c in plan.changes if c.new is not None and c.op != "delete"]
    return base, head
