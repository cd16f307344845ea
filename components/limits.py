"""What the components accept: the value types they take and the AWS limits they enforce, once.

Components import these; `stacks/settings.py` maps a stack's config onto them (never the other
way round), and checks config against the same limits so a wrong value is refused with the config
key's name before any component sees it. Standard library only: the policy pack's own venv reads
stack settings through this module without pulumi-aws.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# -- AWS WAF rate-based rules ------------------------------------------------------------------
# Lowest limit 10 requests; evaluation window 60, 120, 300 or 600 s (default 300):
# https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-high-level-settings.html
# Highest limit 2,000,000,000: https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html
WAF_MIN_LIMIT = 10
WAF_MAX_LIMIT = 2_000_000_000
WAF_WINDOWS = (60, 120, 300, 600)

# -- Retention -----------------------------------------------------------------------------------
# RDS automated backups keep at most 35 days; the platform's floor is 30 (PCI DSS / SOX recovery).
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html
MIN_BACKUP_RETENTION_DAYS = 30
MAX_BACKUP_RETENTION_DAYS = 35
# Logs are kept a year at least (PCI DSS 10.5.1); CloudWatch Logs accepts only these retention
# values at or above a year: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
MIN_LOG_RETENTION_DAYS = 365
LOG_RETENTION_VALUES = (365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

# -- KMS -------------------------------------------------------------------------------------------
# Days between automatic rotations of a customer-managed key: KMS's own default when rotation is
# enabled ("If no value is specified, the default value is 365 days",
# https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html), and the pack's
# maxKeyRotationDays ceiling as shipped (tests/stacks/test_settings.py keeps them equal).
KEY_ROTATION_DAYS = 365

# -- PostgreSQL ----------------------------------------------------------------------------------
# The longest statement_timeout a database may have: the policy pack's maxStatementTimeoutMs ceiling
# as shipped (the pack cannot import this module; tests/stacks/test_settings.py keeps them equal).
MAX_STATEMENT_TIMEOUT_MS = 30_000

# -- ElastiCache (Redis OSS) ---------------------------------------------------------------------
# A shard has a primary and up to 5 read replicas; Multi-AZ failover needs at least one:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-elasticache-replicationgroup.html
MIN_CACHE_REPLICAS = 1
MAX_CACHE_REPLICAS = 5
# Automatic snapshots are kept at most 35 days (0 turns them off):
# https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/backups-automatic.html
MAX_CACHE_SNAPSHOT_DAYS = 35

# -- Names and addresses -----------------------------------------------------------------------
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# Commercial regions (partition `aws`) only: GovCloud (us-gov-*), China (cn-*) and the isolated
# partitions have other ARNs and endpoints. https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html
REGION_PATTERN = re.compile(r"^(?!cn-)[a-z]{2}-[a-z]+-\d$")
REGION_RULE = "a commercial AWS region like {example} (GovCloud, China and other partitions are not supported)"
SERVICE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
# RDS instance (and RDS Proxy) identifiers: 1-63 letters, digits or hyphens, first a letter, no
# trailing hyphen and no two in a row; stored lowercase, so the components ask for lowercase.
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBProxy.html
RDS_IDENTIFIER_MAX = 63
# ElastiCache replication group ids: the same rule, 1-40 characters.
# https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html
REPLICATION_GROUP_ID_MAX = 40
_AWS_IDENTIFIER = re.compile(r"^[a-z][a-z0-9-]*$")

# A VPC's IPv4 block is /16 to /28; AWS recommends the RFC 1918 private ranges
# (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html, https://www.rfc-editor.org/rfc/rfc1918).
# The network cuts the block into 2 * MAX_AZS subnets, so /22 is the smallest that leaves each a /25.
RFC1918_NETWORKS = tuple(ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
VPC_PREFIX_RANGE = (16, 22)
# The CIDR is cut into 2 * MAX_AZS equal blocks: app subnets first, data subnets after.
MAX_AZS = 4
MIN_AZS = 2

# -- Feature flags every service gets as SSM parameters ----------------------------------------
FEATURE_FLAGS = ("ENABLE_SECURITY_HEADERS", "ENABLE_RATE_LIMITING", "ENABLE_AUDIT_LOGGING")


def aws_identifier_problem(name: str, max_length: int) -> str | None:
    """Why AWS would refuse `name` as an RDS/ElastiCache identifier, or None if it is fine."""
    if not 1 <= len(name) <= max_length:
        return f"is {len(name)} characters; AWS allows 1 to {max_length}"
    if not _AWS_IDENTIFIER.match(name):
        return "must start with a letter and hold only lowercase letters, digits and hyphens"
    if "--" in name or name.endswith("-"):
        return "must not contain '--' nor end with a hyphen"
    return None


def private_vpc_cidr_problem(cidr: str) -> str | None:
    """Why `cidr` cannot be this platform's VPC block, or None: an RFC 1918 network, /16 to /22."""
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError as error:
        return f"not a network address ({error})"
    if not isinstance(network, ipaddress.IPv4Network) or not any(network.subnet_of(b) for b in RFC1918_NETWORKS):
        return "must be inside an RFC 1918 private range: 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
    low, high = VPC_PREFIX_RANGE
    if not low <= network.prefixlen <= high:
        return f"must be a /{low} to /{high} block"
    return None


# -- Value types the components take -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """A WAF rate-based limit: `limit` requests per `window_seconds` from one client IP."""

    limit: int
    window_seconds: int

    @property
    def per_minute(self) -> float:
        return self.limit * 60 / self.window_seconds


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """One service's PostgreSQL instance and the RDS Proxy pool in front of it."""

    instance_class: str = "db.r6g.large"
    # A major version only: RDS retires minor versions and upgrades them itself (components/postgres.py).
    engine_version: str = "16"
    allocated_storage_gb: int = 100
    max_allocated_storage_gb: int = 500
    # The database's max_connections; the proxy pool is expressed as a percentage of it.
    max_connections: int = 100
    # The seed application's pool: 20 connections kept warm, 40 at most per service.
    pool_min_connections: int = 20
    pool_max_connections: int = 40
    statement_timeout_ms: int = MAX_STATEMENT_TIMEOUT_MS
    slow_query_ms: int = 500


@dataclass(frozen=True, kw_only=True)
class RedisSettings:
    node_type: str = "cache.r7g.large"
    engine_version: str = "7.1"
    replicas_per_shard: int = 2
    snapshot_retention_days: int = 7


@dataclass(frozen=True, kw_only=True)
class DatadogSettings:
    enabled: bool = False
    # Datadog's AWS account that assumes the integration role, and the external id it presents.
    account_id: str = "464622532012"
    external_id: str | None = None
