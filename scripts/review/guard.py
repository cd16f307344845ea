"""The data-loss guard: a delete or a replacement of a stateful resource blocks the pull request.

Deleting a database, a cache, a bucket of backups or logs, a backup vault, a KMS key, a secret, a
log group or the audit trail destroys what it holds; a replacement deletes the old one after
creating an empty new one. Either is a blocking finding unless a change waiver in the same waiver
file names that exact URN and operation, with reason, approver and an expiry not yet passed.

Each finding says whether the deployed resource is `protect`ed (the engine then refuses the
delete, so `pulumi up` fails rather than losing data) and what to do instead.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from typing import Any

from scripts.report.analyzer import PACK_DIR
from scripts.review.plan import Change, ChangePlan
from scripts.review.replacements import STATEFUL

if str(PACK_DIR) not in sys.path:  # the pack's package, exactly as the report imports it
    sys.path.insert(0, str(PACK_DIR))

from tradesense_policies import waivers as waiver_module  # noqa: E402


@dataclass
class DataLossFinding:
    change: Change
    category: str
    """database, cache, bucket (data or logs), backup vault, KMS key, secret, log group, audit trail."""
    why: str
    remedy: str
    """What to do instead (the alias, a revert, or how to retire it deliberately)."""
    waiver: waiver_module.ChangeWaiver | None = None
    expired_waiver: waiver_module.ChangeWaiver | None = None

    @property
    def operation(self) -> str:
        return self.change.op

    @property
    def urn(self) -> str:
        """The deployed resource's URN: what is lost, and what a change waiver must name."""
        return self.change.old_urn or self.change.urn

    @property
    def blocking(self) -> bool:
        return self.waiver is None

    @property
    def protection(self) -> str:
        if self.change.protected:
            return "It is protected, so `pulumi up` fails on it rather than deleting it."
        return "It is NOT protected: `pulumi up` would delete it."

    @property
    def fix(self) -> str:
        return f"{self.protection} {self.remedy}"

    def to_dict(self, today: dt.date) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "urn": self.urn,
            "type": self.change.type,
            "category": self.category,
            "protected": self.change.protected,
            "blocking": self.blocking,
            "why": self.why,
            "fix": self.fix,
            "move_root": (self.change.move.inherited_from or None) if self.change.move else None,
            "waiver": self.waiver.to_dict(today) if self.waiver else None,
            "expired_waiver": self.expired_waiver.to_dict(today) if self.expired_waiver else None,
        }


def _why(change: Change) -> str:
    if change.op == "delete" and change.move:
        return (
            f"its URN disappears while {change.move.to_urn.rsplit('::', 1)[-1]} appears "
            "(renamed or re-parented without an alias): the engine creates a new, empty one and deletes this one"
        )
    if change.op == "delete":
        return "no longer declared: the engine deletes it"
    reasons = "; ".join(f"{key}: {why}" for key, why in change.replace_reasons.items())
    return f"replaced (a new one is created, then this one deleted) because of {reasons}"


def _remedy(change: Change, category: str, old_names: dict[str, str]) -> str:
    if change.op == "delete" and change.move:
        top = change.move.inherited_from
        if top:
            old = old_names.get(top, top.rsplit("::", 1)[-1])
            return (
                f"Keep it by adding the alias on {top.rsplit('::', 1)[-1]} (its children inherit "
                f'it): `opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="{old}")])`.'
            )
        return f"Keep it by adding the alias: `opts={change.move.alias}`."
    if change.op == "replace":
        props = ", ".join(k for k in change.replace_reasons)
        return (
            f"Revert {props}, or migrate the {category} deliberately (snapshot/export, "
            "create the new one beside it, cut over), then add a change waiver for this URN."
        )
    return (
        f"If the {category} is really to go: take a final snapshot/backup, remove `protect` "
        "in a separate reviewed change, and add a change waiver (policies/waivers.yaml `change_waivers:`) "
        "naming this URN with reason, approved_by and expires."
    )


# The order a reviewer reads them in: what cannot be recreated first.
_PRIORITY = {
    name: i
    for i, name in enumerate(
        ("database", "backup vault", "KMS key", "bucket (data or logs)", "cache", "audit trail", "secret", "log group")
    )
}


def find_data_loss(
    plan: ChangePlan, waivers: list[waiver_module.ChangeWaiver], today: dt.date | None = None
) -> list[DataLossFinding]:
    """A finding per delete or replace of a stateful resource, with its waiver if any."""
    today = today or dt.date.today()
    # New URN of a moved ancestor -> its old name, for the one alias that keeps a whole subtree.
    old_names = {c.urn: c.move.from_urn.rsplit("::", 1)[-1] for c in plan.changes if c.op == "create" and c.move}
    findings = []
    for change in sorted(plan.changes, key=lambda c: (_PRIORITY.get(STATEFUL.get(c.type, ""), 9), c.urn)):
        category = STATEFUL.get(change.type)
        if category is None or change.op not in ("delete", "replace"):
            continue
        finding = DataLossFinding(change, category, _why(change), _remedy(change, category, old_names))
        finding.waiver, finding.expired_waiver = waiver_module.match_change(waivers, finding.urn, change.op, today)
        findings.append(finding)
    return findings
