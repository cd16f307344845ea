"""Things only a real first `pulumi up -s prod` would have shown, pinned on the prod program.

- The Route 53 zone is read from Route 53 (aws.route53.get_zone), never copied by hand: a made-up id
  passed the old format check and failed at deploy with NoSuchHostedZone, after the keys, the
  protected databases and the object-locked buckets existed
  (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZonesByName.html).
- The RDS engine version is a major version only: RDS retires minor versions on a schedule and
  upgrades them itself (https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html).
"""

from __future__ import annotations

import re

import pulumi
import pytest

from components.edge import route53_zone_name
from scripts.engine import offline
from scripts.engine.preview import run_stack
from stacks.settings import ConfigError, parse_settings, read_stack_config

ZONE_ID = re.compile(r"^Z[A-Z0-9]{13,21}$")
RECORD = "aws:route53/record:Record"


def test_prod_config_names_no_zone_id():
    assert "hostedZoneId" not in read_stack_config("prod")["tradesense:edge"]


def test_a_hand_copied_zone_id_is_refused_with_one_line():
    config = read_stack_config("prod")
    config["tradesense:edge"] = {**config["tradesense:edge"], "hostedZoneId": "Z0421186TRADESENSE"}
    with pytest.raises(ConfigError) as error:
        parse_settings(config, project="tradesense", stack="prod")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith('tradesense:edge.hostedZoneId = "Z0421186TRADESENSE": unknown setting')


@pytest.mark.parametrize(
    ("hostname", "zone_name", "zone"),
    [
        ("api.tradesense.io", None, "tradesense.io"),
        ("tradesense.io", "tradesense.io", "tradesense.io"),  # an apex: its parent, io, is no one's zone
        ("api.eu.tradesense.co.uk", "tradesense.co.uk", "tradesense.co.uk"),
    ],
)
def test_the_zone_is_the_parent_domain_unless_zone_name_says_otherwise(hostname, zone_name, zone):
    assert route53_zone_name(hostname, zone_name) == zone


@pytest.mark.parametrize("zone_name", ["tradesense.com", "pi.tradesense.io", "ense.io"])
def test_a_zone_name_that_cannot_hold_the_hostname_is_refused_with_one_line(zone_name):
    config = read_stack_config("prod")
    config["tradesense:edge"] = {**config["tradesense:edge"], "zoneName": zone_name}
    with pytest.raises(ConfigError) as error:
        parse_settings(config, project="tradesense", stack="prod")
    assert str(error.value).startswith(f'tradesense:edge.zoneName = "{zone_name}": must be publicHostname')


def test_every_record_is_written_in_the_looked_up_public_zone(prod_capture):
    records = prod_capture.of_type(RECORD)
    assert len(records) == 3  # certificate validation, A and AAAA aliases
    zone_ids = {r.inputs["zoneId"] for r in records}
    assert len(zone_ids) == 1
    (zone_id,) = zone_ids
    assert ZONE_ID.match(zone_id), zone_id
    # ... and it is what Route 53 answered for the hostname's parent domain, not a config value.
    answer, _ = offline.RealisticMocks("us-east-1").call(
        _call("aws:route53/getZone:getZone", name="tradesense.io", privateZone=False)
    )
    assert zone_id == answer["zoneId"] and answer["name"] == "tradesense.io."


def test_the_lookup_asks_for_the_public_zone_of_the_parent_domain(monkeypatch):
    asked = []
    original = offline.RealisticMocks.call

    def call(self, args):
        if args.token == "aws:route53/getZone:getZone":
            asked.append(dict(args.args))
        return original(self, args)

    monkeypatch.setattr(offline.RealisticMocks, "call", call)
    run_stack("prod")
    assert [(a.get("name"), a.get("privateZone")) for a in asked] == [("tradesense.io", False)]


def test_a_missing_zone_stops_the_program_before_anything_is_created(monkeypatch):
    registered = []
    original_call, original_new = offline.RealisticMocks.call, offline.RealisticMocks.new_resource

    def call(self, args):
        if args.token == "aws:route53/getZone:getZone":
            # What the provider answers when the account has no such zone.
            return {}, [("name", "no matching Route 53 Hosted Zone found")]
        return original_call(self, args)

    def new_resource(self, args):
        registered.append(args.typ)
        return original_new(self, args)

    monkeypatch.setattr(offline.RealisticMocks, "call", call)
    monkeypatch.setattr(offline.RealisticMocks, "new_resource", new_resource)
    with pytest.raises(pulumi.RunError) as error:
        run_stack("prod")
    message = str(error.value)
    assert "\n" not in message
    assert "tradesense:edge.publicHostname = 'api.tradesense.io'" in message
    assert "no public Route 53 hosted zone 'tradesense.io'" in message
    assert registered == [], registered


def test_rds_instances_name_a_major_version_and_a_matching_parameter_family(prod_capture):
    instances = prod_capture.of_type("aws:rds/instance:Instance")
    groups = {
        g.outputs["name"]: g.inputs["family"] for g in prod_capture.of_type("aws:rds/parameterGroup:ParameterGroup")
    }
    assert len(instances) == 5
    for instance in instances:
        version = instance.inputs["engineVersion"]
        assert re.fullmatch(r"\d+", version), f"{instance.name}: {version} pins a minor version RDS will retire"
        assert instance.inputs["autoMinorVersionUpgrade"] is True
        assert groups[instance.inputs["parameterGroupName"]] == f"postgres{version}"


def test_a_minor_engine_version_in_config_is_refused():
    config = read_stack_config("prod")
    services = dict(config["tradesense:services"])
    services["auth"] = {"database": {"engineVersion": "16.4"}}
    config["tradesense:services"] = services
    with pytest.raises(
        ConfigError,
        match=r'tradesense:services\.auth\.database\.engineVersion = "16\.4": must be a '
        r"PostgreSQL major version",
    ):
        parse_settings(config, project="tradesense", stack="prod")


def _call(token, **args):
    from pulumi.runtime.mocks import MockCallArgs

    return MockCallArgs(token=token, args=args, provider="")


def test_cloudtrail_can_use_the_logs_key_for_the_audit_bucket(prod_capture):
    """CloudTrail refuses to create a trail whose key it cannot use
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/encrypting-cloudtrail-log-files-with-aws-kms.html).
    The logs key admits GenerateDataKey only with CloudTrail's documented encryption context
    (kms:EncryptionContext:aws:cloudtrail:arn, https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html);
    an S3 Bucket Key makes S3 ask KMS under the bucket's context instead
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/configuring-bucket-key.html), so the audit
    bucket must not use one, and the trail's own request must be allowed."""
    import json

    from tests.aws_conditions import allowing_statements

    trail = prod_capture.one("aws:cloudtrail/trail:Trail")
    audit_bucket = trail.inputs["s3BucketName"]
    buckets = {b.outputs["bucket"]: b for b in prod_capture.of_type("aws:s3/bucket:Bucket")}
    encryption = [
        e
        for e in prod_capture.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        if e.inputs["bucket"] in (audit_bucket, buckets[audit_bucket].id)
    ]
    assert len(encryption) == 1
    assert encryption[0].inputs["rules"][0]["bucketKeyEnabled"] is False

    key = next(k for k in prod_capture.of_type("aws:kms/key:Key") if k.outputs["arn"] == trail.inputs["kmsKeyId"])
    policy = json.loads(key.inputs["policy"])
    account = trail.outputs["arn"].split(":")[4]
    context = {
        "kms:EncryptionContext:aws:cloudtrail:arn": trail.outputs["arn"],
        "aws:SourceAccount": account,
        "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{audit_bucket}/AWSLogs/{account}/x.json.gz",
    }
    assert allowing_statements(policy, "cloudtrail.amazonaws.com", "kms:GenerateDataKey", context)
    assert allowing_statements(policy, "cloudtrail.amazonaws.com", "kms:DescribeKey", context)
    # Another account's trail is not admitted.
    foreign = {
        **context,
        "kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:us-east-1:999999999999:trail/x",
        "aws:SourceAccount": "999999999999",
    }
    assert not allowing_statements(policy, "cloudtrail.amazonaws.com", "kms:GenerateDataKey", foreign)
