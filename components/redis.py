"""RedisCache: the platform's one Redis (ElastiCache replication group), partitioned per service.

Services share one replication group, so RBAC does the separation a cluster per service would
otherwise give: each service gets its own user whose access string admits only keys under
`{service}:`, without the dangerous commands (FLUSHALL, CONFIG, KEYS, ...) and pub/sub; the built-in
`default` user is switched off. Each user's password is generated here and handed to the service
only through its own Secrets Manager secret `tradesense/{stack}/{service}/redis`.

Creates a security group (6379 from each service's workloads SG, nothing else), a subnet group,
the users and their user group, the per-service secrets, two KMS-encrypted log groups (slow log
and engine log, JSON) and the replication group: encrypted at rest with our key and in transit
with TLS required, a primary plus replicas across AZs with automatic failover, daily snapshots.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.limits import (
    MAX_CACHE_REPLICAS,
    MAX_CACHE_SNAPSHOT_DAYS,
    MIN_CACHE_REPLICAS,
    MIN_LOG_RETENTION_DAYS,
    REPLICATION_GROUP_ID_MAX,
    RedisSettings,
    aws_identifier_problem,
)
from components.log_groups import encrypted_log_group, require_log_retention
from components.tagging import for_service, require_tags, with_purpose

PORT = 6379
DEFAULT_USER = "default"
DISABLED_ACCESS = "off -@all"
PASSWORD_LENGTH = 40
LOG_TYPES = ("slow-log", "engine-log")
SECRET_RECOVERY_DAYS = 30
# UTC. Snapshots finish an hour before Sunday maintenance begins; ElastiCache rejects overlaps.
SNAPSHOT_WINDOW = "04:00-05:00"
MAINTENANCE_WINDOW = "sun:06:00-sun:07:00"
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_STACK = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENGINE_VERSION = re.compile(r"^(\d+)\.\d+(\.\d+)?$")


def access_string(service: str) -> str:
    """Keys under `{service}:` only; every command but the dangerous ones and pub/sub.

    Only forms ElastiCache documents for CreateUser's access string
    (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html#Access-string):
    `on`, `~<pattern>` (its own example is `on ~app::* -@all +@read`) and `+@/-@<category>`. For
    channels ElastiCache documents only `&*` (all channels, Redis OSS 6.2+), not a per-service
    `&<pattern>`; and `&*` would let one service read another's messages. So pub/sub is withheld
    (`-@pubsub`) rather than opened to all: key-prefix namespacing stays per service, and a service
    that ever needs pub/sub gets a reviewed change, not a silent cross-service channel.
    """
    return f"on ~{service}:* +@all -@dangerous -@pubsub"


@dataclass(frozen=True, kw_only=True)
class RedisCacheArgs:
    """Inputs of a RedisCache; every default is the secure choice."""

    settings: RedisSettings
    """Node type, engine version, replicas and snapshot retention from the stack settings."""
    replication_group_id: str
    """ElastiCache id, e.g. `tradesense-prod`; prefixes the user ids and member cluster ids."""
    service_names: Sequence[str]
    """Services that get a user, a key prefix and a secret."""
    vpc_id: pulumi.Input[str]
    """VPC of the cache and its security group."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets in at least two AZs (Multi-AZ failover needs two)."""
    client_security_group_ids: Mapping[str, pulumi.Input[str]]
    """Service name -> its workloads SG; the only sources admitted on 6379. Keys = service_names."""
    data_kms_key_arn: pulumi.Input[str]
    """Customer key for data at rest (nodes and snapshots)."""
    secrets_kms_key_arn: pulumi.Input[str]
    """Customer key for the per-service credential secrets."""
    logs_kms_key_arn: pulumi.Input[str]
    """Customer key for the slow-log and engine-log groups."""
    stack: str
    """Stack name, part of each secret's name."""
    tags: dict[str, str]
    """Required tags (see components.tagging)."""
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    """Retention of both log groups; at least a year, and a value CloudWatch Logs accepts."""

    def __post_init__(self) -> None:
        require_tags("RedisCacheArgs.tags", self.tags)
        group = self.replication_group_id
        problem = aws_identifier_problem(group, REPLICATION_GROUP_ID_MAX)
        if problem:
            raise ValueError(f"RedisCacheArgs.replication_group_id = {group!r}: a replication group id {problem}")
        if not self.service_names:
            raise ValueError("RedisCacheArgs.service_names: empty; at least one service must use the cache")
        for service in self.service_names:
            if not _SERVICE.match(service) or service == DEFAULT_USER:
                raise ValueError(
                    f"RedisCacheArgs.service_names: {service!r} is not allowed; service names are lowercase "
                    "letters, digits and dashes, 2-32 long, and not 'default' (the disabled built-in user)"
                )
        if len(set(self.service_names)) != len(self.service_names):
            raise ValueError(f"RedisCacheArgs.service_names = {list(self.service_names)}: names repeat")
        if set(self.client_security_group_ids) != set(self.service_names):
            raise ValueError(
                f"RedisCacheArgs.client_security_group_ids: keys {sorted(self.client_security_group_ids)} "
                f"must equal service_names {sorted(self.service_names)}"
            )
        if len(self.subnet_ids) < 2:
            raise ValueError(f"RedisCacheArgs.subnet_ids: {len(self.subnet_ids)} given; needs at least 2 (two AZs)")
        if not _STACK.match(self.stack):
            raise ValueError(f"RedisCacheArgs.stack = {self.stack!r}: must be a Pulumi stack name")
        require_log_retention("RedisCacheArgs.log_retention_days", self.log_retention_days)
        self._check_settings()

    def _check_settings(self) -> None:
        s = self.settings
        version = _ENGINE_VERSION.match(s.engine_version)
        if not version or int(version.group(1)) < 7:
            raise ValueError(
                f"RedisCacheArgs.settings.engine_version = {s.engine_version!r}: must be Redis OSS 7.x; "
                "transit_encryption_mode 'required' needs 7.0.5 or newer"
            )
        if not MIN_CACHE_REPLICAS <= s.replicas_per_shard <= MAX_CACHE_REPLICAS:
            raise ValueError(
                f"RedisCacheArgs.settings.replicas_per_shard = {s.replicas_per_shard}: "
                f"must be {MIN_CACHE_REPLICAS}..{MAX_CACHE_REPLICAS} "
                "(Multi-AZ failover needs at least one replica)"
            )
        if not 1 <= s.snapshot_retention_days <= MAX_CACHE_SNAPSHOT_DAYS:
            raise ValueError(
                f"RedisCacheArgs.settings.snapshot_retention_days = {s.snapshot_retention_days}: "
                f"must be 1..{MAX_CACHE_SNAPSHOT_DAYS} "
                "(0 would turn snapshots off)"
            )

    @property
    def num_cache_clusters(self) -> int:
        return 1 + self.settings.replicas_per_shard


class RedisCache(pulumi.ComponentResource):
    """One encrypted, Multi-AZ Redis whose services each see only their own key prefix."""

    replication_group_id: str
    arn: pulumi.Output[str]
    primary_endpoint: pulumi.Output[str]
    """Hostname for writes (TLS, port 6379)."""
    reader_endpoint: pulumi.Output[str]
    """Hostname spread over the replicas."""
    port: int
    security_group_id: pulumi.Output[str]
    member_cluster_ids: list[str]
    """`{replication_group_id}-001`, ... as ElastiCache names the nodes; known before deploy, for alarms."""
    user_secret_arns: dict[str, pulumi.Output[str]]
    """Service -> ARN of its secret (username, password, host, port, tls)."""

    def __init__(self, name: str, args: RedisCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:cache:RedisCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        group_id = args.replication_group_id

        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"{group_id}: Redis from the services' workloads only",
            vpc_id=args.vpc_id,
            tags=tags,
            opts=child,
        )
        for service in args.service_names:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-from-{service}",
                security_group_id=security_group.id,
                referenced_security_group_id=args.client_security_group_ids[service],
                ip_protocol="tcp",
                from_port=PORT,
                to_port=PORT,
                description=f"Redis from the {service} workloads",
                tags=for_service(tags, service),
                opts=child,
            )
        subnet_group = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            name=group_id,
            description=f"Private subnets of {group_id}",
            subnet_ids=list(args.subnet_ids),
            tags=tags,
            opts=child,
        )

        # Every user group must hold a user named `default`; it is switched off, and its password
        # is kept nowhere, so it can never be used.
        users = [self._user(name, args, DEFAULT_USER, DISABLED_ACCESS, tags, self._password(f"{name}-default"))]
        passwords = {}
        for service in args.service_names:
            passwords[service] = self._password(f"{name}-{service}")
            users.append(
                self._user(name, args, service, access_string(service), for_service(tags, service), passwords[service])
            )
        user_group = aws.elasticache.UserGroup(
            f"{name}-users",
            engine="redis",
            user_group_id=group_id,
            user_ids=[user.user_id for user in users],
            tags=tags,
            opts=child,
        )

        log_groups = {
            log_type: encrypted_log_group(
                f"{name}-{log_type}",
                log_group_name=f"/aws/elasticache/{group_id}/{log_type}",
                kms_key_arn=args.logs_kms_key_arn,
                retention_days=args.log_retention_days,
                tags=tags,
                parent=self,
            )
            for log_type in LOG_TYPES
        }
        replication_group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            replication_group_id=group_id,
            description=f"TradeSense shared Redis ({', '.join(args.service_names)}), one key prefix per service",
            engine="redis",
            engine_version=args.settings.engine_version,
            node_type=args.settings.node_type,
            port=PORT,
            num_cache_clusters=args.num_cache_clusters,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=args.data_kms_key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            user_group_ids=[user_group.user_group_id],
            subnet_group_name=subnet_group.name,
            security_group_ids=[security_group.id],
            snapshot_retention_limit=args.settings.snapshot_retention_days,
            snapshot_window=SNAPSHOT_WINDOW,
            maintenance_window=MAINTENANCE_WINDOW,
            auto_minor_version_upgrade=True,
            final_snapshot_identifier=f"{group_id}-final",
            log_delivery_configurations=[
                {
                    "destination": log_groups[log_type].name,
                    "destination_type": "cloudwatch-logs",
                    "log_format": "json",
                    "log_type": log_type,
                }
                for log_type in LOG_TYPES
            ],
            tags=with_purpose(tags, "cache"),
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )

        self.user_secret_arns = {}
        for service in args.service_names:
            secret = aws.secretsmanager.Secret(
                f"{name}-{service}-secret",
                name=f"tradesense/{args.stack}/{service}/redis",
                description=f"{service}'s Redis user on {group_id} (keys {service}:*)",
                kms_key_id=args.secrets_kms_key_arn,
                recovery_window_in_days=SECRET_RECOVERY_DAYS,
                tags=for_service(tags, service),
                opts=child,
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-{service}-secret-value",
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(
                    pulumi.Output.json_dumps(  # type: ignore[arg-type]  # pulumi's Input/Output typing
                        {
                            "username": service,
                            "password": passwords[service],
                            "host": replication_group.primary_endpoint_address,
                            "port": PORT,
                            "tls": True,
                        }
                    )
                ),
                opts=child,
            )
            self.user_secret_arns[service] = secret.arn

        self.replication_group_id = group_id
        self.arn = replication_group.arn
        self.primary_endpoint = replication_group.primary_endpoint_address
        self.reader_endpoint = replication_group.reader_endpoint_address
        self.port = PORT
        self.security_group_id = security_group.id
        self.member_cluster_ids = [f"{group_id}-{i:03d}" for i in range(1, args.num_cache_clusters + 1)]
        self.register_outputs(
            {
                "replicationGroupId": self.replication_group_id,
                "arn": self.arn,
                "primaryEndpoint": self.primary_endpoint,
                "readerEndpoint": self.reader_endpoint,
                "port": self.port,
                "securityGroupId": self.security_group_id,
                "memberClusterIds": self.member_cluster_ids,
                "userSecretArns": self.user_secret_arns,
            }
        )

    def _password(self, resource_name: str) -> pulumi.Output[str]:
        # Letters and digits only: nothing a redis:// URL would need to escape.
        generated = random.RandomPassword(
            f"{resource_name}-password",
            length=PASSWORD_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.secret(generated.result)

    def _user(
        self,
        name: str,
        args: RedisCacheArgs,
        user_name: str,
        access: str,
        tags: dict[str, str],
        password: pulumi.Output[str],
    ) -> aws.elasticache.User:
        return aws.elasticache.User(
            f"{name}-user-{user_name}",
            engine="redis",
            user_id=f"{args.replication_group_id}-{user_name}",
            user_name=user_name,
            access_string=access,
            authentication_mode={"type": "password", "passwords": [password]},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
