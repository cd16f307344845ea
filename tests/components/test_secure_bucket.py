import json

import pytest

from components.secure_bucket import SecureBucket, SecureBucketArgs

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
    assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
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
    cap = run_pulumi(build(tags, purpose="access-logs", kms_key_arn=None, access_log_bucket=None,
                           is_access_log_target=True, sse_s3_for_log_delivery=True))
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

    statement = {"Sid": "AllowTrail", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                 "Action": "s3:GetBucketAcl", "Resource": BUCKET_ARN}
    cap = run_pulumi(build(tags, extra_policy_statements=[statement]))
    arn = cap.one("aws:s3/bucket:Bucket").outputs["arn"]
    policy = json.loads(cap.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"][-1] == {**statement, "Resource": arn}
