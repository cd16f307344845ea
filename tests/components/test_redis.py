import json

import pytest
from pulumi.runtime.sync_await import _sync_await

from components.limits import RedisSettings
from components.redis import RedisCache, RedisCacheArgs
from scripts.engine.offline import is_secret, unwrap_secrets
from tests.components.windows import daily_and_weekly_windows_overlap

DATA_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
SECRETS_KEY = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
LOGS_KEY = "arn:aws:kms:us-east-1:123456789012:key/33333333-3333-3333-3333-333333333333"
CLIENT_SGS = {"auth": "sg-0auth", "trading": "sg-0trading", "market-data": "sg-0mdata"}
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
USER = "aws:elasticache/user:User"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


def make_args(tags, **overrides):
    args = dict(
        settings=RedisSettings(),
        replication_group_id="tradesense-test",
        service_names=list(CLIENT_SGS),
        vpc_id="vpc-0test",
        subnet_ids=["subnet-a", "subnet-b"],
        client_security_group_ids=CLIENT_SGS,
        data_kms_key_arn=DATA_KEY,
        secrets_kms_key_arn=SECRETS_KEY,
        logs_kms_key_arn=LOGS_KEY,
        stack="test",
        tags=tags,
    )
    args.update(overrides)
    return RedisCacheArgs(**args)


def build(tags, holder=None, **overrides):
    def program():
        cache = RedisCache("cache", make_args(tags, **overrides))
        if holder is not None:
            holder["cache"] = cache

    return program


def users_by_name(cap):
    return {u.inputs["userName"]: u.inputs for u in cap.of_type(USER)}


def test_defaults_are_the_secure_posture(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    group = cap.one(GROUP)
    g = group.inputs
    assert group.protect is True
    assert g["replicationGroupId"] == "tradesense-test" and g["engine"] == "redis"
    assert g["engineVersion"] == "7.1" and g["nodeType"] == "cache.r7g.large" and g["port"] == 6379
    assert g["numCacheClusters"] == 3
    assert g["automaticFailoverEnabled"] is True and g["multiAzEnabled"] is True
    assert g["atRestEncryptionEnabled"] is True and g["kmsKeyId"] == DATA_KEY
    assert g["transitEncryptionEnabled"] is True and g["transitEncryptionMode"] == "required"
    assert g["snapshotRetentionLimit"] == 7 and g["autoMinorVersionUpgrade"] is True
    assert g["finalSnapshotIdentifier"] == "tradesense-test-final"
    assert "authToken" not in g
    assert g["tags"] == {**tags, "Purpose": "cache"}
    assert g["userGroupIds"] == [cap.one("aws:elasticache/userGroup:UserGroup").inputs["userGroupId"]]
    assert g["subnetGroupName"] == cap.one("aws:elasticache/subnetGroup:SubnetGroup").outputs["name"]
    assert g["securityGroupIds"] == [cap.one("aws:ec2/securityGroup:SecurityGroup").id]


def test_snapshot_and_maintenance_windows_do_not_overlap(run_pulumi, tags):
    g = run_pulumi(build(tags)).one(GROUP).inputs
    assert not daily_and_weekly_windows_overlap(g["snapshotWindow"], g["maintenanceWindow"])


def test_security_group_admits_6379_only_from_each_named_service(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    sg = cap.one("aws:ec2/securityGroup:SecurityGroup")
    assert "ingress" not in sg.inputs and "egress" not in sg.inputs
    rules = cap.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert sorted(
        (
            r.inputs["securityGroupId"],
            r.inputs["referencedSecurityGroupId"],
            r.inputs["ipProtocol"],
            r.inputs["fromPort"],
            r.inputs["toPort"],
        )
        for r in rules
    ) == sorted((sg.id, client, "tcp", 6379, 6379) for client in CLIENT_SGS.values())
    assert not any(k.startswith("cidr") for r in rules for k in r.inputs)
    assert cap.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") == []


def test_each_service_user_is_limited_to_its_prefix_and_default_is_off(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    users = users_by_name(cap)
    assert set(users) == {"default", *CLIENT_SGS}
    assert users["default"]["accessString"] == "off -@all"
    assert users["default"]["userId"] == "tradesense-test-default"
    for service in CLIENT_SGS:
        # Only the access-string forms ElastiCache documents (Clusters.RBAC.html#Access-string):
        # keys under the service's prefix, no channel pattern (only `&*` is documented), no pub/sub.
        assert users[service]["accessString"] == f"on ~{service}:* +@all -@dangerous -@pubsub"
        assert "&" not in users[service]["accessString"]
        assert users[service]["userId"] == f"tradesense-test-{service}"
        assert users[service]["engine"] == "redis"
    group = cap.one("aws:elasticache/userGroup:UserGroup").inputs
    assert sorted(group["userIds"]) == sorted(u["userId"] for u in users.values())


def test_passwords_are_generated_url_safe_and_only_ever_secret(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    generators = cap.of_type("random:index/randomPassword:RandomPassword")
    assert len(generators) == 4
    assert all(p.inputs["length"] >= 32 and p.inputs["special"] is False for p in generators)
    for user in cap.of_type(USER):
        mode = user.inputs["authenticationMode"]
        assert mode["type"] == "password" and len(mode["passwords"]) == 1
        assert is_secret(mode["passwords"][0]) and "passwords" not in user.inputs
    assert all(is_secret(v.inputs["secretString"]) for v in cap.of_type(VERSION))


def test_each_service_secret_holds_its_own_credentials(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    host = cap.one(GROUP).outputs["primaryEndpointAddress"]
    users = users_by_name(cap)
    secrets = {s.inputs["name"]: s for s in cap.of_type("aws:secretsmanager/secret:Secret")}
    assert set(secrets) == {f"tradesense/test/{svc}/redis" for svc in CLIENT_SGS}
    versions = {v.inputs["secretId"]: v for v in cap.of_type(VERSION)}
    for service in CLIENT_SGS:
        secret = secrets[f"tradesense/test/{service}/redis"]
        assert secret.inputs["kmsKeyId"] == SECRETS_KEY and secret.inputs["recoveryWindowInDays"] == 30
        assert secret.inputs["tags"]["Service"] == service
        value = json.loads(unwrap_secrets(versions[secret.outputs["arn"]].inputs["secretString"]))
        password = unwrap_secrets(users[service]["authenticationMode"]["passwords"][0])
        assert value == {"username": service, "password": password, "host": host, "port": 6379, "tls": True}


def test_slow_and_engine_logs_go_to_encrypted_log_groups(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    groups = {g.inputs["name"]: g.inputs for g in cap.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert set(groups) == {"/aws/elasticache/tradesense-test/slow-log", "/aws/elasticache/tradesense-test/engine-log"}
    assert all(g["kmsKeyId"] == LOGS_KEY and g["retentionInDays"] == 365 for g in groups.values())
    deliveries = cap.one(GROUP).inputs["logDeliveryConfigurations"]
    assert sorted((d["logType"], d["destination"], d["destinationType"], d["logFormat"]) for d in deliveries) == [
        ("engine-log", "/aws/elasticache/tradesense-test/engine-log", "cloudwatch-logs", "json"),
        ("slow-log", "/aws/elasticache/tradesense-test/slow-log", "cloudwatch-logs", "json"),
    ]


def test_options(run_pulumi, tags):
    settings = RedisSettings(
        node_type="cache.r7g.xlarge", engine_version="7.0", replicas_per_shard=1, snapshot_retention_days=35
    )
    cap = run_pulumi(build(tags, settings=settings, log_retention_days=731, stack="prod"))
    g = cap.one(GROUP).inputs
    assert (g["nodeType"], g["engineVersion"], g["numCacheClusters"], g["snapshotRetentionLimit"]) == (
        "cache.r7g.xlarge",
        "7.0",
        2,
        35,
    )
    assert {lg.inputs["retentionInDays"] for lg in cap.of_type("aws:cloudwatch/logGroup:LogGroup")} == {731}
    assert "tradesense/prod/auth/redis" in {s.inputs["name"] for s in cap.of_type("aws:secretsmanager/secret:Secret")}


def test_outputs(run_pulumi, tags):
    holder = {}
    cap = run_pulumi(build(tags, holder=holder))
    cache, group = holder["cache"], cap.one(GROUP)
    assert cache.replication_group_id == "tradesense-test" and cache.port == 6379
    assert cache.member_cluster_ids == ["tradesense-test-001", "tradesense-test-002", "tradesense-test-003"]
    assert _sync_await(cache.arn.future()) == group.outputs["arn"]
    assert _sync_await(cache.primary_endpoint.future()) == group.outputs["primaryEndpointAddress"]
    assert _sync_await(cache.reader_endpoint.future()) == group.outputs["readerEndpointAddress"]
    assert _sync_await(cache.security_group_id.future()) == cap.one("aws:ec2/securityGroup:SecurityGroup").id
    secret_arns = {
        s.inputs["name"].split("/")[2]: s.outputs["arn"] for s in cap.of_type("aws:secretsmanager/secret:Secret")
    }
    assert {svc: _sync_await(arn.future()) for svc, arn in cache.user_secret_arns.items()} == secret_arns


def test_children_are_parented_and_tagged(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    component = cap.one("tradesense:cache:RedisCache")
    children = cap.descendants(component.urn)
    assert len(children) == 8 + 5 * len(CLIENT_SGS)
    assert all(c.parent == component.urn for c in children)
    untaggable = {"random:index/randomPassword:RandomPassword", VERSION}
    for child in children:
        if child.type not in untaggable:
            assert {k: v for k, v in child.inputs["tags"].items() if k not in ("Service", "Purpose")} == {
                k: v for k, v in tags.items() if k != "Service"
            }, child.name


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"replication_group_id": "t" * 41}, "replication_group_id"),
        ({"replication_group_id": "TradeSense"}, "replication_group_id = 'TradeSense'"),
        ({"replication_group_id": "1cache"}, "replication_group_id = '1cache'"),
        ({"replication_group_id": "trade--sense"}, "replication_group_id"),
        ({"service_names": [], "client_security_group_ids": {}}, "service_names: empty"),
        ({"service_names": ["default"], "client_security_group_ids": {"default": "sg-1"}}, "service_names: 'default'"),
        ({"service_names": ["Auth"], "client_security_group_ids": {"Auth": "sg-1"}}, "service_names: 'Auth'"),
        (
            {"service_names": ["auth", "auth"], "client_security_group_ids": {"auth": "sg-1"}},
            "service_names = .*repeat",
        ),
        ({"client_security_group_ids": {"auth": "sg-1"}}, "client_security_group_ids"),
        ({"subnet_ids": ["subnet-a"]}, "subnet_ids"),
        ({"stack": "a/b"}, "stack = 'a/b'"),
        ({"log_retention_days": 90}, "log_retention_days = 90"),
        ({"settings": RedisSettings(engine_version="6.2")}, "engine_version = '6.2'"),
        ({"settings": RedisSettings(replicas_per_shard=0)}, "replicas_per_shard = 0"),
        ({"settings": RedisSettings(snapshot_retention_days=0)}, "snapshot_retention_days = 0"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, field):
    with pytest.raises(ValueError, match=field):
        make_args(tags, **overrides)


def test_missing_tags_are_rejected(tags):
    del tags["Owner"]
    with pytest.raises(ValueError, match="RedisCacheArgs.tags: missing required tag\\(s\\) Owner"):
        make_args(tags)
