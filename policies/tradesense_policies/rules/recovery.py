"""Recovery: backups kept long enough, continuous backup, nothing deleted by accident, immutable copies."""

from __future__ import annotations

from tradesense_policies import types as t
from tradesense_policies.model import as_bool, as_number, get_path, is_unknown, tags_of
from tradesense_policies.registry import FSBP, GDPR, NotApplicable, PCI, SOC2, Unknown, resource_rule, stack_rule

RECOVERY = ((SOC2, "A1.2"), (GDPR, "Art. 32(1)(c)"), (PCI, "12.10.1"))
MIN_RETENTION_DAYS = 30
MIN_REDIS_SNAPSHOT_DAYS = 7
# Buckets whose Purpose tag marks them as holding backups or audit evidence: they need object lock.
LOCKED_PURPOSE_WORDS = ("backup", "audit", "trail")


@resource_rule(
    name="rds-backup-retention",
    description=f"RDS automated backups are kept at least {MIN_RETENTION_DAYS} days.",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="Set backup_retention_period to tradesense:backupRetentionDays (30-35).",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html",
    compliance=RECOVERY + ((FSBP, "RDS.11"),),
    evidence=("backupRetentionPeriod",),
)
def rds_backup_retention(props, resource):
    days = as_number(get_path(props, "backupRetentionPeriod"))
    if days is None or days < MIN_RETENTION_DAYS:
        return f"backupRetentionPeriod = {days}: must be at least {MIN_RETENTION_DAYS}"
    return None


@resource_rule(
    name="rds-deletion-protection",
    description="RDS instances have deletion protection on.",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="Set deletion_protection=True (and protect=True on the resource).",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html#USER_DeleteInstance.DeletionProtection",
    compliance=RECOVERY + ((FSBP, "RDS.8"),),
    evidence=("deletionProtection",),
)
def rds_deletion_protection(props, resource):
    return None if as_bool(get_path(props, "deletionProtection")) else "deletionProtection is not true"


@resource_rule(
    name="rds-final-snapshot",
    description="Deleting an RDS instance takes a final snapshot.",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="Set skip_final_snapshot=False and a final_snapshot_identifier.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html",
    compliance=RECOVERY,
    evidence=("skipFinalSnapshot", "finalSnapshotIdentifier"),
)
def rds_final_snapshot(props, resource):
    if as_bool(get_path(props, "skipFinalSnapshot")):
        return "skipFinalSnapshot is true"
    if not get_path(props, "finalSnapshotIdentifier"):
        return "finalSnapshotIdentifier is not set"
    return None


@resource_rule(
    name="backup-plan-retention",
    description=f"Every AWS Backup plan rule keeps recovery points at least {MIN_RETENTION_DAYS} days.",
    resource_types=(t.BACKUP_PLAN,),
    severity="high",
    remediation="Set lifecycle.delete_after to tradesense:backupRetentionDays or more on every rule "
                "(continuous backups allow at most 35).",
    url="https://docs.aws.amazon.com/aws-backup/latest/devguide/creating-a-backup-plan.html",
    compliance=RECOVERY + ((PCI, "10.5.1"),),
    evidence=("rules.ruleName", "rules.lifecycle.deleteAfter"),
)
def backup_plan_retention(props, resource):
    problems = []
    rules = get_path(props, "rules") or []
    if not rules:
        return "the plan has no rules"
    for index, _ in enumerate(rules):
        days = as_number(get_path(props, f"rules.{index}.lifecycle.deleteAfter"))
        name = get_path(props, f"rules.{index}.ruleName")
        if days is None:
            continue  # no expiry: kept until deleted by hand, which satisfies the minimum
        if days < MIN_RETENTION_DAYS:
            problems.append(f"rule {name}: lifecycle.deleteAfter = {days:g} days")
    return problems


@resource_rule(
    name="backup-plan-continuous-backup",
    description="The backup plan has a continuous-backup rule (point-in-time restore for RDS).",
    resource_types=(t.BACKUP_PLAN,),
    severity="medium",
    remediation="Add a rule with enable_continuous_backup=True (retention 1-35 days).",
    url="https://docs.aws.amazon.com/aws-backup/latest/devguide/point-in-time-recovery.html",
    compliance=RECOVERY,
    evidence=("rules.ruleName", "rules.enableContinuousBackup"),
)
def backup_plan_continuous_backup(props, resource):
    rules = get_path(props, "rules") or []
    if any(as_bool(get_path(props, f"rules.{i}.enableContinuousBackup")) for i, _ in enumerate(rules)):
        return None
    return "no rule has enableContinuousBackup = true"


def _purpose(props) -> str:
    return str(tags_of(props).get("Purpose", "")).lower()


@resource_rule(
    name="s3-object-lock-on-backup-and-audit-buckets",
    description="Buckets holding backups or audit logs are created with object lock enabled.",
    resource_types=t.BUCKETS,
    severity="high",
    remediation="Create the bucket with SecureBucket(object_lock_days=...): object lock can only be enabled at creation.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html",
    compliance=RECOVERY + ((PCI, "10.3.2"), (FSBP, "S3.15")),
    evidence=("tags.Purpose", "objectLockEnabled"),
)
def s3_object_lock_on_backup_and_audit_buckets(props, resource):
    purpose = _purpose(props)
    if not any(word in purpose for word in LOCKED_PURPOSE_WORDS):
        raise NotApplicable(f"Purpose {purpose or '(none)'} holds neither backups nor audit logs")
    if not as_bool(get_path(props, "objectLockEnabled")):
        return f"Purpose {purpose}: objectLockEnabled is not true"
    return None


@resource_rule(
    name="s3-object-lock-compliance-mode",
    description="Object lock default retention is in COMPLIANCE mode, so nobody can shorten it.",
    resource_types=t.BUCKET_OBJECT_LOCK,
    severity="high",
    remediation="Set rule.default_retention.mode = COMPLIANCE with days (or years).",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html#object-lock-retention-modes",
    compliance=RECOVERY + ((PCI, "10.3.2"), (FSBP, "S3.15")),
    evidence=("rule.defaultRetention.mode", "rule.defaultRetention.days", "rule.defaultRetention.years"),
)
def s3_object_lock_compliance_mode(props, resource):
    mode = get_path(props, "rule.defaultRetention.mode")
    if mode != "COMPLIANCE":
        return f"rule.defaultRetention.mode = {mode}: must be COMPLIANCE"
    if not (get_path(props, "rule.defaultRetention.days") or get_path(props, "rule.defaultRetention.years")):
        return "rule.defaultRetention has no days or years"
    return None


@resource_rule(
    name="elasticache-snapshot-retention",
    description=f"Redis keeps automatic snapshots at least {MIN_REDIS_SNAPSHOT_DAYS} days.",
    resource_types=(t.REPLICATION_GROUP,),
    severity="medium",
    remediation="Set snapshot_retention_limit (tradesense:redis.snapshotRetentionDays) to 7 or more.",
    url="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/backups-automatic.html",
    compliance=RECOVERY + ((FSBP, "ElastiCache.1"),),
    evidence=("snapshotRetentionLimit",),
)
def elasticache_snapshot_retention(props, resource):
    days = as_number(get_path(props, "snapshotRetentionLimit"))
    if days is None or days < MIN_REDIS_SNAPSHOT_DAYS:
        return f"snapshotRetentionLimit = {days}: must be at least {MIN_REDIS_SNAPSHOT_DAYS}"
    return None


def instance_arn_candidates(instance) -> set[str]:
    """What a backup selection may list for this instance: its ARN (known after deploy or from the
    mock engine) or its identifier."""
    found = set()
    for key in ("arn", "identifier"):
        value = instance.props.get(key)
        if value and not is_unknown(value):
            found.add(str(value))
    return found


@stack_rule(
    name="rds-covered-by-backup-plan",
    description="Every RDS instance is selected by an AWS Backup plan.",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="List the instance's ARN in a aws.backup.Selection of the platform backup plan.",
    url="https://docs.aws.amazon.com/aws-backup/latest/devguide/assigning-resources.html",
    compliance=RECOVERY + ((PCI, "10.3.3"),),
    evidence=("identifier", "arn"),
)
def rds_covered_by_backup_plan(stack):
    selected: list[str] = []
    selections = stack.of_type(t.BACKUP_SELECTION)
    for selection in selections:
        resources = selection.props.get("resources") or []
        if is_unknown(resources):
            raise Unknown(f"{selection.name}.resources")
        selected.extend(str(r) for r in resources)
    for instance in stack.of_type(t.RDS_INSTANCE):
        if any(instance.urn in s.property_dependencies.get("resources", ()) for s in selections):
            continue
        ident = instance.props.get("identifier")
        candidates = instance_arn_candidates(instance)
        if any(is_unknown(s) for s in selected) or (not candidates and is_unknown(ident)):
            raise Unknown(f"{instance.name}.arn")
        covered = any(
            s in candidates or (ident and not is_unknown(ident) and s.endswith(f":db:{ident}"))
            for s in selected
        )
        if not covered:
            yield instance.urn, f"instance {ident or instance.name} is in no backup selection"
