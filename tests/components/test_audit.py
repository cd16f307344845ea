import json

import pulumi
import pulumi_aws as aws
import pytest

from components.audit import CIS_CONTROLS, SECURITY_NAMESPACE, AuditTrail, AuditTrailArgs
from components.secure_bucket import BucketReplica

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
TOPIC = "arn:aws:sns:us-east-1:123456789012:tradesense-test-alarms"
ACCOUNT = "123456789012"
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/tradesense-test-audit"
TRAIL = "aws:cloudtrail/trail:Trail"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def make_args(tags, **overrides):
    args = dict(
        logs_kms_key_arn=KEY,
        access_log_bucket="logs-bucket",
        alarm_topic_arn=TOPIC,
        account_id=ACCOUNT,
        region="us-east-1",
        trail_name="tradesense-test-audit",
        tags=tags,
    )
    args.update(overrides)
    return AuditTrailArgs(**args)


def build(tags, **overrides):
    def program():
        audit = AuditTrail("audit", make_args(tags, **overrides))
        for attribute in (
            "trail_arn",
            "trail_name",
            "bucket_name",
            "bucket_arn",
            "replica_bucket_arn",
            "log_group_name",
            "security_alarm_names",
        ):
            pulumi.export(attribute, getattr(audit, attribute))

    return program


def test_trail_is_multi_region_validated_encrypted_and_delivered_to_cloudwatch(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    trail = cap.one(TRAIL)
    inputs = trail.inputs
    assert inputs["name"] == "tradesense-test-audit"
    assert inputs["isMultiRegionTrail"] is True
    assert inputs["includeGlobalServiceEvents"] is True
    assert inputs["enableLogFileValidation"] is True
    assert inputs["enableLogging"] is True
    assert inputs["kmsKeyId"] == KEY
    log_group = cap.one(LOG_GROUP)
    assert inputs["cloudWatchLogsGroupArn"] == log_group.outputs["arn"] + ":*"
    assert inputs["cloudWatchLogsRoleArn"] == cap.one("aws:iam/role:Role").outputs["arn"]
    assert inputs["s3BucketName"] == cap.one("aws:s3/bucket:Bucket").outputs["bucket"]
    assert inputs["eventSelectors"] == [{"readWriteType": "All", "includeManagementEvents": True}]
    assert inputs["tags"]["Purpose"] == "audit"
    assert trail.outputs["arn"] == TRAIL_ARN == cap.outputs["trail_arn"]
    depends = set(trail.dependencies)
    assert cap.one("aws:s3/bucketPolicy:BucketPolicy").urn in depends
    assert cap.one("aws:iam/rolePolicy:RolePolicy").urn in depends


def test_log_group_is_encrypted_retained_and_named_for_the_stack(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    log_group = cap.one(LOG_GROUP)
    assert log_group.inputs["name"] == "/tradesense/test/cloudtrail"
    assert log_group.inputs["kmsKeyId"] == KEY
    assert log_group.inputs["retentionInDays"] == 365
    assert log_group.protect is True
    assert cap.outputs["log_group_name"] == "/tradesense/test/cloudtrail"


def test_delivery_role_may_only_write_streams_of_the_trail_log_group(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    trust = json.loads(cap.one("aws:iam/role:Role").inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "cloudtrail.amazonaws.com"}]
    statements = json.loads(cap.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])["Statement"]
    assert len(statements) == 1
    assert sorted(statements[0]["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statements[0]["Resource"] == cap.one(LOG_GROUP).outputs["arn"] + ":log-stream:*"


def test_bucket_is_locked_for_the_retention_and_admits_only_this_trail(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    bucket = cap.one("aws:s3/bucket:Bucket")
    arn = bucket.outputs["arn"]
    assert bucket.inputs["tags"]["Purpose"] == "audit-logs"
    lock = cap.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs
    assert lock["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 365}
    lifecycle = cap.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"][0]
    assert lifecycle["expiration"]["days"] == 365
    statements = {
        s["Sid"]: s for s in json.loads(cap.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    }
    acl = statements["AllowCloudTrailAclCheck"]
    assert (acl["Action"], acl["Resource"]) == ("s3:GetBucketAcl", arn)
    assert acl["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    write = statements["AllowCloudTrailWrite"]
    assert (write["Action"], write["Resource"]) == ("s3:PutObject", f"{arn}/AWSLogs/{ACCOUNT}/*")
    assert write["Condition"] == {
        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": TRAIL_ARN}
    }
    assert cap.outputs["bucket_arn"] == arn


def test_audit_bucket_is_not_replicated_without_a_replica(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    assert cap.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    assert cap.outputs["replica_bucket_arn"] is None


def test_replica_makes_the_audit_bucket_replicate_to_an_equally_locked_dr_bucket(run_pulumi, tags):
    dr_key = "arn:aws:kms:us-west-2:123456789012:key/66666666-7777-8888-9999-000000000000"

    def program():
        replica = BucketReplica(
            provider=aws.Provider("dr", region="us-west-2"), kms_key_arn=dr_key, access_log_bucket="dr-logs-bucket"
        )
        build(tags, replica=replica)()

    cap = run_pulumi(program)
    dr = cap.one("pulumi:providers:aws", "dr")
    source = cap.one("aws:s3/bucket:Bucket", "audit-logs-bucket")
    replica_bucket = cap.one("aws:s3/bucket:Bucket", "audit-logs-replica-bucket")
    assert replica_bucket.provider.startswith(dr.urn + "::")
    assert replica_bucket.outputs["arn"] == cap.outputs["replica_bucket_arn"]
    config = cap.one("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert config.inputs["bucket"] == source.outputs["id"]
    assert config.inputs["rules"][0]["destination"]["bucket"] == replica_bucket.outputs["arn"]
    assert config.inputs["rules"][0]["destination"]["encryptionConfiguration"] == {"replicaKmsKeyId": dr_key}
    lock = cap.one(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "audit-logs-replica-object-lock"
    )
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 365}
    role = cap.one("aws:iam/role:Role", "audit-logs-replication-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    decrypt = [
        s
        for s in json.loads(cap.one("aws:iam/rolePolicy:RolePolicy", "audit-logs-replication").inputs["policy"])[
            "Statement"
        ]
        if s["Action"] == "kms:Decrypt"
    ]
    assert decrypt[0]["Resource"] == KEY
    assert decrypt[0]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_every_cis_filter_has_an_alarm_wired_to_the_topic(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    filters = cap.of_type(FILTER)
    alarms = {a.inputs["metricName"]: a for a in cap.of_type(ALARM) if a.inputs["namespace"] == SECURITY_NAMESPACE}
    assert len(filters) == len(alarms) == len(CIS_CONTROLS) == 13
    assert {c.control for c in CIS_CONTROLS} == {f"4.{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14)}
    log_group = cap.one(LOG_GROUP).outputs["name"]
    for control in CIS_CONTROLS:
        metric_filter = next(f for f in filters if f.inputs["pattern"] == control.pattern)
        assert metric_filter.inputs["logGroupName"] == log_group
        transformation = metric_filter.inputs["metricTransformation"]
        assert (transformation["namespace"], transformation["name"]) == (SECURITY_NAMESPACE, control.metric)
        alarm = alarms[control.metric].inputs
        assert alarm["namespace"] == SECURITY_NAMESPACE
        assert alarm["alarmActions"] == [TOPIC]
        assert alarm["treatMissingData"] == "notBreaching"
        assert (alarm["statistic"], alarm["threshold"], alarm["comparisonOperator"]) == (
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
        )
        assert alarm["alarmDescription"].startswith(f"CIS AWS Foundations {control.control}: ")
    assert sorted(cap.outputs["security_alarm_names"]) == sorted(a.inputs["name"] for a in cap.of_type(ALARM))


def test_a_trail_that_stops_delivering_pages_the_topic(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    alarm = next(a for a in cap.of_type(ALARM) if a.inputs["namespace"] == "AWS/Logs")
    i = alarm.inputs
    assert i["metricName"] == "IncomingLogEvents"
    assert i["dimensions"] == {"LogGroupName": cap.one(LOG_GROUP).outputs["name"]}
    # Silence is the failure here, so missing data must breach, unlike the CIS alarms.
    assert (i["comparisonOperator"], i["threshold"], i["treatMissingData"]) == ("LessThanThreshold", 1, "breaching")
    assert i["alarmActions"] == [TOPIC] and i["okActions"] == [TOPIC]


def test_cis_patterns_match_the_events_they_watch():
    patterns = {c.control: c.pattern for c in CIS_CONTROLS}
    assert "ConsoleLogin" in patterns["4.2"] and "MFAUsed" in patterns["4.2"]
    assert '"Root"' in patterns["4.3"]
    assert "ScheduleKeyDeletion" in patterns["4.7"] and "kms.amazonaws.com" in patterns["4.7"]
    assert all(p.startswith("{") and p.endswith("}") and p.count("(") == p.count(")") for p in patterns.values())


def test_data_events_are_recorded_for_the_given_buckets(run_pulumi, tags):
    backups = "arn:aws:s3:::tradesense-test-database-backups-abc"
    cap = run_pulumi(build(tags, data_event_bucket_arns=[backups]))
    selector = cap.one(TRAIL).inputs["eventSelectors"][0]
    assert selector["includeManagementEvents"] is True and selector["readWriteType"] == "All"
    assert selector["dataResources"] == [{"type": "AWS::S3::Object", "values": [backups + "/"]}]


def test_longer_retention_flows_to_lock_lifecycle_and_log_group(run_pulumi, tags):
    cap = run_pulumi(build(tags, log_retention_days=731))
    assert cap.one(LOG_GROUP).inputs["retentionInDays"] == 731
    lock = cap.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs
    assert lock["rule"]["defaultRetention"]["days"] == 731


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"log_retention_days": 90}, "log_retention_days = 90"),
        ({"log_retention_days": 500}, "log_retention_days = 500"),
        ({"trail_name": "-audit"}, "trail_name = '-audit'"),
        ({"trail_name": "a..b"}, "trail_name = 'a..b'"),
        ({"account_id": "12345"}, "account_id = '12345'"),
        ({"region": "useast1"}, "region = 'useast1'"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, field):
    with pytest.raises(ValueError, match=field):
        make_args(tags, **overrides)


def test_missing_tags_are_rejected(tags):
    del tags["Stack"]
    with pytest.raises(ValueError, match="AuditTrailArgs.tags: missing required tag"):
        make_args(tags)
