"""Recovery: backups kept long enough, continuous backup, nothing deleted by accident, immutable copies."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from tradesense_policies import types as t
from tradesense_policies.floors import FLOORS
from tradesense_policies.model import (
    Document,
    Props,
    Resource,
    Stack,
    as_bool,
    as_list,
    as_number,
    get_path,
    is_unknown,
    names,
    policy_document,
    referrers,
    refers_to_any,
    region_of,
    statements,
    tags_of,
)
from tradesense_policies.registry import (
    FSBP,
    GDPR,
    PCI,
    SOC2,
    Finding,
    NotApplicable,
    Unknown,
    Violations,
    resource_rule,
    stack_rule,
)

RECOVERY = ((SOC2, "A1.2"), (GDPR, "Art. 32(1)(c)"), (PCI, "12.10.1"))
# The floors as shipped (a stack's policy config may only raise them): for the docs' wording.
MIN_RETENTION_DAYS = FLOORS["minBackupRetentionDays"].default
MIN_REDIS_SNAPSHOT_DAYS = FLOORS["minRedisSnapshotDays"].default
# Buckets whose Purpose tag marks them as holding backups or audit evidence: they need object lock.
LOCKED_PURPOSE_WORDS = ("backup", "audit", "trail")


@resource_rule(
    name="rds-backup-retention",
    description=f"RDS automated backups are kept at least {MIN_RETENTION_DAYS} days.",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation=f"Set backup_retention_period to tradesense:backupRetentionDays ({MIN_RETENTION_DAYS}-35).",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html",
    compliance=RECOVERY + ((FSBP, "RDS.11"),),
    evidence=("backupRetentionPeriod",),
    config=("minBackupRetentionDays",),
)
def rds_backup_retention(props: Props, resource: Resource) -> Violations:
    floor = resource.setting("minBackupRetentionDays")
    raw = get_path(props, "backupRetentionPeriod")
    days = as_number(raw)
    if days is None or days < floor:
        return f"backupRetentionPeriod = {raw}: must be at least {floor:g} (pack config)"
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
def rds_deletion_protection(props: Props, resource: Resource) -> Violations:
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
def rds_final_snapshot(props: Props, resource: Resource) -> Violations:
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
    evidence=("rules.ruleName", "rules.lifecycle.deleteAfter", "rules.copyActions.lifecycle.deleteAfter"),
    config=("minBackupRetentionDays",),
)
def backup_plan_retention(props: Props, resource: Resource) -> Violations:
    floor = resource.setting("minBackupRetentionDays")
    problems = []
    rules = get_path(props, "rules") or []
    if not rules:
        return "the plan has no rules"
    for index, _ in enumerate(rules):
        name = get_path(props, f"rules.{index}.ruleName")
        lifecycles = [(f"rule {name}", f"rules.{index}.lifecycle.deleteAfter")] + [
            (f"rule {name} copy {c}", f"rules.{index}.copyActions.{c}.lifecycle.deleteAfter")
            for c, _ in enumerate(get_path(props, f"rules.{index}.copyActions") or [])
        ]
        for label, path in lifecycles:
            raw = get_path(props, path)
            if raw is None:
                continue  # no expiry: kept until deleted by hand, which satisfies the minimum
            days = as_number(raw)
            if days is None or days < floor:
                problems.append(f"{label}: deleteAfter = {raw} days, under {floor:g} (pack config)")
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
def backup_plan_continuous_backup(props: Props, resource: Resource) -> Violations:
    rules = get_path(props, "rules") or []
    if any(as_bool(get_path(props, f"rules.{i}.enableContinuousBackup")) for i, _ in enumerate(rules)):
        return None
    return "no rule has enableContinuousBackup = true"


def _purpose(props: Props) -> str:
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
def s3_object_lock_on_backup_and_audit_buckets(props: Props, resource: Resource) -> Violations:
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
def s3_object_lock_compliance_mode(props: Props, resource: Resource) -> Violations:
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
    remediation="Set snapshot_retention_limit (tradesense:redis.snapshotRetentionDays) to "
    f"{MIN_REDIS_SNAPSHOT_DAYS} or more.",
    url="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/backups-automatic.html",
    compliance=RECOVERY + ((FSBP, "ElastiCache.1"),),
    evidence=("snapshotRetentionLimit",),
    config=("minRedisSnapshotDays",),
)
def elasticache_snapshot_retention(props: Props, resource: Resource) -> Violations:
    floor = resource.setting("minRedisSnapshotDays")
    days = as_number(get_path(props, "snapshotRetentionLimit"))
    if days is None or days < floor:
        return f"snapshotRetentionLimit = {days}: must be at least {floor:g} (pack config)"
    return None


def instance_arn_candidates(instance: Resource) -> set[str]:
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
def rds_covered_by_backup_plan(stack: Stack) -> Iterator[Finding]:
    selected: list[str] = []
    plans = stack.of_type(t.BACKUP_PLAN)
    # A selection counts only if the plan it names is a plan of this stack (judged on the value).
    selections = [s for s in stack.of_type(t.BACKUP_SELECTION) if refers_to_any(s, "planId", plans, "id")]
    excluded: list[str] = []
    for selection in selections:
        resources = selection.props.get("resources") or []
        if is_unknown(resources) or is_unknown(selection.props.get("notResources")):
            raise Unknown(f"{selection.name}.resources")
        # notResources (ARNs or patterns) takes resources back out of the selection.
        excluded.extend(str(r) for r in as_list(selection.props.get("notResources")))
        selected.extend(str(r) for r in resources)
    for instance in stack.of_type(t.RDS_INSTANCE):
        ident = instance.props.get("identifier")
        candidates = instance_arn_candidates(instance)
        if any(is_unknown(s) for s in selected) or (not candidates and is_unknown(ident)):
            raise Unknown(f"{instance.name}.arn")
        covered = any(
            s in candidates or (ident and not is_unknown(ident) and s.endswith(f":db:{ident}")) for s in selected
        )
        names_of_instance = candidates | ({f"arn:aws:rds:*:*:db:{ident}"} if ident and not is_unknown(ident) else set())
        if any(fnmatch.fnmatchcase(c, x) or fnmatch.fnmatchcase(x, c) for x in excluded for c in names_of_instance):
            covered = False
        if not covered:
            yield instance.urn, f"instance {ident or instance.name} is in no backup selection of a plan of this stack"


def _vault_parts(stack: Stack, vault: Resource, type_: str) -> list[Resource]:
    return referrers(stack.of_type(type_), "backupVaultName", vault, "name", "id")


@stack_rule(
    name="backup-vault-lock",
    description="Every backup vault has a vault lock in compliance mode whose minimum retention is at least the "
    "pack's backup floor.",
    resource_types=(t.BACKUP_VAULT,),
    severity="high",
    remediation="Add aws.backup.VaultLockConfiguration naming the vault, with min_retention_days >= the "
    "minBackupRetentionDays policy config and changeable_for_days set (without it the lock is in "
    "governance mode and can be removed).",
    # Without ChangeableForDays the lock can be deleted at any time (governance mode); with it, it becomes
    # immutable after that many days (compliance mode):
    # https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultLockConfiguration.html
    url="https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html",
    compliance=RECOVERY + ((PCI, "10.5.1"), (FSBP, "Backup.1")),
    evidence=("name",),
    config=("minBackupRetentionDays",),
)
def backup_vault_lock(stack: Stack) -> Iterator[Finding]:
    floor = stack.setting("minBackupRetentionDays")
    for vault in stack.of_type(t.BACKUP_VAULT):
        locks = _vault_parts(stack, vault, t.VAULT_LOCK)
        if not locks:
            yield vault.urn, f"vault {vault.name} has no vault lock"
            continue
        for lock in locks:
            minimum = as_number(lock.props.get("minRetentionDays"))
            maximum = as_number(lock.props.get("maxRetentionDays"))
            if minimum is None or minimum < floor:
                yield (
                    vault.urn,
                    (
                        f"vault {vault.name}: lock minRetentionDays = {lock.props.get('minRetentionDays')}, "
                        f"under {floor:g} (pack config)"
                    ),
                )
            if maximum is not None and maximum < floor:
                yield vault.urn, f"vault {vault.name}: lock maxRetentionDays = {maximum:g}, under {floor:g}"
            if lock.props.get("changeableForDays") is None:
                yield vault.urn, f"vault {vault.name}: lock without changeableForDays is in governance mode (removable)"


DELETION_ACTIONS = ("backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle")


def _denies_deletion(document: Document) -> bool:
    for statement in statements(document):
        actions = [str(a).lower() for a in as_list(statement.get("Action"))]
        covered = all(any(fnmatch.fnmatchcase(needed.lower(), a) for a in actions) for needed in DELETION_ACTIONS)
        if (
            statement.get("Effect") == "Deny"
            and covered
            and not statement.get("Condition")
            and statement.get("Principal") in ("*", {"AWS": "*"}, {"AWS": ["*"]})
            and "*" in [str(r) for r in as_list(statement.get("Resource"))]
        ):
            return True
    return False


@stack_rule(
    name="backup-vault-deny-deletion",
    description="Every backup vault's access policy denies everyone, unconditionally, deleting recovery points or "
    "shortening their lifecycle.",
    resource_types=(t.BACKUP_VAULT,),
    severity="high",
    remediation="Attach aws.backup.VaultPolicy with a Deny for Principal * on backup:DeleteRecoveryPoint and "
    "backup:UpdateRecoveryPointLifecycle, Resource *, without conditions.",
    url="https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault-access-policy.html",
    compliance=RECOVERY + ((PCI, "10.3.2"),),
    evidence=("name",),
)
def backup_vault_deny_deletion(stack: Stack) -> Iterator[Finding]:
    for vault in stack.of_type(t.BACKUP_VAULT):
        policies = _vault_parts(stack, vault, t.VAULT_POLICY)
        for policy in policies:
            if is_unknown(policy.props.get("policy")):
                raise Unknown(f"{policy.name}.policy")
        if not any(_denies_deletion(policy_document(p.props.get("policy"))) for p in policies):
            yield (
                vault.urn,
                (
                    f"vault {vault.name}: no access policy denies everyone "
                    + " and ".join(DELETION_ACTIONS)
                    + " unconditionally"
                ),
            )


@stack_rule(
    name="backup-plan-dr-copy",
    description="Every backup plan rule copies its recovery points to a vault of this stack in another region "
    "(the policy config's drRegion when set).",
    resource_types=(t.BACKUP_PLAN,),
    severity="high",
    remediation="Add copy_actions with destination_vault_arn = the DR vault's ARN (a vault of this stack in the DR "
    "region). A stack without DR sets drRegion to `none` in its policy pack config.",
    url="https://docs.aws.amazon.com/aws-backup/latest/devguide/cross-region-backup.html",
    compliance=RECOVERY + ((SOC2, "A1.3"),),
    evidence=("rules.ruleName", "rules.targetVaultName", "rules.copyActions.destinationVaultArn"),
    config=("drRegion",),
)
def backup_plan_dr_copy(stack: Stack) -> Iterator[Finding]:
    wanted = str(stack.setting("drRegion") or "")
    if wanted.lower() == "none":
        raise NotApplicable("drRegion is none in the policy pack config")
    vaults = stack.of_type(t.BACKUP_VAULT)
    for plan in stack.of_type(t.BACKUP_PLAN):
        rules = plan.props.get("rules")
        if is_unknown(rules):
            raise Unknown(f"{plan.name}.rules")
        for rule in as_list(rules):
            source = next((v for v in vaults if names(rule.get("targetVaultName"), v, "name", "id")), None)
            source_region = region_of(source.props.get("arn")) if source else ""
            copies = []
            for action in as_list(rule.get("copyActions")):
                arn = (action or {}).get("destinationVaultArn")
                if is_unknown(arn):
                    raise Unknown(f"{plan.name}.copyActions.destinationVaultArn")
                target = next((v for v in vaults if names(arn, v, "arn")), None)
                region = region_of(arn)
                if target and region and region != source_region and (not wanted or region == wanted):
                    copies.append(arn)
            if not copies:
                yield (
                    plan.urn,
                    (
                        f"rule {rule.get('ruleName')}: no copy to a vault of this stack in "
                        + (wanted or "another region than its own")
                    ),
                )


def _retention_days(lock: Resource) -> float | None:
    days = as_number(get_path(lock.props, "rule.defaultRetention.days"))
    years = as_number(get_path(lock.props, "rule.defaultRetention.years"))
    return days if days is not None else years * 365 if years is not None else None


def locked_buckets(stack: Stack) -> Iterator[tuple[Resource, float, str]]:
    """(bucket, floor, kind) for every bucket that must be immutable: all but S3 access-log targets
    ("S3 buckets with Object Lock can't be used as destination buckets for server access logs":
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-configure.html). Buckets
    the trail writes to, and their replicas, hold audit evidence; the others hold backups."""
    log_targets = [
        b
        for b in stack.of_type(*t.BUCKETS)
        if any(names(lg.props.get("targetBucket"), b, "bucket", "id") for lg in stack.of_type(*t.BUCKET_LOGGING))
    ]
    audit = [
        b
        for b in stack.of_type(*t.BUCKETS)
        if any(names(tr.props.get("s3BucketName"), b, "bucket", "id") for tr in stack.of_type(t.TRAIL))
    ]
    for replication in stack.of_type(t.BUCKET_REPLICATION):
        if any(names(replication.props.get("bucket"), b, "bucket", "id") for b in audit):
            for rule in as_list(replication.props.get("rules")):
                destination = ((rule or {}).get("destination") or {}).get("bucket")
                audit += [b for b in stack.of_type(*t.BUCKETS) if names(destination, b, "arn")]
    for bucket in stack.of_type(*t.BUCKETS):
        if any(bucket is b for b in log_targets):
            continue
        is_audit = any(bucket is b for b in audit)
        yield (
            bucket,
            stack.setting("minAuditRetentionDays" if is_audit else "minBackupRetentionDays"),
            "audit" if is_audit else "backup",
        )


@stack_rule(
    name="s3-object-lock-retention",
    description="Every bucket but the access-log targets is object-locked in compliance mode for at least the "
    "pack's floor: minAuditRetentionDays for the trail's buckets and replicas, minBackupRetentionDays else.",
    resource_types=t.BUCKETS,
    severity="high",
    remediation="Create the bucket with SecureBucket(object_lock_days=...) at least the floor; object lock can only "
    "be enabled when the bucket is created.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html",
    compliance=RECOVERY + ((PCI, "10.3.2"), (PCI, "10.5.1"), (FSBP, "S3.15")),
    evidence=("objectLockEnabled", "bucket", "bucketPrefix"),
    config=("minBackupRetentionDays", "minAuditRetentionDays"),
)
def s3_object_lock_retention(stack: Stack) -> Iterator[Finding]:
    configs = stack.of_type(*t.BUCKET_OBJECT_LOCK)
    for bucket, floor, kind in locked_buckets(stack):
        if not as_bool(bucket.props.get("objectLockEnabled")):
            yield bucket.urn, f"{kind} bucket {bucket.name}: objectLockEnabled is not true"
            continue
        locks = referrers(configs, "bucket", bucket, "bucket", "id")
        if not locks:
            yield bucket.urn, f"{kind} bucket {bucket.name}: no object lock configuration (no default retention)"
        for lock in locks:
            days = _retention_days(lock)
            if days is None or days < floor:
                yield (
                    bucket.urn,
                    (f"{kind} bucket {bucket.name}: default retention {days} days, under {floor:g} (pack config)"),
                )


@stack_rule(
    name="s3-lifecycle-not-shorter-than-retention",
    description="On every object-locked bucket, no lifecycle rule expires current or old versions before the "
    "pack's retention floor.",
    resource_types=t.BUCKETS,
    severity="medium",
    remediation="Set expiration.days and noncurrent_version_expiration.noncurrent_days to at least the floor.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lifecycle-mgmt.html",
    compliance=RECOVERY + ((PCI, "10.5.1"),),
    evidence=("bucket", "bucketPrefix"),
    config=("minBackupRetentionDays", "minAuditRetentionDays"),
)
def s3_lifecycle_not_shorter_than_retention(stack: Stack) -> Iterator[Finding]:
    lifecycles = stack.of_type(*t.BUCKET_LIFECYCLES)
    for bucket, floor, kind in locked_buckets(stack):
        for lifecycle in referrers(lifecycles, "bucket", bucket, "bucket", "id"):
            for rule in as_list(lifecycle.props.get("rules")):
                rule = rule or {}
                if str(rule.get("status", "Enabled")) != "Enabled":
                    continue
                for label, raw in (
                    ("expiration.days", (rule.get("expiration") or {}).get("days")),
                    (
                        "noncurrentVersionExpiration.noncurrentDays",
                        (rule.get("noncurrentVersionExpiration") or {}).get("noncurrentDays"),
                    ),
                ):
                    if raw is None:
                        continue
                    days = as_number(raw)
                    if days is None or days < floor:
                        yield (
                            bucket.urn,
                            (
                                f"{kind} bucket {bucket.name}: lifecycle rule {rule.get('id')} "
                                f"{label} = {raw}, under {floor:g} days"
                            ),
                        )


@resource_rule(
    name="s3-versioning-enabled",
    description="Bucket versioning is Enabled (not Suspended, not absent).",
    resource_types=t.BUCKET_VERSIONING,
    severity="high",
    remediation="Set versioning_configuration.status = Enabled.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html",
    compliance=RECOVERY + ((FSBP, "S3.14"),),
    evidence=("versioningConfiguration.status",),
)
def s3_versioning_enabled(props: Props, resource: Resource) -> Violations:
    status = get_path(props, "versioningConfiguration.status")
    return None if status == "Enabled" else f"versioningConfiguration.status = {status}"
