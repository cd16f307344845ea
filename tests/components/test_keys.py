import json

import pulumi
import pulumi_aws as aws
import pytest

from components.keys import PURPOSES, PlatformKeys, PlatformKeysArgs

ACCOUNT = "123456789012"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"


def build(tags, with_dr=False, **overrides):
    def program():
        args = dict(account_id=ACCOUNT, region="us-east-1", tags=tags, alias_prefix="tradesense-test")
        if with_dr:
            args.update(dr_region="us-west-2", dr_provider=aws.Provider("dr", region="us-west-2"))
        args.update(overrides)
        keys = PlatformKeys("keys", PlatformKeysArgs(**args))
        for purpose, arn in keys.key_arns.items():
            pulumi.export(f"keyArns.{purpose}", arn)
        for purpose in PURPOSES:
            pulumi.export(f"{purpose}_key_arn", getattr(keys, f"{purpose}_key_arn"))
        pulumi.export("dr_backups_key_arn", keys.dr_backups_key_arn)
        pulumi.export("dr_logs_key_arn", keys.dr_logs_key_arn)
        return keys

    return program


def policy(key):
    return json.loads(key.inputs["policy"])


def test_defaults_four_rotated_protected_keys_with_aliases(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    keys = {k.name: k for k in cap.of_type(KEY)}
    assert sorted(keys) == sorted(f"keys-{p}" for p in PURPOSES)
    for purpose in PURPOSES:
        key = keys[f"keys-{purpose}"]
        assert key.protect is True
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["rotationPeriodInDays"] == 365
        assert key.inputs["deletionWindowInDays"] == 30
        assert key.inputs["bypassPolicyLockoutSafetyCheck"] is False
        assert key.inputs["keyUsage"] == "ENCRYPT_DECRYPT"
        assert key.inputs["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
        assert key.inputs["tags"] == {**tags, "Purpose": purpose}
        alias = cap.one(ALIAS, f"keys-{purpose}-alias")
        assert alias.inputs["name"] == f"alias/tradesense-test-{purpose}"
        assert alias.inputs["targetKeyId"] == key.outputs["keyId"]
        assert cap.outputs[f"{purpose}_key_arn"] == key.outputs["arn"]
        assert cap.outputs[f"keyArns.{purpose}"] == key.outputs["arn"]
    assert cap.outputs["dr_backups_key_arn"] is None
    assert cap.outputs["dr_logs_key_arn"] is None
    assert len(cap.of_type(ALIAS)) == 4


def test_every_key_keeps_the_account_root_in_control(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    for key in cap.of_type(KEY):
        root = policy(key)["Statement"][0]
        assert root == {
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }


def test_only_the_logs_key_admits_service_principals(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    for purpose in ("data", "backups", "secrets"):
        assert len(policy(cap.one(KEY, f"keys-{purpose}"))["Statement"]) == 1, purpose
    services = [s for s in policy(cap.one(KEY, "keys-logs"))["Statement"] if "Service" in s["Principal"]]
    assert services, "the logs key must admit CloudWatch Logs, CloudTrail and the alert publishers"
    for statement in services:
        # Least privilege: no service gets kms:* and every grant to a service is conditioned.
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "kms:*" not in actions and statement["Effect"] == "Allow"
        assert statement["Condition"], statement["Sid"]


def test_logs_key_statements_are_scoped_to_this_account(run_pulumi, tags):
    statements = {s["Sid"]: s for s in policy(run_pulumi(build(tags)).one(KEY, "keys-logs"))["Statement"]}
    logs = statements["AllowCloudWatchLogsForThisAccountsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Action"] == ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"}
    }
    trail = statements["AllowCloudTrailToEncryptThisAccountsTrails"]
    assert trail["Action"] == "kms:GenerateDataKey*"
    assert trail["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"
    }
    assert statements["AllowCloudTrailToDescribeKey"]["Action"] == "kms:DescribeKey"
    publish = statements["AllowAlertPublishersToUseTheEncryptedTopic"]
    assert set(publish["Principal"]["Service"]) >= {"cloudwatch.amazonaws.com", "budgets.amazonaws.com"}
    assert publish["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_account_id_may_be_an_output(run_pulumi, tags):
    def program():
        build(tags, account_id=aws.get_caller_identity_output().account_id)()

    statement = policy(run_pulumi(program).one(KEY, "keys-data"))["Statement"][0]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def test_deletion_window_is_passed_to_every_key(run_pulumi, tags):
    cap = run_pulumi(build(tags, deletion_window_days=7))
    assert {k.inputs["deletionWindowInDays"] for k in cap.of_type(KEY)} == {7}


def test_dr_region_adds_a_backups_key_through_the_dr_provider(run_pulumi, tags):
    cap = run_pulumi(build(tags, with_dr=True))
    dr_provider = cap.one("pulumi:providers:aws", "dr")
    dr_key = cap.one(KEY, "keys-backups-dr")
    assert dr_key.provider.startswith(dr_provider.urn + "::")
    assert dr_key.protect is True and dr_key.inputs["enableKeyRotation"] is True
    assert dr_key.inputs["bypassPolicyLockoutSafetyCheck"] is False
    assert dr_key.inputs["tags"]["Purpose"] == "backups-dr"
    assert len(policy(dr_key)["Statement"]) == 1
    alias = cap.one(ALIAS, "keys-backups-dr-alias")
    assert alias.inputs["name"] == "alias/tradesense-test-backups-dr"
    assert alias.provider.startswith(dr_provider.urn + "::")
    assert cap.outputs["dr_backups_key_arn"] == dr_key.outputs["arn"]
    # The primary keys stay on the default provider, and key_arns lists only them.
    primary = [k for k in cap.of_type(KEY) if not k.name.endswith("-dr")]
    assert len(primary) == len(PURPOSES)
    assert all(not k.provider.startswith(dr_provider.urn) for k in primary)
    assert "keyArns.backups-dr" not in cap.outputs
    assert len(cap.of_type(KEY)) == 6


def test_dr_region_adds_a_logs_key_with_only_the_account_statement(run_pulumi, tags):
    cap = run_pulumi(build(tags, with_dr=True))
    dr_provider = cap.one("pulumi:providers:aws", "dr")
    dr_key = cap.one(KEY, "keys-logs-dr")
    assert dr_key.provider.startswith(dr_provider.urn + "::")
    assert dr_key.outputs["arn"].startswith("arn:aws:kms:us-west-2:")
    assert dr_key.protect is True and dr_key.inputs["enableKeyRotation"] is True
    assert dr_key.inputs["rotationPeriodInDays"] == 365
    assert dr_key.inputs["bypassPolicyLockoutSafetyCheck"] is False
    assert dr_key.inputs["tags"] == {**tags, "Purpose": "logs-dr"}
    assert [s["Sid"] for s in policy(dr_key)["Statement"]] == ["EnableIamPolicies"]
    alias = cap.one(ALIAS, "keys-logs-dr-alias")
    assert alias.inputs["name"] == "alias/tradesense-test-logs-dr"
    assert alias.provider.startswith(dr_provider.urn + "::")
    assert cap.outputs["dr_logs_key_arn"] == dr_key.outputs["arn"]
    assert "keyArns.logs-dr" not in cap.outputs
    # The primary logs key still admits its services.
    assert len(policy(cap.one(KEY, "keys-logs"))["Statement"]) > 1


def test_keys_are_children_of_the_component(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    component = cap.one("tradesense:security:PlatformKeys")
    assert {r.parent for r in cap.of_type(KEY) + cap.of_type(ALIAS)} == {component.urn}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"deletion_window_days": 6}, "deletion_window_days = 6"),
        ({"deletion_window_days": 31}, "deletion_window_days = 31"),
        ({"alias_prefix": ""}, "alias_prefix = ''"),
        ({"alias_prefix": "aws-prod"}, "alias_prefix = 'aws-prod'"),
        ({"alias_prefix": "trade sense"}, "alias_prefix = 'trade sense'"),
        ({"dr_region": "us-west-2"}, "dr_region = 'us-west-2': dr_region and dr_provider"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(tags, **overrides)()


def test_dr_provider_without_dr_region_is_rejected(run_pulumi, tags):
    def program():
        build(tags, dr_provider=aws.Provider("dr", region="us-west-2"))()

    with pytest.raises(ValueError, match="dr_region = None: dr_region and dr_provider"):
        run_pulumi(program)


def test_dr_region_equal_to_region_is_rejected(run_pulumi, tags):
    def program():
        build(tags, dr_region="us-east-1", dr_provider=aws.Provider("dr", region="us-east-1"))()

    with pytest.raises(ValueError, match="dr_region = 'us-east-1': must differ"):
        run_pulumi(program)


def test_missing_tags_are_rejected(tags):
    del tags["Compliance"]
    with pytest.raises(ValueError, match="PlatformKeysArgs.tags: missing required tag\\(s\\) Compliance"):
        build(tags)()


def test_edge_region_adds_a_logs_key_there_for_cloudwatch_logs_of_that_region(run_pulumi, tags):
    """A stack outside us-east-1 gets a logs key in us-east-1 for the WAF log group: CloudWatch Logs
    encrypts a group only with a key of the group's region
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""

    def program():
        edge = aws.Provider("edge", region="us-east-1")
        keys = build(tags, region="eu-central-1", edge_region="us-east-1", edge_provider=edge)()
        pulumi.export("edge_logs_key_arn", keys.edge_logs_key_arn)

    cap = run_pulumi(program)
    provider = cap.one("pulumi:providers:aws", "edge")
    key = cap.one(KEY, "keys-logs-edge")
    assert key.provider.startswith(provider.urn + "::") and key.protect is True
    assert key.outputs["arn"].startswith("arn:aws:kms:us-east-1:")
    assert cap.outputs["edge_logs_key_arn"] == key.outputs["arn"]
    assert key.inputs["tags"]["Purpose"] == "logs-edge"
    logs = next(s for s in policy(key)["Statement"] if s["Sid"] == "AllowCloudWatchLogsForThisAccountsLogGroups")
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert (
        logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"
    )
    home = next(
        s
        for s in policy(cap.one(KEY, "keys-logs"))["Statement"]
        if s["Sid"] == "AllowCloudWatchLogsForThisAccountsLogGroups"
    )
    assert home["Principal"] == {"Service": "logs.eu-central-1.amazonaws.com"}
    assert cap.one(ALIAS, "keys-logs-edge-alias").inputs["name"] == "alias/tradesense-test-logs-edge"
    assert cap.one(ALIAS, "keys-logs-edge-alias").provider.startswith(provider.urn + "::")


def test_edge_region_needs_its_provider_and_must_differ_from_region(run_pulumi, tags):
    with pytest.raises(ValueError, match="edge_region = 'us-east-1': edge_region and edge_provider"):
        build(tags, region="eu-central-1", edge_region="us-east-1")()

    def same_region():
        build(tags, edge_region="us-east-1", edge_provider=aws.Provider("edge", region="us-east-1"))()

    with pytest.raises(ValueError, match="edge_region = 'us-east-1': must differ from region"):
        run_pulumi(same_region)


def test_without_edge_region_no_edge_key_exists(run_pulumi, tags):
    def program():
        keys = build(tags)()
        pulumi.export("edge_logs_key_arn", keys.edge_logs_key_arn)

    cap = run_pulumi(program)
    assert cap.outputs["edge_logs_key_arn"] is None
    assert not [k for k in cap.of_type(KEY) if k.name.endswith("-edge")]
