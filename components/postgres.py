"""PostgresDatabase: one service's PostgreSQL on RDS, reachable only through an RDS Proxy.

Creates a DB subnet group, a parameter group (TLS forced, statement timeout, slow-query and
connection logging, pg_stat_statements, SCRAM passwords), the two CloudWatch log groups RDS exports
to (created first, so our KMS key and retention apply instead of RDS's never-expiring defaults), an
enhanced-monitoring role, the instance itself (encrypted with customer keys, Multi-AZ, private,
deletion-protected, master password kept by RDS in Secrets Manager), and the proxy in front of it
with its own role, security groups, default target group and target.

Logins: the service connects to the proxy with IAM authentication as its own application user
(`app_user`, the service name with `-` as `_`), never as the master user. The proxy holds that
user's generated password in a Secrets Manager secret; the user itself is created in PostgreSQL by
the service's first migration (`CREATE ROLE <app_user> LOGIN PASSWORD '<from the secret>'`, then
its grants), run as the master user, which backups and restores use too.

Network path: client SG -> proxy SG -> database SG, each hop 5432 only; the only other paths are
the operators' (ops SG -> database SG, 5432) when `operator_security_group_id` is given, and the
proxy's own HTTPS to the Secrets Manager endpoint for its login secrets.

Pool mapping: the seed application kept `pool_min_connections` warm and at most
`pool_max_connections` open per service. RDS Proxy sizes its pool as a percentage of the database's
`max_connections`, so
    max_connections_percent      = ceil(pool_max_connections / max_connections * 100)
    max_idle_connections_percent = ceil(pool_min_connections / max_connections * 100)
With the defaults (20 min, 40 max, max_connections 100) that is 40% and 20%. Rounding up never
gives the proxy fewer connections than the application had. The Args refuse a pool that is not
1-100% of max_connections (and a minimum above the maximum); a minimum of 0 gives 0% idle, which
RDS Proxy accepts: it then closes idle connections.

Each database stands alone: nothing here depends on another service's database, so the platform's
databases are created, changed and replaced in parallel.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.iam import assume_role_policy, policy_document, role_with_policy
from components.limits import (
    MAX_BACKUP_RETENTION_DAYS,
    MIN_BACKUP_RETENTION_DAYS,
    MIN_LOG_RETENTION_DAYS,
    RDS_IDENTIFIER_MAX,
    REGION_PATTERN,
    DatabaseSettings,
    aws_identifier_problem,
)
from components.log_groups import encrypted_log_group, require_log_retention
from components.tagging import require_tags

PORT = 5432
MASTER_USERNAME = "tradesense_admin"
CA_CERT = "rds-ca-rsa2048-g1"
ENHANCED_MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
MONITORING_INTERVALS = (1, 5, 10, 15, 30, 60)
# UTC. The backup window ends an hour before maintenance starts, so a snapshot is never cut short by
# a patch reboot (AWS rejects overlapping windows anyway).
BACKUP_WINDOW = "03:00-04:00"
MAINTENANCE_WINDOW = "sun:05:00-sun:06:00"
LOG_EXPORTS = ("postgresql", "upgrade")
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
# A major version only ("16"). RDS deprecates minor versions on a published schedule and then refuses
# to create instances with them
# (https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html),
# and with auto_minor_version_upgrade RDS moves the instance to newer minors in the maintenance window
# (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_UpgradeDBInstance.PostgreSQL.html),
# so a pinned "16.4" would break `up` twice: creation once 16.4 is retired, and a downgrade diff after
# AWS upgrades. pulumi-aws accepts a version prefix when auto minor upgrades are on and reports the
# real one in engine_version_actual (pulumi_aws.rds.Instance, `engine_version`); the parameter-group
# family postgres<major> then always matches the instance.
_ENGINE_VERSION = re.compile(r"^(\d+)$")
_REGION = REGION_PATTERN


def pool_percentages(database: DatabaseSettings) -> tuple[int, int]:
    """(max_connections_percent, max_idle_connections_percent) for the proxy; see module docstring."""
    return (
        math.ceil(database.pool_max_connections * 100 / database.max_connections),
        math.ceil(database.pool_min_connections * 100 / database.max_connections),
    )


def _valid_pi_retention(days: int) -> bool:
    # Performance Insights keeps 7 days free, otherwise whole months (31 days each) up to 2 years.
    return days in (7, 731) or (days % 31 == 0 and 31 <= days <= 713)


@dataclass(frozen=True, kw_only=True)
class PostgresDatabaseArgs:
    """Inputs of a PostgresDatabase; every default is the secure choice."""

    service: str
    """The owning service (`auth`, `market-data`); the database name is this with `-` as `_`."""
    identifier: str
    """RDS instance identifier, e.g. `tradesense-prod-auth`; also names the proxy and subnet group."""
    database: DatabaseSettings
    """Size, engine version, connection limits and query timeouts from the stack settings."""
    vpc_id: pulumi.Input[str]
    """VPC of the database, the proxy and their security groups."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets in at least two AZs (Multi-AZ and the proxy both need two)."""
    client_security_group_id: pulumi.Input[str]
    """The service's workloads SG: the only source the proxy admits."""
    endpoint_security_group_id: pulumi.Input[str]
    """The VPC interface endpoints' SG (Network.endpoint_security_group_id): the proxy fetches its
    login secrets from Secrets Manager through that endpoint, on HTTPS."""
    data_kms_key_arn: pulumi.Input[str]
    """Customer key for storage and Performance Insights."""
    secrets_kms_key_arn: pulumi.Input[str]
    """Customer key for the RDS-managed master password secret."""
    logs_kms_key_arn: pulumi.Input[str]
    """Customer key for the exported PostgreSQL and upgrade logs."""
    account_id: pulumi.Input[str]
    """This account; IAM trust policies admit AWS services only on its behalf (confused deputy)."""
    region: str
    """This region; the proxy may decrypt the secret only via Secrets Manager here."""
    stack: str
    """Stack name, in the application login secret's name: tradesense/<stack>/<service>/postgres-app."""
    tags: dict[str, str]
    """Required tags (see components.tagging)."""
    backup_retention_days: int = MIN_BACKUP_RETENTION_DAYS
    """Automated backups kept this many days (30..35: policy minimum to AWS maximum)."""
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    """Retention of the exported logs; at least a year, and a value CloudWatch Logs accepts."""
    multi_az: bool = True
    """Standby in a second AZ. Turning it off is an availability, not a security, choice."""
    performance_insights_retention_days: int = 7
    """7 (free), a multiple of 31 up to 713, or 731."""
    monitoring_interval_seconds: int = 30
    """Enhanced-monitoring granularity; one of 1, 5, 10, 15, 30, 60."""
    operator_security_group_id: pulumi.Input[str] | None = None
    """Security group of the short-lived ops instances (components/ops_access.py) that backup and
    restore connect from, directly to the instance as its master user; None: no operator path."""
    publicly_accessible_insecure: bool = False
    """INSECURE opt-in: give the instance a public address. Flagged by policy
    `rds-not-publicly-accessible`; the security groups still admit only the proxy."""

    def __post_init__(self) -> None:
        require_tags("PostgresDatabaseArgs.tags", self.tags)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.stack):
            raise ValueError(
                f"PostgresDatabaseArgs.stack = {self.stack!r}: must be a Pulumi stack name (letters, digits, _ . -)"
            )
        if not _SERVICE.match(self.service):
            raise ValueError(
                f"PostgresDatabaseArgs.service = {self.service!r}: must be lowercase letters, digits "
                "and dashes, starting with a letter, 2-32 long"
            )
        problem = aws_identifier_problem(self.identifier, RDS_IDENTIFIER_MAX)
        if problem:
            raise ValueError(f"PostgresDatabaseArgs.identifier = {self.identifier!r}: an RDS identifier {problem}")
        version = _ENGINE_VERSION.match(self.database.engine_version)
        if not version or int(version.group(1)) < 14:
            raise ValueError(
                f"PostgresDatabaseArgs.database.engine_version = {self.database.engine_version!r}: "
                "must be a PostgreSQL major version 14 or newer, like 16 (a minor version is retired by RDS "
                "on a schedule and upgraded by it in the maintenance window)"
            )
        if len(self.subnet_ids) < 2:
            raise ValueError(
                f"PostgresDatabaseArgs.subnet_ids: {len(self.subnet_ids)} given; needs at least 2 (two AZs)"
            )
        if not _REGION.match(self.region):
            raise ValueError(f"PostgresDatabaseArgs.region = {self.region!r}: must be an AWS region like us-east-1")
        if not MIN_BACKUP_RETENTION_DAYS <= self.backup_retention_days <= MAX_BACKUP_RETENTION_DAYS:
            raise ValueError(
                f"PostgresDatabaseArgs.backup_retention_days = {self.backup_retention_days}: "
                f"must be {MIN_BACKUP_RETENTION_DAYS}..{MAX_BACKUP_RETENTION_DAYS}"
            )
        require_log_retention("PostgresDatabaseArgs.log_retention_days", self.log_retention_days)
        if not _valid_pi_retention(self.performance_insights_retention_days):
            raise ValueError(
                "PostgresDatabaseArgs.performance_insights_retention_days = "
                f"{self.performance_insights_retention_days}: must be 7, 731 or a multiple of 31 up to 713"
            )
        if self.monitoring_interval_seconds not in MONITORING_INTERVALS:
            raise ValueError(
                f"PostgresDatabaseArgs.monitoring_interval_seconds = {self.monitoring_interval_seconds}: "
                "must be one of " + ", ".join(map(str, MONITORING_INTERVALS))
            )
        self._check_pool()

    def _check_pool(self) -> None:
        db = self.database
        if db.pool_min_connections > db.pool_max_connections:
            raise ValueError(
                f"PostgresDatabaseArgs.database.pool_min_connections = {db.pool_min_connections}: "
                f"must not exceed pool_max_connections ({db.pool_max_connections})"
            )
        max_percent, _ = pool_percentages(db)
        if not 1 <= max_percent <= 100:
            raise ValueError(
                f"PostgresDatabaseArgs.database.pool_max_connections = {db.pool_max_connections}: is "
                f"{max_percent}% of max_connections ({db.max_connections}); the proxy pool must be 1-100%"
            )

    @property
    def major_version(self) -> int:
        return int(self.database.engine_version)


class PostgresDatabase(pulumi.ComponentResource):
    """A private, encrypted, Multi-AZ PostgreSQL instance that clients reach only via its proxy."""

    identifier: pulumi.Output[str]
    instance_arn: pulumi.Output[str]
    instance_resource_id: pulumi.Output[str]
    """`db-...` id; IAM database-auth and Performance Insights ARNs use it."""
    endpoint: pulumi.Output[str]
    """The instance's hostname (no port), for operators; applications use `proxy_endpoint`."""
    proxy_name: pulumi.Output[str]
    proxy_arn: pulumi.Output[str]
    proxy_endpoint: pulumi.Output[str]
    """The proxy's hostname (port 5432, TLS required); the only address applications get."""
    master_secret_arn: pulumi.Output[str]
    app_user: str
    """The PostgreSQL user the service logs in as through the proxy (IAM auth)."""
    app_secret_arn: pulumi.Output[str]
    """The RDS-managed secret holding the master credentials."""
    security_group_id: pulumi.Output[str]
    proxy_security_group_id: pulumi.Output[str]
    parameter_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: PostgresDatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:database:PostgresDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        db = args.database

        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=args.identifier,
            description=f"Private subnets of {args.identifier}",
            subnet_ids=list(args.subnet_ids),
            tags=tags,
            opts=child,
        )
        family = f"postgres{args.major_version}"
        parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            # The family in the name lets a major upgrade create the new group beside the old one.
            name=f"{args.identifier}-{family}",
            family=family,
            description=f"{args.identifier}: TLS only, timeouts, query and connection logging",
            parameters=_parameters(db),  # type: ignore[arg-type]  # pulumi's Input/Output typing
            tags=tags,
            opts=child,
        )
        log_groups = [
            encrypted_log_group(
                f"{name}-log-{export}",
                log_group_name=f"/aws/rds/instance/{args.identifier}/{export}",
                kms_key_arn=args.logs_kms_key_arn,
                retention_days=args.log_retention_days,
                tags=tags,
                parent=self,
            )
            for export in LOG_EXPORTS
        ]

        def trust(service_principal: str) -> pulumi.Output[str]:
            return assume_role_policy(
                {"Service": service_principal}, {"StringEquals": {"aws:SourceAccount": args.account_id}}
            )

        monitoring_role = aws.iam.Role(
            f"{name}-monitoring-role",
            description=f"Enhanced monitoring of {args.identifier}",
            assume_role_policy=trust("monitoring.rds.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        monitoring_attachment = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring-policy",
            role=monitoring_role.name,
            policy_arn=ENHANCED_MONITORING_POLICY,
            opts=child,
        )

        def security_group(suffix: str, description: str) -> aws.ec2.SecurityGroup:
            return aws.ec2.SecurityGroup(
                f"{name}-{suffix}", description=description, vpc_id=args.vpc_id, tags=tags, opts=child
            )

        db_sg = security_group("db-sg", f"{args.identifier}: PostgreSQL from its RDS Proxy only")
        proxy_sg = security_group(
            "proxy-sg", f"{args.identifier} proxy: PostgreSQL from the {args.service} workloads only"
        )
        # The only three paths: workloads -> proxy -> database, each on 5432 and named by SG.
        for rule, suffix, group, peer, description in (
            (aws.vpc.SecurityGroupIngressRule, "db-from-proxy", db_sg, proxy_sg.id, "PostgreSQL from the RDS Proxy"),
            (
                aws.vpc.SecurityGroupIngressRule,
                "proxy-from-clients",
                proxy_sg,
                args.client_security_group_id,
                f"PostgreSQL from the {args.service} workloads",
            ),
            (aws.vpc.SecurityGroupEgressRule, "proxy-to-db", proxy_sg, db_sg.id, "PostgreSQL to the database"),
        ):
            rule(
                f"{name}-{suffix}",
                security_group_id=group.id,
                referenced_security_group_id=peer,
                ip_protocol="tcp",
                from_port=PORT,
                to_port=PORT,
                description=description,
                tags=tags,
                opts=child,
            )
        # The proxy runs as ENIs in these subnets under proxy_sg
        # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-network-prereqs.html), and
        # a group's egress rules govern everything its ENIs send
        # (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html). AWS's pages do
        # not say whether the proxy's GetSecretValue calls leave through those ENIs; field reports of
        # targets stuck in PENDING_PROXY_CAPACITY / UNAVAILABLE trace to exactly this missing 443
        # egress. Not provable fine from the documentation, so allowed, narrowly: HTTPS to the
        # endpoints' group only (with no NAT, the Secrets Manager endpoint is the only way there).
        # Decryption with the secrets key happens inside Secrets Manager (kms:ViaService): no KMS path.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-proxy-to-secretsmanager",
            security_group_id=proxy_sg.id,
            referenced_security_group_id=args.endpoint_security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to the Secrets Manager endpoint (the proxy's login secrets)",
            tags=tags,
            opts=child,
        )

        if args.operator_security_group_id is not None:
            # The documented backup/restore path (docs/operations.md): pg_dump and pg_restore from an
            # ops instance in the VPC, reached over SSM; only that group, only 5432.
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-db-from-operators",
                security_group_id=db_sg.id,
                referenced_security_group_id=args.operator_security_group_id,
                ip_protocol="tcp",
                from_port=PORT,
                to_port=PORT,
                description="PostgreSQL from the short-lived ops instances (backup and restore)",
                tags=tags,
                opts=child,
            )

        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=args.identifier,
            engine="postgres",
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            allocated_storage=db.allocated_storage_gb,
            max_allocated_storage=db.max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.data_kms_key_arn,
            multi_az=args.multi_az,
            publicly_accessible=args.publicly_accessible_insecure,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[db_sg.id],
            parameter_group_name=parameter_group.name,
            port=PORT,
            backup_retention_period=args.backup_retention_days,
            backup_window=BACKUP_WINDOW,
            maintenance_window=MAINTENANCE_WINDOW,
            deletion_protection=True,
            skip_final_snapshot=False,
            # The provider's default (true) deletes every automated backup with the instance.
            delete_automated_backups=False,
            final_snapshot_identifier=f"{args.identifier}-final",
            copy_tags_to_snapshot=True,
            iam_database_authentication_enabled=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.data_kms_key_arn,
            performance_insights_retention_period=args.performance_insights_retention_days,
            monitoring_interval=args.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role.arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.secrets_kms_key_arn,
            username=MASTER_USERNAME,
            db_name=args.service.replace("-", "_"),
            # Required for the major-only engine_version above (pulumi-aws accepts a prefix only then).
            auto_minor_version_upgrade=True,
            ca_cert_identifier=CA_CERT,
            tags=tags,
            # Log groups first: otherwise RDS creates them unencrypted and never-expiring.
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[*log_groups, monitoring_attachment]),
        )
        master_secret_arn = instance.master_user_secrets[0].secret_arn
        app_user = args.service.replace("-", "_")
        app_password = random.RandomPassword(
            f"{name}-app-password",
            length=40,
            special=False,  # the proxy passes it on to PostgreSQL; no quoting surprises
            opts=child,
        )
        app_secret = aws.secretsmanager.Secret(
            f"{name}-app-secret",
            name=f"tradesense/{args.stack}/{args.service}/postgres-app",
            description=f"PostgreSQL login of {args.service} behind its RDS Proxy (IAM auth required)",
            kms_key_id=args.secrets_kms_key_arn,
            recovery_window_in_days=30,
            tags=tags,
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-app-secret-value",
            secret_id=app_secret.id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.json_dumps({"username": app_user, "password": app_password.result})  # type: ignore[arg-type]  # pulumi's Input/Output typing
            ),
            opts=child,
        )

        proxy_role, proxy_role_policy = role_with_policy(
            f"{name}-proxy-role",
            f"{name}-proxy-secret-access",
            description=f"RDS Proxy of {args.identifier}: reads its two login secrets only",
            trust_policy=trust("rds.amazonaws.com"),
            policy=policy_document(
                [
                    {
                        "Sid": "ReadLoginSecrets",
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": [master_secret_arn, app_secret.arn],
                    },
                    {
                        "Sid": "DecryptMasterSecretViaSecretsManager",
                        "Effect": "Allow",
                        "Action": "kms:Decrypt",
                        "Resource": args.secrets_kms_key_arn,
                        "Condition": {
                            "StringEquals": {"kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com"}
                        },
                    },
                ]
            ),
            tags=tags,
            parent=self,
        )
        proxy = aws.rds.Proxy(
            f"{name}-proxy",
            name=args.identifier,
            engine_family="POSTGRESQL",
            require_tls=True,
            debug_logging=False,
            idle_client_timeout=1800,
            role_arn=proxy_role.arn,
            vpc_subnet_ids=list(args.subnet_ids),
            vpc_security_group_ids=[proxy_sg.id],
            auths=[
                {
                    "auth_scheme": "SECRETS",
                    "secret_arn": secret_arn,
                    "iam_auth": "REQUIRED",
                    "client_password_auth_type": "POSTGRES_SCRAM_SHA_256",
                }
                for secret_arn in (master_secret_arn, app_secret.arn)
            ],
            tags=tags,
            # Without its policy the proxy starts but cannot log in to the database.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[proxy_role_policy]),
        )
        max_percent, idle_percent = pool_percentages(db)
        target_group = aws.rds.ProxyDefaultTargetGroup(
            f"{name}-proxy-pool",
            db_proxy_name=proxy.name,
            connection_pool_config={
                "max_connections_percent": max_percent,
                "max_idle_connections_percent": idle_percent,
                "connection_borrow_timeout": 120,
            },
            opts=child,
        )
        aws.rds.ProxyTarget(
            f"{name}-proxy-target",
            db_proxy_name=proxy.name,
            target_group_name=target_group.name,
            db_instance_identifier=instance.identifier,
            opts=child,
        )

        self.identifier = instance.identifier
        self.instance_arn = instance.arn
        self.instance_resource_id = instance.resource_id
        self.endpoint = instance.address
        self.proxy_name = proxy.name
        self.proxy_arn = proxy.arn
        self.proxy_endpoint = proxy.endpoint
        self.master_secret_arn = master_secret_arn
        self.app_user = app_user
        self.app_secret_arn = app_secret.arn
        self.security_group_id = db_sg.id
        self.proxy_security_group_id = proxy_sg.id
        self.parameter_group_name = parameter_group.name
        self.register_outputs(
            {
                "identifier": self.identifier,
                "instanceArn": self.instance_arn,
                "instanceResourceId": self.instance_resource_id,
                "endpoint": self.endpoint,
                "proxyName": self.proxy_name,
                "proxyArn": self.proxy_arn,
                "proxyEndpoint": self.proxy_endpoint,
                "masterSecretArn": self.master_secret_arn,
                "appUser": self.app_user,
                "appSecretArn": self.app_secret_arn,
                "securityGroupId": self.security_group_id,
                "proxySecurityGroupId": self.proxy_security_group_id,
                "parameterGroupName": self.parameter_group_name,
            }
        )


def _parameters(db: DatabaseSettings) -> list[dict[str, str]]:
    def param(name: str, value: object, reboot: bool = False) -> dict[str, str]:
        return {"name": name, "value": str(value), "apply_method": "pending-reboot" if reboot else "immediate"}

    return [
        param("rds.force_ssl", 1),
        param("password_encryption", "scram-sha-256"),
        param("statement_timeout", db.statement_timeout_ms),
        param("log_min_duration_statement", db.slow_query_ms),
        param("log_connections", 1),
        param("log_disconnections", 1),
        param("shared_preload_libraries", "pg_stat_statements", reboot=True),
        param("pg_stat_statements.track", "all"),
        param("max_connections", db.max_connections, reboot=True),
    ]
