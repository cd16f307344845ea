"""Encryption at rest with customer-managed KMS keys, and key rotation.

AWS-managed keys (`alias/aws/...`) cannot be restricted by key policy, rotated on our schedule or
disabled in an incident, so every data store names a customer-managed key.
"""

from __future__ import annotations

from tradesense_policies import types as t
from tradesense_policies.floors import FLOORS
from tradesense_policies.model import Props, Resource, as_bool, as_number, get_path
from tradesense_policies.registry import CIS, FSBP, GDPR, PCI, SOC2, NotApplicable, Violations, resource_rule

AT_REST = ((PCI, "3.5.1"), (SOC2, "CC6.1"), (GDPR, "Art. 32(1)(a)"))


def _cmk_problem(key: object, what: str) -> str | None:
    """Why `key` is not a customer-managed key, or None when it is one."""
    if not key:
        return f"{what} is not set: data is encrypted with an AWS-managed key or not at all"
    if isinstance(key, str) and "alias/aws/" in key:
        return f"{what} = {key}: an AWS-managed key; use a customer-managed key"
    return None


@resource_rule(
    name="rds-storage-encrypted-cmk",
    description="RDS storage is encrypted with a customer-managed KMS key.",
    resource_types=(t.RDS_INSTANCE,),
    severity="critical",
    remediation="Set storage_encrypted=True and kms_key_id to the data key's ARN (PostgresDatabaseArgs.kms_key_arn). "
    "An existing unencrypted instance must be restored from an encrypted snapshot copy.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.html",
    compliance=AT_REST + ((CIS, "2.3.1"), (FSBP, "RDS.3")),
    evidence=("storageEncrypted", "kmsKeyId"),
)
def rds_storage_encrypted_cmk(props: Props, resource: Resource) -> Violations:
    if not as_bool(get_path(props, "storageEncrypted")):
        return "storageEncrypted is not true"
    return _cmk_problem(get_path(props, "kmsKeyId"), "kmsKeyId")


@resource_rule(
    name="rds-performance-insights-cmk",
    description="Performance Insights data (which contains SQL text) is encrypted with a customer-managed key.",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="Set performance_insights_kms_key_id to the data key's ARN whenever Performance Insights is on.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.Enabling.html",
    compliance=AT_REST,
    evidence=("performanceInsightsEnabled", "performanceInsightsKmsKeyId"),
)
def rds_performance_insights_cmk(props: Props, resource: Resource) -> Violations:
    if not as_bool(get_path(props, "performanceInsightsEnabled")):
        raise NotApplicable("Performance Insights is off")
    return _cmk_problem(get_path(props, "performanceInsightsKmsKeyId"), "performanceInsightsKmsKeyId")


@resource_rule(
    name="elasticache-encrypted-at-rest-cmk",
    description="ElastiCache replication groups encrypt data at rest with a customer-managed key.",
    resource_types=(t.REPLICATION_GROUP,),
    severity="high",
    remediation="Set at_rest_encryption_enabled=True and kms_key_id (requires replacing the replication group).",
    url="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/at-rest-encryption.html",
    compliance=AT_REST + ((FSBP, "ElastiCache.4"),),
    evidence=("atRestEncryptionEnabled", "kmsKeyId"),
)
def elasticache_encrypted_at_rest_cmk(props: Props, resource: Resource) -> Violations:
    if not as_bool(get_path(props, "atRestEncryptionEnabled")):
        return "atRestEncryptionEnabled is not true"
    return _cmk_problem(get_path(props, "kmsKeyId"), "kmsKeyId")


@resource_rule(
    name="s3-bucket-encrypted-with-cmk",
    description="S3 default encryption is SSE-KMS with a customer-managed key.",
    resource_types=t.BUCKET_SSE,
    severity="high",
    remediation="Use SecureBucket with kms_key_arn; sse_s3_for_log_delivery is only for the access-log "
    "target (S3 log delivery cannot write SSE-KMS) and needs a waiver.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html",
    compliance=AT_REST + ((FSBP, "S3.17"),),
    evidence=(
        "rules.applyServerSideEncryptionByDefault.sseAlgorithm",
        "rules.applyServerSideEncryptionByDefault.kmsMasterKeyId",
    ),
)
def s3_bucket_encrypted_with_cmk(props: Props, resource: Resource) -> Violations:
    rules = get_path(props, "rules") or []
    if not rules:
        return "no server-side encryption rule"
    problems = []
    for index in range(len(rules)):
        algorithm = get_path(props, f"rules.{index}.applyServerSideEncryptionByDefault.sseAlgorithm")
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            problems.append(f"rules[{index}] sseAlgorithm = {algorithm}: not SSE-KMS")
            continue
        problem = _cmk_problem(
            get_path(props, f"rules.{index}.applyServerSideEncryptionByDefault.kmsMasterKeyId"),
            f"rules[{index}] kmsMasterKeyId",
        )
        if problem:
            problems.append(problem)
    return problems


@resource_rule(
    name="secretsmanager-secret-cmk",
    description="Secrets Manager secrets are encrypted with a customer-managed key.",
    resource_types=(t.SECRET,),
    severity="high",
    remediation="Set kms_key_id on the secret to the secrets key's ARN (ServiceSecrets takes it as an Arg).",
    url="https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",
    compliance=AT_REST + ((PCI, "8.3.2"),),
    evidence=("kmsKeyId",),
)
def secretsmanager_secret_cmk(props: Props, resource: Resource) -> Violations:
    return _cmk_problem(get_path(props, "kmsKeyId"), "kmsKeyId")


@resource_rule(
    name="sns-topic-cmk",
    description="SNS topics are encrypted with a customer-managed key.",
    resource_types=(t.SNS_TOPIC,),
    severity="medium",
    remediation="Set kms_master_key_id to a customer-managed key whose policy lets CloudWatch and the "
    "publishing services use it.",
    url="https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html",
    compliance=AT_REST + ((FSBP, "SNS.1"),),
    evidence=("kmsMasterKeyId",),
)
def sns_topic_cmk(props: Props, resource: Resource) -> Violations:
    return _cmk_problem(get_path(props, "kmsMasterKeyId"), "kmsMasterKeyId")


@resource_rule(
    name="cloudwatch-log-group-cmk",
    description="CloudWatch log groups are encrypted with a customer-managed key.",
    resource_types=(t.LOG_GROUP,),
    severity="medium",
    remediation="Set kms_key_id on the log group; the key policy must allow logs.<region>.amazonaws.com.",
    url="https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",
    compliance=AT_REST + ((PCI, "10.3.2"),),
    evidence=("kmsKeyId",),
)
def cloudwatch_log_group_cmk(props: Props, resource: Resource) -> Violations:
    return _cmk_problem(get_path(props, "kmsKeyId"), "kmsKeyId")


@resource_rule(
    name="backup-vault-cmk",
    description="AWS Backup vaults encrypt recovery points with a customer-managed key.",
    resource_types=(t.BACKUP_VAULT,),
    severity="high",
    remediation="Set kms_key_arn on the vault (the backup key, separate from the data key).",
    url="https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html",
    compliance=AT_REST + ((FSBP, "Backup.1"),),
    evidence=("kmsKeyArn",),
)
def backup_vault_cmk(props: Props, resource: Resource) -> Violations:
    return _cmk_problem(get_path(props, "kmsKeyArn"), "kmsKeyArn")


@resource_rule(
    name="cloudtrail-encrypted-cmk",
    description="CloudTrail log files are encrypted with a customer-managed key.",
    resource_types=(t.TRAIL,),
    severity="high",
    remediation="Set kms_key_id on the trail to the audit key; its policy must allow cloudtrail.amazonaws.com.",
    url="https://docs.aws.amazon.com/awscloudtrail/latest/userguide/encrypting-cloudtrail-log-files-with-aws-kms.html",
    compliance=AT_REST + ((CIS, "3.5"), (FSBP, "CloudTrail.2"), (PCI, "10.3.2")),
    evidence=("kmsKeyId",),
)
def cloudtrail_encrypted_cmk(props: Props, resource: Resource) -> Violations:
    return _cmk_problem(get_path(props, "kmsKeyId"), "kmsKeyId")


@resource_rule(
    name="kms-key-rotation-enabled",
    description="Customer-managed symmetric KMS keys rotate automatically.",
    resource_types=(t.KMS_KEY,),
    severity="high",
    remediation="Set enable_key_rotation=True (asymmetric and HMAC keys cannot rotate and are not judged).",
    url="https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html",
    compliance=((PCI, "3.7.4"), (SOC2, "CC6.1"), (GDPR, "Art. 32(1)(a)"), (CIS, "3.6"), (FSBP, "KMS.4")),
    evidence=("enableKeyRotation", "customerMasterKeySpec", "keyUsage"),
)
def kms_key_rotation_enabled(props: Props, resource: Resource) -> Violations:
    spec = get_path(props, "customerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if spec != "SYMMETRIC_DEFAULT" or (get_path(props, "keyUsage") or "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        raise NotApplicable(f"key spec {spec} cannot rotate automatically")
    if not as_bool(get_path(props, "enableKeyRotation")):
        return "enableKeyRotation is not true"
    return None


# Longest pending-deletion window KMS allows: a key scheduled for deletion can be recovered for this long.
# https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html#deleting-keys-how-it-works
MAX_KEY_DELETION_WINDOW = 30


@resource_rule(
    name="kms-key-enabled-and-protected",
    description=f"Customer-managed keys are enabled, wait the maximum {MAX_KEY_DELETION_WINDOW} days before deletion, "
    "and rotate at least "
    "as often as the pack's maxKeyRotationDays.",
    resource_types=(t.KMS_KEY,),
    severity="high",
    remediation=f"Leave is_enabled true, deletion_window_in_days at {MAX_KEY_DELETION_WINDOW} and "
    f"rotation_period_in_days at most {FLOORS['maxKeyRotationDays'].default}.",
    url="https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html",
    compliance=((PCI, "3.7.4"), (SOC2, "A1.2"), (GDPR, "Art. 32(1)(c)"), (FSBP, "KMS.3")),
    evidence=("isEnabled", "deletionWindowInDays", "rotationPeriodInDays"),
    config=("maxKeyRotationDays",),
)
def kms_key_enabled_and_protected(props: Props, resource: Resource) -> Violations:
    problems = []
    enabled = get_path(props, "isEnabled")
    if enabled is not None and not as_bool(enabled):
        problems.append(f"isEnabled = {enabled}: every secret and record under this key becomes unreadable")
    window = get_path(props, "deletionWindowInDays")
    if window is not None and as_number(window) != MAX_KEY_DELETION_WINDOW:
        problems.append(f"deletionWindowInDays = {window}: must be {MAX_KEY_DELETION_WINDOW} (the maximum)")
    period = get_path(props, "rotationPeriodInDays")
    ceiling = resource.setting("maxKeyRotationDays")
    if period is not None and (as_number(period) is None or as_number(period) > ceiling):
        problems.append(f"rotationPeriodInDays = {period}: must be at most {ceiling:g} (pack config)")
    return problems


# Secrets Manager waits 7-30 days before deleting a secret; 0 (force_delete) deletes at once.
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html
MAX_SECRET_RECOVERY_WINDOW = 30


@resource_rule(
    name="secret-recovery-window",
    description=f"A deleted secret can be recovered for the maximum {MAX_SECRET_RECOVERY_WINDOW} days "
    "(no force-delete, no short window).",
    resource_types=(t.SECRET,),
    severity="medium",
    remediation=f"Leave recovery_window_in_days at {MAX_SECRET_RECOVERY_WINDOW}.",
    url="https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_delete-secret.html",
    compliance=((SOC2, "A1.2"), (GDPR, "Art. 32(1)(c)"), (PCI, "8.3.2")),
    evidence=("recoveryWindowInDays",),
)
def secret_recovery_window(props: Props, resource: Resource) -> Violations:
    window = get_path(props, "recoveryWindowInDays")
    if window is None or as_number(window) == MAX_SECRET_RECOVERY_WINDOW:
        return None
    return f"recoveryWindowInDays = {window}: must be {MAX_SECRET_RECOVERY_WINDOW}"
