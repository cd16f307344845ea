"""The review as a reviewer reads it: a terminal summary, the pull-request comment (markdown,
summary first, details collapsed, kept under GitHub's comment limit) and the full JSON.

The comment starts with a hidden marker (`<!-- tradesense-change-review:<stack> -->`) so the
workflow finds its own comment and updates it in place on every push.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from dataclasses import dataclass, field
from typing import Any

from scripts.review.guard import DataLossFinding
from scripts.review.plan import Change, ChangePlan
from scripts.review.policy_delta import PolicyDelta

# GitHub refuses an issue comment body over 65,536 characters; keep a margin for the footer.
COMMENT_LIMIT = 65_536
MARKER = "<!-- tradesense-change-review:{stack} -->"
VALUE_WIDTH = 80


@dataclass
class Review:
    plan: ChangePlan
    data_loss: list[DataLossFinding]
    policy: PolicyDelta
    base_label: str
    head_label: str
    today: dt.date
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def blocking_data_loss(self) -> list[DataLossFinding]:
        return [f for f in self.data_loss if f.blocking]

    @property
    def blocked(self) -> bool:
        return bool(self.blocking_data_loss or self.policy.blocking)

    def verdict(self) -> str:
        if not self.blocked:
            return "OK - nothing blocking"
        return (
            f"BLOCKED - {len(self.blocking_data_loss)} data-loss finding(s) not waived, "
            f"{len(self.policy.blocking)} new mandatory violation(s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.plan.stack,
            "base": self.base_label,
            "head": self.head_label,
            "verdict": self.verdict(),
            "blocked": self.blocked,
            "plan": self.plan.to_dict(),
            "data_loss": [f.to_dict(self.today) for f in self.data_loss],
            "policy": self.policy.to_dict(),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else "(stack)"


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if value == "04da6b54-80e4-46f7-96ec-b56ff0331ba9":
        return "(known after deploy)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _pair(old: Any, new: Any) -> tuple[str, str]:
    """Before and after, trimmed to where they differ (two long ARNs differ only at the end)."""
    if isinstance(old, str) and isinstance(new, str):
        common = len(os.path.commonprefix([old, new]))
        if common > 40 and max(len(old), len(new)) > VALUE_WIDTH:
            cut = common - 20
            return _value("…" + old[cut:]), _value("…" + new[cut:])
    return _value(old), _value(new)


def counts_line(plan: ChangePlan) -> str:
    c = plan.counts()
    return (
        f"{c['create']} to create, {c['update']} to update, {c['replace']} to replace, "
        f"{c['delete']} to delete, {c['same']} unchanged"
    )


def loss_groups(findings: list[DataLossFinding]) -> list[list[DataLossFinding]]:
    """Findings that one fix resolves together (the children of one renamed component), in order."""
    groups: dict[tuple, list[DataLossFinding]] = {}
    for f in findings:
        move = f.change.move
        key = (
            ("move", move.inherited_from, f.blocking)
            if f.operation == "delete" and move and move.inherited_from
            else ("one", f.urn)
        )
        groups.setdefault(key, []).append(f)
    return list(groups.values())


def _plural(remedy: str) -> str:
    return remedy.replace("Keep it by", "Keep them by", 1)


def _group_title(group: list[DataLossFinding]) -> str:
    """`renamed auth-db -> auth-database without an alias` for a group, else empty."""
    if len(group) < 2:
        return ""
    root = group[0].change.move.inherited_from
    old = group[0].remedy.split('pulumi.Alias(name="', 1)[-1].split('"', 1)[0]
    return f"{old} is now {_name(root)}, without an alias"


def _top_moves(plan: ChangePlan) -> list[tuple[Change, int]]:
    """Moves without alias that an alias on one resource would fix, with how many follow it."""
    creates = [c for c in plan.changes if c.op == "create" and c.move]
    tops = [c for c in creates if not c.move.inherited_from]
    return [(c, sum(1 for d in creates if d.move.inherited_from == c.urn)) for c in tops]


# -- text --------------------------------------------------------------------------------------
def to_text(review: Review) -> str:
    plan = review.plan
    lines = [
        f"Change review of {plan.stack}: {review.base_label} -> {review.head_label}",
        f"  {counts_line(plan)}",
        review.verdict(),
    ]
    lines += [f"  note: {note}" for note in plan.notes + review.policy.notes]
    if review.data_loss:
        lines.append("Data loss:")
    for group in loss_groups(review.data_loss):
        f = group[0]
        state = "BLOCK" if f.blocking else "WAIVED"
        if len(group) > 1:
            lines.append(
                f"  [{state}] {_group_title(group)}: deletes "
                + ", ".join(f"{g.category} {_name(g.urn)}{' (protected)' if g.change.protected else ''}" for g in group)
            )
            lines.append("      why: the engine creates new, empty ones and deletes these")
            lines.append(f"      fix: {_plural(f.remedy)}")
            continue
        lines.append(
            f"  [{state}] {f.operation} {f.category} {_name(f.urn)} ({f.change.type})"
            f"{', protected' if f.change.protected else ''}"
        )
        lines.append(f"      why: {f.why}")
        if f.waiver:
            lines.append(
                f"      waiver: approved by {f.waiver.approved_by} until {f.waiver.expires}: {f.waiver.reason}"
            )
        else:
            if f.expired_waiver:
                lines.append(
                    f"      waiver EXPIRED on {f.expired_waiver.expires} (approved by {f.expired_waiver.approved_by})"
                )
            lines.append(f"      fix: {f.fix}")
    moves = _top_moves(plan)
    if moves:
        lines.append("Moved without an alias (a delete plus a create):")
    for change, followers in moves:
        lines.append(
            f"  {_name(change.move.from_urn)} -> {change.name} ({change.type})"
            + (f" and {followers} resource(s) under it" if followers else "")
        )
        lines.append(f"      keep it: opts={change.move.alias}")
    for change in plan.of("replace"):
        if not change.custom:
            continue
        lines.append(
            f"  [replace] {change.type} {change.name}: "
            + "; ".join(f"{key} ({why})" for key, why in change.replace_reasons.items())
        )
    for change in plan.of("update"):
        if not change.custom:
            continue
        shown = ", ".join(f"{d.path}: {' -> '.join(_pair(d.old, d.new))}" for d in change.diffs[:4])
        more = f" (+{len(change.diffs) - 4} more)" if len(change.diffs) > 4 else ""
        lines.append(f"  [update] {change.type} {change.name}: {shown}{more}")
    for op in ("create", "delete"):
        items = [c for c in plan.of(op) if c.custom]
        if items:
            lines.append(
                f"  [{op}] {len(items)}: "
                + ", ".join(_name(c.urn) for c in items[:12])
                + (" ..." if len(items) > 12 else "")
            )
    delta = review.policy
    if delta.computed:
        lines.append(
            f"Policy delta: {len(delta.introduced)} introduced ({len(delta.blocking)} blocking), "
            f"{len(delta.fixed)} fixed, {len(delta.newly_waived)} newly waived, {len(delta.unchanged)} unchanged"
        )
        for f in delta.introduced:
            lines.append(
                f"  [NEW] {f.enforcement} {f.rule_id} on {_name(f.urn)}: {(f.message.splitlines() or [''])[0]}"
            )
        for f in delta.fixed:
            lines.append(f"  [FIXED] {f.rule_id} on {_name(f.urn)}")
        for f in delta.newly_waived:
            lines.append(f"  [NOW WAIVED] {f.rule_id} on {_name(f.urn)} until {(f.waiver or {}).get('expires')}")
    lines.append(
        f"Waivers: {len(delta.waivers_added)} added, {len(delta.waivers_removed)} removed, "
        f"{len(delta.waivers_expiring)} expired or expiring within 30 days"
    )
    for entry in delta.waivers_expiring:
        lines.append(f"  expires {entry['expires']} ({entry['status']}): {_waiver_label(entry)}")
    return "\n".join(lines) + "\n"


def _waiver_label(entry: dict[str, Any]) -> str:
    if entry.get("kind") == "change":
        return f"change waiver {', '.join(entry['operations'])} {_name(entry['urn'])}"
    return f"{entry['policy']} on {', '.join(entry['resources'])}"


# -- markdown (the pull-request comment) -------------------------------------------------------
def _md(text: Any) -> str:
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ")


def _code(text: Any) -> str:
    return f"<code>{_md(text)}</code>"


def _prose(text: str) -> str:
    """Escaped prose whose `backtick spans` become <code> (entities inside backticks would show raw)."""
    parts = str(text).split("`")
    return "".join(_code(part) if i % 2 else _md(part) for i, part in enumerate(parts))


def _summary(review: Review) -> list[str]:
    plan, delta = review.plan, review.policy
    icon = "❌" if review.blocked else "✅"
    c = plan.counts()
    lines = [
        MARKER.format(stack=plan.stack),
        f"### {icon} Change review: `{plan.stack}`",
        "",
        f"{_md(review.base_label)} → {_md(review.head_label)} · **{_md(review.verdict())}**",
        "",
        "| create | update | replace | delete | unchanged |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {c['create']} | {c['update']} | {c['replace']} | {c['delete']} | {c['same']} |",
        "",
    ]
    lines += [f"> note: {_md(note)}" for note in plan.notes + delta.notes]
    if review.data_loss:
        lines += [
            "",
            f"**Data loss: {len(review.blocking_data_loss)} blocking, "
            f"{len(review.data_loss) - len(review.blocking_data_loss)} waived**",
            "",
        ]
    for group in loss_groups(review.data_loss):
        f = group[0]
        mark = "❌" if f.blocking else "☑️ waived"
        if len(group) > 1:
            lines.append(
                f"- {mark} **delete** ({_md(_group_title(group))}): "
                + ", ".join(
                    f"{_md(g.category)} {_code(_name(g.urn))}{' (protected)' if g.change.protected else ''}"
                    for g in group
                )
                + ": the engine creates new, empty ones and deletes these"
            )
            lines.append(f"  - **do:** {_prose(_plural(f.remedy))}")
            continue
        lines.append(
            f"- {mark} **{f.operation}** {_md(f.category)} {_code(_name(f.urn))} ({_code(f.change.type)})"
            f"{' · protected' if f.change.protected else ' · not protected'}: {_prose(f.why)}"
        )
        if f.waiver:
            lines.append(
                f"  - waiver: {_md(f.waiver.reason)} (approved by {_md(f.waiver.approved_by)}, "
                f"expires {f.waiver.expires})"
            )
        else:
            if f.expired_waiver:
                lines.append(f"  - waiver expired on {f.expired_waiver.expires}")
            lines.append(f"  - **do:** {_prose(f.fix)}")
    if delta.computed:
        lines += [
            "",
            f"**Policy: {len(delta.introduced)} new violation(s) ({len(delta.blocking)} blocking), "
            f"{len(delta.fixed)} fixed, {len(delta.newly_waived)} newly waived, "
            f"{len(delta.unchanged)} unchanged**",
        ]
        for f in delta.introduced[:20]:
            lines.append(
                f"- {'❌' if f.blocks_deploy else '⚠️'} {_code(f.rule_id)} on {_code(_name(f.urn))}: "
                f"{_md((f.message.splitlines() or [''])[0])[:200]}"
            )
        if len(delta.introduced) > 20:
            lines.append(f"- … and {len(delta.introduced) - 20} more (details below)")
    lines.append("")
    return lines


def _details(title: str, body: list[str]) -> list[str]:
    return [f"<details><summary>{_md(title)}</summary>", "", *body, "", "</details>", ""]


def _sections(review: Review) -> list[list[str]]:
    plan, delta = review.plan, review.policy
    sections: list[list[str]] = []
    moves = _top_moves(plan)
    if moves:
        body = ["| from | to | type | keep it with |", "| --- | --- | --- | --- |"]
        body += [
            f"| {_code(_name(c.move.from_urn))} | {_code(c.name)}"
            f"{f' (+{n} under it)' if n else ''} | {_code(c.type)} | {_code('opts=' + c.move.alias)} |"
            for c, n in moves
        ]
        sections.append(_details(f"Moved without an alias ({len(moves)})", body))
    replaced = [c for c in plan.of("replace") if c.custom]
    if replaced:
        body = ["| resource | type | replaced because |", "| --- | --- | --- |"]
        body += [
            f"| {_code(c.name)} | {_code(c.type)} | "
            + "<br>".join(f"{_code(k)}: {_md(v)}" for k, v in c.replace_reasons.items())
            + " |"
            for c in replaced
        ]
        sections.append(_details(f"Replaced ({len(replaced)})", body))
    deleted = [c for c in plan.of("delete") if c.custom]
    if deleted:
        body = ["| resource | type | protected |", "| --- | --- | --- |"]
        body += [f"| {_code(c.name)} | {_code(c.type)} | {'yes' if c.protected else 'no'} |" for c in deleted]
        sections.append(_details(f"Deleted ({len(deleted)})", body))
    updated = [c for c in plan.of("update") if c.custom]
    if updated:
        body = ["| resource | property | before | after |", "| --- | --- | --- | --- |"]
        for c in updated:
            maybe = f" (may replace: {', '.join(c.may_replace)})" if c.may_replace else ""
            for i, d in enumerate(c.diffs):
                before, after = _pair(d.old, d.new)
                body.append(
                    f"| {_code(c.name) + _md(maybe) if i == 0 else ''} | {_code(d.path)} | "
                    f"{_code(before)} | {_code(after)} |"
                )
        sections.append(_details(f"Updated in place ({len(updated)})", body))
    created = [c for c in plan.of("create") if c.custom]
    if created:
        body = ["| resource | type |", "| --- | --- |"]
        body += [f"| {_code(c.name)} | {_code(c.type)} |" for c in created]
        sections.append(_details(f"Created ({len(created)})", body))
    if delta.computed and (delta.introduced or delta.fixed or delta.newly_waived or delta.unchanged):
        body = ["| change | rule | resource | enforcement | message |", "| --- | --- | --- | --- | --- |"]
        for label, group in (
            ("introduced", delta.introduced),
            ("fixed", delta.fixed),
            ("newly waived", delta.newly_waived),
            ("unchanged", delta.unchanged),
        ):
            body += [
                f"| {label} | {_code(f.rule_id)} | {_code(_name(f.urn))} | {f.enforcement} | "
                f"{_md((f.message.splitlines() or [''])[0])[:160]} |"
                for f in group
            ]
        sections.append(_details("Policy delta", body))
    entries = (
        [("added", e) for e in delta.waivers_added]
        + [("removed", e) for e in delta.waivers_removed]
        + [("expiring", e) for e in delta.waivers_expiring]
    )
    if entries:
        body = ["| change | waiver | expires | approved by | reason |", "| --- | --- | --- | --- | --- |"]
        body += [
            f"| {label} | {_md(_waiver_label(e))} | {e['expires']} ({e.get('status', '')}) | "
            f"{_md(e['approved_by'])} | {_md(e['reason'])[:200]} |"
            for label, e in entries
        ]
        sections.append(
            _details(
                f"Waivers: {len(delta.waivers_added)} added, {len(delta.waivers_removed)} removed, "
                f"{len(delta.waivers_expiring)} expiring within 30 days",
                body,
            )
        )
    return sections


def to_markdown(review: Review, artifact_url: str | None = None, limit: int = COMMENT_LIMIT) -> str:
    """The comment: the summary always, then as many collapsed sections as fit under `limit`."""
    where = f"[the workflow artifact]({artifact_url})" if artifact_url else "the workflow artifact `change-review`"
    footer = [
        f"<sub>Full review (every change, JSON and markdown) in {where}. "
        "Offline previews compare the programs, not the deployed stack; the live preview job shows "
        "the engine's own plan.</sub>",
        "",
    ]
    truncated = [f"_Truncated to fit a pull-request comment: the rest is in {where}._", ""]
    out = _summary(review)
    budget = limit - len("\n".join(footer + truncated)) - 64
    used = len("\n".join(out))
    cut = False
    for section in _sections(review):
        size = len("\n".join(section)) + 1
        if not cut and used + size <= budget:
            out += section
            used += size
            continue
        if not cut:
            # Keep the head of the section that does not fit, closed properly.
            room = budget - used - len("\n</details>\n") - 2
            for line in section[:-3]:
                if room - len(line) - 1 < 0:
                    break
                out.append(line)
                room -= len(line) + 1
            out += ["", "…", "", "</details>", ""]
            cut = True
    if cut:
        out += truncated
    text = "\n".join(out + footer)
    assert len(text) <= limit, (len(text), limit)
    return text


def to_full_markdown(review: Review) -> str:
    """Everything, uncut (the artifact)."""
    return "\n".join(_summary(review) + [line for s in _sections(review) for line in s])


def to_json(review: Review) -> str:
    return json.dumps(review.to_dict(), indent=1, default=str) + "\n"
