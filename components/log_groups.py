"""CloudWatch log groups for the logs AWS services deliver (RDS exports, ElastiCache logs, ...).

A service that finds no log group creates its own, unencrypted and kept forever; so every
component creates the group first, encrypted with the logs key and with the stack's retention.
"""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_aws as aws

from stacks.settings import LOG_RETENTION_VALUES


def require_log_retention(field: str, days: int) -> None:
    """Raise ValueError unless `days` is a retention CloudWatch Logs accepts, a year or more."""
    if days not in LOG_RETENTION_VALUES:
        raise ValueError(f"{field} = {days}: must be one of " + ", ".join(map(str, LOG_RETENTION_VALUES)))


def encrypted_log_group(
    resource_name: str,
    *,
    log_group_name: str,
    kms_key_arn: pulumi.Input[str],
    retention_days: int,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.cloudwatch.LogGroup:
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=log_group_name,
        kms_key_id=kms_key_arn,
        retention_in_days=retention_days,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
