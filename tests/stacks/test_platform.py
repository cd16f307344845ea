"""The prod stack as a whole: what the issue promises a platform engineer gets from `pulumi up`."""

import importlib
import inspect
from functools import cache

import pulumi
import pytest

from components.tagging import REQUIRED_TAG_KEYS
from scripts.engine.preview import run_stack
from stacks.settings import read_stack_config

DB_SERVICES = ["auth", "trading", "analytics", "billing", "market-data"]
ALL_SERVICES = ["gateway", "auth", "trading", "analytics", "billing", "market-data", "ai"]


@cache
def takes_tags(type_token: str) -> bool:
    """Whether the pulumi-aws resource class for a type token accepts `tags`."""
    package, module_path, _ = type_token.split(":")
    if package != "aws":
        return False
    module, class_name = module_path.split("/")[0], type_token.rsplit(":", 1)[1]
    namespace = importlib.import_module("pulumi_aws" if module == "index" else f"pulumi_aws.{module}")
    cls = getattr(namespace, class_name)
    return "tags" in inspect.signature(cls._internal_init).parameters


def test_five_databases_each_behind_its_own_tls_proxy(prod_capture):
    instances = prod_capture.of_type("aws:rds/instance:Instance")
    assert sorted(i.inputs["tags"]["Service"] for i in instances) == sorted(DB_SERVICES)
    targets = {t.inputs["dbInstanceIdentifier"]: t for t in prod_capture.of_type("aws:rds/proxyTarget:ProxyTarget")}
    proxies = {
        p.outputs["name"] if "name" not in p.inputs else p.inputs["name"]: p
        for p in prod_capture.of_type("aws:rds/proxy:Proxy")
    }
    for instance in instances:
        assert instance.inputs["identifier"] in targets, instance.urn
        proxy = proxies[targets[instance.inputs["identifier"]].inputs["dbProxyName"]]
        assert proxy.inputs["requireTls"] is True
        assert proxy.inputs["tags"]["Service"] == instance.inputs["tags"]["Service"]
        assert instance.inputs["storageEncrypted"] is True and instance.inputs["publiclyAccessible"] is False
        assert instance.inputs["backupRetentionPeriod"] == 30 and instance.inputs["deletionProtection"] is True


def test_seven_secret_sets_with_generated_values(prod_capture):
    sets = prod_capture.of_type("tradesense:security:ServiceSecrets")
    assert sorted(s.name for s in sets) == sorted(f"{s}-secrets" for s in ALL_SERVICES)
    for secret_set in sets:
        names = sorted(
            r.inputs["name"].rsplit("/", 1)[1]
            for r in prod_capture.descendants(secret_set.urn)
            if r.type == "aws:secretsmanager/secret:Secret"
        )
        assert names == ["JWT_SECRET_KEY", "MASTER_ENCRYPTION_KEY"]


def test_one_web_acl_with_both_rate_rules_and_the_managed_groups(prod_capture):
    acl = prod_capture.one("aws:wafv2/webAcl:WebAcl")
    rules = {rule["name"]: rule for rule in acl.inputs["rules"]}
    login = rules["login-rate-limit"]["statement"]["rateBasedStatement"]
    api = rules["api-rate-limit"]["statement"]["rateBasedStatement"]
    assert (login["limit"], login["evaluationWindowSec"]) == (10, 120)
    assert (api["limit"], api["evaluationWindowSec"]) == (100, 60)
    managed = {
        r["statement"]["managedRuleGroupStatement"]["name"]
        for r in acl.inputs["rules"]
        if "managedRuleGroupStatement" in r["statement"]
    }
    assert {
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    } <= managed
    distribution = prod_capture.one("aws:cloudfront/distribution:Distribution")
    assert distribution.inputs["webAclId"] == acl.outputs["arn"]


def test_backup_plan_covers_every_database_with_continuous_backup(prod_capture):
    selection = prod_capture.one("aws:backup/selection:Selection")
    arns = sorted(i.outputs["arn"] for i in prod_capture.of_type("aws:rds/instance:Instance"))
    assert sorted(selection.inputs["resources"]) == arns
    plan = prod_capture.one("aws:backup/plan:Plan")
    assert all(rule["enableContinuousBackup"] is True for rule in plan.inputs["rules"])


def _closure(capture, urn, seen=None):
    """Everything `urn` waits for: its dependencies, their descendants (a component dependency
    waits for all its children), transitively."""
    seen = set() if seen is None else seen
    resource = capture.by_urn(urn)
    for dep in resource.dependencies:
        for target in [dep] + [d.urn for d in capture.descendants(dep)]:
            if target not in seen:
                seen.add(target)
                _closure(capture, target, seen)
    return seen


def test_databases_proxies_and_cache_do_not_wait_on_one_another(prod_capture):
    data_plane = [
        r
        for r in prod_capture.resources
        if r.type
        in ("aws:rds/instance:Instance", "aws:rds/proxy:Proxy", "aws:elasticache/replicationGroup:ReplicationGroup")
    ]
    assert len(data_plane) == 11
    for resource in data_plane:
        waits_for = _closure(prod_capture, resource.urn)
        others = [
            o.urn
            for o in data_plane
            if o.urn != resource.urn and o.inputs.get("tags", {}).get("Service") != resource.inputs["tags"]["Service"]
        ]
        assert not waits_for.intersection(others), resource.urn


def test_every_taggable_resource_carries_the_required_tags(prod_capture):
    taggable = [r for r in prod_capture.resources if r.custom and takes_tags(r.type)]
    assert len(taggable) > 100
    for resource in taggable:
        tags = resource.inputs.get("tags") or {}
        missing = [k for k in REQUIRED_TAG_KEYS if not tags.get(k)]
        assert not missing, f"{resource.urn} lacks {missing}"
        assert tags["Stack"] == "prod" and tags["Compliance"] == "pci sox gdpr"


def test_exports_give_deployments_what_they_need(prod_capture):
    services = prod_capture.outputs["services"]
    assert sorted(services) == sorted(ALL_SERVICES)
    for name in DB_SERVICES:
        assert services[name]["proxyEndpoint"].endswith(".rds.amazonaws.com")
    assert "proxyEndpoint" not in services["gateway"]
    for name in ALL_SERVICES:
        assert services[name]["roleArn"].startswith("arn:aws:iam::123456789012:role/")
        assert services[name]["securityGroupId"].startswith("sg-")
    assert prod_capture.outputs["cache"]["primaryEndpoint"].startswith("master.")


def test_data_stores_are_protected_from_deletion(prod_capture):
    for type_ in (
        "aws:rds/instance:Instance",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:backup/vault:Vault",
        "aws:elasticache/replicationGroup:ReplicationGroup",
    ):
        resources = prod_capture.of_type(type_)
        assert resources and all(r.protect for r in resources), type_


def test_dr_region_adds_a_provider_and_a_copy_target(prod_capture):
    provider = prod_capture.one("pulumi:providers:aws", "dr")
    assert provider.inputs["region"] == "us-west-2"
    plan = prod_capture.one("aws:backup/plan:Plan")
    dr_vault = [v for v in prod_capture.of_type("aws:backup/vault:Vault") if v.provider.startswith(provider.urn)]
    assert len(dr_vault) == 1
    copy_targets = [a["destinationVaultArn"] for rule in plan.inputs["rules"] for a in rule.get("copyActions", [])]
    assert copy_targets == [dr_vault[0].outputs["arn"]]


def test_audit_bucket_replicates_to_a_locked_bucket_in_us_west_2(prod_capture):
    provider = prod_capture.one("pulumi:providers:aws", "dr")
    source = prod_capture.one("aws:s3/bucket:Bucket", "audit-logs-bucket")
    replica = prod_capture.one("aws:s3/bucket:Bucket", "audit-logs-replica-bucket")
    assert not source.provider.startswith(provider.urn)
    assert replica.provider.startswith(provider.urn + "::")
    [config] = prod_capture.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert config.inputs["bucket"] == source.outputs["id"]
    destination = config.inputs["rules"][0]["destination"]
    assert destination["bucket"] == replica.outputs["arn"]
    dr_logs_key = prod_capture.one("aws:kms/key:Key", "keys-logs-dr")
    assert dr_logs_key.provider.startswith(provider.urn + "::")
    assert dr_logs_key.outputs["arn"].startswith("arn:aws:kms:us-west-2:")
    assert destination["encryptionConfiguration"] == {"replicaKmsKeyId": dr_logs_key.outputs["arn"]}
    lock = prod_capture.one(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "audit-logs-replica-object-lock"
    )
    source_lock = prod_capture.one(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "audit-logs-object-lock"
    )
    assert lock.inputs["rule"] == source_lock.inputs["rule"]
    # The replica logs its access to the DR region's own access-log bucket.
    dr_access_logs = prod_capture.one("aws:s3/bucket:Bucket", "access-logs-dr-bucket")
    assert dr_access_logs.provider.startswith(provider.urn + "::")
    logging = prod_capture.one("aws:s3/bucketLogging:BucketLogging", "audit-logs-replica-access-logging")
    assert logging.inputs["targetBucket"] == dr_access_logs.outputs["bucket"]
    dr_log_parts = [r for r in prod_capture.resources if r.custom and r.name.startswith("access-logs-dr-")]
    assert dr_log_parts and all(r.provider.startswith(provider.urn + "::") for r in dr_log_parts)


def test_without_dr_region_nothing_is_created_there():
    config = dict(read_stack_config("prod"))
    del config["tradesense:drRegion"]
    capture = run_stack("prod", config=config)
    assert [p.name for p in capture.of_type("pulumi:providers:aws")] == ["edge"]
    plan = capture.one("aws:backup/plan:Plan")
    assert all(not rule.get("copyActions") for rule in plan.inputs["rules"])
    assert capture.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    assert not [
        r
        for r in capture.resources
        if "replica" in r.name or r.name.endswith("-dr") or r.name.startswith("access-logs-dr")
    ]


def test_a_config_error_stops_the_program_before_any_resource():
    config = dict(read_stack_config("prod"))
    config["tradesense:backupRetentionDays"] = 7
    with pytest.raises(pulumi.RunError, match=r"^tradesense:backupRetentionDays = 7: must be at least 30$"):
        run_stack("prod", config=config)
