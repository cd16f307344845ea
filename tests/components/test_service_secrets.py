import json

import pulumi
import pytest

from components.limits import FEATURE_FLAGS
from components.service_secrets import ServiceSecrets, ServiceSecretsArgs
from scripts.engine.offline import is_secret, unwrap_secrets

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ACCOUNT = "123456789012"
PROXY = "arn:aws:rds:us-east-1:123456789012:db-proxy:prx-0123456789abcdef0"
REDIS_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tradesense/test/market-data/REDIS-AbCdEf"
SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PARAMETER = "aws:ssm/parameter:Parameter"


def build_args(tags, **overrides):
    args = dict(
        service="market-data",
        stack="test",
        secrets_kms_key_arn=KEY,
        features={flag: True for flag in FEATURE_FLAGS},
        account_id=ACCOUNT,
        region="us-east-1",
        tags=tags,
    )
    args.update(overrides)
    return ServiceSecretsArgs(**args)


def build(tags, **overrides):
    return lambda: ServiceSecrets("market-data-secrets", build_args(tags, **overrides))


def policy(cap):
    return json.loads(cap.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])


def statement(cap, sid):
    [found] = [s for s in policy(cap)["Statement"] if s.get("Sid") == sid]
    return found


def flag_values(cap):
    # Flags travel as insecure_value: in clear, so reviewers see a flip in the preview.
    return {p.inputs["name"]: p.inputs["insecureValue"] for p in cap.of_type(PARAMETER)}


def secrets_by_key(cap):
    return {r.inputs["name"].rsplit("/", 1)[-1]: r for r in cap.of_type(SECRET)}


def test_defaults_are_the_secure_posture(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    secrets = secrets_by_key(cap)
    assert set(secrets) == {"JWT_SECRET_KEY", "MASTER_ENCRYPTION_KEY"}
    for key, secret in secrets.items():
        assert secret.inputs["name"] == f"tradesense/test/market-data/{key}"
        assert secret.inputs["kmsKeyId"] == KEY
        assert secret.inputs["recoveryWindowInDays"] == 30
        assert secret.inputs["description"]
        assert secret.inputs["tags"]["Service"] == "market-data"
    assert flag_values(cap) == {f"/tradesense/test/market-data/{flag}": "true" for flag in FEATURE_FLAGS}
    assert all(p.inputs["type"] == "String" for p in cap.of_type(PARAMETER))
    trust = json.loads(cap.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]
    assert [s["Sid"] for s in policy(cap)["Statement"]] == [
        "ReadOwnSecrets",
        "DecryptOwnSecretsThroughSecretsManager",
        "ReadOwnFeatureFlags",
    ]
    assert len(cap.of_type("aws:iam/rolePolicy:RolePolicy")) == 1
    assert cap.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


def test_every_taggable_resource_carries_the_required_tags(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    for resource in [*cap.of_type(SECRET), *cap.of_type(PARAMETER), cap.one("aws:iam/role:Role")]:
        assert resource.inputs["tags"] == {**tags, "Service": "market-data"}, resource.name


def test_secrets_are_generated_and_arrive_secret_wrapped(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    jwt = cap.one("random:index/randomPassword:RandomPassword")
    master = cap.one("random:index/randomBytes:RandomBytes")
    assert jwt.inputs["length"] == 64
    assert master.inputs["length"] == 32
    secrets = secrets_by_key(cap)
    versions = {v.inputs["secretId"]: v.inputs["secretString"] for v in cap.of_type(VERSION)}
    assert len(versions) == 2
    for value in versions.values():
        assert is_secret(value)
    assert unwrap_secrets(versions[secrets["JWT_SECRET_KEY"].outputs["id"]]) == jwt.outputs["result"]
    assert unwrap_secrets(versions[secrets["MASTER_ENCRYPTION_KEY"].outputs["id"]]) == master.outputs["base64"]


def test_role_reads_only_its_own_secrets(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    own = sorted(s.outputs["arn"] for s in cap.of_type(SECRET))
    read = statement(cap, "ReadOwnSecrets")
    assert sorted(read["Resource"]) == own
    assert read["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    decrypt = statement(cap, "DecryptOwnSecretsThroughSecretsManager")
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == KEY
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.us-east-1.amazonaws.com"
    assert sorted(decrypt["Condition"]["StringEquals"]["kms:EncryptionContext:SecretARN"]) == own
    flags = statement(cap, "ReadOwnFeatureFlags")
    assert flags["Action"] == ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    path = "arn:aws:ssm:us-east-1:123456789012:parameter/tradesense/test/market-data"
    assert flags["Resource"] == [path, path + "/*"]


def test_no_wildcard_actions_or_foreign_resources(run_pulumi, tags):
    cap = run_pulumi(build(tags, proxy_arn=PROXY, extra_secret_arns=[REDIS_SECRET]))
    for s in policy(cap)["Statement"]:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert all("*" not in action for action in actions), s
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        assert all(r != "*" and ("market-data" in r or r == KEY or "prx-" in r) for r in resources), s


def test_extra_secrets_are_readable_too(run_pulumi, tags):
    cap = run_pulumi(build(tags, extra_secret_arns=[REDIS_SECRET]))
    assert REDIS_SECRET in statement(cap, "ReadOwnSecrets")["Resource"]
    assert (
        REDIS_SECRET
        in statement(cap, "DecryptOwnSecretsThroughSecretsManager")["Condition"]["StringEquals"][
            "kms:EncryptionContext:SecretARN"
        ]
    )


def test_proxy_grants_connect_as_its_own_db_user_only(run_pulumi, tags):
    cap = run_pulumi(build(tags, proxy_arn=PROXY))
    connect = statement(cap, "ConnectThroughOwnProxy")
    assert connect["Action"] == "rds-db:connect"
    assert connect["Resource"] == "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/market_data"


def test_proxy_output_and_explicit_db_user(run_pulumi, tags):
    def program():
        from pulumi_aws import rds

        proxy = rds.Proxy(
            "proxy",
            engine_family="POSTGRESQL",
            role_arn="arn:aws:iam::123456789012:role/p",
            vpc_subnet_ids=["subnet-1"],
            auths=[{"auth_scheme": "SECRETS", "iam_auth": "REQUIRED", "secret_arn": REDIS_SECRET}],
        )
        ServiceSecrets("s", build_args(tags, proxy_arn=proxy.arn, db_user="md_app"))

    cap = run_pulumi(program)
    proxy_id = cap.one("aws:rds/proxy:Proxy").outputs["arn"].split(":")[-1]
    assert proxy_id.startswith("prx-")
    assert statement(cap, "ConnectThroughOwnProxy")["Resource"] == (
        f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{proxy_id}/md_app"
    )


def test_no_proxy_no_connect_grant(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    assert all("rds-db:connect" not in json.dumps(s) for s in policy(cap)["Statement"])


def test_options_flags_principal_recovery(run_pulumi, tags):
    features = {flag: flag != "ENABLE_AUDIT_LOGGING" for flag in FEATURE_FLAGS}
    cap = run_pulumi(
        build(
            tags,
            features=features,
            workload_principal="lambda.amazonaws.com",
            secret_recovery_days=7,
            stack="prod",
            region="eu-west-1",
        )
    )
    values = flag_values(cap)
    assert values["/tradesense/prod/market-data/ENABLE_AUDIT_LOGGING"] == "false"
    assert values["/tradesense/prod/market-data/ENABLE_RATE_LIMITING"] == "true"
    trust = json.loads(cap.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert all(s.inputs["recoveryWindowInDays"] == 7 for s in cap.of_type(SECRET))
    assert (
        statement(cap, "DecryptOwnSecretsThroughSecretsManager")["Condition"]["StringEquals"]["kms:ViaService"]
        == "secretsmanager.eu-west-1.amazonaws.com"
    )
    assert statement(cap, "ReadOwnFeatureFlags")["Resource"][1] == (
        "arn:aws:ssm:eu-west-1:123456789012:parameter/tradesense/prod/market-data/*"
    )


def test_outputs_name_the_role_secrets_and_parameters(run_pulumi, tags):
    seen = {}

    def program():
        component = ServiceSecrets("s", build_args(tags))
        seen["names"] = component.parameter_names
        pulumi.export("role", component.role_arn)
        pulumi.export("jwt", component.secret_arns["JWT_SECRET_KEY"])
        pulumi.export("master", component.secret_arns["MASTER_ENCRYPTION_KEY"])

    cap = run_pulumi(program)
    assert cap.outputs["role"] == cap.one("aws:iam/role:Role").outputs["arn"]
    secrets = secrets_by_key(cap)
    assert cap.outputs["jwt"] == secrets["JWT_SECRET_KEY"].outputs["arn"]
    assert cap.outputs["master"] == secrets["MASTER_ENCRYPTION_KEY"].outputs["arn"]
    assert seen["names"] == [f"/tradesense/test/market-data/{flag}" for flag in FEATURE_FLAGS]
    assert set(seen["names"]) == set(flag_values(cap))
    assert cap.one("aws:iam/rolePolicy:RolePolicy").inputs["role"] == cap.one("aws:iam/role:Role").outputs["id"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"features": {"ENABLE_RATE_LIMITING": True}}, "features = "),
        ({"features": {**{f: True for f in FEATURE_FLAGS}, "ENABLE_BETA": True}}, "features = "),
        (
            {"features": {**{f: True for f in FEATURE_FLAGS}, "ENABLE_AUDIT_LOGGING": "yes"}},
            "features\\['ENABLE_AUDIT_LOGGING'\\] = 'yes'",
        ),
        ({"secret_recovery_days": 6}, "secret_recovery_days = 6"),
        ({"secret_recovery_days": 31}, "secret_recovery_days = 31"),
        ({"account_id": "12345"}, "account_id = '12345'"),
        ({"db_user": "Market-Data", "proxy_arn": PROXY}, "db_user = 'Market-Data'"),
        ({"db_user": "market_data"}, "db_user = 'market_data': only meaningful with proxy_arn"),
        ({"workload_principal": "*"}, "workload_principal = '\\*'"),
        ({"service": ""}, "service = ''"),
        ({"stack": "a/b"}, "stack = 'a/b'"),
        ({"region": " "}, "region = ' '"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(tags, **overrides)()


def test_missing_tags_are_rejected(tags):
    del tags["DataClassification"]
    with pytest.raises(ValueError, match="ServiceSecretsArgs.tags: missing required tag\\(s\\) DataClassification"):
        build(tags)()
