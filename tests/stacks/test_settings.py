"""Config errors stop the program with one line naming key, value and what is allowed."""

import copy

import pytest

from stacks.settings import (
    FEATURE_FLAGS,
    ConfigError,
    load_stack_settings,
    parse_settings,
    read_stack_config,
)

PROD = read_stack_config("prod")


def parse(config):
    return parse_settings(config, project="tradesense", stack="prod")


def with_value(key, value):
    """The prod config with one (possibly nested, dotted after the namespace key) value replaced."""
    config = copy.deepcopy(PROD)
    top, _, rest = key.partition(".")
    if not rest:
        config[top] = value
        return config
    node = config[top]
    parts = rest.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return config


def test_prod_config_is_valid_and_complete():
    settings = load_stack_settings("prod")
    assert sorted(settings.services) == sorted(
        ["gateway", "auth", "trading", "analytics", "billing", "market-data", "ai"]
    )
    assert [s.name for s in settings.database_services] == ["auth", "trading", "analytics", "billing", "market-data"]
    assert settings.backup_retention_days == 30 and settings.log_retention_days >= 365
    assert (settings.edge.login_rate_limit.limit, settings.edge.login_rate_limit.window_seconds) == (10, 120)
    assert settings.edge.api_rate_limit.per_minute == 100
    assert settings.dr_region == "us-west-2"
    auth = settings.services["auth"].database
    assert (auth.pool_min_connections, auth.pool_max_connections, auth.statement_timeout_ms) == (20, 40, 30000)
    assert settings.services["auth"].features == {flag: True for flag in FEATURE_FLAGS}


def test_structured_values_arrive_as_json_text_from_the_engine():
    import json

    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in PROD.items()}
    assert parse(config) == parse(PROD)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        (
            "tradesense:services.auth.databse",
            True,
            "tradesense:services.auth.databse = true: unknown setting; allowed: database, features, healthPath, tier",
        ),
        ("tradesense:backupRetentionDays", 7, "tradesense:backupRetentionDays = 7: must be at least 30"),
        ("tradesense:logRetentionDays", 90, "tradesense:logRetentionDays = 90: must be at least 365"),
        ("tradesense:logRetentionDays", 500, "tradesense:logRetentionDays = 500: must be one of 365, 400"),
        ("tradesense:edge.loginRateLimit.limit", 5, "tradesense:edge.loginRateLimit.limit = 5: must be at least 10"),
        (
            "tradesense:edge.apiRateLimit.windowSeconds",
            90,
            "tradesense:edge.apiRateLimit.windowSeconds = 90: must be one of 60, 120, 300, 600",
        ),
        (
            "tradesense:alertEmail",
            "oncall-at-tradesense",
            'tradesense:alertEmail = "oncall-at-tradesense": must be an email address',
        ),
        (
            "tradesense:services.gateway.database",
            True,
            "tradesense:services.gateway.database = true: an edge service faces the internet and cannot own a database",
        ),
        (
            "tradesense:services.auth.database.poolMaxConnections",
            400,
            "tradesense:services.auth.database.poolMaxConnections = 400: must not exceed maxConnections (100)",
        ),
        (
            "tradesense:services.auth.database.statementTimeoutMs",
            60000,
            "tradesense:services.auth.database.statementTimeoutMs = 60000: must be at most 30000",
        ),
        (
            "tradesense:services.auth.tier",
            "dmz",
            'tradesense:services.auth.tier = "dmz": must be one of edge, internal',
        ),
        ("tradesense:drRegion", "us-east-1", 'tradesense:drRegion = "us-east-1": must differ from aws:region'),
        ("tradesense:network.azCount", 1, "tradesense:network.azCount = 1: must be at least 2"),
        (
            "tradesense:datadog.enabled",
            True,
            "tradesense:datadog.externalId = null: is required when datadog.enabled is true",
        ),
        (
            "tradesense:services.auth.features.ENABLE_RATE_LIMITING",
            "yes",
            'tradesense:services.auth.features.ENABLE_RATE_LIMITING = "yes": must be true or false',
        ),
        ("tradesense:bogus", 1, "tradesense:bogus = 1: unknown setting; allowed: alertEmail"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(key, value, expected):
    with pytest.raises(ConfigError) as error:
        parse(with_value(key, value))
    message = str(error.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_missing_required_key_is_named():
    config = copy.deepcopy(PROD)
    del config["tradesense:alertEmail"]
    with pytest.raises(ConfigError, match=r"^tradesense:alertEmail is not set: it is required"):
        parse(config)


def test_exactly_one_edge_service():
    config = with_value("tradesense:services.ai.tier", "edge")
    with pytest.raises(ConfigError, match=r"needs exactly one service with tier: edge"):
        parse(config)


def test_unknown_stack_lists_the_stacks_there(tmp_path):
    with pytest.raises(ConfigError, match=r"stack 'qa': no Pulumi.qa.yaml .* stacks here: prod, staging$"):
        load_stack_settings("qa")


def test_invalid_yaml_is_one_line(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: tradesense\n")
    (tmp_path / "Pulumi.bad.yaml").write_text("config: [unclosed\n")
    with pytest.raises(ConfigError, match=r"^Pulumi.bad.yaml: not valid YAML"):
        load_stack_settings("bad", root=tmp_path)


def test_the_stack_limits_and_defaults_are_the_pack_floors():
    # The program cannot import the pack (it is not on the program's path, and has its own venv) and
    # the pack cannot import components/, so where both state a value this keeps the two equal: a
    # config the settings accept, or their defaults, is never blocked by a floor as shipped.
    from components.limits import (
        KEY_ROTATION_DAYS,
        MAX_STATEMENT_TIMEOUT_MS,
        MIN_BACKUP_RETENTION_DAYS,
        MIN_LOG_RETENTION_DAYS,
        DatabaseSettings,
        RedisSettings,
    )
    from stacks.settings import EdgeSettings
    from tradesense_policies.floors import FLOORS

    floor = {key: f.default for key, f in FLOORS.items()}
    assert MAX_STATEMENT_TIMEOUT_MS == DatabaseSettings().statement_timeout_ms == floor["maxStatementTimeoutMs"]
    assert MIN_BACKUP_RETENTION_DAYS == floor["minBackupRetentionDays"]
    assert MIN_LOG_RETENTION_DAYS == floor["minLogRetentionDays"]
    assert KEY_ROTATION_DAYS <= floor["maxKeyRotationDays"]
    assert RedisSettings().snapshot_retention_days >= floor["minRedisSnapshotDays"]
    edge = EdgeSettings(origin_domain="origin.example.com", public_hostname="www.example.com")
    assert tuple(edge.login_paths) == tuple(floor["loginPaths"])
    assert edge.login_rate_limit.per_minute <= floor["loginMaxRequestsPerMinute"]
    assert edge.api_rate_limit.per_minute <= floor["apiMaxRequestsPerMinute"]
    # The config takes the pack's ceiling itself and refuses one more.
    key = "tradesense:services.auth.database.statementTimeoutMs"
    assert (
        parse(with_value(key, floor["maxStatementTimeoutMs"])).services["auth"].database.statement_timeout_ms
        == (floor["maxStatementTimeoutMs"])
    )
    with pytest.raises(ConfigError, match=f"must be at most {floor['maxStatementTimeoutMs']}$"):
        parse(with_value(key, floor["maxStatementTimeoutMs"] + 1))
