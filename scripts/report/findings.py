"""The one result model every report format is written from.

Policy-pack results (from the Analyzer protocol) and checkov results (from the converted plan)
both become Findings, so waivers, summaries and every output format treat them alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SOURCES = ("policy", "checkov")
STATUSES = ("pass", "fail", "waived", "not-applicable", "undecided")
ENFORCEMENTS = ("mandatory", "advisory", "disabled")
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One rule applied to one resource (or to the whole stack, with urn "")."""

    source: str
    """`policy` (the CrossGuard pack) or `checkov`."""
    rule_id: str
    """Policy name (`rds-storage-encrypted`) or checkov check id (`CKV_AWS_16`)."""
    title: str
    urn: str
    resource_type: str
    status: str
    """pass, fail, waived, not-applicable or undecided (the rule could not read a value it needs:
    unknown until deploy, a secret, or a resource the document does not list)."""
    enforcement: str = "mandatory"
    severity: str = "high"
    message: str = ""
    compliance: tuple[tuple[str, str], ...] = ()
    """(framework, control) pairs, e.g. ("PCI DSS v4.0", "3.5.1")."""
    remediation: str = ""
    url: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    """The property values that decided the result, for auditors."""
    waiver: dict[str, Any] | None = None
    """The waiver that turned a fail into waived (policy, reason, approver, expires)."""

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("source", self.source, SOURCES),
            ("status", self.status, STATUSES),
            ("enforcement", self.enforcement, ENFORCEMENTS),
            ("severity", self.severity, SEVERITIES),
        ):
            if value not in allowed:
                raise ValueError(f"Finding.{name} = {value!r}: must be one of {', '.join(allowed)}")

    @property
    def blocks_deploy(self) -> bool:
        """An unwaived mandatory violation: the gate's exit code 1."""
        return self.status == "fail" and self.enforcement == "mandatory"

    @property
    def blocks_strict(self) -> bool:
        """What `--strict` (the deploy gate) blocks on: a blocking fail or an undecided mandatory check."""
        return self.enforcement == "mandatory" and self.status in ("fail", "undecided")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["compliance"] = [{"framework": f, "control": c} for f, c in self.compliance]
        return data
