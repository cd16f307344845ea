"""For every policy, the one change to the real prod stack that its rule must catch.

Each mutation takes prod's resources (a private copy) and returns them changed; tests check the
rule passes before and fails after. A rule without a mutation here fails test_every_rule_has_a_mutation.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tradesense_policies import types as t

Mutation = Callable[[list], list]


def first(resources, type_, where=lambda r: True):
    return next(r for r in resources if r.type == type_ and where(r))


def on(type_: str, change: Callable[[dict], None], where=lambda r: True) -> Mutation:
    """Apply `change` to the inputs (and outputs) of the first resource of `type_` matching `where`."""

    def mutate(resources):
        target = first(resources, type_, where)
        change(target.inputs)
        change(target.outputs) if target.outputs else None
        return resources

    return mutate


def drop(type_: str, where=lambda r: True) -> Mutation:
    def mutate(resources):
        victim = first(resources, type_, where)
        return [r for r in resources if r is not victim]

    return mutate


def setkey(path: str, value) -> Callable[[dict], None]:
    def change(props):
        *parents, last = path.split(".")
        node = props
        for part in parents:
            node = node.setdefault(part, {}) if not part.isdigit() else node[int(part)]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value

    return change


DELETE = object()


def param(name: str, value: str) -> Callable[[dict], None]:
    def change(props):
        for p in props.get("parameters", []):
            if p["name"] == name:
                p["value"] = value

    return change


def clear_deps(resources, type_, key):
    for r in resources:
        if r.type == type_:
            r.property_dependencies.pop(key, None)


def _no_backup_selection(resources):
    for r in resources:
        if r.type == t.BACKUP_SELECTION:
            r.inputs["resources"], r.outputs["resources"] = [], []
            r.property_dependencies.pop("resources", None)
    return resources


def _no_parameter_group(resources):
    target = first(resources, t.RDS_INSTANCE)
    target.inputs["parameterGroupName"] = target.outputs["parameterGroupName"] = "default.postgres16"
    target.property_dependencies.pop("parameterGroupName", None)
    return resources


def _rate(kind: str) -> Mutation:
    def mutate(resources):
        acl = first(resources, t.WEB_ACL)
        for props in (acl.inputs, acl.outputs):
            for rule in props.get("rules", []):
                rate = rule.get("statement", {}).get("rateBasedStatement")
                is_login = (
                    rate and "login" in json.dumps(rate.get("scopeDownStatement", {})).lower() + rule["name"].lower()
                )
                if rate and bool(is_login) == (kind == "login"):
                    rate["limit"] = rate["limit"] * 100
        return resources

    return mutate


def _no_managed_sqli(props):
    props["rules"] = [r for r in props.get("rules", []) if "SQLi" not in json.dumps(r)]


def _unattached(resources):
    d = first(resources, t.DISTRIBUTION)
    d.inputs["webAclId"] = d.outputs["webAclId"] = ""
    d.property_dependencies.pop("webAclId", None)
    return resources


def _silent_alarms(only_first: bool) -> Mutation:
    def mutate(resources):
        for r in [x for x in resources if x.type == t.METRIC_ALARM][: 1 if only_first else None]:
            r.inputs["alarmActions"] = r.outputs["alarmActions"] = []
            r.property_dependencies.pop("alarmActions", None)
        return resources

    return mutate


def _unalarmed_filter(resources):
    metric = first(resources, t.METRIC_FILTER).inputs["metricTransformation"]
    return [
        r
        for r in resources
        if not (
            r.type == t.METRIC_ALARM
            and r.inputs.get("metricName") == metric["name"]
            and r.inputs.get("namespace") == metric["namespace"]
        )
    ]


def _literal_secret(resources):
    clear_deps(resources, t.SECRET_VERSION, "secretString")
    return resources


def _no_proxy_target(resources):
    return drop(t.RDS_PROXY_TARGET)(resources)


def _world_ingress(port: int) -> Mutation:
    def change(props):
        props.update(cidrIpv4="0.0.0.0/0", fromPort=port, toPort=port, ipProtocol="tcp")
        props.pop("referencedSecurityGroupId", None)

    return on(t.SG_INGRESS_RULE, change)


def _kms_sse(r):
    return "aws:kms" in json.dumps(r.inputs)


def _locked_bucket(r):
    return r.inputs.get("objectLockEnabled") is True


MUTATIONS: dict[str, Mutation] = {
    "rds-storage-encrypted-cmk": on(t.RDS_INSTANCE, setkey("storageEncrypted", False)),
    "rds-performance-insights-cmk": on(
        t.RDS_INSTANCE,
        lambda p: (p.update(performanceInsightsEnabled=True), p.pop("performanceInsightsKmsKeyId", None)),
    ),
    "elasticache-encrypted-at-rest-cmk": on(t.REPLICATION_GROUP, setkey("kmsKeyId", DELETE)),
    "s3-bucket-encrypted-with-cmk": on(
        t.BUCKET_SSE[0], setkey("rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", DELETE), _kms_sse
    ),
    "secretsmanager-secret-cmk": on(t.SECRET, setkey("kmsKeyId", DELETE)),
    "sns-topic-cmk": on(t.SNS_TOPIC, setkey("kmsMasterKeyId", "alias/aws/sns")),
    "cloudwatch-log-group-cmk": on(t.LOG_GROUP, setkey("kmsKeyId", DELETE)),
    "backup-vault-cmk": on(t.BACKUP_VAULT, setkey("kmsKeyArn", DELETE)),
    "cloudtrail-encrypted-cmk": on(t.TRAIL, setkey("kmsKeyId", DELETE)),
    "kms-key-rotation-enabled": on(t.KMS_KEY, setkey("enableKeyRotation", False)),
    "rds-force-ssl": on(t.RDS_PARAMETER_GROUP, param("rds.force_ssl", "0")),
    "rds-proxy-require-tls": on(t.RDS_PROXY, setkey("requireTls", False)),
    "elasticache-transit-encryption": on(t.REPLICATION_GROUP, setkey("transitEncryptionEnabled", False)),
    "s3-bucket-tls-only": on(
        t.BUCKET_POLICY[0], setkey("policy", json.dumps({"Version": "2012-10-17", "Statement": []}))
    ),
    "cloudfront-https-only": on(t.DISTRIBUTION, setkey("defaultCacheBehavior.viewerProtocolPolicy", "allow-all")),
    "cloudfront-minimum-tls": on(t.DISTRIBUTION, setkey("viewerCertificate.minimumProtocolVersion", "TLSv1")),
    "rds-not-publicly-accessible": on(t.RDS_INSTANCE, setkey("publiclyAccessible", True)),
    "s3-public-access-block": on(t.BUCKET_PAB[0], setkey("restrictPublicBuckets", False)),
    "s3-bucket-has-controls": drop(t.BUCKET_VERSIONING[0]),
    "no-public-ingress-to-data-ports": _world_ingress(5432),
    "no-public-ingress": _world_ingress(443),
    "rds-backup-retention": on(t.RDS_INSTANCE, setkey("backupRetentionPeriod", 7)),
    "rds-deletion-protection": on(t.RDS_INSTANCE, setkey("deletionProtection", False)),
    "rds-final-snapshot": on(t.RDS_INSTANCE, setkey("skipFinalSnapshot", True)),
    "backup-plan-retention": on(t.BACKUP_PLAN, setkey("rules.0.lifecycle.deleteAfter", 7)),
    "backup-plan-continuous-backup": on(
        t.BACKUP_PLAN, lambda p: [r.update(enableContinuousBackup=False) for r in p["rules"]]
    ),
    "s3-object-lock-on-backup-and-audit-buckets": on(t.BUCKET, setkey("objectLockEnabled", False), _locked_bucket),
    "s3-object-lock-compliance-mode": on(t.BUCKET_OBJECT_LOCK[0], setkey("rule.defaultRetention.mode", "GOVERNANCE")),
    "elasticache-snapshot-retention": on(t.REPLICATION_GROUP, setkey("snapshotRetentionLimit", 1)),
    "rds-covered-by-backup-plan": _no_backup_selection,
    "rds-reached-through-proxy": _no_proxy_target,
    "rds-custom-parameter-group": _no_parameter_group,
    "rds-statement-timeout": on(t.RDS_PARAMETER_GROUP, param("statement_timeout", "0")),
    "rds-slow-query-logging": on(t.RDS_PARAMETER_GROUP, param("log_min_duration_statement", "-1")),
    "rds-log-exports": on(t.RDS_INSTANCE, setkey("enabledCloudwatchLogsExports", [])),
    "waf-login-rate-limit": _rate("login"),
    "waf-api-rate-limit": _rate("api"),
    "waf-managed-rule-groups": on(t.WEB_ACL, _no_managed_sqli),
    "waf-logging-enabled": drop(t.WEB_ACL_LOGGING),
    "waf-logging-redacts-credentials": on(t.WEB_ACL_LOGGING, setkey("redactedFields", [])),
    "edge-web-acl-attached": _unattached,
    "cloudfront-response-headers-policy": on(
        t.DISTRIBUTION, setkey("defaultCacheBehavior.responseHeadersPolicyId", DELETE)
    ),
    "cloudfront-security-headers": on(t.RESPONSE_HEADERS_POLICY, setkey("securityHeadersConfig.frameOptions", DELETE)),
    "data-stores-have-alarms": _silent_alarms(only_first=False),
    "alarms-notify-alert-topic": _silent_alarms(only_first=True),
    "log-group-retention": on(t.LOG_GROUP, setkey("retentionInDays", 30)),
    "rds-master-password-managed": on(
        t.RDS_INSTANCE, lambda p: p.update(manageMasterUserPassword=False, masterPassword="hunter2")
    ),
    "secret-values-generated": _literal_secret,
    "elasticache-access-control": on(t.REPLICATION_GROUP, setkey("userGroupIds", [])),
    "iam-no-wildcard-sensitive-actions": on(
        t.IAM_POLICY_DOCS[0],
        setkey("policy", json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})),
    ),
    "iam-no-full-access-managed-policies": on(
        t.IAM_ATTACHMENTS[0], setkey("policyArn", "arn:aws:iam::aws:policy/AmazonS3FullAccess")
    ),
    "cloudtrail-multi-region": on(t.TRAIL, setkey("isMultiRegionTrail", False)),
    "cloudtrail-log-file-validation": on(t.TRAIL, setkey("enableLogFileValidation", False)),
    "cloudtrail-cloudwatch-delivery": on(t.TRAIL, setkey("cloudWatchLogsGroupArn", DELETE)),
    "audit-metric-filters-alarmed": _unalarmed_filter,
    "audit-security-metric-filters": lambda rs: [r for r in rs if r.type != t.METRIC_FILTER],
    "required-tags": on(t.KMS_KEY, setkey("tags.Owner", DELETE)),
}


# Issue 8: the gateway origin without the header CloudFront proves itself with (a direct call skips the WAF).
def _origin_without_verification(resources):
    first(resources, t.DISTRIBUTION).inputs["origins"][0].pop("customHeaders", None)
    return resources


def _origin_verification_from_a_literal(resources):
    first(resources, t.DISTRIBUTION).property_dependencies["origins"] = []
    return resources


MUTATIONS["cloudfront-origin-verification-header"] = _origin_without_verification
MUTATIONS["cloudfront-origin-verification-generated"] = _origin_verification_from_a_literal
_OPEN_TRUST = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
)


def _named(name):
    return lambda r: r.name == name


MUTATIONS.update(
    {
        "cloudtrail-logging-management-events": on(t.TRAIL, setkey("enableLogging", False)),
        "audit-trail-present": lambda rs: [r for r in rs if r.type != t.TRAIL],
        "data-store-ingress-from-own-groups": on(
            t.RDS_INSTANCE, setkey("vpcSecurityGroupIds", ["sg-0aaaaaaaaaaaaaaaa"])
        ),
        "vpc-flow-logs-enabled": drop(t.FLOW_LOG),
        "resource-policy-principals": on(t.IAM_ROLE, setkey("assumeRolePolicy", _OPEN_TRUST)),
        "iam-managed-policies-allow-listed": on(
            t.IAM_ATTACHMENTS[0], setkey("policyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
        ),
        "elasticache-user-authenticates": on(
            t.CACHE_USER, setkey("authenticationMode", {"type": "no-password-required"})
        ),
        "elasticache-rbac-users": on(
            t.CACHE_USER, setkey("accessString", "on ~* +@all"), lambda r: r.inputs.get("userName") == "default"
        ),
        "waf-logging-keeps-blocked": on(
            t.WEB_ACL_LOGGING, setkey("loggingFilter", {"defaultBehavior": "DROP", "filters": []})
        ),
        "cloudfront-origin-https-only": on(
            t.DISTRIBUTION, lambda p: p["origins"][0]["customOriginConfig"].update(originProtocolPolicy="http-only")
        ),
        "backup-vault-lock": drop(t.VAULT_LOCK),
        "backup-vault-deny-deletion": drop(t.VAULT_POLICY),
        "backup-plan-dr-copy": on(t.BACKUP_PLAN, lambda p: p["rules"][0].pop("copyActions")),
        "s3-object-lock-retention": drop(t.BUCKET_OBJECT_LOCK[0]),
        "s3-lifecycle-not-shorter-than-retention": on(
            t.BUCKET_LIFECYCLE, lambda p: p["rules"][0]["expiration"].update(days=1), _named("audit-logs-lifecycle")
        ),
        "s3-versioning-enabled": on(t.BUCKET_VERSIONING[0], setkey("versioningConfiguration.status", "Suspended")),
        "rds-multi-az": on(t.RDS_INSTANCE, setkey("multiAz", False)),
        "rds-keep-automated-backups": on(t.RDS_INSTANCE, setkey("deleteAutomatedBackups", DELETE)),
        "rds-proxy-iam-auth": on(t.RDS_PROXY, lambda p: p["auths"][0].update(iamAuth="DISABLED")),
        "rds-proxy-debug-logging-off": on(t.RDS_PROXY, setkey("debugLogging", True)),
        "rds-password-encryption-scram": on(t.RDS_PARAMETER_GROUP, param("password_encryption", "md5")),
        "rds-log-statement-no-secrets": on(
            t.RDS_PARAMETER_GROUP, lambda p: p["parameters"].append({"name": "log_statement", "value": "all"})
        ),
        "rds-current-ca": on(t.RDS_INSTANCE, setkey("caCertIdentifier", "rds-ca-2019")),
        "kms-key-enabled-and-protected": on(t.KMS_KEY, setkey("deletionWindowInDays", 7)),
        "secret-recovery-window": on(t.SECRET, setkey("recoveryWindowInDays", 0)),
    }
)
