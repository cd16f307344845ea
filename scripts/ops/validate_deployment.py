"""Live validation: does what is running in AWS still satisfy the rules the policy pack enforces?

The policy pack checks the plan before `pulumi up`; this checks the live resources afterwards and
at any time later, so a change made by hand in the console (encryption off, deletion protection
off, a shorter retention, a WAF rule removed, a public-access block deleted) is caught. The rules
and expected values come from `scripts.ops.expectations` and the stack's settings.

Resources are found by their Project and Stack tags. One line per check: status, rule, resource,
what was found. Exit 0 when every check passes, 1 when any fails, 2 on bad input.

    python -m scripts.ops.validate_deployment --stack prod [--region R] [--endpoint-url URL] [--json]
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from botocore.exceptions import ClientError

from scripts.ops import expectations as expect
from scripts.ops.aws import CLOUDFRONT_REGION, Discovery, add_aws_arguments, aws_from_args, error_code, settings_from_args, tags_of
from scripts.cli import ArgumentParser, Report, entrypoint, join
from stacks.settings import Settings


def _parameters(rds: Any, group: str) -> dict[str, dict]:
    params: dict[str, dict] = {}
    # Source=user: only the values set on the group, which is where these settings must live.
    for page in rds.get_paginator("describe_db_parameters").paginate(DBParameterGroupName=group, Source="user"):
        for p in page["Parameters"]:
            params[p["ParameterName"]] = p
    return params


def check_databases(report: Report, found: Discovery, settings: Settings) -> None:
    rds = found.aws.client("rds")
    instances = found.db_instances()
    proxies = found.db_proxies()
    data_key = found.kms_key(expect.KEY_PURPOSE_DATA)
    retention_floor = max(expect.MIN_BACKUP_RETENTION_DAYS, settings.backup_retention_days)
    for service in settings.database_services:
        name = service.name
        db = instances.get(name)
        if db is None:
            report.add("rds.present", f"service {name}", False, "no RDS instance tagged with this Project/Stack/Service")
            continue
        ident = db["DBInstanceIdentifier"]
        report.add("rds.present", ident, True, f"{db.get('Engine')} {db.get('EngineVersion')}, {db.get('DBInstanceStatus')}")
        tags = tags_of(db.get("TagList"))
        missing = [t for t in expect.REQUIRED_TAGS if not tags.get(t)]
        report.add("rds.tags", ident, not missing, f"missing {join(missing)}" if missing else "all required tags")
        key = db.get("KmsKeyId")
        encrypted = bool(db.get("StorageEncrypted"))
        if data_key is None:
            ok, found_text = encrypted and bool(key), f"encrypted={encrypted}, key {key}; no key tagged Purpose=data found"
        else:
            ok = encrypted and key == data_key["Arn"]
            found_text = f"encrypted={encrypted}, key {key or 'none'}" + ("" if key == data_key["Arn"] else f" (expected data key {data_key['Arn']})")
        report.add("rds.storage_encrypted", ident, ok, found_text)
        public = bool(db.get("PubliclyAccessible"))
        report.add("rds.private", ident, not public, f"PubliclyAccessible={public}")
        retention = int(db.get("BackupRetentionPeriod") or 0)
        report.add("rds.backup_retention", ident, retention >= retention_floor, f"{retention} days (need >= {retention_floor})")
        protected = bool(db.get("DeletionProtection"))
        report.add("rds.deletion_protection", ident, protected, f"DeletionProtection={protected}")
        managed = bool(db.get("MasterUserSecret", {}).get("SecretArn"))
        report.add("rds.managed_master_password", ident, managed, "master password in Secrets Manager" if managed else "no RDS-managed master secret")
        _check_parameter_group(report, rds, db, service)
        proxy = proxies.get(name)
        if proxy is None:
            report.add("rds.proxy_tls", f"service {name}", False, "no RDS Proxy tagged with this Service")
        else:
            tls = bool(proxy.get("RequireTLS"))
            report.add("rds.proxy_tls", proxy["DBProxyName"], tls is expect.PROXY_REQUIRE_TLS, f"RequireTLS={tls}")


def _check_parameter_group(report: Report, rds: Any, db: dict, service: Any) -> None:
    ident = db["DBInstanceIdentifier"]
    groups = db.get("DBParameterGroups") or []
    group = groups[0] if groups else {}
    name = group.get("DBParameterGroupName", "")
    if not name or name.startswith(expect.DEFAULT_PARAMETER_GROUP_PREFIX):
        report.add("rds.parameter_group", ident, False, f"uses {name or 'no'} parameter group; a custom one is required")
        return
    status = group.get("ParameterApplyStatus", "in-sync")
    report.add("rds.parameter_group", ident, status == "in-sync", f"{name} ({status})")
    params = _parameters(rds, name)
    value = lambda key: (params.get(key) or {}).get("ParameterValue")  # noqa: E731
    force_ssl = value("rds.force_ssl")
    report.add("rds.force_ssl", name, force_ssl == expect.FORCE_SSL, f"rds.force_ssl={force_ssl}")
    timeout = value("statement_timeout")
    wanted = service.database.statement_timeout_ms
    ok = timeout is not None and timeout.isdigit() and 0 < int(timeout) <= expect.MAX_STATEMENT_TIMEOUT_MS and int(timeout) == wanted
    report.add("rds.statement_timeout", name, ok, f"statement_timeout={timeout} ms (want {wanted}, at most {expect.MAX_STATEMENT_TIMEOUT_MS})")
    slow = value("log_min_duration_statement")
    ok = slow is not None and slow.lstrip("-").isdigit() and int(slow) > 0
    report.add("rds.log_slow_queries", name, ok, f"log_min_duration_statement={slow}")


def check_cache(report: Report, found: Discovery) -> None:
    groups = found.replication_groups("cache")
    if not groups:
        report.add("cache.present", "platform", False, "no ElastiCache replication group tagged Purpose=cache")
        return
    for group in groups:
        ident = group["ReplicationGroupId"]
        at_rest = bool(group.get("AtRestEncryptionEnabled"))
        report.add("cache.at_rest_encryption", ident, at_rest and bool(group.get("KmsKeyId")), f"at rest={at_rest}, key {group.get('KmsKeyId') or 'AWS-owned'}")
        transit = bool(group.get("TransitEncryptionEnabled"))
        report.add("cache.transit_encryption", ident, transit, f"in transit={transit}")
        users = group.get("UserGroupIds") or []
        auth = bool(users) or bool(group.get("AuthTokenEnabled"))
        report.add("cache.auth", ident, auth, f"RBAC user groups {join(users)}" if users else f"AuthTokenEnabled={group.get('AuthTokenEnabled')}")


def check_backup_bucket(report: Report, found: Discovery) -> None:
    s3 = found.aws.client("s3")
    buckets = found.buckets("database-backups")
    if not buckets:
        report.add("s3.present", "database-backups", False, "no bucket tagged Purpose=database-backups")
        return
    for bucket in buckets:
        def read(call: str, missing: tuple[str, ...]) -> Optional[dict]:
            try:
                return getattr(s3, call)(Bucket=bucket)
            except ClientError as exc:
                if error_code(exc) in missing:
                    return None
                raise

        enc = read("get_bucket_encryption", ("ServerSideEncryptionConfigurationNotFoundError",))
        rules = (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
        ok = default.get("SSEAlgorithm") == expect.BUCKET_SSE_ALGORITHM and bool(default.get("KMSMasterKeyID"))
        report.add("s3.encryption", bucket, ok, f"{default.get('SSEAlgorithm') or 'none'} key {default.get('KMSMasterKeyID') or 'none'}")
        pab = read("get_public_access_block", ("NoSuchPublicAccessBlockConfiguration",))
        flags = (pab or {}).get("PublicAccessBlockConfiguration", {})
        off = [f for f in expect.PUBLIC_ACCESS_BLOCK_FLAGS if not flags.get(f)]
        report.add("s3.public_access_block", bucket, pab is not None and not off, "no public-access block" if pab is None else (f"off: {join(off)}" if off else "all four flags on"))
        versioning = (read("get_bucket_versioning", ()) or {}).get("Status", "never enabled")
        report.add("s3.versioning", bucket, versioning == "Enabled", f"versioning {versioning}")
        lock = (read("get_object_lock_configuration", ("ObjectLockConfigurationNotFoundError",)) or {}).get("ObjectLockConfiguration", {})
        retention = lock.get("Rule", {}).get("DefaultRetention", {})
        ok = lock.get("ObjectLockEnabled") == "Enabled" and bool(retention.get("Mode"))
        report.add("s3.object_lock", bucket, ok, f"object lock {lock.get('ObjectLockEnabled', 'off')}, default {retention.get('Mode', 'none')} {retention.get('Days') or retention.get('Years') or ''}".rstrip())
        life = read("get_bucket_lifecycle_configuration", ("NoSuchLifecycleConfiguration",))
        enabled = [r.get("ID", "?") for r in (life or {}).get("Rules", []) if r.get("Status") == "Enabled"]
        report.add("s3.lifecycle", bucket, bool(enabled), f"enabled rules: {join(enabled)}")


def _search_strings(statement: Any) -> Iterable[str]:
    """Every literal a (nested) WAF match statement compares against."""
    if isinstance(statement, dict):
        for key, value in statement.items():
            if key == "SearchString":
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                # moto renders the blob as the text "b'...'"; AWS returns bytes.
                if isinstance(value, str) and value.startswith(("b'", 'b"')) and value[-1:] in "'\"":
                    value = value[2:-1]
                yield value
            else:
                yield from _search_strings(value)
    elif isinstance(statement, list):
        for item in statement:
            yield from _search_strings(item)


def check_web_acl(report: Report, found: Discovery, settings: Settings) -> None:
    waf = found.aws.client("wafv2", CLOUDFRONT_REGION)
    acls = found.web_acls("edge-firewall")
    if not acls:
        report.add("waf.present", "gateway", False, "no CLOUDFRONT web ACL tagged Purpose=edge-firewall in us-east-1")
        return
    for summary in acls:
        acl = waf.get_web_acl(Name=summary["Name"], Scope="CLOUDFRONT", Id=summary["Id"])["WebACL"]
        name = acl["Name"]
        rules = {r["Name"]: r for r in acl.get("Rules", [])}
        for rule_name, limit in (
            (expect.LOGIN_RATE_RULE, settings.edge.login_rate_limit),
            (expect.API_RATE_RULE, settings.edge.api_rate_limit),
        ):
            rule = rules.get(rule_name)
            rate = (rule or {}).get("Statement", {}).get("RateBasedStatement")
            check = f"waf.{rule_name}"
            if rate is None:
                report.add(check, name, False, "missing" if rule is None else "not a rate-based rule")
                continue
            got_window = rate.get("EvaluationWindowSec", 300)
            ok = rate["Limit"] <= limit.limit and got_window == limit.window_seconds and "Block" in rule.get("Action", {})
            text = f"{rate['Limit']} per {got_window}s, action {join(rule.get('Action', {}))} (want <= {limit.limit} per {limit.window_seconds}s, Block)"
            if rule_name == expect.LOGIN_RATE_RULE:
                covered = set(_search_strings(rate.get("ScopeDownStatement")))
                uncovered = [p for p in settings.edge.login_paths if p not in covered]
                ok = ok and not uncovered
                text += f"; paths not covered: {join(uncovered)}" if uncovered else "; covers all login paths"
            report.add(check, name, ok, text)
        managed = {
            r["Statement"]["ManagedRuleGroupStatement"]["Name"]
            for r in acl.get("Rules", [])
            if "ManagedRuleGroupStatement" in r.get("Statement", {})
        }
        for group in expect.MANAGED_RULE_GROUPS:
            report.add(f"waf.managed.{group}", name, group in managed, "present" if group in managed else "missing")
        try:
            logging = waf.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
        except ClientError as exc:
            if error_code(exc) != "WAFNonexistentItemException":
                raise
            logging = None
        if logging is None:
            report.add("waf.logging", name, False, "no logging configuration")
            continue
        redacted = {
            f.get("SingleHeader", {}).get("Name", "").lower() for f in logging.get("RedactedFields", [])
        }
        unredacted = [h for h in expect.WAF_REDACTED_HEADERS if h not in redacted]
        ok = bool(logging.get("LogDestinationConfigs")) and not unredacted
        report.add("waf.logging", name, ok, f"to {join(logging.get('LogDestinationConfigs', []))}" + (f"; NOT redacted: {join(unredacted)}" if unredacted else "; authorization and cookie redacted"))


def check_trail(report: Report, found: Discovery) -> None:
    ct = found.aws.client("cloudtrail")
    trails = found.trails()
    if not trails:
        report.add("cloudtrail.present", "platform", False, "no CloudTrail trail tagged with this Project/Stack")
        return
    for trail in trails:
        status = ct.get_trail_status(Name=trail["TrailARN"])
        ok = trail.get("IsMultiRegionTrail") and trail.get("LogFileValidationEnabled") and status.get("IsLogging")
        report.add("cloudtrail.logging", trail["Name"], bool(ok), f"logging={status.get('IsLogging')}, multi-region={trail.get('IsMultiRegionTrail')}, log file validation={trail.get('LogFileValidationEnabled')}")


def check_alarms(report: Report, found: Discovery, settings: Settings) -> None:
    by_service: dict[str, int] = {}
    for _alarm, tags in found.alarms():
        by_service[tags.get("Service", "")] = by_service.get(tags.get("Service", ""), 0) + 1
    for service in settings.database_services:
        count = by_service.get(service.name, 0)
        report.add("alarms.present", f"service {service.name}", count > 0, f"{count} alarms")


def check_secrets(report: Report, found: Discovery) -> None:
    key = found.kms_key(expect.KEY_PURPOSE_SECRETS)
    secrets = found.secrets()
    if key is None:
        report.add("secrets.cmk", "platform", False, "no KMS key tagged Purpose=secrets")
        return
    if not secrets:
        report.add("secrets.present", "platform", False, "no secret tagged with this Project/Stack")
    for secret in secrets:
        got = secret.get("KmsKeyId")
        ok = got in (key["Arn"], key["KeyId"]) and key.get("KeyManager") == "CUSTOMER"
        report.add("secrets.cmk", secret["Name"], ok, f"key {got or 'aws/secretsmanager (AWS-managed)'}")


def validate(found: Discovery, settings: Settings) -> Report:
    report = Report()
    check_databases(report, found, settings)
    check_cache(report, found)
    check_backup_bucket(report, found)
    check_web_acl(report, found, settings)
    check_trail(report, found)
    check_alarms(report, found, settings)
    check_secrets(report, found)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = ArgumentParser(
        prog="validate-deployment",
        description="Check the live stack against the rules the policy pack enforces before deploy.",
    )
    add_aws_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    aws = aws_from_args(args, settings)
    report = validate(Discovery(aws, settings.project, settings.stack), settings)
    report.print(as_json=args.json, extra={"stack": settings.stack, "region": aws.region})
    return report.exit_code()


if __name__ == "__main__":
    entrypoint(main)
