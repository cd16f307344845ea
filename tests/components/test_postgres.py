import json

import pytest
from pulumi.runtime.sync_await import _sync_await

from components.limits import DatabaseSettings
from components.postgres import PostgresDatabase, PostgresDatabaseArgs
from scripts.engine.offline import is_secret, unwrap_secrets
from tests.components.windows import daily_and_weekly_windows_overlap

DATA_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
SECRETS_KEY = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
LOGS_KEY = "arn:aws:kms:us-east-1:123456789012:key/33333333-3333-3333-3333-333333333333"
CLIENT_SG = "sg-0client0auth0000"
INSTANCE = "aws:rds/instance:Instance"
PROXY = "aws:rds/proxy:Proxy"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def make_args(tags, **overrides):
    args = dict(
        service="market-data",
        identifier="tradesense-test-market-data",
        database=DatabaseSettings(),
        vpc_id="vpc-0test",
        subnet_ids=["subnet-a", "subnet-b"],
        client_security_group_id=CLIENT_SG,
        endpoint_security_group_id="sg-0endpoints",
        data_kms_key_arn=DATA_KEY,
        secrets_kms_key_arn=SECRETS_KEY,
        logs_kms_key_arn=LOGS_KEY,
        account_id="123456789012",
        region="us-east-1",
        stack="test",
        tags=tags,
    )
    args.update(overrides)
    return PostgresDatabaseArgs(**args)


def build(tags, name="mdata", **overrides):
    return lambda: PostgresDatabase(name, make_args(tags, **overrides))


def parameters(cap):
    params = cap.one("aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]
    return {p["name"]: (p["value"], p["applyMethod"]) for p in params}


def sg_named(cap, suffix):
    return next(r for r in cap.of_type(SG) if r.name.endswith(suffix))


def test_defaults_are_the_secure_posture(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    db = cap.one(INSTANCE)
    i = db.inputs
    assert db.protect is True
    assert i["engine"] == "postgres" and i["engineVersion"] == "16" and i["instanceClass"] == "db.r6g.large"
    assert i["storageType"] == "gp3" and i["storageEncrypted"] is True and i["kmsKeyId"] == DATA_KEY
    assert i["allocatedStorage"] == 100 and i["maxAllocatedStorage"] == 500
    assert i["multiAz"] is True and i["publiclyAccessible"] is False
    assert i["deletionProtection"] is True and i["skipFinalSnapshot"] is False
    assert i["finalSnapshotIdentifier"] == "tradesense-test-market-data-final"
    assert i["copyTagsToSnapshot"] is True and i["backupRetentionPeriod"] == 30
    assert i["iamDatabaseAuthenticationEnabled"] is True
    assert i["performanceInsightsEnabled"] is True and i["performanceInsightsKmsKeyId"] == DATA_KEY
    assert i["performanceInsightsRetentionPeriod"] == 7 and i["monitoringInterval"] == 30
    assert i["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert i["manageMasterUserPassword"] is True and i["masterUserSecretKmsKeyId"] == SECRETS_KEY
    assert "password" not in i
    assert i["username"] == "tradesense_admin" and i["dbName"] == "market_data"
    assert i["autoMinorVersionUpgrade"] is True and i["caCertIdentifier"] == "rds-ca-rsa2048-g1"
    assert i["tags"] == tags


def test_backup_and_maintenance_windows_do_not_overlap(run_pulumi, tags):
    i = run_pulumi(build(tags)).one(INSTANCE).inputs
    assert not daily_and_weekly_windows_overlap(i["backupWindow"], i["maintenanceWindow"])


def test_parameter_group_enforces_tls_timeouts_and_logging(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    group = cap.one("aws:rds/parameterGroup:ParameterGroup")
    assert group.inputs["family"] == "postgres16"
    assert parameters(cap) == {
        "rds.force_ssl": ("1", "immediate"),
        "password_encryption": ("scram-sha-256", "immediate"),
        "statement_timeout": ("30000", "immediate"),
        "log_min_duration_statement": ("500", "immediate"),
        "log_connections": ("1", "immediate"),
        "log_disconnections": ("1", "immediate"),
        "shared_preload_libraries": ("pg_stat_statements", "pending-reboot"),
        "pg_stat_statements.track": ("all", "immediate"),
        "max_connections": ("100", "pending-reboot"),
    }
    assert cap.one(INSTANCE).inputs["parameterGroupName"] == group.outputs["name"]


def test_settings_flow_into_parameters_and_instance(run_pulumi, tags):
    settings = DatabaseSettings(
        engine_version="15",
        instance_class="db.r6g.xlarge",
        max_connections=400,
        statement_timeout_ms=10_000,
        slow_query_ms=250,
        allocated_storage_gb=200,
        max_allocated_storage_gb=1000,
    )
    cap = run_pulumi(build(tags, database=settings))
    assert cap.one("aws:rds/parameterGroup:ParameterGroup").inputs["family"] == "postgres15"
    params = parameters(cap)
    assert params["max_connections"][0] == "400"
    assert params["statement_timeout"][0] == "10000" and params["log_min_duration_statement"][0] == "250"
    i = cap.one(INSTANCE).inputs
    assert (i["engineVersion"], i["instanceClass"], i["allocatedStorage"], i["maxAllocatedStorage"]) == (
        "15",
        "db.r6g.xlarge",
        200,
        1000,
    )


def test_log_groups_exist_before_the_instance_with_our_key_and_retention(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    groups = cap.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert sorted(g.inputs["name"] for g in groups) == [
        "/aws/rds/instance/tradesense-test-market-data/postgresql",
        "/aws/rds/instance/tradesense-test-market-data/upgrade",
    ]
    assert all(g.inputs["kmsKeyId"] == LOGS_KEY and g.inputs["retentionInDays"] == 365 for g in groups)
    assert {g.urn for g in groups} <= set(cap.one(INSTANCE).dependencies)


def test_enhanced_monitoring_role(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    role = next(r for r in cap.of_type("aws:iam/role:Role") if r.name.endswith("monitoring-role"))
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    attachment = cap.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    instance = cap.one(INSTANCE)
    assert instance.inputs["monitoringRoleArn"] == role.outputs["arn"]
    assert attachment.urn in instance.dependencies


def test_security_groups_chain_client_to_proxy_to_database_only(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    db_sg, proxy_sg = sg_named(cap, "-db-sg"), sg_named(cap, "-proxy-sg")
    assert all("ingress" not in sg.inputs and "egress" not in sg.inputs for sg in (db_sg, proxy_sg))
    rules = [
        (
            r.type,
            r.inputs["securityGroupId"],
            r.inputs["referencedSecurityGroupId"],
            r.inputs["ipProtocol"],
            r.inputs["fromPort"],
            r.inputs["toPort"],
        )
        for r in cap.of_type(INGRESS) + cap.of_type(EGRESS)
    ]
    assert sorted(rules) == sorted(
        [
            (INGRESS, db_sg.id, proxy_sg.id, "tcp", 5432, 5432),
            (INGRESS, proxy_sg.id, CLIENT_SG, "tcp", 5432, 5432),
            (EGRESS, proxy_sg.id, db_sg.id, "tcp", 5432, 5432),
            # The proxy reads its login secrets through the Secrets Manager interface endpoint.
            (EGRESS, proxy_sg.id, "sg-0endpoints", "tcp", 443, 443),
        ]
    )
    assert not any("cidrIpv4" in r.inputs or "cidrIpv6" in r.inputs for r in cap.of_type(INGRESS) + cap.of_type(EGRESS))
    assert cap.one(INSTANCE).inputs["vpcSecurityGroupIds"] == [db_sg.id]
    assert cap.one(PROXY).inputs["vpcSecurityGroupIds"] == [proxy_sg.id]


def app_secret(cap):
    return cap.one("aws:secretsmanager/secret:Secret")


def test_proxy_requires_tls_and_iam_for_the_master_and_the_app_login(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    secret_arn = cap.one(INSTANCE).outputs["masterUserSecrets"][0]["secretArn"]
    p = cap.one(PROXY).inputs
    assert p["engineFamily"] == "POSTGRESQL" and p["requireTls"] is True and p["debugLogging"] is False
    assert p["idleClientTimeout"] == 1800 and p["vpcSubnetIds"] == ["subnet-a", "subnet-b"]
    assert p["auths"] == [
        {
            "authScheme": "SECRETS",
            "secretArn": arn,
            "iamAuth": "REQUIRED",
            "clientPasswordAuthType": "POSTGRES_SCRAM_SHA_256",
        }
        for arn in (secret_arn, app_secret(cap).outputs["arn"])
    ]
    assert p["tags"] == tags


def test_app_login_is_generated_encrypted_and_named_for_the_service(run_pulumi, tags):
    cap = run_pulumi(build(tags, service="market-data", stack="prod"))
    secret = app_secret(cap).inputs
    assert secret["name"] == "tradesense/prod/market-data/postgres-app"
    assert secret["kmsKeyId"] == SECRETS_KEY and secret["recoveryWindowInDays"] == 30
    version = cap.one("aws:secretsmanager/secretVersion:SecretVersion").inputs["secretString"]
    assert is_secret(version)
    value = json.loads(unwrap_secrets(version))
    assert value == {
        "username": "market_data",
        "password": cap.one("random:index/randomPassword:RandomPassword").outputs["result"],
    }


def test_proxy_role_reads_only_its_login_secrets_and_decrypts_only_via_secrets_manager(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    secret_arn = cap.one(INSTANCE).outputs["masterUserSecrets"][0]["secretArn"]
    role = next(r for r in cap.of_type("aws:iam/role:Role") if r.name.endswith("proxy-role"))
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "rds.amazonaws.com"}
    assert cap.one(PROXY).inputs["roleArn"] == role.outputs["arn"]
    policy = cap.one("aws:iam/rolePolicy:RolePolicy")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("secretsmanager:GetSecretValue", [secret_arn, app_secret(cap).outputs["arn"]]),
        ("kms:Decrypt", SECRETS_KEY),
    ]
    assert statements[1]["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    assert policy.urn in cap.one(PROXY).dependencies


def test_no_iam_wildcards(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    documents = [json.loads(r.inputs["policy"]) for r in cap.of_type("aws:iam/rolePolicy:RolePolicy")]
    documents += [json.loads(r.inputs["assumeRolePolicy"]) for r in cap.of_type("aws:iam/role:Role")]
    for document in documents:
        for statement in document["Statement"]:
            assert "*" not in json.dumps(statement.get("Action")) and "*" not in json.dumps(
                statement.get("Resource", "")
            )


def test_pool_is_the_seed_apps_20_min_40_max_as_percentages(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    pool = cap.one("aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup")
    proxy = cap.one(PROXY)
    assert pool.inputs["dbProxyName"] == proxy.outputs["name"] == "tradesense-test-market-data"
    assert pool.inputs["connectionPoolConfig"] == {
        "maxConnectionsPercent": 40,
        "maxIdleConnectionsPercent": 20,
        "connectionBorrowTimeout": 120,
    }
    target = cap.one("aws:rds/proxyTarget:ProxyTarget").inputs
    assert target == {
        "dbProxyName": proxy.outputs["name"],
        "targetGroupName": pool.outputs["name"],
        "dbInstanceIdentifier": "tradesense-test-market-data",
    }


def test_pool_percentages_round_up(run_pulumi, tags):
    settings = DatabaseSettings(max_connections=300, pool_min_connections=10, pool_max_connections=50)
    cap = run_pulumi(build(tags, database=settings))
    config = cap.one("aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup").inputs["connectionPoolConfig"]
    assert (config["maxConnectionsPercent"], config["maxIdleConnectionsPercent"]) == (17, 4)


def test_options(run_pulumi, tags):
    cap = run_pulumi(
        build(
            tags,
            multi_az=False,
            publicly_accessible_insecure=True,
            backup_retention_days=35,
            log_retention_days=731,
            performance_insights_retention_days=62,
            monitoring_interval_seconds=5,
        )
    )
    i = cap.one(INSTANCE).inputs
    assert i["multiAz"] is False and i["publiclyAccessible"] is True
    assert i["backupRetentionPeriod"] == 35 and i["performanceInsightsRetentionPeriod"] == 62
    assert i["monitoringInterval"] == 5
    assert {g.inputs["retentionInDays"] for g in cap.of_type("aws:cloudwatch/logGroup:LogGroup")} == {731}


def test_outputs_resolve_to_the_resources(run_pulumi, tags):
    holder = {}

    def program():
        holder["db"] = PostgresDatabase("mdata", make_args(tags))

    cap = run_pulumi(program)
    instance, proxy = cap.one(INSTANCE), cap.one(PROXY)
    db = holder["db"]
    expected = {
        "identifier": "tradesense-test-market-data",
        "instance_arn": instance.outputs["arn"],
        "instance_resource_id": instance.outputs["resourceId"],
        "endpoint": instance.outputs["address"],
        "proxy_name": proxy.outputs["name"],
        "proxy_arn": proxy.outputs["arn"],
        "proxy_endpoint": proxy.outputs["endpoint"],
        "master_secret_arn": instance.outputs["masterUserSecrets"][0]["secretArn"],
        "security_group_id": sg_named(cap, "-db-sg").id,
        "proxy_security_group_id": sg_named(cap, "-proxy-sg").id,
        "parameter_group_name": "tradesense-test-market-data-postgres16",
    }
    for attribute, value in expected.items():
        assert _sync_await(getattr(db, attribute).future()) == value, attribute


def test_children_are_parented_and_tagged(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    component = cap.one("tradesense:database:PostgresDatabase")
    children = cap.descendants(component.urn)
    assert len(children) == 21 and all(c.parent == component.urn for c in children)
    untaggable = {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup",
        "aws:rds/proxyTarget:ProxyTarget",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "random:index/randomPassword:RandomPassword",
    }
    assert all(c.inputs["tags"] == tags for c in children if c.type not in untaggable)


def test_two_databases_do_not_wait_on_each_other(run_pulumi, tags):
    def program():
        PostgresDatabase("auth", make_args(tags, service="auth", identifier="tradesense-test-auth"))
        PostgresDatabase("billing", make_args(tags, service="billing", identifier="tradesense-test-billing"))

    cap = run_pulumi(program)
    components = cap.of_type("tradesense:database:PostgresDatabase")
    assert len(components) == 2
    for component in components:
        own = {r.urn for r in cap.descendants(component.urn)}
        for resource in cap.descendants(component.urn):
            assert set(resource.dependencies) <= own, resource.name


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"identifier": "Tradesense-auth"}, "identifier = 'Tradesense-auth'"),
        ({"stack": "prod/eu"}, "stack = 'prod/eu'"),
        ({"identifier": "1tradesense"}, "identifier"),
        ({"identifier": "tradesense--auth"}, "identifier"),
        ({"identifier": "tradesense-auth-"}, "identifier"),
        ({"identifier": "t" * 64}, "identifier"),
        ({"service": "Market_Data"}, "service = 'Market_Data'"),
        ({"subnet_ids": ["subnet-a"]}, "subnet_ids"),
        ({"region": "mars"}, "region = 'mars'"),
        ({"backup_retention_days": 7}, "backup_retention_days = 7"),
        ({"backup_retention_days": 36}, "backup_retention_days = 36"),
        ({"log_retention_days": 30}, "log_retention_days = 30"),
        ({"performance_insights_retention_days": 30}, "performance_insights_retention_days = 30"),
        ({"monitoring_interval_seconds": 0}, "monitoring_interval_seconds = 0"),
        ({"database": DatabaseSettings(engine_version="13.4")}, "engine_version = '13.4'"),
        ({"database": DatabaseSettings(engine_version="latest")}, "engine_version = 'latest'"),
        ({"database": DatabaseSettings(pool_max_connections=150)}, "pool_max_connections = 150"),
        ({"database": DatabaseSettings(pool_min_connections=0, pool_max_connections=0)}, "pool_max_connections = 0"),
        ({"database": DatabaseSettings(pool_min_connections=50)}, "pool_min_connections = 50"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, field):
    with pytest.raises(ValueError, match=field.replace("(", r"\(")):
        make_args(tags, **overrides)


def test_missing_tags_are_rejected(tags):
    del tags["Compliance"]
    with pytest.raises(ValueError, match="PostgresDatabaseArgs.tags: missing required tag\\(s\\) Compliance"):
        make_args(tags)


def test_the_longest_identifier_is_accepted(tags):
    assert make_args(tags, identifier="a" * 63).identifier == "a" * 63


def test_a_pool_without_warm_connections_maps_to_zero_idle_percent():
    from components.postgres import pool_percentages

    assert pool_percentages(DatabaseSettings(pool_min_connections=0)) == (40, 0)


def test_operators_reach_the_database_only_when_their_group_is_given(run_pulumi, tags):
    """The runbook's backup/restore path (components/ops_access.py): that group, 5432, nothing else."""

    def from_operators(cap):
        return [r.inputs for r in cap.of_type(INGRESS) if r.inputs["referencedSecurityGroupId"] == "sg-0ops"]

    assert from_operators(run_pulumi(build(tags))) == []
    cap = run_pulumi(build(tags, operator_security_group_id="sg-0ops"))
    (rule,) = from_operators(cap)
    assert (rule["securityGroupId"], rule["fromPort"], rule["toPort"]) == (sg_named(cap, "-db-sg").id, 5432, 5432)
