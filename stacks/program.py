"""The TradeSense data and security plane, composed from components for one stack's settings.

Order matters only where data flows: keys and network first, then everything that uses them. The
databases, their proxies and the cache depend on keys and network alone, never on one another, so
the engine creates them in parallel and one slow database does not hold up the rest.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.alerts import AlertTopic, AlertTopicArgs
from components.audit import AuditTrail, AuditTrailArgs
from components.backups import BackupStorage, BackupStorageArgs
from components.edge import EdgeFirewall, EdgeFirewallArgs, route53_zone_name
from components.keys import PlatformKeys, PlatformKeysArgs
from components.limits import DatabaseSettings
from components.monitoring import DatabaseWatch, Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.ops_access import OpsAccess, OpsAccessArgs
from components.origin_verification import OriginVerification, OriginVerificationArgs
from components.postgres import PostgresDatabase, PostgresDatabaseArgs
from components.redis import RedisCache, RedisCacheArgs
from components.secure_bucket import BucketReplica, SecureBucket, SecureBucketArgs
from components.service_secrets import ServiceSecrets, ServiceSecretsArgs
from components.tagging import base_tags, for_service
from stacks.settings import ConfigError, Settings, load_pulumi_settings

# The stack lives in its own region (aws:region); only what AWS requires in us-east-1 goes through
# the explicit `edge` provider:
# - a CLOUDFRONT web ACL: https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html
# - CloudFront's ACM certificate: https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html
# - the WAF's aws-waf-logs- log group, in the web ACL's region:
#   https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html
#   and the KMS key that encrypts it, in the log group's region:
#   https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
# CloudFront and Route 53 are global services with one endpoint in us-east-1, so the distribution,
# its headers policy and the records go through the same provider:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws_deny-requested-region.html
EDGE_REGION = "us-east-1"
# Commercial regions only (stacks/settings.py): every ARN and principal this program writes is in
# the `aws` partition. The provider's answer is checked, so a wrong assumption fails loudly.
PARTITION = "aws"


def main() -> None:
    """The program `pulumi up` runs (stacks/__main__.py) and the offline preview runs alike."""
    try:
        settings = load_pulumi_settings()
    except ConfigError as error:
        # RunError ends the program with just the message: a config mistake is not a crash.
        raise pulumi.RunError(str(error)) from None
    build(settings)


def build(settings: Settings) -> dict[str, Any]:
    """Declare every resource for `settings`; returns (and exports) what deployments need."""
    account_id = aws.get_caller_identity().account_id
    # Looked up first, synchronously: a zone this account does not have stops the program here,
    # before a key, a protected database or an object-locked bucket exists.
    hosted_zone_id = public_zone_id(settings.edge.public_hostname, settings.edge.zone_name)
    partition = aws.get_partition().partition
    if partition != PARTITION:
        raise pulumi.RunError(
            f"aws:region = {settings.region!r} is in partition {partition!r}: this program writes "
            f"ARNs of the {PARTITION!r} partition (commercial regions) only"
        )
    # Zone names come from the region (names and counts differ per region and per account).
    available = aws.get_availability_zones(state="available").names
    if len(available) < settings.network.az_count:
        raise pulumi.RunError(
            f"tradesense:network.azCount = {settings.network.az_count}: region {settings.region} has "
            f"{len(available)} available zones ({', '.join(available)})"
        )
    zones = available[: settings.network.az_count]
    prefix = f"{settings.project}-{settings.stack}"
    tags = base_tags(
        project=settings.project,
        stack=settings.stack,
        environment=settings.environment,
        owner=settings.owner,
        data_classification=settings.data_classification,
        compliance=settings.compliance,
    )
    dr_provider = aws.Provider("dr", region=settings.dr_region) if settings.dr_region else None
    edge_provider = aws.Provider("edge", region=EDGE_REGION)
    # Outside us-east-1 the edge needs its own logs key and alert topic there (a key and an alarm's
    # topic serve only their own region); in us-east-1 the stack's own serve.
    edge_apart = settings.region != EDGE_REGION

    keys = PlatformKeys(
        "keys",
        PlatformKeysArgs(
            account_id=account_id,
            region=settings.region,
            alias_prefix=prefix,
            dr_region=settings.dr_region,
            dr_provider=dr_provider,
            edge_region=EDGE_REGION if edge_apart else None,
            edge_provider=edge_provider if edge_apart else None,
            tags=tags,
        ),
    )
    edge_logs_key_arn = _present(keys.edge_logs_key_arn, "the edge logs key") if edge_apart else keys.logs_key_arn
    network = Network(
        "network",
        NetworkArgs(
            cidr=settings.network.cidr,
            availability_zones=zones,
            service_names=list(settings.services),
            region=settings.region,
            logs_kms_key_arn=keys.logs_key_arn,
            flow_log_retention_days=settings.log_retention_days,
            account_id=account_id,
            tags=tags,
        ),
    )
    # The documented way into the VPC for backup and restore (docs/operations.md); runs nothing.
    ops = OpsAccess(
        "ops",
        OpsAccessArgs(
            vpc_id=network.vpc_id,
            vpc_cidr=network.vpc_cidr,
            subnet_id=network.app_subnet_ids[0],
            s3_prefix_list_id=network.s3_prefix_list_id,
            ebs_kms_key_arn=keys.data_key_arn,
            tags=tags,
        ),
    )
    alerts = AlertTopic(
        "alerts",
        AlertTopicArgs(
            email=settings.alert_email,
            kms_key_arn=keys.logs_key_arn,
            account_id=account_id,
            tags=tags,
        ),
    )
    # The WAF alarm lives in us-east-1 with the WAF's metrics and notifies a topic of its own region
    # (MonitoringArgs.waf_alarm_topic_arn), encrypted with a key of that region.
    edge_alerts = (
        AlertTopic(
            "edge-alerts",
            AlertTopicArgs(
                email=settings.alert_email,
                kms_key_arn=edge_logs_key_arn,
                account_id=account_id,
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(provider=edge_provider),
        )
        if edge_apart
        else None
    )
    access_logs = _access_log_bucket("access-logs", settings, tags)
    # S3 delivers access logs only within a region, so the DR replicas log to a bucket there.
    audit_replica = None
    if dr_provider is not None:
        access_logs_dr = _access_log_bucket("access-logs-dr", settings, tags, dr_provider)
        audit_replica = BucketReplica(
            provider=dr_provider,
            kms_key_arn=_present(keys.dr_logs_key_arn, "the DR logs key"),
            access_log_bucket=access_logs_dr.bucket_name,
        )

    databases = {
        service.name: PostgresDatabase(
            f"{service.name}-db",
            PostgresDatabaseArgs(
                service=service.name,
                identifier=f"{prefix}-{service.name}",
                database=_database_of(settings, service.name),
                vpc_id=network.vpc_id,
                subnet_ids=network.data_subnet_ids,
                client_security_group_id=network.service_security_group_ids[service.name],
                operator_security_group_id=ops.security_group_id,
                endpoint_security_group_id=network.endpoint_security_group_id,
                data_kms_key_arn=keys.data_key_arn,
                secrets_kms_key_arn=keys.secrets_key_arn,
                logs_kms_key_arn=keys.logs_key_arn,
                account_id=account_id,
                region=settings.region,
                backup_retention_days=settings.backup_retention_days,
                log_retention_days=settings.log_retention_days,
                stack=settings.stack,
                tags=for_service(tags, service.name),
            ),
        )
        for service in settings.database_services
    }
    cache = RedisCache(
        "cache",
        RedisCacheArgs(
            settings=settings.redis,
            replication_group_id=prefix,
            service_names=list(settings.services),
            vpc_id=network.vpc_id,
            subnet_ids=network.data_subnet_ids,
            client_security_group_ids=network.service_security_group_ids,
            data_kms_key_arn=keys.data_key_arn,
            secrets_kms_key_arn=keys.secrets_key_arn,
            logs_kms_key_arn=keys.logs_key_arn,
            log_retention_days=settings.log_retention_days,
            stack=settings.stack,
            tags=tags,
        ),
    )
    backups = BackupStorage(
        "backups",
        BackupStorageArgs(
            database_arns={name: db.instance_arn for name, db in databases.items()},
            backups_kms_key_arn=keys.backups_key_arn,
            access_log_bucket=access_logs.bucket_name,
            retention_days=settings.backup_retention_days,
            dr_provider=dr_provider,
            dr_kms_key_arn=keys.dr_backups_key_arn,
            tags=tags,
        ),
    )
    edge_service = next(s.name for s in settings.services.values() if s.tier == "edge")
    # In the stack's region, where the gateway reads it; CloudFront gets the value as a secret.
    origin_verify = OriginVerification(
        "origin-verify",
        OriginVerificationArgs(
            stack=settings.stack,
            secrets_kms_key_arn=keys.secrets_key_arn,
            service=edge_service,
            tags=tags,
        ),
    )
    edge = EdgeFirewall(
        "edge",
        EdgeFirewallArgs(
            origin_domain=settings.edge.origin_domain,
            public_hostname=settings.edge.public_hostname,
            hosted_zone_id=hosted_zone_id,
            origin_verify_header_value=origin_verify.header_value,
            login_paths=settings.edge.login_paths,
            login_rate_limit=settings.edge.login_rate_limit,
            api_rate_limit=settings.edge.api_rate_limit,
            logs_kms_key_arn=edge_logs_key_arn,
            log_retention_days=settings.log_retention_days,
            provider=edge_provider,
            tags=for_service(tags, edge_service),
        ),
    )
    secrets = {
        name: ServiceSecrets(
            f"{name}-secrets",
            ServiceSecretsArgs(
                service=name,
                stack=settings.stack,
                secrets_kms_key_arn=keys.secrets_key_arn,
                features=service.features,
                account_id=account_id,
                region=settings.region,
                proxy_arn=databases[name].proxy_arn if name in databases else None,
                db_user=databases[name].app_user if name in databases else None,
                extra_secret_arns=[cache.user_secret_arns[name]]
                + ([origin_verify.secret_arn] if name == edge_service else []),
                tags=for_service(tags, name),
            ),
        )
        for name, service in settings.services.items()
    }
    Monitoring(
        "monitoring",
        MonitoringArgs(
            alarm_topic_arn=alerts.topic_arn,
            databases={
                name: DatabaseWatch(
                    identifier=db.identifier,
                    proxy_name=db.proxy_name,
                    max_connections=_database_of(settings, name).max_connections,
                )
                for name, db in databases.items()
            },
            cache_replication_group_id=cache.replication_group_id,
            cache_member_cluster_ids=cache.member_cluster_ids,
            web_acl_name=edge.web_acl_name,
            waf_alarm_topic_arn=edge_alerts.topic_arn if edge_alerts else None,
            service_names=list(settings.services),
            region=settings.region,
            monthly_budget_usd=settings.monthly_budget_usd,
            budget_email=settings.alert_email,
            datadog=settings.datadog,
            account_id=account_id,
            tags=tags,
        ),
    )
    audit = AuditTrail(
        "audit",
        AuditTrailArgs(
            logs_kms_key_arn=keys.logs_key_arn,
            access_log_bucket=access_logs.bucket_name,
            alarm_topic_arn=alerts.topic_arn,
            log_retention_days=settings.log_retention_days,
            account_id=account_id,
            region=settings.region,
            trail_name=f"{prefix}-audit",
            data_event_bucket_arns=[backups.bucket_arn],
            replica=audit_replica,
            tags=tags,
        ),
    )

    outputs: dict[str, Any] = {
        "vpcId": network.vpc_id,
        "alertTopicArn": alerts.topic_arn,
        "cache": {
            "primaryEndpoint": cache.primary_endpoint,
            "readerEndpoint": cache.reader_endpoint,
            "port": cache.port,
        },
        "edge": {
            "webAclArn": edge.web_acl_arn,
            "distributionDomainName": edge.distribution_domain_name,
            "publicHostname": settings.edge.public_hostname,
            # Where the gateway reads the value CloudFront sends (docs/edge.md); the value is not exported.
            "originVerifyHeader": origin_verify.header_name,
            "originVerifySecretArn": origin_verify.secret_arn,
        },
        "backups": {
            "bucket": backups.bucket_name,
            "vaultArn": backups.vault_arn,
            "drVaultArn": backups.dr_vault_arn,
        },
        "audit": {"trailArn": audit.trail_arn, "bucket": audit.bucket_name},
        "opsAccess": {
            "launchTemplateName": ops.launch_template_name,
            "securityGroupId": ops.security_group_id,
        },
        "services": {
            name: {
                "roleArn": secrets[name].role_arn,
                "securityGroupId": network.service_security_group_ids[name],
                "secretArns": secrets[name].secret_arns,
                "cacheSecretArn": cache.user_secret_arns[name],
                **(
                    {
                        "proxyEndpoint": databases[name].proxy_endpoint,
                        "databaseIdentifier": databases[name].identifier,
                        "databaseUser": databases[name].app_user,
                    }
                    if name in databases
                    else {}
                ),
            }
            for name in settings.services
        },
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs


def public_zone_id(public_hostname: str, zone_name: str | None = None) -> str:
    """The id of this account's public Route 53 zone for `public_hostname`, read from Route 53.

    Read, not configured: a hand-copied id that passes a format check (the old placeholder did)
    fails only at deploy, with NoSuchHostedZone, after everything before the edge exists.
    aws.route53.get_zone matches a public zone by exact name
    (https://www.pulumi.com/registry/packages/aws/api-docs/route53/getzone/; Route 53's
    ListHostedZonesByName, https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZonesByName.html).
    """
    zone = route53_zone_name(public_hostname, zone_name)
    try:
        return aws.route53.get_zone(name=zone, private_zone=False).zone_id
    except Exception as error:  # the invoke's own error names no config key; one line that does
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise pulumi.RunError(
            f"tradesense:edge.publicHostname = {public_hostname!r}: no public Route 53 hosted zone "
            f"{zone!r} found in this account ({reason}); create it, or delegate it here, first"
        ) from None


def _access_log_bucket(
    name: str, settings: Settings, tags: dict[str, str], provider: aws.Provider | None = None
) -> SecureBucket:
    """The target of one region's S3 server access logs (SSE-S3: log delivery cannot use SSE-KMS)."""
    return SecureBucket(
        name,
        SecureBucketArgs(
            purpose="access-logs",
            is_access_log_target=True,
            sse_s3_for_log_delivery=True,
            expire_after_days=settings.log_retention_days,
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )


def _database_of(settings: Settings, service: str) -> DatabaseSettings:
    """The database of a service that has one (settings.database_services lists only those)."""
    database = settings.services[service].database
    if database is None:
        raise ValueError(f"service {service} has no database")
    return database


def _present(value: pulumi.Output[str] | None, what: str) -> pulumi.Output[str]:
    """A key PlatformKeys creates exactly when the program asks for it (DR, an edge elsewhere)."""
    if value is None:
        raise ValueError(f"{what} was not created: PlatformKeys was built without it")
    return value
