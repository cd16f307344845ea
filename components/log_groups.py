"""CloudWatch log groups for the logs AWS services deliver (RDS exports, ElastiCache logs, ...).

A service that finds no log group creates its own, unencrypted and kept forever; so every
component creates the group first, encrypted with the logs key and with the stack's retention.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from components.limits import LOG_RETENTION_VALUES, MIN_LOG_RETENTION_DAYS


def require_log_retention(field: str, days: int) -> None:
    """Raise ValueError unless `days` is a retention CloudWatch Logs accepts, a year or more."""
    if days not in LOG_RETENTION_VALUES:
        raise ValueError(
            f"{field} = {days}: must be at least {MIN_LOG_RETENTION_DAYS} and one CloudWatch Logs accepts: "
            + ", ".join(map(str, LOG_RETENTION_VALUES))
        )


def encrypted_log_group(
    resource_name: str,
    *,
    log_group_name: str,
    kms_key_arn: pulumi.Input[str],
    retention_days: int,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource | None = None,
    protect: bool | None = None,
    deletion_protection: bool = False,
) -> aws.cloudwatch.LogGroup:
    """`provider` places the group in another region (WAF logs live in us-east-1); `protect=True`
    keeps Pulumi from deleting a group others depend on (None inherits the parent's, as any child);
    `deletion_protection` makes AWS itself refuse the delete."""
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=log_group_name,
        kms_key_id=kms_key_arn,
        retention_in_days=retention_days,
        # None leaves the input out, exactly as the groups created before this option existed.
        deletion_protection_enabled=True if deletion_protection else None,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, protect=protect),
    )
