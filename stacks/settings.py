"""Stack settings: the `tradesense:*` config of one stack, read once and validated.

Everything the program needs from config is parsed here into frozen dataclasses, before a single
resource is registered. A wrong value raises ConfigError with one line naming the key, the value
and what is allowed, so `pulumi preview`, the offline preview and the ops scripts all fail the same
way and nothing is half-created. The same parser reads `Pulumi.<stack>.yaml` directly for tools that
run without the Pulumi engine (offline preview, backup, restore, validation).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import yaml

NAMESPACE = "tradesense"
REPO_ROOT = Path(__file__).resolve().parent.parent

# AWS WAF rate-based rules accept at least 10 requests per window, and only these windows.
WAF_MIN_LIMIT = 10
WAF_WINDOWS = (60, 120, 300, 600)
MIN_BACKUP_RETENTION_DAYS = 30
MIN_LOG_RETENTION_DAYS = 365
# CloudWatch Logs accepts only these retention values.
LOG_RETENTION_VALUES = (365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
SERVICE_TIERS = ("edge", "internal")
FEATURE_FLAGS = ("ENABLE_SECURITY_HEADERS", "ENABLE_RATE_LIMITING", "ENABLE_AUDIT_LOGGING")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$")


class ConfigError(ValueError):
    """A config value the program refuses; the message is one line: key, value, what is allowed."""


def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{key} = {json.dumps(value, default=str)}: {allowed}")


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
    statement_timeout_ms: int = 30_000
    slow_query_ms: int = 500


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """One TradeSense service. Edge services face the internet and may not own a data store."""

    name: str
    tier: str = "internal"
    database: Optional[DatabaseSettings] = None
    health_path: str = "/health"
    features: Mapping[str, bool] = field(
        default_factory=lambda: {flag: True for flag in FEATURE_FLAGS}
    )

    @property
    def has_database(self) -> bool:
        return self.database is not None


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    cidr: str = "10.40.0.0/16"
    az_count: int = 3


@dataclass(frozen=True, kw_only=True)
class EdgeSettings:
    """The public entry point: CloudFront in front of the gateway origin, guarded by WAF."""

    origin_domain: str
    public_hostname: str
    # No zone id here: the program looks up the public Route 53 zone of public_hostname's parent
    # domain before creating anything (stacks/program.py, public_zone_name), so it cannot be mistyped.
    login_paths: tuple[str, ...] = ("/api/auth/login", "/api/auth/token")
    login_rate_limit: RateLimit = RateLimit(limit=10, window_seconds=120)
    api_rate_limit: RateLimit = RateLimit(limit=100, window_seconds=60)


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
    external_id: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything one stack declares. Built only by `parse_settings`, so it is always valid."""

    project: str
    stack: str
    region: str
    environment: str
    owner: str
    data_classification: str
    compliance: tuple[str, ...]
    alert_email: str
    monthly_budget_usd: int
    edge: EdgeSettings
    services: Mapping[str, ServiceSettings]
    dr_region: Optional[str] = None
    backup_retention_days: int = MIN_BACKUP_RETENTION_DAYS
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    network: NetworkSettings = NetworkSettings()
    redis: RedisSettings = RedisSettings()
    datadog: DatadogSettings = DatadogSettings()

    @property
    def database_services(self) -> list[ServiceSettings]:
        return [s for s in self.services.values() if s.has_database]


# ---------------------------------------------------------------------------------------------
# Field readers: each takes the full key (for the message) and the raw value.


def _int(key: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _fail(key, value, "must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise _fail(key, value, "must be a whole number") from None
    if minimum is not None and number < minimum:
        raise _fail(key, value, f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise _fail(key, value, f"must be at most {maximum}")
    return number


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _fail(key, value, "must be true or false")


def _str(key: str, value: Any, *, pattern: re.Pattern | None = None, what: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, value, "must be a non-empty string")
    if pattern is not None and not pattern.match(value):
        raise _fail(key, value, f"must be {what}")
    return value


def _choice(key: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise _fail(key, value, f"must be one of {', '.join(map(str, choices))}")
    return value


def _mapping(key: str, value: Any, allowed: Mapping[str, Any]) -> dict:
    """A config object: must be a mapping whose keys are all known."""
    if not isinstance(value, Mapping):
        raise _fail(key, value, "must be an object with keys " + ", ".join(sorted(allowed)))
    for sub in value:
        if sub not in allowed:
            raise _fail(
                f"{key}.{sub}", value[sub], "unknown setting; allowed: " + ", ".join(sorted(allowed))
            )
    return dict(value)


def _read(key: str, raw: Mapping[str, Any], readers: Mapping[str, Callable[[str, Any], Any]]) -> dict:
    """Apply each known reader to the keys present; returns snake_case keyword arguments."""
    values = _mapping(key, raw, readers)
    return {
        _snake(name): readers[name](f"{key}.{name}", value) for name, value in values.items()
    }


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _rate_limit(key: str, value: Any) -> RateLimit:
    fields = _read(
        key,
        value,
        {
            "limit": lambda k, v: _int(k, v, minimum=WAF_MIN_LIMIT, maximum=2_000_000_000),
            "windowSeconds": lambda k, v: _choice(k, v, WAF_WINDOWS),
        },
    )
    for required in ("limit", "window_seconds"):
        if required not in fields:
            raise _fail(key, value, "needs both limit and windowSeconds")
    return RateLimit(**fields)


def _database(key: str, value: Any) -> Optional[DatabaseSettings]:
    if value is False or value is None:
        return None
    if value is True:
        return DatabaseSettings()
    fields = _read(
        key,
        value,
        {
            "instanceClass": lambda k, v: _str(
                k, v, pattern=re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$"), what="an RDS class like db.r6g.large"
            ),
            "engineVersion": lambda k, v: _str(
                k, v, pattern=re.compile(r"^1[4-9]$"),
                what="a PostgreSQL major version 14 or newer, like 16 (RDS applies and retires minor versions itself)"
            ),
            "allocatedStorageGb": lambda k, v: _int(k, v, minimum=20, maximum=65536),
            "maxAllocatedStorageGb": lambda k, v: _int(k, v, minimum=20, maximum=65536),
            "maxConnections": lambda k, v: _int(k, v, minimum=10, maximum=5000),
            "poolMinConnections": lambda k, v: _int(k, v, minimum=0),
            "poolMaxConnections": lambda k, v: _int(k, v, minimum=1),
            "statementTimeoutMs": lambda k, v: _int(k, v, minimum=1000, maximum=30_000),
            "slowQueryMs": lambda k, v: _int(k, v, minimum=1, maximum=60_000),
        },
    )
    db = DatabaseSettings(**fields)
    if db.max_allocated_storage_gb < db.allocated_storage_gb:
        raise _fail(
            f"{key}.maxAllocatedStorageGb",
            db.max_allocated_storage_gb,
            f"must be at least allocatedStorageGb ({db.allocated_storage_gb})",
        )
    if db.pool_max_connections > db.max_connections:
        raise _fail(
            f"{key}.poolMaxConnections",
            db.pool_max_connections,
            f"must not exceed maxConnections ({db.max_connections})",
        )
    if db.pool_min_connections > db.pool_max_connections:
        raise _fail(
            f"{key}.poolMinConnections",
            db.pool_min_connections,
            f"must not exceed poolMaxConnections ({db.pool_max_connections})",
        )
    return db


def _features(key: str, value: Any) -> dict[str, bool]:
    given = _mapping(key, value, dict.fromkeys(FEATURE_FLAGS))
    return {flag: _bool(f"{key}.{flag}", given.get(flag, True)) for flag in FEATURE_FLAGS}


def _service(key: str, name: str, value: Any) -> ServiceSettings:
    if not _SERVICE_NAME.match(name):
        raise _fail(key, name, "service names are lowercase letters, digits and dashes, 2-32 long")
    fields = _read(
        key,
        value or {},
        {
            "tier": lambda k, v: _choice(k, v, SERVICE_TIERS),
            "database": _database,
            "healthPath": lambda k, v: _str(
                k, v, pattern=re.compile(r"^/[A-Za-z0-9/_.-]*$"), what="a path starting with /"
            ),
            "features": _features,
        },
    )
    service = ServiceSettings(name=name, **fields)
    if service.tier == "edge" and service.has_database:
        raise _fail(
            f"{key}.database",
            value.get("database"),
            "an edge service faces the internet and cannot own a database "
            "(PCI DSS 1.4: no data store in the public tier); set database: false",
        )
    return service


def _services(key: str, value: Any) -> dict[str, ServiceSettings]:
    if not isinstance(value, Mapping) or not value:
        raise _fail(key, value, "must be a non-empty map of service name to its settings")
    services = {name: _service(f"{key}.{name}", name, body) for name, body in value.items()}
    edges = [s.name for s in services.values() if s.tier == "edge"]
    if len(edges) != 1:
        raise _fail(key, sorted(services), f"needs exactly one service with tier: edge, found {edges}")
    return services


def _network(key: str, value: Any) -> NetworkSettings:
    cidr_pattern = re.compile(r"^(10|172|192)\.\d{1,3}\.\d{1,3}\.\d{1,3}/(1[6-9]|2[0-2])$")
    return NetworkSettings(
        **_read(
            key,
            value,
            {
                "cidr": lambda k, v: _str(k, v, pattern=cidr_pattern, what="a private /16-/22 CIDR"),
                "azCount": lambda k, v: _int(k, v, minimum=2, maximum=6),
            },
        )
    )


def _edge(key: str, value: Any) -> EdgeSettings:
    def paths(k: str, v: Any) -> tuple[str, ...]:
        if not isinstance(v, list) or not v or not all(isinstance(p, str) and p.startswith("/") for p in v):
            raise _fail(k, v, "must be a non-empty list of paths starting with /")
        return tuple(v)

    host = lambda k, v: _str(k, v, pattern=_HOSTNAME, what="a lowercase DNS name")  # noqa: E731
    fields = _read(
        key,
        value,
        {
            "originDomain": host,
            "publicHostname": host,
            "loginPaths": paths,
            "loginRateLimit": _rate_limit,
            "apiRateLimit": _rate_limit,
        },
    )
    for required in ("origin_domain", "public_hostname"):
        if required not in fields:
            raise _fail(key, value, "needs originDomain and publicHostname")
    return EdgeSettings(**fields)


def _redis(key: str, value: Any) -> RedisSettings:
    return RedisSettings(
        **_read(
            key,
            value,
            {
                "nodeType": lambda k, v: _str(
                    k, v, pattern=re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$"), what="a node type like cache.r7g.large"
                ),
                "engineVersion": lambda k, v: _str(
                    k, v, pattern=re.compile(r"^7\.\d+$"), what="a Redis OSS 7.x version (required transit encryption needs 7.0.5+)"
                ),
                "replicasPerShard": lambda k, v: _int(k, v, minimum=1, maximum=5),
                "snapshotRetentionDays": lambda k, v: _int(k, v, minimum=1, maximum=35),
            },
        )
    )


def _datadog(key: str, value: Any) -> DatadogSettings:
    fields = _read(
        key,
        value,
        {
            "enabled": _bool,
            "accountId": lambda k, v: _str(k, str(v), pattern=re.compile(r"^\d{12}$"), what="a 12-digit AWS account id"),
            "externalId": lambda k, v: _str(k, v),
        },
    )
    settings = DatadogSettings(**fields)
    if settings.enabled and not settings.external_id:
        raise _fail(f"{key}.externalId", None, "is required when datadog.enabled is true")
    return settings


def _log_retention(key: str, value: Any) -> int:
    days = _int(key, value, minimum=MIN_LOG_RETENTION_DAYS)
    return _choice(key, days, LOG_RETENTION_VALUES)


# Every key this program reads in the `tradesense` namespace, with its reader and whether required.
_TOP_LEVEL: dict[str, tuple[Callable[[str, Any], Any], bool]] = {
    "environment": (lambda k, v: _choice(k, v, ("production", "staging", "development")), True),
    "owner": (lambda k, v: _str(k, v), True),
    "dataClassification": (
        lambda k, v: _choice(k, v, ("public", "internal", "confidential", "restricted")),
        True,
    ),
    "compliance": (
        lambda k, v: tuple(
            _choice(k, item.strip(), ("pci", "sox", "gdpr", "soc2", "cis"))
            for item in _str(k, v).split(",")
        ),
        True,
    ),
    "alertEmail": (lambda k, v: _str(k, v, pattern=EMAIL_PATTERN, what="an email address like oncall@example.com"), True),
    "monthlyBudgetUsd": (lambda k, v: _int(k, v, minimum=1), True),
    "drRegion": (lambda k, v: _str(k, v, pattern=REGION_PATTERN, what="an AWS region like us-west-2"), False),
    "backupRetentionDays": (lambda k, v: _int(k, v, minimum=MIN_BACKUP_RETENTION_DAYS, maximum=35), False),
    "logRetentionDays": (_log_retention, False),
    "network": (_network, False),
    "edge": (_edge, True),
    "redis": (_redis, False),
    "datadog": (_datadog, False),
    "services": (_services, True),
}


def parse_settings(config: Mapping[str, Any], *, project: str, stack: str) -> Settings:
    """Validate a stack's config (full keys, e.g. `tradesense:services`) into Settings.

    Values may be parsed YAML objects or the JSON strings the Pulumi engine passes for structured
    config. Keys of other namespaces are ignored except `aws:region`.
    """
    prefix = f"{NAMESPACE}:"
    values: dict[str, Any] = {}
    for key, value in config.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name not in _TOP_LEVEL:
            raise _fail(key, value, "unknown setting; allowed: " + ", ".join(sorted(_TOP_LEVEL)))
        values[name] = _decode(value)
    fields: dict[str, Any] = {}
    for name, (reader, required) in _TOP_LEVEL.items():
        if name in values:
            fields[_snake(name)] = reader(prefix + name, values[name])
        elif required:
            raise ConfigError(f"{prefix}{name} is not set: it is required (see Pulumi.prod.yaml)")
    region = _decode(config.get("aws:region"))
    _str("aws:region", region, pattern=REGION_PATTERN, what="an AWS region like us-east-1")
    if fields.get("dr_region") == region:
        raise _fail(prefix + "drRegion", region, "must differ from aws:region")
    return Settings(project=project, stack=stack, region=region, **fields)


def _decode(value: Any) -> Any:
    """The engine passes every config value as text (objects as JSON, `30` as "30"); decode it so
    the file and the engine yield the same values and messages."""
    if isinstance(value, str) and (value[:1] in "[{" or re.fullmatch(r"-?\d+|true|false", value)):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def project_name(root: Path = REPO_ROOT) -> str:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())["name"]


def read_stack_config(stack: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The `config:` map of Pulumi.<stack>.yaml, as the CLI would pass it to the program."""
    path = root / f"Pulumi.{stack}.yaml"
    if not re.match(r"^[A-Za-z0-9_.-]+$", stack) or not path.is_file():
        available = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise ConfigError(f"stack {stack!r}: no {path.name} in {root}; stacks here: {', '.join(available)}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML ({exc.problem})") from None
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path.name}: `config` must be a map of key to value")
    return config


def load_stack_settings(stack: str, root: Path = REPO_ROOT) -> Settings:
    """Settings for a stack straight from its YAML file, for tools that run without the engine."""
    return parse_settings(read_stack_config(stack, root), project=project_name(root), stack=stack)


def load_pulumi_settings() -> Settings:
    """Settings inside a running Pulumi program (CLI or mocks): the engine's config map."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_settings(config, project=pulumi.get_project(), stack=pulumi.get_stack())
