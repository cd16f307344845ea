"""PlatformKeys: one customer-managed KMS key per purpose, so one domain's mistake stays in that domain.

Creates four symmetric keys with yearly rotation, each with an alias and a policy of its own:
`data` (RDS, Performance Insights, ElastiCache), `backups` (backup bucket, AWS Backup vault),
`secrets` (Secrets Manager, RDS master secrets) and `logs` (CloudWatch Logs, CloudTrail, the alert
topic, VPC flow logs). A leaked grant or a wrong statement on one key cannot decrypt another
domain's data. With a DR region, a second `backups` key there encrypts the copied recovery points
and a second `logs` key there encrypts the audit-log replica. With an edge region (the stack runs
outside us-east-1, where CloudFront's WAF logs must be), a `logs` key there encrypts the WAF log
group and the edge alert topic: a KMS key encrypts only in its own region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import policy_document
from components.limits import KEY_ROTATION_DAYS
from components.tagging import require_tags, with_purpose

PURPOSES = ("data", "backups", "secrets", "logs")
DR_PURPOSE = "backups-dr"
DR_LOGS_PURPOSE = "logs-dr"
EDGE_LOGS_PURPOSE = "logs-edge"
# KMS alias names: letters, digits, '/', '_' and '-'; the `aws/` prefix is reserved for AWS.
_ALIAS = re.compile(r"^[A-Za-z0-9/_-]{1,200}$")
# Services that publish to the alert topic; SNS needs the topic key on their behalf.
TOPIC_PUBLISHERS = ("cloudwatch.amazonaws.com", "budgets.amazonaws.com", "events.amazonaws.com")


@dataclass(frozen=True, kw_only=True)
class PlatformKeysArgs:
    """Inputs of PlatformKeys; every default is the secure choice."""

    account_id: pulumi.Input[str]
    """Account that owns the keys: its root principal administers them through IAM."""
    region: str
    """Region of the keys; CloudWatch Logs' regional principal is named after it."""
    tags: dict[str, str]
    """Required tags (see components.tagging); each key adds its Purpose."""
    alias_prefix: str
    """Alias stem, e.g. `tradesense-prod`: keys become `alias/<prefix>-<purpose>`."""
    deletion_window_days: int = 30
    """Days a scheduled deletion can still be cancelled (7..30); the longest is the safest."""
    dr_region: str | None = None
    """Disaster-recovery region; `backups` and `logs` keys are created there for copied recovery
    points and the replicated audit logs."""
    dr_provider: pulumi.ProviderResource | None = None
    """AWS provider for `dr_region`; required exactly when dr_region is set."""
    edge_region: str | None = None
    """Region of the CloudFront edge's logs (us-east-1) when it is not `region`: a `logs` key is
    created there for the WAF log group and the alert topic of the WAF alarm. CloudWatch Logs
    encrypts a log group only with a key of the group's own region
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
    edge_provider: pulumi.ProviderResource | None = None
    """AWS provider for `edge_region`; required exactly when edge_region is set."""

    def __post_init__(self) -> None:
        require_tags("PlatformKeysArgs.tags", self.tags)
        if not 7 <= self.deletion_window_days <= 30:
            raise ValueError(
                f"PlatformKeysArgs.deletion_window_days = {self.deletion_window_days}: must be between 7 and 30"
            )
        if not self.alias_prefix or not _ALIAS.match(self.alias_prefix) or self.alias_prefix.startswith("aws"):
            raise ValueError(
                f"PlatformKeysArgs.alias_prefix = {self.alias_prefix!r}: required; letters, digits, "
                "'/', '_' and '-' only, not starting with 'aws' (reserved for AWS-managed keys)"
            )
        if (self.dr_region is None) != (self.dr_provider is None):
            raise ValueError(
                f"PlatformKeysArgs.dr_region = {self.dr_region!r}: dr_region and dr_provider must be "
                "given together (the provider is what places the DR key in that region)"
            )
        if self.dr_region is not None and self.dr_region == self.region:
            raise ValueError(f"PlatformKeysArgs.dr_region = {self.dr_region!r}: must differ from region")
        _check_edge(self)


class PlatformKeys(pulumi.ComponentResource):
    """Customer-managed KMS keys separated by purpose, each rotated yearly and protected."""

    data_key_arn: pulumi.Output[str]
    backups_key_arn: pulumi.Output[str]
    secrets_key_arn: pulumi.Output[str]
    logs_key_arn: pulumi.Output[str]
    dr_backups_key_arn: pulumi.Output[str] | None
    dr_logs_key_arn: pulumi.Output[str] | None
    """The DR region's logs key: encrypts the audit-log replica (S3 needs a key in the replica's region)."""
    edge_logs_key_arn: pulumi.Output[str] | None
    """The edge region's logs key (WAF log group, edge alert topic), or None without `edge_region`."""
    key_arns: dict[str, pulumi.Output[str]]
    """The primary region's keys by purpose (`data`, `backups`, `secrets`, `logs`); the DR keys are
    only in dr_backups_key_arn and dr_logs_key_arn, so nothing iterating this dict wires a key from
    the wrong region."""

    def __init__(self, name: str, args: PlatformKeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:security:PlatformKeys", name, None, opts)

        self.key_arns = {purpose: self._key(name, args, purpose, purpose, args.region, None) for purpose in PURPOSES}
        self.dr_backups_key_arn = None
        self.dr_logs_key_arn = None
        if args.dr_region is not None:
            self.dr_backups_key_arn = self._key(name, args, DR_PURPOSE, "backups", args.dr_region, args.dr_provider)
            # Only S3 replication (an IAM role) uses it, so no service principal is admitted.
            self.dr_logs_key_arn = self._key(
                name, args, DR_LOGS_PURPOSE, "logs", args.dr_region, args.dr_provider, admit_services=False
            )

        self.edge_logs_key_arn = None
        if args.edge_region is not None:
            self.edge_logs_key_arn = self._key(
                name, args, EDGE_LOGS_PURPOSE, "logs", args.edge_region, args.edge_provider
            )

        self.data_key_arn = self.key_arns["data"]
        self.backups_key_arn = self.key_arns["backups"]
        self.secrets_key_arn = self.key_arns["secrets"]
        self.logs_key_arn = self.key_arns["logs"]
        self.register_outputs(
            {
                "keyArns": self.key_arns,
                "drBackupsKeyArn": self.dr_backups_key_arn,
                "drLogsKeyArn": self.dr_logs_key_arn,
                "edgeLogsKeyArn": self.edge_logs_key_arn,
            }
        )

    def _key(
        self,
        name: str,
        args: PlatformKeysArgs,
        suffix: str,
        purpose: str,
        region: str,
        provider: pulumi.ProviderResource | None,
        admit_services: bool = True,
    ) -> pulumi.Output[str]:
        key = aws.kms.Key(
            f"{name}-{suffix}",
            description=f"TradeSense {suffix}: only {purpose} data is encrypted under this key",
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            enable_key_rotation=True,
            rotation_period_in_days=KEY_ROTATION_DAYS,
            deletion_window_in_days=args.deletion_window_days,
            # Explicit: KMS must refuse a policy that would lock the account out of its own key.
            bypass_policy_lockout_safety_check=False,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: key_policy(purpose, account, region, admit_services=admit_services)  # type: ignore[arg-type, return-value]  # pulumi's Input/Output typing
            ),
            tags=with_purpose(args.tags, suffix),
            opts=pulumi.ResourceOptions(parent=self, protect=True, provider=provider),
        )
        aws.kms.Alias(
            f"{name}-{suffix}-alias",
            name=f"alias/{args.alias_prefix}-{suffix}",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        return key.arn


def _check_edge(args: PlatformKeysArgs) -> None:
    if (args.edge_region is None) != (args.edge_provider is None):
        raise ValueError(
            f"PlatformKeysArgs.edge_region = {args.edge_region!r}: edge_region and edge_provider must "
            "be given together (the provider is what places the edge logs key in that region)"
        )
    if args.edge_region is not None and args.edge_region == args.region:
        raise ValueError(
            f"PlatformKeysArgs.edge_region = {args.edge_region!r}: must differ from region (the "
            "primary logs key already serves an edge in the stack's own region)"
        )


def key_policy(purpose: str, account: str, region: str, admit_services: bool = True) -> pulumi.Output[str]:
    """The key policy for one purpose: the account's IAM in control, plus the services that need it.

    Only the primary `logs` key admits service principals; the other keys (and the DR logs key,
    `admit_services=False`) are used by services acting for an IAM principal (kms:ViaService,
    grants), which the account statement already allows.
    """
    statements: list[dict[str, Any]] = [
        {
            # AWS's default statement: IAM policies decide who uses the key, and the key can never be
            # orphaned by a policy that names no administrator.
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if purpose == "logs" and admit_services:
        statements += _logs_statements(account, region)
    return policy_document(statements, policy_id=f"tradesense-{purpose}")


def _logs_statements(account: str, region: str) -> list[dict[str, Any]]:
    source_account = {"StringEquals": {"aws:SourceAccount": account}}
    return [
        {
            "Sid": "AllowCloudWatchLogsForThisAccountsLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:*"}
            },
        },
        {
            "Sid": "AllowCloudTrailToEncryptThisAccountsTrails",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"},
                **source_account,
            },
        },
        {
            "Sid": "AllowCloudTrailToDescribeKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": source_account,
        },
        {
            "Sid": "AllowAlertPublishersToUseTheEncryptedTopic",
            "Effect": "Allow",
            "Principal": {"Service": list(TOPIC_PUBLISHERS)},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": source_account,
        },
    ]
