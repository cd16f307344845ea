"""The ForceNew table: complete for the stack, real input names, cited from the provider's schema."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from scripts.review.replacements import CONDITIONAL_FORCE_NEW, FORCE_NEW, STATEFUL


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_stateful_type_the_prod_stack_declares_has_a_replacement_table(prod_preview):
    types = {s["newState"]["type"] for s in prod_preview["steps"]}
    stateful = {t for t in types if t in STATEFUL}
    # The kinds the issue names must all be present in prod, or the guard guards nothing.
    assert {STATEFUL[t] for t in stateful} == {
        "database",
        "cache",
        "bucket (data or logs)",
        "backup vault",
        "KMS key",
        "secret",
        "log group",
        "audit trail",
    }
    assert stateful <= set(FORCE_NEW)


@pytest.mark.parametrize("type_", sorted(set(FORCE_NEW) | set(CONDITIONAL_FORCE_NEW)))
def test_table_names_are_real_pulumi_aws_inputs(type_):
    module, _, cls = type_.split(":")[1].partition("/")
    resource = getattr(importlib.import_module(f"pulumi_aws.{module}"), type_.split(":")[2])
    parameters = inspect.signature(resource._internal_init).parameters
    names = {**FORCE_NEW.get(type_, {}), **CONDITIONAL_FORCE_NEW.get(type_, {})}
    assert {n for n in names if _snake(n) not in parameters} == set()


def test_each_entry_cites_the_terraform_schema_file_of_its_type():
    for type_, table in FORCE_NEW.items():
        files = {re.search(r"internal/service/\S+\.go", cite).group(0) for cite in table.values()}
        assert len(files) == 1, type_
        assert all("hashicorp/terraform-provider-aws@" in cite and "ForceNew" in cite for cite in table.values())


def test_rds_instance_facts_from_the_schema():
    # hashicorp/terraform-provider-aws internal/service/rds/instance.go: identifier, engine,
    # storage_encrypted, kms_key_id, availability_zone, username, db_name are ForceNew; tags,
    # instance_class, engine_version, allocated_storage, backup_retention_period are updated in place.
    rds = FORCE_NEW["aws:rds/instance:Instance"]
    for forced in ("identifier", "engine", "storageEncrypted", "kmsKeyId", "availabilityZone", "username", "dbName"):
        assert forced in rds
    for in_place in (
        "tags",
        "instanceClass",
        "engineVersion",
        "allocatedStorage",
        "backupRetentionPeriod",
        "deletionProtection",
        "multiAz",
    ):
        assert in_place not in rds


def test_other_schema_facts():
    # internal/service/backup/vault.go: name and kms_key_arn ForceNew; logs/group.go: name ForceNew,
    # kms_key_id updatable (AssociateKmsKey); secretsmanager/secret.go: kms_key_id updatable;
    # rds/proxy.go: name updatable (ModifyDBProxy NewDBProxyName), vpc_subnet_ids ForceNew.
    assert {"name", "kmsKeyArn"} <= set(FORCE_NEW["aws:backup/vault:Vault"])
    assert "name" in FORCE_NEW["aws:cloudwatch/logGroup:LogGroup"]
    assert "kmsKeyId" not in FORCE_NEW["aws:cloudwatch/logGroup:LogGroup"]
    assert "kmsKeyId" not in FORCE_NEW["aws:secretsmanager/secret:Secret"]
    assert "name" not in FORCE_NEW["aws:rds/proxy:Proxy"] and "vpcSubnetIds" in FORCE_NEW["aws:rds/proxy:Proxy"]
    assert {"atRestEncryptionEnabled", "kmsKeyId", "replicationGroupId"} <= set(
        FORCE_NEW["aws:elasticache/replicationGroup:ReplicationGroup"]
    )
