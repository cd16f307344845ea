"""BackupStorage: encrypted, locked backups with point-in-time recovery for every database.

Creates the bucket for logical dumps (a SecureBucket in object-lock COMPLIANCE mode, SSE-KMS by
default, that refuses uploads asking for another encryption or another key), an AWS Backup vault under the backups key with a
compliance-mode vault lock and an access policy that denies early deletion to everyone, optionally
the same in a disaster-recovery region, the service role AWS Backup runs as, and one plan whose
rule takes continuous (PITR) backups of exactly the databases named, copying each recovery point
to the DR vault. The lock and the deny policy are what make a stolen admin credential unable to
destroy the backups along with the databases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document
from components.limits import MAX_BACKUP_RETENTION_DAYS, MIN_BACKUP_RETENTION_DAYS
from components.secure_bucket import BUCKET_ARN, SecureBucket, SecureBucketArgs
from components.tagging import require_tags, with_purpose

# RDS continuous backup keeps at most 35 days; the platform's floor is 30 (components.limits).
MIN_RETENTION_DAYS = MIN_BACKUP_RETENTION_DAYS
MAX_RETENTION_DAYS = MAX_BACKUP_RETENTION_DAYS
# AWS Backup refuses a compliance-mode lock whose grace period is shorter than 3 days.
MIN_LOCK_CHANGEABLE_DAYS = 3
# Upper bound the vault lock enforces on any recovery point's retention.
VAULT_LOCK_MAX_RETENTION_DAYS = 365
START_WINDOW_MINUTES = 60
COMPLETION_WINDOW_MINUTES = 180
BACKUP_MANAGED_POLICIES = {
    "backup": "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "restores": "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
}
# Denied to every principal, the account root included, so a recovery point outlives any credential.
# DeleteBackupVaultAccessPolicy stays allowed: it is the only way to ever change this policy, and the
# compliance-mode vault lock keeps recovery points safe even without it.
PROTECTED_VAULT_ACTIONS = (
    "backup:DeleteRecoveryPoint",
    "backup:UpdateRecoveryPointLifecycle",
    "backup:PutBackupVaultAccessPolicy",
)
_RDS_INSTANCE_ARN = re.compile(r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:db:[A-Za-z0-9-]+$")


@dataclass(frozen=True, kw_only=True)
class BackupStorageArgs:
    """Inputs of BackupStorage; every default is the secure choice."""

    database_arns: Mapping[str, pulumi.Input[str]]
    """Service name -> ARN of its RDS instance; exactly these are backed up (never a tag match,
    which a mistagged database would silently escape)."""
    backups_kms_key_arn: pulumi.Input[str]
    """Customer-managed key encrypting the vault and the dump bucket."""
    access_log_bucket: pulumi.Input[str]
    """Bucket receiving the dump bucket's server access logs."""
    tags: dict[str, str]
    """Required tags (see components.tagging); also stamped on every recovery point."""
    retention_days: int = MIN_RETENTION_DAYS
    """Days every recovery point and dump is kept and locked (30..35: the RDS PITR maximum)."""
    schedule: str = "cron(0 3 * * ? *)"
    """When the daily backup job starts (UTC), as an AWS schedule expression."""
    dr_provider: pulumi.ProviderResource | None = None
    """Provider for the disaster-recovery region; with it every recovery point is copied there."""
    dr_kms_key_arn: pulumi.Input[str] | None = None
    """Customer-managed key in the DR region for the DR vault; given exactly when dr_provider is."""
    vault_lock_changeable_days: int = MIN_LOCK_CHANGEABLE_DAYS
    """Grace period before the vault lock becomes immutable (compliance mode); >= 3."""

    def __post_init__(self) -> None:
        require_tags("BackupStorageArgs.tags", self.tags)
        if not self.database_arns:
            raise ValueError("BackupStorageArgs.database_arns = {}: must name at least one database")
        for service, arn in self.database_arns.items():
            if isinstance(arn, str) and not _RDS_INSTANCE_ARN.match(arn):
                raise ValueError(
                    f"BackupStorageArgs.database_arns[{service!r}] = {arn!r}: must be an RDS instance ARN "
                    "(arn:aws:rds:<region>:<account>:db:<identifier>)"
                )
        if not MIN_RETENTION_DAYS <= self.retention_days <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"BackupStorageArgs.retention_days = {self.retention_days}: must be between "
                f"{MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} (RDS continuous backup keeps at most 35 days)"
            )
        if not (self.schedule.startswith(("cron(", "rate(")) and self.schedule.endswith(")")):
            raise ValueError(
                f"BackupStorageArgs.schedule = {self.schedule!r}: must be a schedule expression cron(...) or rate(...)"
            )
        if (self.dr_provider is None) != (self.dr_kms_key_arn is None):
            raise ValueError(
                "BackupStorageArgs.dr_provider / dr_kms_key_arn: give both (copy to a DR vault under "
                "that region's key) or neither"
            )
        if self.vault_lock_changeable_days < MIN_LOCK_CHANGEABLE_DAYS:
            raise ValueError(
                f"BackupStorageArgs.vault_lock_changeable_days = {self.vault_lock_changeable_days}: "
                f"must be at least {MIN_LOCK_CHANGEABLE_DAYS} (AWS Backup's minimum grace period)"
            )


def dump_upload_guards(kms_key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Deny uploads that explicitly ask for another encryption or another key; allow the rest.

    Every object is still SSE-KMS under `kms_key_arn`: that is the bucket's default encryption, which
    S3 applies to any upload that names none. What must NOT be denied is a request without the
    header: multipart `UploadPart` is authorised as s3:PutObject
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions) yet
    carries no x-amz-server-side-encryption header, only CreateMultipartUpload does
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html), and a negated operator
    such as StringNotEquals is true when the key is absent
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists),
    so an unguarded "StringNotEquals aws:kms" deny refuses every part, and boto3's upload_fileobj
    goes multipart above 8 MB: every real dump would fail. The `Null: false` guard makes each deny
    apply only when the header is present, as AWS's own example does
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms).
    """
    sse, key_id = "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"
    objects = f"{BUCKET_ARN}/*"
    return [
        {
            "Sid": "DenyUploadsAskingForOtherEncryptionThanKms",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {sse: "aws:kms"}, "Null": {sse: "false"}},
        },
        {
            "Sid": "DenyUploadsAskingForAnotherKmsKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {key_id: kms_key_arn}, "Null": {key_id: "false"}},
        },
    ]


class BackupStorage(pulumi.ComponentResource):
    """Dump bucket, locked vault(s), backup role, and a PITR plan over the given databases."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    vault_name: pulumi.Output[str]
    vault_arn: pulumi.Output[str]
    dr_vault_arn: pulumi.Output[str] | None
    plan_id: pulumi.Output[str]
    plan_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:backup:BackupStorage", name, None, opts)

        bucket = SecureBucket(
            f"{name}-dumps",
            SecureBucketArgs(
                purpose="database-backups",
                tags=args.tags,
                kms_key_arn=args.backups_kms_key_arn,
                access_log_bucket=args.access_log_bucket,
                expire_after_days=args.retention_days,
                object_lock_days=args.retention_days,
                object_lock_mode="COMPLIANCE",
                extra_policy_statements=dump_upload_guards(args.backups_kms_key_arn),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        vault = _locked_vault(self, f"{name}-vault", args, args.backups_kms_key_arn, "backup-vault", None)
        dr_vault = None
        if args.dr_provider is not None and args.dr_kms_key_arn is not None:  # __post_init__: both or neither
            dr_vault = _locked_vault(
                self,
                f"{name}-dr-vault",
                args,
                args.dr_kms_key_arn,
                "backup-vault-dr",
                args.dr_provider,
            )

        role = aws.iam.Role(
            f"{name}-role",
            description="AWS Backup runs the database backup plan and restores as this role",
            assume_role_policy=assume_role_policy({"Service": "backup.amazonaws.com"}),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-role-{suffix}", role=role.name, policy_arn=arn, opts=pulumi.ResourceOptions(parent=self)
            )
            for suffix, arn in BACKUP_MANAGED_POLICIES.items()
        ]

        rule: dict[str, Any] = {
            "rule_name": "daily-pitr",
            "target_vault_name": vault.name,
            "schedule": args.schedule,
            "start_window": START_WINDOW_MINUTES,
            "completion_window": COMPLETION_WINDOW_MINUTES,
            "enable_continuous_backup": True,
            "lifecycle": {"delete_after": args.retention_days},
            "recovery_point_tags": args.tags,
        }
        if dr_vault is not None:
            rule["copy_actions"] = [
                {
                    "destination_vault_arn": dr_vault.arn,
                    "lifecycle": {"delete_after": args.retention_days},
                }
            ]
        plan = aws.backup.Plan(f"{name}-plan", rules=[rule], tags=args.tags, opts=pulumi.ResourceOptions(parent=self))  # type: ignore[list-item]  # pulumi's Input/Output typing
        aws.backup.Selection(
            f"{name}-selection",
            plan_id=plan.id,
            iam_role_arn=role.arn,
            resources=[args.database_arns[service] for service in sorted(args.database_arns)],
            # The first job must not run before the role may back up.
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )

        self.bucket_name = bucket.bucket_name
        self.bucket_arn = bucket.bucket_arn
        self.vault_name = vault.name
        self.vault_arn = vault.arn
        self.dr_vault_arn = dr_vault.arn if dr_vault is not None else None
        self.plan_id = plan.id
        self.plan_arn = plan.arn
        self.role_arn = role.arn
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "vaultName": self.vault_name,
                "vaultArn": self.vault_arn,
                "drVaultArn": self.dr_vault_arn,
                "planId": self.plan_id,
                "planArn": self.plan_arn,
                "roleArn": self.role_arn,
            }
        )


def _locked_vault(
    parent: pulumi.Resource,
    name: str,
    args: BackupStorageArgs,
    kms_key_arn: pulumi.Input[str],
    purpose: str,
    provider: pulumi.ProviderResource | None,
) -> aws.backup.Vault:
    """A vault whose recovery points nobody can delete or shorten before retention ends."""
    vault = aws.backup.Vault(
        name,
        kms_key_arn=kms_key_arn,
        tags=with_purpose(args.tags, purpose),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, protect=True),
    )
    lock = aws.backup.VaultLockConfiguration(
        f"{name}-lock",
        backup_vault_name=vault.name,
        min_retention_days=args.retention_days,
        max_retention_days=VAULT_LOCK_MAX_RETENTION_DAYS,
        changeable_for_days=args.vault_lock_changeable_days,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
    aws.backup.VaultPolicy(
        f"{name}-policy",
        backup_vault_name=vault.name,
        policy=policy_document(
            [
                {
                    "Sid": "DenyEarlyDeletionToEveryone",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": list(PROTECTED_VAULT_ACTIONS),
                    # In a vault policy "*" means this vault's recovery points (their ARNs are the
                    # source service's, not the vault's).
                    "Resource": "*",
                }
            ]
        ),
        # The policy forbids changing itself, so it goes on last.
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[lock]),
    )
    return vault
