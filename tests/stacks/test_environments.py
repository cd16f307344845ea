"""Every environment: each Pulumi.<stack>.yaml previews offline and passes the gate, and a stack
outside us-east-1 keeps everything in its own region but the CloudFront edge AWS requires there."""

from __future__ import annotations

import datetime as dt
import json
import re

import pulumi
import pytest

from scripts.engine.offline import RealisticMocks
from scripts.engine.preview import run_stack
from scripts.report.policy_report import build_report, run_checkov
from stacks.settings import ConfigError, parse_settings, read_stack_config
from tests.stack_files import STACKS

# A fixed day, so the test does not change verdict on its own; every committed waiver outlives it.
TODAY = dt.date(2026, 11, 30)
EDGE_REGION = "us-east-1"
_ARN = re.compile(r"^arn:(?P<partition>[a-z-]+):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):")


def test_the_repo_has_prod_and_staging():
    assert {"prod", "staging"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_previews_and_passes_the_gate(stack, stack_run):
    """The same gate as `make preview STACK=<stack>`: the pack over gRPC, checkov, the waivers."""
    run = stack_run(stack)
    document = run.preview
    assert document["steps"] and document["config"]["aws:region"] == read_stack_config(stack)["aws:region"]
    report = build_report(str(run.preview_path), today=TODAY, extra=run_checkov(str(run.preview_path)))
    assert report.stack == stack
    assert report.blocking == [], [(f.rule_id, f.urn, f.message) for f in report.blocking]
    # Judged, not skipped: every policy of the pack passes (or is waived) on some resource.
    judged = {f.rule_id for f in report.findings if f.source == "policy" and f.status in ("pass", "waived")}
    assert len(judged) >= 40
    # A waiver that applies here is either for every stack or names this one, and every waiver
    # scoped to this stack is used here (a stale stack exception would hide the next finding).
    used = set()
    for finding in report.findings:
        if finding.status == "waived":
            assert stack in finding.waiver.get("stacks", [stack]), finding.urn
            used.add((finding.waiver["policy"], tuple(finding.waiver["resources"])))
    scoped = {(w["policy"], tuple(w["resources"])) for w in report.waivers if stack in w.get("stacks", [])}
    assert scoped <= used, f"stale waivers scoped to {stack}: {scoped - used}"


# -- where each resource lands --------------------------------------------------------------------


def resource_regions(document: dict) -> dict[str, str]:
    """URN -> the region a resource is created in, as the engine decides it: the resource's own
    `region` input (pulumi-aws 7), else its provider's region, else the stack's aws:region (the
    default provider). Provider steps themselves are left out."""
    stack_region = document["config"]["aws:region"]
    provider_regions = {
        step["urn"]: step["newState"]["inputs"].get("region") or stack_region
        for step in document["steps"]
        if step["newState"]["type"] == "pulumi:providers:aws"
    }
    regions = {}
    for step in document["steps"]:
        state = step["newState"]
        if not state["custom"] or not state["type"].startswith("aws:"):
            continue
        provider_urn = step["provider"].rsplit("::", 1)[0]
        regions[step["urn"]] = state["inputs"].get("region") or provider_regions[provider_urn]
    return regions


def edge_names(capture) -> set[str]:
    """What this program places in us-east-1 on purpose, found by structure, not by region."""
    edge = capture.one("tradesense:edge:EdgeFirewall", "edge")
    alerts = capture.one("tradesense:monitoring:AlertTopic", "edge-alerts")
    return {r.name for r in capture.descendants(edge.urn) + capture.descendants(alerts.urn) if r.custom} | {
        "keys-logs-edge",
        "keys-logs-edge-alias",
        "monitoring-waf-BlockedRequests",
    }


def test_staging_keeps_everything_in_eu_central_1_but_the_edge(stack_run):
    run = stack_run("staging")
    document, capture = run.preview, run.capture
    assert document["config"]["aws:region"] == "eu-central-1"
    regions = resource_regions(document)
    by_name = {urn.rsplit("::", 1)[-1]: region for urn, region in regions.items()}
    in_edge_region = {name for name, region in by_name.items() if region == EDGE_REGION}
    assert in_edge_region == edge_names(capture)
    assert {region for name, region in by_name.items() if name not in in_edge_region} == {"eu-central-1"}
    # AWS requires these in us-east-1, whatever the stack's region:
    # - CLOUDFRONT web ACL: https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html
    # - CloudFront's certificate: https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html
    # - the WAF log group, in the web ACL's region: https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html
    # - its KMS key, in the log group's region: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    for name in (
        "edge-web-acl",
        "edge-certificate",
        "edge-certificate-validation",
        "edge-waf-logs",
        "edge-waf-logging",
        "keys-logs-edge",
    ):
        assert by_name[name] == EDGE_REGION, name
    # The stack's own keys, data stores and trail stay home.
    for name in ("keys-logs", "keys-data", "auth-db-instance", "cache-redis", "audit-trail", "network-vpc"):
        assert by_name.get(name) == "eu-central-1", (name, sorted(by_name))


def test_staging_arns_endpoints_and_zones_come_from_its_region(stack_run):
    run = stack_run("staging")
    document, capture = run.preview, run.capture
    regions = resource_regions(document)
    states = {s["urn"]: s["newState"] for s in document["steps"]}
    for urn, region in regions.items():
        arn = states[urn]["outputs"].get("arn")
        match = _ARN.match(arn or "")
        if match:
            assert match["partition"] == "aws", arn
            # Global services (IAM, S3 bucket names, CloudFront, Budgets) carry no region in the ARN.
            assert match["region"] in ("", region), (urn, arn)
    web_acl = capture.one("aws:wafv2/webAcl:WebAcl")
    log_group = capture.one("aws:cloudwatch/logGroup:LogGroup", "edge-waf-logs")
    edge_key = capture.one("aws:kms/key:Key", "keys-logs-edge")
    assert web_acl.inputs["scope"] == "CLOUDFRONT"
    assert log_group.inputs["name"].startswith("aws-waf-logs-")
    assert log_group.inputs["kmsKeyId"] == edge_key.outputs["arn"]
    assert edge_key.outputs["arn"].startswith("arn:aws:kms:us-east-1:")
    # The edge key admits CloudWatch Logs of us-east-1, where the WAF log group is.
    policy = json.loads(edge_key.inputs["policy"])
    logs = next(s for s in policy["Statement"] if s["Sid"] == "AllowCloudWatchLogsForThisAccountsLogGroups")
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    distribution = capture.one("aws:cloudfront/distribution:Distribution")
    assert distribution.inputs["viewerCertificate"]["acmCertificateArn"].startswith("arn:aws:acm:us-east-1:")
    # The WAF alarm notifies a topic of its own region (us-east-1), encrypted with the edge key.
    waf_alarm = capture.one("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-waf-BlockedRequests")
    edge_topic = capture.one("aws:sns/topic:Topic", "edge-alerts-topic")
    assert waf_alarm.inputs["alarmActions"] == [edge_topic.outputs["arn"]]
    assert edge_topic.inputs["kmsMasterKeyId"] == edge_key.outputs["arn"]
    # Zones and endpoint services are the region's: https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html
    zones = {s.inputs["availabilityZone"] for s in capture.of_type("aws:ec2/subnet:Subnet")}
    assert zones == {"eu-central-1a", "eu-central-1b"}
    services = [e.inputs["serviceName"] for e in capture.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")]
    assert services and all(s.startswith("com.amazonaws.eu-central-1.") for s in services)
    # Only the edge service's dashboard points into us-east-1: it draws the WAF alarm, which is there.
    edge = edge_names(capture)
    mentions = {
        states[urn]["urn"].rsplit("::", 1)[-1]
        for urn in regions
        if urn.rsplit("::", 1)[-1] not in edge and EDGE_REGION in json.dumps(states[urn]["inputs"])
    }
    assert mentions == {"monitoring-gateway-dashboard"}


def test_staging_differs_from_prod_only_in_size_and_dr(stack_run):
    staging, prod = stack_run("staging").capture, stack_run("prod").capture
    assert staging.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    assert [p.name for p in staging.of_type("pulumi:providers:aws")] == ["edge"]
    group = staging.one("aws:elasticache/replicationGroup:ReplicationGroup")
    # One replica in another AZ with automatic failover: staging survives the loss of one AZ.
    assert group.inputs["numCacheClusters"] == 2
    assert group.inputs["multiAzEnabled"] is True and group.inputs["automaticFailoverEnabled"] is True
    assert staging.one("aws:budgets/budget:Budget").inputs["limitAmount"] == "4000"
    subscriptions = {s.inputs["endpoint"] for s in staging.of_type("aws:sns/topicSubscription:TopicSubscription")}
    assert subscriptions == {"platform-staging@tradesense.io"}
    # Same posture: the security-relevant inputs of every database and the cache match prod's.
    posture = ("storageEncrypted", "publiclyAccessible", "deletionProtection", "backupRetentionPeriod", "multiAz")
    for instance in staging.of_type("aws:rds/instance:Instance"):
        twin = prod.one("aws:rds/instance:Instance", instance.name)
        assert {k: instance.inputs.get(k) for k in posture} == {k: twin.inputs.get(k) for k in posture}
        assert instance.inputs["instanceClass"].startswith("db.t4g.")
    twin = prod.one("aws:elasticache/replicationGroup:ReplicationGroup")
    for key in ("atRestEncryptionEnabled", "transitEncryptionEnabled", "snapshotRetentionLimit"):
        assert group.inputs[key] == twin.inputs[key], key


def test_prod_edge_goes_through_the_explicit_us_east_1_provider(stack_run):
    capture = stack_run("prod").capture
    provider = capture.one("pulumi:providers:aws", "edge")
    assert provider.inputs["region"] == EDGE_REGION
    edge = capture.one("tradesense:edge:EdgeFirewall", "edge")
    children = [r for r in capture.descendants(edge.urn) if r.custom]
    assert children and all(r.provider.startswith(provider.urn + "::") for r in children)
    # In us-east-1 the stack's own logs key and alert topic serve the edge: nothing is duplicated.
    assert not [r for r in capture.resources if r.name.startswith(("keys-logs-edge", "edge-alerts"))]
    log_group = capture.one("aws:cloudwatch/logGroup:LogGroup", "edge-waf-logs")
    assert log_group.inputs["kmsKeyId"] == capture.one("aws:kms/key:Key", "keys-logs").outputs["arn"]


# -- regions the program refuses -------------------------------------------------------------------


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1", "us-iso-east-1", "eu-central"])
def test_a_region_outside_the_commercial_partition_is_one_line(region):
    config = {**read_stack_config("staging"), "aws:region": region}
    with pytest.raises(ConfigError) as info:
        parse_settings(config, project="tradesense", stack="staging")
    assert str(info.value) == (
        f'aws:region = "{region}": must be a commercial AWS region like eu-central-1 '
        "(GovCloud, China and other partitions are not supported)"
    )


def test_more_zones_than_the_region_has_stop_the_program_before_any_resource():
    config = {**read_stack_config("staging"), "tradesense:network": {"cidr": "10.50.0.0/16", "azCount": 4}}
    with pytest.raises(
        pulumi.RunError,
        match=r"^tradesense:network.azCount = 4: region eu-central-1 has 3 "
        r"available zones \(eu-central-1a, eu-central-1b, eu-central-1c\)$",
    ):
        run_stack("staging", config=config)


def test_a_provider_in_another_partition_stops_the_program(monkeypatch):
    """The ARNs this program writes are the commercial partition's (`aws`); if the provider ever
    answers otherwise, nothing is declared. https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html"""
    answer = RealisticMocks.call

    def call(self, args):
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws-cn", "dnsSuffix": "amazonaws.com.cn", "id": "aws-cn"}, []
        return answer(self, args)

    monkeypatch.setattr(RealisticMocks, "call", call)
    with pytest.raises(pulumi.RunError, match=r"^aws:region = 'eu-central-1' is in partition 'aws-cn': "):
        run_stack("staging")
