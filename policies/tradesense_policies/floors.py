"""The thresholds rules enforce, owned by the pack, never by the stack config a change may edit.

Each threshold is a CrossGuard policy config property (https://www.pulumi.com/docs/iac/using-pulumi/crossguard/configuration/):
its secure default lives here, a stack may be made stricter with `pulumi up --policy-pack-config
FILE` (the engine hands the values to the pack through `Configure`), and a looser value is ignored:
the JSON schema's minimum/maximum makes the CLI refuse it, and `effective` clamps it again in case
a caller does not validate. Loosening a floor for one resource is what a waiver is for.

`Pulumi.<stack>.yaml` is deliberately not read: the change under review may edit it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Floor:
    key: str
    default: Any
    kind: str
    """min: configured values may only raise it; max: only lower it; union: configured entries are
    added to the default ones; value: configured value replaces the default (names, not limits)."""
    description: str

    def schema(self) -> dict[str, Any]:
        if isinstance(self.default, bool):
            schema: dict[str, Any] = {"type": "boolean"}
        elif isinstance(self.default, (int, float)):
            schema = {"type": "number"}
            schema["minimum" if self.kind == "min" else "maximum"] = self.default
        elif isinstance(self.default, (list, tuple)):
            schema = {"type": "array", "items": {"type": "string"}}
        else:
            schema = {"type": "string"}
        schema["default"] = list(self.default) if isinstance(self.default, tuple) else self.default
        schema["description"] = self.description
        return schema


FLOORS: dict[str, Floor] = {
    f.key: f
    for f in (
        Floor(
            "minBackupRetentionDays",
            30,
            "min",
            "Days every backup is kept: RDS automated backups, AWS Backup recovery points and their DR copies, "
            "vault lock minimum, object lock and lifecycle of backup buckets.",
        ),
        Floor(
            "minAuditRetentionDays",
            365,
            "min",
            "Days audit evidence is kept immutable: object lock and lifecycle of the trail's buckets (PCI DSS 10.5.1: one year).",
        ),
        Floor("minLogRetentionDays", 365, "min", "Days CloudWatch log groups keep events."),
        Floor("minRedisSnapshotDays", 7, "min", "Days ElastiCache keeps automatic snapshots."),
        Floor("maxStatementTimeoutMs", 30_000, "max", "Longest PostgreSQL statement_timeout allowed (ms)."),
        Floor(
            "loginMaxRequestsPerMinute",
            5,
            "max",
            "Most login requests a client may make per minute before the WAF blocks it (10 per 120 s).",
        ),
        Floor(
            "apiMaxRequestsPerMinute",
            100,
            "max",
            "Most API requests a client may make per minute before the WAF blocks it.",
        ),
        Floor(
            "loginPaths",
            ("/api/auth/login", "/api/auth/token"),
            "union",
            "Paths the login rate rule must match (configured paths are added to these).",
        ),
        Floor("maxKeyRotationDays", 365, "max", "Longest automatic rotation period of a KMS key (days)."),
        Floor(
            "allowedManagedPolicies",
            (
                "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
                "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
                "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
                # The documented minimum for an SSM-managed instance (Session Manager only; no data access):
                # https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-instance-permissions.html
                "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            ),
            "union",
            "AWS-managed policies that may be attached (service-role policies scoped to one service).",
        ),
        Floor(
            "allowedPrincipals",
            (),
            "union",
            "Principals outside this account a resource or trust policy may name (account ids or ARNs).",
        ),
        Floor(
            "accountIds",
            (),
            "union",
            "This stack's AWS account ids; when empty, the account that owns the stack's own KMS keys and roles.",
        ),
        Floor(
            "drRegion",
            "",
            "value",
            "The region backups must be copied to; when empty, any region other than the source vault's.",
        ),
    )
}


def effective(config: Mapping[str, Any] | None, key: str) -> Any:
    """The value a rule enforces: the default, made stricter (never looser) by the policy config."""
    floor = FLOORS[key]
    configured = (config or {}).get(key)
    if configured is None:
        return floor.default
    if floor.kind == "union":
        extra = configured if isinstance(configured, (list, tuple)) else [configured]
        return tuple(dict.fromkeys([*floor.default, *(str(e) for e in extra)]))
    if floor.kind == "value":
        return configured
    try:
        number = float(configured)
    except (TypeError, ValueError):
        return floor.default
    return max(number, floor.default) if floor.kind == "min" else min(number, floor.default)
