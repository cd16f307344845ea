"""Stack settings: the `tradesense:*` config of one stack, read once and validated.

The config is described by pydantic models (camelCase keys as in `Pulumi.<stack>.yaml`, unknown
keys refused) and mapped onto the frozen settings the program reads: the component value types
of `components.limits` (DatabaseSettings, RedisSettings, RateLimit, DatadogSettings) and the
stack-level dataclasses below. Validation uses the same AWS limits the components enforce, so a
value a component would refuse is refused here first, naming the config key. A wrong value raises
ConfigError with one line: the key, the value (never one that looks like a secret) and what is
allowed, so `pulumi preview`, the offline preview and the ops scripts all fail the same way before
a single resource is registered. The same parser reads `Pulumi.<stack>.yaml` directly for tools
that run without the Pulumi engine (offline preview, backup, restore, validation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

# Re-exported: code that reads settings imports these names from here, as it always has.
from components.limits import (  # noqa: F401
    EMAIL_PATTERN,
    FEATURE_FLAGS,
    LOG_RETENTION_VALUES,
    MAX_AZS,
    MAX_BACKUP_RETENTION_DAYS,
    MAX_CACHE_REPLICAS,
    MAX_CACHE_SNAPSHOT_DAYS,
    MAX_STATEMENT_TIMEOUT_MS,
    MIN_AZS,
    MIN_BACKUP_RETENTION_DAYS,
    MIN_CACHE_REPLICAS,
    MIN_LOG_RETENTION_DAYS,
    RDS_IDENTIFIER_MAX,
    REGION_PATTERN,
    REGION_RULE,
    REPLICATION_GROUP_ID_MAX,
    SERVICE_NAME_PATTERN,
    WAF_MAX_LIMIT,
    WAF_MIN_LIMIT,
    WAF_WINDOWS,
    DatabaseSettings,
    DatadogSettings,
    RateLimit,
    RedisSettings,
    aws_identifier_problem,
    private_vpc_cidr_problem,
)

NAMESPACE = "tradesense"
REPO_ROOT = Path(__file__).resolve().parent.parent

SERVICE_TIERS = ("edge", "internal")
ENVIRONMENTS = ("production", "staging", "development")
DATA_CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
COMPLIANCE_FRAMEWORKS = ("pci", "sox", "gdpr", "soc2", "cis")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$")
# Service names the components reserve: Redis's disabled built-in user, Monitoring's alarm keys.
RESERVED_SERVICE_NAMES = ("default", "cache", "waf")
# AWS tag values: up to 256 letters, digits, spaces and _ . : / = + - @ (the Owner tag).
# https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html
_TAG_VALUE = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]{1,256}$")
# A Pulumi.<stack>.yaml larger than this is not a stack's config; refuse before parsing it.
MAX_CONFIG_BYTES = 1 << 20
# Nodes a config may expand to once YAML aliases are followed: bounds an "alias bomb".
MAX_CONFIG_NODES = 100_000
# Nesting a config may have (prod's deepest is 5); deeper is refused before PyYAML recurses into it.
MAX_CONFIG_DEPTH = 32


class ConfigError(ValueError):
    """A config value the program refuses; the message is one line: key, value, what is allowed."""


# ---------------------------------------------------------------------------------------------
# What the program reads: frozen, always valid (built only by `parse_settings`).


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """One TradeSense service. Edge services face the internet and may not own a data store."""

    name: str
    tier: str = "internal"
    database: DatabaseSettings | None = None
    health_path: str = "/health"
    features: Mapping[str, bool] = field(default_factory=lambda: {flag: True for flag in FEATURE_FLAGS})

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
    # No zone id here: the program looks up the public Route 53 zone by name before creating anything
    # (components.edge.route53_zone_name: zone_name, else the hostname's parent domain), so it cannot
    # be mistyped.
    zone_name: str | None = None
    login_paths: tuple[str, ...] = ("/api/auth/login", "/api/auth/token")
    login_rate_limit: RateLimit = RateLimit(limit=10, window_seconds=120)
    api_rate_limit: RateLimit = RateLimit(limit=100, window_seconds=60)


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
    dr_region: str | None = None
    backup_retention_days: int = MIN_BACKUP_RETENTION_DAYS
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    network: NetworkSettings = NetworkSettings()
    redis: RedisSettings = RedisSettings()
    datadog: DatadogSettings = DatadogSettings()

    @property
    def database_services(self) -> list[ServiceSettings]:
        return [s for s in self.services.values() if s.has_database]


# ---------------------------------------------------------------------------------------------
# Value rules. Each raises `_refuse(what is allowed)`; the key and value are added when rendered.

_UNSET = object()


def _refuse(allowed: str, *, key: str | None = None, value: Any = _UNSET) -> PydanticCustomError:
    """A refusal of the value at the error's location (or of `key` below it, with `value`)."""
    context: dict[str, Any] = {"allowed": allowed}
    if key is not None:
        context["key"] = key
    if value is not _UNSET:
        context["value"] = value
    return PydanticCustomError("tradesense_config", "{allowed}", context)


def _whole(value: Any) -> int:
    """A whole number, or its text (the engine passes every value as text); never a bool or float."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _refuse("must be a whole number")
    if isinstance(value, str):
        if not re.fullmatch(r"-?\d{1,12}", value.strip()):
            raise _refuse("must be a whole number")
        return int(value)
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _refuse("must be true or false")


def _text(pattern: re.Pattern[str] | None = None, what: str = "") -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _refuse("must be a non-empty string")
        # fullmatch: `$` alone would also accept a trailing newline.
        if pattern is not None and not pattern.fullmatch(value):
            raise _refuse(f"must be {what}")
        return value

    return check


def _one_of(choices: tuple[str | int, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value not in choices:
            raise _refuse("must be one of " + ", ".join(map(str, choices)))
        return value

    return check


# Field metadata: the type is written in the annotation, the rule beside it, e.g.
# `Annotated[int, WholeNumber, Field(ge=1, le=5)]`, `Annotated[str | None, Text(pattern, what)] = None`.
# A field that may be left out is `T | None = None`: None is only that default (`settings()` passes the
# keys given, so the settings type's own default applies); a null written in the config still meets
# the rule, which refuses it.
WholeNumber = BeforeValidator(_whole)
Flag = PlainValidator(_flag)


def Text(pattern: str | re.Pattern[str] | None = None, what: str = "") -> PlainValidator:
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    return PlainValidator(_text(compiled, what))


def Choice(choices: tuple[str, ...]) -> PlainValidator:
    return PlainValidator(_one_of(choices))


Host = Text(_HOSTNAME, "a lowercase DNS name")


def _cidr(value: Any) -> str:
    cidr = _text()(value)
    problem = private_vpc_cidr_problem(cidr)
    if problem:
        raise _refuse(problem)
    return cidr


def _paths(value: Any) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(p, str) and re.fullmatch(r"/[A-Za-z0-9/_.~-]*", p) for p in value)
    ):
        raise _refuse("must be a non-empty list of paths starting with /")
    return tuple(value)


def _compliance(value: Any) -> tuple[str, ...]:
    items = tuple(item.strip() for item in _text()(value).split(","))
    for item in items:
        _one_of(COMPLIANCE_FRAMEWORKS)(item)
    return items


def _features(value: Any) -> dict[str, bool]:
    if not isinstance(value, Mapping):
        raise _refuse("must be an object with keys " + ", ".join(FEATURE_FLAGS))
    for flag in value:
        if flag not in FEATURE_FLAGS:
            raise _refuse(
                "unknown setting; allowed: " + ", ".join(sorted(FEATURE_FLAGS)), key=str(flag), value=value[flag]
            )
    result = {}
    for flag in FEATURE_FLAGS:
        try:
            result[flag] = _flag(value.get(flag, True))
        except PydanticCustomError:
            raise _refuse("must be true or false", key=flag, value=value[flag]) from None
    return result


# ---------------------------------------------------------------------------------------------
# The config file's shape. Fields left out keep the defaults of the settings type they map onto.


class _Config(BaseModel):
    """One config object: camelCase keys, each known; builds `settings_type` from the keys given."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True)
    settings_type: ClassVar[type]

    @classmethod
    def _keys(cls) -> list[str]:
        return sorted(f.alias or name for name, f in cls.model_fields.items())

    @classmethod
    def _not_an_object(cls) -> PydanticCustomError:
        return _refuse("must be an object with keys " + ", ".join(cls._keys()))

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        allowed = cls._keys()
        if not isinstance(data, Mapping):
            raise cls._not_an_object()
        for key in data:
            if key not in allowed:
                raise _refuse("unknown setting; allowed: " + ", ".join(allowed), key=str(key), value=data[key])
        cls._check_raw(data)
        return data

    @classmethod
    def _check_raw(cls, data: Mapping[str, Any]) -> None:
        """Rules that must see the values as written (a subclass's hook)."""

    def settings(self, **extra: Any) -> Any:
        """The `settings_type` value of the keys given (the others keep that type's defaults)."""
        given = {name: getattr(self, name) for name in self.model_fields_set}
        values = {name: value.settings() if isinstance(value, _Config) else value for name, value in given.items()}
        return self.settings_type(**values, **extra)


def Section(config: type[_Config]) -> BeforeValidator:
    """Metadata of a section that may be left out (`Annotated[NetworkConfig | None, Section(NetworkConfig)]
    = None`): written as null, it is refused like any other value that is not an object."""

    def check(value: Any) -> Any:
        if value is None:
            raise config._not_an_object()
        return value

    return BeforeValidator(check)


class RateLimitConfig(_Config):
    settings_type = RateLimit
    limit: Annotated[int, WholeNumber, Field(ge=WAF_MIN_LIMIT, le=WAF_MAX_LIMIT)]
    window_seconds: Annotated[int, WholeNumber, AfterValidator(_one_of(WAF_WINDOWS))]


class DatabaseConfig(_Config):
    settings_type = DatabaseSettings
    instance_class: Annotated[str | None, Text(r"^db\.[a-z0-9]+\.[a-z0-9]+$", "an RDS class like db.r6g.large")] = None
    engine_version: Annotated[
        str | None,
        Text(
            r"^1[4-9]$",
            "a PostgreSQL major version 14 or newer, like 16 (RDS applies and retires minor versions itself)",
        ),
    ] = None
    allocated_storage_gb: Annotated[int | None, WholeNumber, Field(ge=20, le=65536)] = None
    max_allocated_storage_gb: Annotated[int | None, WholeNumber, Field(ge=20, le=65536)] = None
    max_connections: Annotated[int | None, WholeNumber, Field(ge=10, le=5000)] = None
    pool_min_connections: Annotated[int | None, WholeNumber, Field(ge=0)] = None
    pool_max_connections: Annotated[int | None, WholeNumber, Field(ge=1)] = None
    statement_timeout_ms: Annotated[int | None, WholeNumber, Field(ge=1000, le=MAX_STATEMENT_TIMEOUT_MS)] = None
    slow_query_ms: Annotated[int | None, WholeNumber, Field(ge=1, le=60_000)] = None

    @model_validator(mode="after")
    def _pool_fits(self) -> DatabaseConfig:
        db: DatabaseSettings = self.settings()
        if db.max_allocated_storage_gb < db.allocated_storage_gb:
            raise _refuse(
                f"must be at least allocatedStorageGb ({db.allocated_storage_gb})",
                key="maxAllocatedStorageGb",
                value=db.max_allocated_storage_gb,
            )
        if db.pool_max_connections > db.max_connections:
            raise _refuse(
                f"must not exceed maxConnections ({db.max_connections})",
                key="poolMaxConnections",
                value=db.pool_max_connections,
            )
        if db.pool_min_connections > db.pool_max_connections:
            raise _refuse(
                f"must not exceed poolMaxConnections ({db.pool_max_connections})",
                key="poolMinConnections",
                value=db.pool_min_connections,
            )
        return self


def _database_switch(value: Any) -> Any:
    """`database: true` is a database with the defaults, `false` (or null) none."""
    if value is True:
        return {}
    if value is False or value is None:
        return None
    if not isinstance(value, Mapping):
        raise _refuse(f"must be true, false or an object with keys {', '.join(DatabaseConfig._keys())}")
    return value


class ServiceConfig(_Config):
    settings_type = ServiceSettings
    tier: Annotated[str | None, Choice(SERVICE_TIERS)] = None
    database: Annotated[DatabaseConfig | None, BeforeValidator(_database_switch)] = None
    health_path: Annotated[str | None, Text(r"^/[A-Za-z0-9/_.-]*$", "a path starting with /")] = None
    features: Annotated[dict[str, bool] | None, PlainValidator(_features)] = None

    @classmethod
    def _check_raw(cls, data: Mapping[str, Any]) -> None:
        if data.get("tier") == "edge" and data.get("database") not in (None, False):
            raise _refuse(
                "an edge service faces the internet and cannot own a database "
                "(PCI DSS 1.4: no data store in the public tier); set database: false",
                key="database",
                value=data["database"],
            )


class NetworkConfig(_Config):
    settings_type = NetworkSettings
    cidr: Annotated[str | None, PlainValidator(_cidr)] = None
    # The network has room for MAX_AZS zones (its CIDR is cut into 2 * MAX_AZS subnets).
    az_count: Annotated[int | None, WholeNumber, Field(ge=MIN_AZS, le=MAX_AZS)] = None


class EdgeConfig(_Config):
    settings_type = EdgeSettings
    origin_domain: Annotated[str, Host]
    public_hostname: Annotated[str, Host]
    zone_name: Annotated[str | None, Host] = None
    login_paths: Annotated[tuple[str, ...] | None, PlainValidator(_paths)] = None
    login_rate_limit: Annotated[RateLimitConfig | None, Section(RateLimitConfig)] = None
    api_rate_limit: Annotated[RateLimitConfig | None, Section(RateLimitConfig)] = None

    @model_validator(mode="after")
    def _origin_is_elsewhere(self) -> EdgeConfig:
        if self.origin_domain == self.public_hostname:
            raise _refuse(
                "must differ from publicHostname, or CloudFront would forward requests to itself",
                key="originDomain",
                value=self.origin_domain,
            )
        zone = self.zone_name
        if zone and not (self.public_hostname == zone or self.public_hostname.endswith("." + zone)):
            raise _refuse(
                f"must be publicHostname ({self.public_hostname}) or one of its parent domains",
                key="zoneName",
                value=zone,
            )
        return self


class RedisConfig(_Config):
    settings_type = RedisSettings
    node_type: Annotated[str | None, Text(r"^cache\.[a-z0-9]+\.[a-z0-9]+$", "a node type like cache.r7g.large")] = None
    engine_version: Annotated[
        str | None, Text(r"^7\.\d+$", "a Redis OSS 7.x version (required transit encryption needs 7.0.5+)")
    ] = None
    replicas_per_shard: Annotated[int | None, WholeNumber, Field(ge=MIN_CACHE_REPLICAS, le=MAX_CACHE_REPLICAS)] = None
    snapshot_retention_days: Annotated[int | None, WholeNumber, Field(ge=1, le=MAX_CACHE_SNAPSHOT_DAYS)] = None


def _account_id(value: Any) -> str:
    return _text(re.compile(r"^\d{12}$"), "a 12-digit AWS account id")(value if isinstance(value, str) else str(value))


class DatadogConfig(_Config):
    settings_type = DatadogSettings
    enabled: Annotated[bool | None, Flag] = None
    account_id: Annotated[str | None, PlainValidator(_account_id)] = None
    external_id: Annotated[str | None, Text()] = None

    @model_validator(mode="after")
    def _external_id_when_enabled(self) -> DatadogConfig:
        if self.enabled and not self.external_id:
            raise _refuse("is required when datadog.enabled is true", key="externalId", value=None)
        return self


def _service_names(value: Any) -> Any:
    if not isinstance(value, Mapping) or not value:
        raise _refuse("must be a non-empty map of service name to its settings")
    for name in value:
        if not isinstance(name, str) or not SERVICE_NAME_PATTERN.fullmatch(name):
            raise _refuse(
                "service names are lowercase letters, digits and dashes, 2-32 long", key=str(name), value=name
            )
        if name in RESERVED_SERVICE_NAMES:
            raise _refuse(
                f"is reserved ({', '.join(RESERVED_SERVICE_NAMES)} name the cache's built-in user and alarm keys)",
                key=name,
                value=name,
            )
    return {name: {} if body is None else body for name, body in value.items()}


def _one_edge(services: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
    edges = [name for name, service in services.items() if service.tier == "edge"]
    if len(edges) != 1:
        raise _refuse(f"needs exactly one service with tier: edge, found {edges}", value=sorted(services))
    return services


class StackConfig(_Config):
    """The `tradesense:` namespace of a stack's config (keys without the namespace)."""

    settings_type = Settings
    environment: Annotated[str, Choice(ENVIRONMENTS)]
    owner: Annotated[str, Text(_TAG_VALUE, "up to 256 letters, digits, spaces and _ . : / = + - @ (it is a tag value)")]
    data_classification: Annotated[str, Choice(DATA_CLASSIFICATIONS)]
    compliance: Annotated[tuple[str, ...], PlainValidator(_compliance)]
    alert_email: Annotated[str, Text(EMAIL_PATTERN, "an email address like oncall@example.com")]
    monthly_budget_usd: Annotated[int, WholeNumber, Field(ge=1)]
    dr_region: Annotated[str | None, Text(REGION_PATTERN, REGION_RULE.format(example="us-west-2"))] = None
    backup_retention_days: Annotated[
        int | None, WholeNumber, Field(ge=MIN_BACKUP_RETENTION_DAYS, le=MAX_BACKUP_RETENTION_DAYS)
    ] = None
    log_retention_days: Annotated[
        int | None, WholeNumber, Field(ge=MIN_LOG_RETENTION_DAYS), AfterValidator(_one_of(LOG_RETENTION_VALUES))
    ] = None
    network: Annotated[NetworkConfig | None, Section(NetworkConfig)] = None
    edge: EdgeConfig
    redis: Annotated[RedisConfig | None, Section(RedisConfig)] = None
    datadog: Annotated[DatadogConfig | None, Section(DatadogConfig)] = None
    services: Annotated[dict[str, ServiceConfig], BeforeValidator(_service_names), AfterValidator(_one_edge)]

    def settings(self, **extra: Any) -> Settings:
        services = {name: service.settings(name=name) for name, service in self.services.items()}
        given = {name: getattr(self, name) for name in self.model_fields_set - {"services"}}
        values = {name: value.settings() if isinstance(value, _Config) else value for name, value in given.items()}
        return Settings(**values, services=services, **extra)


# ---------------------------------------------------------------------------------------------
# One line per error: `key = value: what is allowed`.

_SECRET_KEY = re.compile(r"(password|passwd|secret|token|credential|private|apikey|api_key|externalid)", re.I)
# AWS access key ids, PEM blocks, Pulumi ciphertext, and long random-looking tokens (upper and
# lower case letters and digits, no spaces): generated secrets look like that, config values do not.
_SECRET_VALUE = re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}|-----BEGIN|^v1:[A-Za-z0-9+/=:]+$")
_TOKEN = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9+/_=.~-]{24,}$")


def _shown(key: str, value: Any) -> str:
    """The value as JSON on one line, or [secret] when the key or the value looks like a secret."""
    if isinstance(value, Mapping) and "secure" in value:
        return "[secret]"  # `pulumi config set --secret`: ciphertext is nobody's business here
    if value is not None and _SECRET_KEY.search(key.rsplit(".", 1)[-1].rsplit(":", 1)[-1]):
        return "[secret]"
    if isinstance(value, str) and (_SECRET_VALUE.search(value) or _TOKEN.fullmatch(value)):
        return "[secret]"
    text = json.dumps(value, default=str, ensure_ascii=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _key_part(part: Any) -> str:
    text = str(part)
    return text if re.fullmatch(r"[A-Za-z0-9_.:-]+", text) else json.dumps(text, ensure_ascii=True)


def _message(error: ErrorDetails) -> str:
    context = error.get("ctx") or {}
    loc = list(error["loc"])
    if "key" in context:
        loc.append(context["key"])
    key = f"{NAMESPACE}:" + ".".join(_key_part(part) for part in loc)
    value = context["value"] if "value" in context else error.get("input")
    kind = error["type"]
    if kind == "missing":
        where = " (see Pulumi.prod.yaml)" if len(loc) == 1 else ""
        return f"{key} is not set: it is required{where}"
    if kind == "tradesense_config":
        allowed = context["allowed"]
    elif kind == "greater_than_equal":
        allowed = f"must be at least {context['ge']}"
    elif kind == "less_than_equal":
        allowed = f"must be at most {context['le']}"
    else:  # a rule pydantic enforced itself; its own words, on one line
        allowed = " ".join(str(error.get("msg", kind)).split())
    return f"{key} = {_shown(key, value)}: {allowed}"


def _config_error(error: ValidationError) -> ConfigError:
    """The first problem, in the order of the keys in StackConfig: one line, as every refusal."""
    return ConfigError(_message(error.errors()[0]))


# ---------------------------------------------------------------------------------------------
# Entry points.


def parse_settings(config: Mapping[str, Any], *, project: str, stack: str) -> Settings:
    """Validate a stack's config (full keys, e.g. `tradesense:services`) into Settings.

    Values may be parsed YAML objects or the JSON strings the Pulumi engine passes for structured
    config. Keys of other namespaces are ignored except `aws:region`.
    """
    prefix = f"{NAMESPACE}:"
    values = {
        key[len(prefix) :]: _decode(value)
        for key, value in config.items()
        if isinstance(key, str) and key.startswith(prefix)
    }
    try:
        parsed = StackConfig.model_validate(values)
    except ValidationError as error:
        raise _config_error(error) from None
    region = _decode(config.get("aws:region"))
    if not isinstance(region, str) or not REGION_PATTERN.fullmatch(region):
        raise ConfigError(
            f"aws:region = {_shown('aws:region', region)}: must be " + REGION_RULE.format(example="eu-central-1")
        )
    if parsed.dr_region == region:
        raise ConfigError(f"{prefix}drRegion = {json.dumps(region)}: must differ from aws:region")
    settings = parsed.settings(project=project, stack=stack, region=region)
    _check_aws_names(settings)
    return settings


def _check_aws_names(settings: Settings) -> None:
    """The stack and service names end up in AWS identifiers; refuse those AWS would refuse."""
    prefix = f"{settings.project}-{settings.stack}"
    if prefix.startswith("aws"):
        raise ConfigError(
            f"project = {json.dumps(settings.project)}: it starts the KMS alias names (alias/{prefix}-...), "
            "and names starting with 'aws' are reserved for AWS-managed keys; rename the project in Pulumi.yaml"
        )
    problem = aws_identifier_problem(prefix, REPLICATION_GROUP_ID_MAX)
    if problem and aws_identifier_problem(f"{settings.project}-x", REPLICATION_GROUP_ID_MAX):
        raise ConfigError(
            f"project = {json.dumps(settings.project)}: it starts the ElastiCache replication group id {prefix!r}, "
            f"which {problem}; rename the project in Pulumi.yaml"
        )
    if problem:
        raise ConfigError(
            f"stack = {json.dumps(settings.stack)}: it names the ElastiCache replication group {prefix!r}, "
            f"which {problem} (use lowercase letters, digits and single hyphens)"
        )
    for service in settings.database_services:
        identifier = f"{prefix}-{service.name}"
        problem = aws_identifier_problem(identifier, RDS_IDENTIFIER_MAX)
        if problem:
            raise ConfigError(
                f"{NAMESPACE}:services.{service.name} = {json.dumps(service.name)}: it names the RDS "
                f"instance {identifier!r}, which {problem}"
            )


def _decode(value: Any) -> Any:
    """The engine passes every config value as text (objects as JSON, `30` as "30"); decode it so
    the file and the engine yield the same values and messages."""
    if isinstance(value, str) and (value[:1] in "[{" or re.fullmatch(r"-?\d+|true|false", value)):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def project_name(root: Path = REPO_ROOT) -> str:
    document = _load_yaml(root / "Pulumi.yaml")
    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        raise ConfigError(
            f"Pulumi.yaml: name = {_shown('name', name)}: must be a project name (letters, digits, _ . -)"
        )
    return name


def read_stack_config(stack: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The `config:` map of Pulumi.<stack>.yaml, as the CLI would pass it to the program."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", stack):
        raise ConfigError(f"stack {stack!r}: must be a Pulumi stack name (letters, digits, _ . -; max 100)")
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise ConfigError(f"stack {stack!r}: no {path.name} in {root}; stacks here: {', '.join(available)}")
    document = _load_yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path.name}: must be a map with a `config:` key, found {_kind(document)}")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path.name}: `config` must be a map of key to value, found {_kind(config)}")
    for key in config:
        if not isinstance(key, str):
            raise ConfigError(f"{path.name}: config key {_shown('key', key)} must be text like tradesense:owner")
    return config


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


class _StrictLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads it: a key given twice in one map is an error, not 'last wins'.

    The CLI parses stack files with gopkg.in/yaml.v3, which refuses a repeated key ("mapping key
    ... already defined at line N", decode.go) and a document with excessive aliasing; PyYAML
    silently keeps the last value (https://github.com/yaml/pyyaml/issues/165), so the offline
    tools would otherwise accept a file the CLI rejects, or read a different value than it would.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the constructor below reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        depth = getattr(self, "_depth", 0)
        if depth >= MAX_CONFIG_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]  # unannotated in types-PyYAML
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_CONFIG_DEPTH} levels", event.start_mark
            )
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def _load_yaml(path: Path) -> Any:
    """Parse a Pulumi YAML file; every way it can be unusable is one ConfigError line."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path.name}: {size} bytes; a stack file is at most {MAX_CONFIG_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path.name}: not valid YAML ({' '.join(str(problem).split())}{where})") from None
    except RecursionError:
        raise ConfigError(f"{path.name}: nested too deeply to be a stack's config") from None
    _check_size(path.name, document)
    return document


def _check_size(name: str, document: Any) -> None:
    """Refuse a document that expands (YAML aliases followed) beyond MAX_CONFIG_NODES, or refers to
    itself: an 'alias bomb' parses in microseconds and then exhausts memory in whoever walks it."""
    budget = [MAX_CONFIG_NODES]
    ancestors: set[int] = set()

    def walk(value: Any) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise ConfigError(
                f"{name}: expands to more than {MAX_CONFIG_NODES} values (YAML aliases?); "
                "a stack's config is far smaller"
            )
        if isinstance(value, (dict, list)):
            if id(value) in ancestors:
                raise ConfigError(f"{name}: a YAML alias refers to itself; config must be a tree")
            ancestors.add(id(value))
            for item in value.values() if isinstance(value, dict) else value:
                walk(item)
            ancestors.discard(id(value))

    try:
        walk(document)
    except RecursionError:
        raise ConfigError(f"{name}: nested too deeply to be a stack's config") from None


def load_stack_settings(stack: str, root: Path = REPO_ROOT) -> Settings:
    """Settings for a stack straight from its YAML file, for tools that run without the engine."""
    return parse_settings(read_stack_config(stack, root), project=project_name(root), stack=stack)


def load_pulumi_settings() -> Settings:
    """Settings inside a running Pulumi program (CLI or mocks): the engine's config map."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_settings(config, project=pulumi.get_project(), stack=pulumi.get_stack())
