import json

import pulumi
import pulumi_aws as aws
import pytest

from components.secure_bucket import BucketReplica, SecureBucket, SecureBucketArgs

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def build(tags, **overrides):
    args = dict(purpose="database-backups", tags=tags, kms_key_arn=KEY, access_log_bucket="logs-bucket")
    args.update(overrides)
    return lambda: SecureBucket("backups", SecureBucketArgs(**args))


def test_defaults_are_the_secure_posture(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    bucket = cap.one("aws:s3/bucket:Bucket")
    assert bucket.protect is True
    assert bucket.inputs["tags"]["Purpose"] == "database-backups"
    pab = cap.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    sse = cap.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs
    rule = sse["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}
    assert rule["bucketKeyEnabled"] is True
    assert cap.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]["status"] == "Enabled"
    lifecycle = cap.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"][0]
    assert lifecycle["expiration"]["days"] == 30
    assert cap.one("aws:s3/bucketLogging:BucketLogging").inputs["targetBucket"] == "logs-bucket"
    assert cap.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []


def test_policy_denies_plain_http_on_the_bucket_it_guards(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    bucket = cap.one("aws:s3/bucket:Bucket")
    policy = json.loads(cap.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [bucket.outputs["arn"], bucket.outputs["arn"] + "/*"]


def test_object_lock_in_compliance_mode(run_pulumi, tags):
    cap = run_pulumi(build(tags, object_lock_days=30))
    assert cap.one("aws:s3/bucket:Bucket").inputs["objectLockEnabled"] is True
    lock = cap.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs
    assert lock["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 30}


def test_log_target_uses_sse_s3_and_does_not_log_to_itself(run_pulumi, tags):
    cap = run_pulumi(
        build(
            tags,
            purpose="access-logs",
            kms_key_arn=None,
            access_log_bucket=None,
            is_access_log_target=True,
            sse_s3_for_log_delivery=True,
        )
    )
    sse = cap.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert cap.of_type("aws:s3/bucketLogging:BucketLogging") == []


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"kms_key_arn": None}, "kms_key_arn: required"),
        ({"sse_s3_for_log_delivery": True}, "sse_s3_for_log_delivery: allowed only"),
        ({"access_log_bucket": None}, "access_log_bucket: required"),
        ({"object_lock_days": 90}, "object_lock_days = 90"),
        ({"object_lock_mode": "LOOSE"}, "object_lock_mode = 'LOOSE'"),
    ],
)
def test_contradictory_args_are_rejected(tags, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(tags, **overrides)()


def test_missing_tags_are_rejected(tags):
    del tags["Owner"]
    with pytest.raises(ValueError, match="missing required tag\\(s\\) Owner"):
        build(tags)()


def test_extra_statements_name_the_bucket_through_the_placeholder(run_pulumi, tags):
    from components.secure_bucket import BUCKET_ARN

    statement = {
        "Sid": "AllowTrail",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:GetBucketAcl",
        "Resource": BUCKET_ARN,
    }
    cap = run_pulumi(build(tags, extra_policy_statements=[statement]))
    arn = cap.one("aws:s3/bucket:Bucket").outputs["arn"]
    policy = json.loads(cap.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"][-1] == {**statement, "Resource": arn}


DR_KEY = "arn:aws:kms:us-west-2:123456789012:key/66666666-7777-8888-9999-000000000000"
ACCOUNT = "123456789012"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"


def build_replicated(tags, **overrides):
    def program():
        replica = BucketReplica(
            provider=aws.Provider("dr", region="us-west-2"), kms_key_arn=DR_KEY, access_log_bucket="dr-logs-bucket"
        )
        args = dict(
            purpose="audit-logs",
            tags=tags,
            kms_key_arn=KEY,
            access_log_bucket="logs-bucket",
            object_lock_days=30,
            region="us-east-1",
            account_id=ACCOUNT,
            replica=replica,
        )
        args.update(overrides)
        bucket = SecureBucket("audit", SecureBucketArgs(**args))
        pulumi.export("replica_bucket_arn", bucket.replica_bucket_arn)

    return program


def test_replica_is_off_by_default(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    assert len(cap.of_type("aws:s3/bucket:Bucket")) == 1
    assert cap.of_type(REPLICATION) == []
    assert cap.of_type("aws:iam/role:Role") == []


def test_replica_bucket_and_all_its_parts_are_in_the_dr_region(run_pulumi, tags):
    cap = run_pulumi(build_replicated(tags))
    dr = cap.one("pulumi:providers:aws", "dr")
    replica_parts = [r for r in cap.resources if r.custom and r.name.startswith("audit-replica-")]
    assert len(replica_parts) == 9  # bucket, ownership, PAB, SSE, versioning, lock, lifecycle, logging, policy
    assert all(r.provider.startswith(dr.urn) for r in replica_parts), [r.name for r in replica_parts]
    source = [
        r
        for r in cap.resources
        if r.custom and r.type.startswith("aws:s3/") and not r.name.startswith("audit-replica-")
    ]
    assert source and not any(r.provider.startswith(dr.urn) for r in source)

    bucket = cap.one("aws:s3/bucket:Bucket", "audit-replica-bucket")
    assert bucket.protect is True and bucket.inputs["objectLockEnabled"] is True
    assert bucket.inputs["tags"]["Purpose"] == "audit-logs-replica"
    assert cap.outputs["replica_bucket_arn"] == bucket.outputs["arn"]
    lock = cap.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "audit-replica-object-lock")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 30}
    sse = cap.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-replica-encryption",
    ).inputs["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": DR_KEY}
    pab = cap.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-replica-public-access").inputs
    assert all(
        pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    policy = json.loads(cap.one("aws:s3/bucketPolicy:BucketPolicy", "audit-replica-policy").inputs["policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert policy["Statement"][0]["Resource"] == [bucket.outputs["arn"], bucket.outputs["arn"] + "/*"]
    logging = cap.one("aws:s3/bucketLogging:BucketLogging", "audit-replica-access-logging").inputs
    assert logging["targetBucket"] == "dr-logs-bucket"


def test_replication_copies_everything_to_the_replica_under_the_dr_key(run_pulumi, tags):
    cap = run_pulumi(build_replicated(tags))
    config = cap.one(REPLICATION)
    source = cap.one("aws:s3/bucket:Bucket", "audit-bucket")
    replica = cap.one("aws:s3/bucket:Bucket", "audit-replica-bucket")
    role = cap.one("aws:iam/role:Role")
    assert config.inputs["bucket"] == source.outputs["id"]
    assert config.inputs["role"] == role.outputs["arn"]
    [rule] = config.inputs["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {}
    assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    assert rule["destination"] == {
        "bucket": replica.outputs["arn"],
        "storageClass": "STANDARD",
        "encryptionConfiguration": {"replicaKmsKeyId": DR_KEY},
    }
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    versionings = {r.urn for r in cap.of_type("aws:s3/bucketVersioning:BucketVersioning")}
    assert len(versionings) == 2 and versionings <= set(config.dependencies)
    assert cap.one("aws:iam/rolePolicy:RolePolicy").urn in config.dependencies


def test_replication_role_is_trusted_by_s3_for_this_account_and_least_privilege(run_pulumi, tags):
    cap = run_pulumi(build_replicated(tags))
    trust = json.loads(cap.one("aws:iam/role:Role").inputs["assumeRolePolicy"])["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]
    source = cap.one("aws:s3/bucket:Bucket", "audit-bucket").outputs["arn"]
    replica = cap.one("aws:s3/bucket:Bucket", "audit-replica-bucket").outputs["arn"]
    statements = {
        s["Sid"]: s for s in json.loads(cap.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])["Statement"]
    }
    for statement in statements.values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any("*" in action for action in actions), statement["Sid"]
        assert statement["Resource"] != "*"
    assert statements["ReadSourceReplicationConfiguration"]["Resource"] == source
    assert statements["ReadSourceObjectVersions"]["Resource"] == f"{source}/*"
    assert statements["WriteReplicaObjects"]["Resource"] == f"{replica}/*"
    assert statements["DecryptSourceObjectsThroughS3"]["Resource"] == KEY
    assert statements["DecryptSourceObjectsThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    }
    assert statements["EncryptReplicasThroughS3"]["Resource"] == DR_KEY
    assert statements["EncryptReplicasThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    }


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {
                "kms_key_arn": None,
                "sse_s3_for_log_delivery": True,
                "is_access_log_target": True,
                "access_log_bucket": None,
            },
            "replica: requires kms_key_arn",
        ),
        ({"is_access_log_target": True}, "replica: not allowed with is_access_log_target"),
        ({"region": None}, "region = None: required with replica"),
        ({"account_id": None}, "account_id = None: required with replica"),
    ],
)
def test_invalid_replica_args_are_rejected(run_pulumi, tags, overrides, message):
    with pytest.raises(ValueError, match=message):
        run_pulumi(build_replicated(tags, **overrides))


def test_bucket_key_can_be_turned_off_for_a_service_that_needs_its_own_encryption_context(run_pulumi, tags):
    cap = run_pulumi(build(tags, bucket_key=False))
    rule = cap.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs[
        "rules"
    ][0]
    assert rule["bucketKeyEnabled"] is False
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}
