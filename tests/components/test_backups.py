import json

import pulumi
import pulumi_aws as aws
import pytest

from components.backups import BackupStorage, BackupStorageArgs

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
DR_KEY = "arn:aws:kms:us-west-2:123456789012:key/66666666-7777-8888-9999-000000000000"
DATABASES = {
    "trading": "arn:aws:rds:us-east-1:123456789012:db:tradesense-test-trading",
    "auth": "arn:aws:rds:us-east-1:123456789012:db:tradesense-test-auth",
}
VAULT = "aws:backup/vault:Vault"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"


def make_args(tags, **overrides):
    args = dict(database_arns=DATABASES, backups_kms_key_arn=KEY, access_log_bucket="logs-bucket", tags=tags)
    args.update(overrides)
    return BackupStorageArgs(**args)


def build(tags, dr=False, **overrides):
    def program():
        if dr:
            overrides.update(dr_provider=aws.Provider("dr", region="us-west-2"), dr_kms_key_arn=DR_KEY)
        storage = BackupStorage("backups", make_args(tags, **overrides))
        for attribute in ("bucket_name", "bucket_arn", "vault_name", "vault_arn", "plan_id", "plan_arn", "role_arn"):
            pulumi.export(attribute, getattr(storage, attribute))
        pulumi.export("dr_vault_arn", storage.dr_vault_arn)

    return program


def rule_of(cap):
    return cap.one(PLAN).inputs["rules"][0]


def test_defaults_back_up_continuously_into_a_locked_encrypted_vault(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    vault = cap.one(VAULT)
    assert vault.protect is True
    assert vault.inputs["kmsKeyArn"] == KEY
    assert vault.inputs["tags"]["Service"] == tags["Service"]
    lock = cap.one(LOCK).inputs
    assert (lock["minRetentionDays"], lock["maxRetentionDays"], lock["changeableForDays"]) == (30, 365, 3)
    assert lock["backupVaultName"] == vault.outputs["name"]
    rule = rule_of(cap)
    assert rule["enableContinuousBackup"] is True
    assert rule["schedule"] == "cron(0 3 * * ? *)"
    assert (rule["startWindow"], rule["completionWindow"]) == (60, 180)
    assert rule["lifecycle"] == {"deleteAfter": 30}
    assert rule["recoveryPointTags"] == tags
    assert rule["targetVaultName"] == vault.outputs["name"]
    assert "copyActions" not in rule
    assert cap.outputs["dr_vault_arn"] is None
    assert len(cap.of_type(VAULT)) == 1


def test_selection_covers_exactly_the_databases_passed(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    selection = cap.one(SELECTION)
    assert sorted(selection.inputs["resources"]) == sorted(DATABASES.values())
    assert "selectionTags" not in selection.inputs
    assert selection.inputs["planId"] == cap.one(PLAN).id
    assert selection.inputs["iamRoleArn"] == cap.one("aws:iam/role:Role").outputs["arn"]
    attachments = cap.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert set(selection.dependencies) >= {a.urn for a in attachments}


def test_role_is_trusted_by_aws_backup_with_only_the_backup_and_restore_policies(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    role = cap.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    attached = {a.inputs["policyArn"] for a in cap.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached == {
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    }
    assert cap.outputs["role_arn"] == role.outputs["arn"]


def test_vault_policy_denies_early_deletion_to_everyone_after_the_lock(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    policy = cap.one("aws:backup/vaultPolicy:VaultPolicy")
    statement = json.loads(policy.inputs["policy"])["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert {
        "backup:DeleteRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
        "backup:PutBackupVaultAccessPolicy",
    } <= set(statement["Action"])
    assert policy.inputs["backupVaultName"] == cap.one(VAULT).outputs["name"]
    assert cap.one(LOCK).urn in policy.dependencies


def test_dump_bucket_is_locked_for_the_retention_and_encrypted_with_kms(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    bucket = cap.one("aws:s3/bucket:Bucket")
    assert bucket.inputs["tags"]["Purpose"] == "database-backups"
    lock = cap.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs
    assert lock["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 30}
    lifecycle = cap.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"][0]
    assert lifecycle["expiration"]["days"] == 30
    sse = cap.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == KEY
    assert cap.one("aws:s3/bucketLogging:BucketLogging").inputs["targetBucket"] == "logs-bucket"
    statements = json.loads(cap.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    denies = {s["Sid"]: s for s in statements if s["Effect"] == "Deny" and s["Action"] == "s3:PutObject"}
    assert set(denies) == {"DenyUploadsAskingForOtherEncryptionThanKms", "DenyUploadsAskingForAnotherKmsKey"}
    assert all(deny["Resource"] == bucket.outputs["arn"] + "/*" for deny in denies.values())
    # What each request gets is pinned in test_dump_bucket_policy_admits_multipart_uploads_...
    assert cap.outputs["bucket_arn"] == bucket.outputs["arn"]


def test_dr_copies_every_recovery_point_to_a_locked_vault_in_the_dr_region(run_pulumi, tags):
    cap = run_pulumi(build(tags, dr=True))
    provider = cap.one("pulumi:providers:aws", "dr")
    primary, dr_vault = cap.one(VAULT, "backups-vault"), cap.one(VAULT, "backups-dr-vault")
    assert dr_vault.inputs["kmsKeyArn"] == DR_KEY and dr_vault.protect is True
    assert dr_vault.provider.startswith(provider.urn) and not primary.provider.startswith(provider.urn)
    dr_lock = cap.one(LOCK, "backups-dr-vault-lock")
    assert dr_lock.provider.startswith(provider.urn) and dr_lock.inputs["minRetentionDays"] == 30
    assert cap.one("aws:backup/vaultPolicy:VaultPolicy", "backups-dr-vault-policy").provider.startswith(provider.urn)
    copy = rule_of(cap)["copyActions"]
    assert copy == [{"destinationVaultArn": dr_vault.outputs["arn"], "lifecycle": {"deleteAfter": 30}}]
    assert cap.outputs["dr_vault_arn"] == dr_vault.outputs["arn"]


def test_longer_retention_and_grace_period_flow_everywhere(run_pulumi, tags):
    cap = run_pulumi(
        build(tags, dr=True, retention_days=35, vault_lock_changeable_days=7, schedule="cron(30 1 * * ? *)")
    )
    rule = rule_of(cap)
    assert rule["lifecycle"] == {"deleteAfter": 35} and rule["copyActions"][0]["lifecycle"] == {"deleteAfter": 35}
    assert rule["schedule"] == "cron(30 1 * * ? *)"
    for lock in cap.of_type(LOCK):
        assert (lock.inputs["minRetentionDays"], lock.inputs["changeableForDays"]) == (35, 7)
    object_lock = cap.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs
    assert object_lock["rule"]["defaultRetention"]["days"] == 35


def test_database_arns_may_be_outputs(run_pulumi, tags):
    def program():
        instance = aws.rds.Instance("db", identifier="tradesense-test-billing", instance_class="db.r6g.large")
        BackupStorage("backups", make_args(tags, database_arns={"billing": instance.arn}))

    cap = run_pulumi(program)
    assert cap.one(SELECTION).inputs["resources"] == [cap.one("aws:rds/instance:Instance").outputs["arn"]]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"database_arns": {}}, r"database_arns = \{\}"),
        ({"database_arns": {"auth": "arn:aws:s3:::not-a-db"}}, r"database_arns\['auth'\]"),
        ({"retention_days": 29}, "retention_days = 29"),
        ({"retention_days": 36}, "retention_days = 36"),
        ({"schedule": "daily"}, "schedule = 'daily'"),
        ({"dr_kms_key_arn": DR_KEY}, "dr_provider / dr_kms_key_arn"),
        ({"vault_lock_changeable_days": 2}, "vault_lock_changeable_days = 2"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, field):
    with pytest.raises(ValueError, match=field):
        make_args(tags, **overrides)


def test_dr_provider_without_key_is_rejected(run_pulumi, tags):
    def program():
        make_args(tags, dr_provider=aws.Provider("dr", region="us-west-2"))

    with pytest.raises(ValueError, match="dr_provider / dr_kms_key_arn"):
        run_pulumi(program)


def test_missing_tags_are_rejected(tags):
    del tags["Compliance"]
    with pytest.raises(ValueError, match="BackupStorageArgs.tags: missing required tag"):
        make_args(tags)


def test_dump_bucket_policy_admits_multipart_uploads_and_refuses_a_wrong_explicit_encryption(run_pulumi, tags):
    """AWS facts pinned (see components/backups.py, dump_upload_guards):
    - UploadPart is authorised as s3:PutObject and carries no x-amz-server-side-encryption header
      (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions,
      https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html);
    - a negated condition operator is true when its key is absent
      (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
    So the policy must not deny a request without the header, and must deny one that names AES256.
    """
    from tests.aws_conditions import explicitly_denied

    cap = run_pulumi(build(tags))
    policy = json.loads(cap.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    obj = cap.one("aws:s3/bucket:Bucket").outputs["arn"] + "/logical/prod/auth/2026/auth.dump"
    tls = {"aws:SecureTransport": "true"}
    sse, key_id = "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"

    # Each part of a multipart upload (boto3 upload_fileobj above 8 MB): no encryption header at all.
    assert explicitly_denied(policy, "s3:PutObject", obj, tls) == []
    # CreateMultipartUpload / PutObject as scripts/ops/backup.py sends them: aws:kms with the bucket's key.
    assert explicitly_denied(policy, "s3:PutObject", obj, {**tls, sse: "aws:kms", key_id: KEY}) == []
    # A client asking for SSE-S3, or for KMS under some other key, is refused.
    assert explicitly_denied(policy, "s3:PutObject", obj, {**tls, sse: "AES256"}) == [
        "DenyUploadsAskingForOtherEncryptionThanKms"
    ]
    other_key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    assert explicitly_denied(policy, "s3:PutObject", obj, {**tls, sse: "aws:kms", key_id: other_key}) == [
        "DenyUploadsAskingForAnotherKmsKey"
    ]
    # And plain HTTP is still refused whatever it asks for.
    assert explicitly_denied(policy, "s3:PutObject", obj, {"aws:SecureTransport": "false"}) == ["DenyInsecureTransport"]
    # The bucket default is what encrypts a header-less request: SSE-KMS under the backups key.
    sse_config = cap.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    default = sse_config.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}


def test_the_condition_evaluator_knows_the_unguarded_deny_refuses_every_part():
    """The regression the guard fixes, evaluated by the same model: the old statement denied UploadPart."""
    from tests.aws_conditions import explicitly_denied

    old = {
        "Statement": [
            {
                "Sid": "Old",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            }
        ]
    }
    assert explicitly_denied(old, "s3:PutObject", "arn:aws:s3:::b/part", {}) == ["Old"]
