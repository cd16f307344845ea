import json

import pulumi
import pytest

from components.limits import DatadogSettings
from components.monitoring import ALARM_RULES, DatabaseWatch, Monitoring, MonitoringArgs

TOPIC = "arn:aws:sns:us-east-1:123456789012:tradesense-test-alarms"
WAF_TOPIC = "arn:aws:sns:us-east-1:123456789012:tradesense-test-edge-alarms"
SERVICES = ("gateway", "auth", "trading", "ai")
DATABASES = {
    "auth": DatabaseWatch(
        identifier="tradesense-test-auth", proxy_name="tradesense-test-auth-proxy", max_connections=100
    ),
    "trading": DatabaseWatch(
        identifier="tradesense-test-trading", proxy_name="tradesense-test-trading-proxy", max_connections=400
    ),
}
MEMBERS = ("tradesense-test-cache-001", "tradesense-test-cache-002", "tradesense-test-cache-003")
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
BUDGET = "aws:budgets/budget:Budget"
ROLE = "aws:iam/role:Role"


def make_args(tags, **overrides):
    args = dict(
        alarm_topic_arn=TOPIC,
        databases=DATABASES,
        cache_replication_group_id="tradesense-test-cache",
        cache_member_cluster_ids=MEMBERS,
        web_acl_name="tradesense-test-edge",
        service_names=SERVICES,
        region="us-east-1",
        monthly_budget_usd=25000,
        budget_email="oncall@tradesense.io",
        account_id="123456789012",
        tags=tags,
    )
    args.update(overrides)
    return MonitoringArgs(**args)


def build(tags, **overrides):
    def program():
        monitoring = Monitoring("monitoring", make_args(tags, **overrides))
        for attribute in ("alarm_names", "dashboard_names", "budget_name", "datadog_role_arn"):
            pulumi.export(attribute, getattr(monitoring, attribute))

    return program


def alarms_by_key(cap):
    """Alarm inputs keyed like Monitoring.alarm_names, through the exported names."""
    by_name = {a.inputs["name"]: a.inputs for a in cap.of_type(ALARM)}
    return {key: by_name[name] for key, name in cap.outputs["alarm_names"].items()}


def test_every_database_proxy_and_cache_member_has_alarms_to_the_topic(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    alarms = alarms_by_key(cap)
    expected = {
        f"{service}/{rule.metric}"
        for service in DATABASES
        for kind in ("database", "proxy")
        for rule in ALARM_RULES[kind][1]
    }
    expected |= {f"cache/{member}/{rule.metric}" for member in MEMBERS for rule in ALARM_RULES["cache"][1]}
    expected |= {"waf/BlockedRequests"}
    assert set(alarms) == expected
    assert len(cap.of_type(ALARM)) == len(expected) == 2 * (5 + 2) + 3 * 3 + 1
    for key, alarm in alarms.items():
        assert alarm["alarmActions"] == [TOPIC] and alarm["okActions"] == [TOPIC], key
        service = key.split("/")[0]
        assert alarm["tags"]["Service"] == (
            service if service in DATABASES else "gateway" if service == "waf" else tags["Service"]
        ), key


def test_database_alarms_watch_the_instance_with_the_documented_thresholds(run_pulumi, tags):
    alarms = alarms_by_key(run_pulumi(build(tags)))
    for service, watch in DATABASES.items():
        cpu = alarms[f"{service}/CPUUtilization"]
        assert (cpu["namespace"], cpu["dimensions"]) == ("AWS/RDS", {"DBInstanceIdentifier": watch.identifier})
        assert (cpu["comparisonOperator"], cpu["threshold"]) == ("GreaterThanThreshold", 80)
        storage = alarms[f"{service}/FreeStorageSpace"]
        assert (storage["comparisonOperator"], storage["threshold"]) == ("LessThanThreshold", 10 * 1024**3)
        assert alarms[f"{service}/DatabaseConnections"]["threshold"] == 0.8 * watch.max_connections
        assert alarms[f"{service}/ReadLatency"]["threshold"] == 0.02
        assert alarms[f"{service}/WriteLatency"]["threshold"] == 0.02
        borrow = alarms[f"{service}/DatabaseConnectionsBorrowLatency"]
        assert (borrow["namespace"], borrow["dimensions"]) == ("AWS/RDS", {"ProxyName": watch.proxy_name})
        assert borrow["threshold"] == 100_000
        assert alarms[f"{service}/ClientConnections"]["threshold"] == 2 * watch.max_connections


def test_cache_member_alarms(run_pulumi, tags):
    alarms = alarms_by_key(run_pulumi(build(tags)))
    for member in MEMBERS:
        for metric, threshold in (
            ("EngineCPUUtilization", 80),
            ("DatabaseMemoryUsagePercentage", 80),
            ("Evictions", 0),
        ):
            alarm = alarms[f"cache/{member}/{metric}"]
            assert (alarm["namespace"], alarm["dimensions"]) == ("AWS/ElastiCache", {"CacheClusterId": member})
            assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", threshold)
            assert "tradesense-test-cache" in alarm["alarmDescription"]
        evictions = alarms[f"cache/{member}/Evictions"]
        assert (evictions["statistic"], evictions["period"], evictions["evaluationPeriods"]) == ("Sum", 300, 1)


def test_waf_alarm_reads_cloudfront_metrics_in_us_east_1(run_pulumi, tags):
    waf = alarms_by_key(run_pulumi(build(tags, waf_blocked_requests_threshold=250)))["waf/BlockedRequests"]
    assert (waf["namespace"], waf["metricName"]) == ("AWS/WAFV2", "BlockedRequests")
    assert waf["dimensions"] == {"WebACL": "tradesense-test-edge", "Rule": "ALL"}
    assert (waf["statistic"], waf["period"], waf["threshold"]) == ("Sum", 300, 250)
    assert waf["region"] == "us-east-1"


def test_stack_outside_us_east_1_sends_the_waf_alarm_to_a_topic_there(run_pulumi, tags):
    alarms = alarms_by_key(run_pulumi(build(tags, region="eu-west-1", waf_alarm_topic_arn=WAF_TOPIC)))
    assert alarms["waf/BlockedRequests"]["alarmActions"] == [WAF_TOPIC]
    assert alarms["waf/BlockedRequests"]["region"] == "us-east-1"
    assert alarms["auth/CPUUtilization"]["region"] == "eu-west-1"


def test_a_dashboard_per_service_graphs_its_own_alarms(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    arns = {
        key: next(a.outputs["arn"] for a in cap.of_type(ALARM) if a.inputs["name"] == name)
        for key, name in cap.outputs["alarm_names"].items()
    }
    dashboards = {d.inputs["dashboardName"]: d.inputs for d in cap.of_type(DASHBOARD)}
    assert cap.outputs["dashboard_names"] == {s: f"tradesense-test-{s}" for s in SERVICES}

    def graphed(service):
        body = json.loads(dashboards[f"tradesense-test-{service}"]["dashboardBody"])
        return {w["properties"]["title"]: w["properties"]["annotations"]["alarms"][0] for w in body["widgets"]}

    cache = {k for k in arns if k.startswith("cache/")}
    trading = graphed("trading")
    assert set(trading) == {k for k in arns if k.startswith("trading/")} | cache
    assert all(trading[key] == arns[key] for key in trading)
    assert set(graphed("ai")) == cache
    assert set(graphed("gateway")) == cache | {"waf/BlockedRequests"}


def test_budget_warns_at_80_percent_actual_and_100_percent_forecast(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    budget = cap.one(BUDGET).inputs
    assert (budget["budgetType"], budget["timeUnit"]) == ("COST", "MONTHLY")
    assert (float(budget["limitAmount"]), budget["limitUnit"]) == (25000, "USD")
    notes = {(n["notificationType"], n["threshold"]) for n in budget["notifications"]}
    assert notes == {("ACTUAL", 80), ("FORECASTED", 100)}
    for note in budget["notifications"]:
        assert note["subscriberEmailAddresses"] == ["oncall@tradesense.io"]
        assert note["subscriberSnsTopicArns"] == [TOPIC]
        assert (note["comparisonOperator"], note["thresholdType"]) == ("GREATER_THAN", "PERCENTAGE")
    assert cap.outputs["budget_name"] == budget["name"]


def test_datadog_role_is_absent_by_default(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    assert cap.of_type(ROLE) == []
    assert cap.outputs["datadog_role_arn"] is None


def test_datadog_role_is_read_only_and_needs_the_external_id(run_pulumi, tags):
    datadog = DatadogSettings(enabled=True, external_id="dd-external-id")
    cap = run_pulumi(build(tags, datadog=datadog))
    role = cap.one(ROLE)
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{datadog.account_id}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "dd-external-id"}},
        }
    ]
    attached = [a.inputs["policyArn"] for a in cap.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")]
    assert attached == ["arn:aws:iam::aws:policy/SecurityAudit"]
    actions = json.loads(cap.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])["Statement"][0]["Action"]
    assert "budgets:ViewBudget" in actions and "tag:GetResources" in actions
    assert all(a != "*" and not a.endswith(":*") for a in actions)
    assert not any("FullAccess" in arn for arn in attached)
    assert cap.outputs["datadog_role_arn"] == role.outputs["arn"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"service_names": ()}, "service_names"),
        ({"service_names": ("gateway", "gateway")}, "service_names"),
        ({"service_names": ("gateway", "cache")}, "service_names"),
        ({"service_names": ("gateway", "auth")}, r"databases: \['trading'\]"),
        ({"edge_service": "edge"}, "edge_service = 'edge'"),
        ({"cache_member_cluster_ids": ()}, "cache_member_cluster_ids"),
        ({"cache_member_cluster_ids": ("other-001",)}, "cache_member_cluster_ids"),
        ({"region": "eu-west-1"}, "waf_alarm_topic_arn: required"),
        ({"region": "Europe"}, "region = 'Europe'"),
        ({"monthly_budget_usd": 0}, "monthly_budget_usd = 0"),
        ({"budget_email": "oncall"}, "budget_email = 'oncall'"),
        ({"waf_blocked_requests_threshold": 0}, "waf_blocked_requests_threshold = 0"),
        ({"account_id": "123"}, "account_id = '123'"),
        ({"datadog": DatadogSettings(enabled=True)}, "MonitoringArgs.datadog"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, field):
    with pytest.raises(ValueError, match=field):
        make_args(tags, **overrides)


def test_database_watch_rejects_zero_connections():
    with pytest.raises(ValueError, match="max_connections = 0"):
        DatabaseWatch(identifier="db", proxy_name="proxy", max_connections=0)


def test_missing_tags_are_rejected(tags):
    del tags["Service"]
    with pytest.raises(ValueError, match="MonitoringArgs.tags: missing required tag"):
        make_args(tags)
