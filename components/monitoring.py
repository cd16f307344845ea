"""Monitoring: alarms on everything that can page, a dashboard per service, and a cost guard.

Creates CloudWatch alarms for every database, its RDS Proxy, every cache member and the edge web
ACL, all notifying the alarm topic when they fire and when they clear; one dashboard per service
drawn from those same alarms (so a graph always shows the line that pages); a monthly cost budget
warning at 80 % spent and 100 % forecast; and, only when enabled, a read-only role Datadog assumes
with an external id. Every threshold lives in ALARM_RULES, so tuning is one edit, not a hunt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document, role_with_policy
from components.limits import EMAIL_PATTERN, REGION_PATTERN, DatadogSettings
from components.tagging import for_service, require_tags

GIB = 1024**3
# WAF metrics of a CloudFront web ACL are published only in us-east-1.
WAF_METRICS_REGION = "us-east-1"
SECURITY_AUDIT_POLICY_ARN = "arn:aws:iam::aws:policy/SecurityAudit"
DATADOG_READ_ACTIONS = (
    "cloudwatch:Get*",
    "cloudwatch:List*",
    "cloudwatch:Describe*",
    "logs:Describe*",
    "logs:Get*",
    "logs:FilterLogEvents",
    "tag:GetResources",
    "rds:Describe*",
    "elasticache:Describe*",
    "wafv2:Get*",
    "wafv2:List*",
    "budgets:ViewBudget",
)
_RESERVED_KEYS = ("cache", "waf")
_EMAIL = EMAIL_PATTERN
_REGION = REGION_PATTERN
_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class AlarmRule:
    """One alarm per watched target: `metric` `comparison` `threshold` (in the metric's unit).

    With `scale`, the threshold is a multiple of that target value (the database's max_connections,
    the WAF threshold argument) instead of an absolute number.
    """

    metric: str
    statistic: str
    comparison: str
    threshold: float
    why: str
    scale: str | None = None
    period: int = 300
    evaluation_periods: int = 3
    treat_missing_data: str = "missing"


ABOVE, BELOW = "GreaterThanThreshold", "LessThanThreshold"
# kind -> (CloudWatch namespace, rules). Sustained = 3 x 5 min, so one slow query does not page.
ALARM_RULES: dict[str, tuple[str, tuple[AlarmRule, ...]]] = {
    "database": (
        "AWS/RDS",
        (
            AlarmRule("CPUUtilization", "Average", ABOVE, 80, "CPU above 80 % for 15 min"),
            AlarmRule(
                "FreeStorageSpace",
                "Minimum",
                BELOW,
                10 * GIB,
                "under 10 GiB free: writes stop when storage autoscaling cannot keep up",
                evaluation_periods=1,
            ),
            AlarmRule(
                "DatabaseConnections",
                "Maximum",
                ABOVE,
                0.8,
                "80 % of max_connections in use: new sessions will soon be refused",
                scale="max_connections",
            ),
            AlarmRule("ReadLatency", "Average", ABOVE, 0.02, "reads slower than 20 ms for 15 min"),
            AlarmRule("WriteLatency", "Average", ABOVE, 0.02, "writes slower than 20 ms for 15 min"),
        ),
    ),
    "proxy": (
        "AWS/RDS",
        (
            # Microseconds. A warm pool hands out a connection in well under 1 ms; 100 ms means the
            # pool is exhausted and clients are queueing for a connection.
            AlarmRule(
                "DatabaseConnectionsBorrowLatency",
                "Average",
                ABOVE,
                100_000,
                "borrowing a pooled connection takes over 100 ms: the pool is exhausted",
            ),
            # The proxy multiplexes, so clients may exceed max_connections; twice that is a
            # connection leak or a fleet scaled past what the pool was sized for.
            AlarmRule(
                "ClientConnections",
                "Maximum",
                ABOVE,
                2.0,
                "clients exceed twice the database's max_connections: leak or runaway scaling",
                scale="max_connections",
            ),
        ),
    ),
    "cache": (
        "AWS/ElastiCache",
        (
            AlarmRule("EngineCPUUtilization", "Average", ABOVE, 80, "Redis engine thread above 80 % for 15 min"),
            AlarmRule(
                "DatabaseMemoryUsagePercentage", "Average", ABOVE, 80, "80 % of maxmemory used: evictions are next"
            ),
            AlarmRule(
                "Evictions",
                "Sum",
                ABOVE,
                0,
                "keys evicted: the cache is losing data it was asked to keep",
                evaluation_periods=1,
                treat_missing_data="notBreaching",
            ),
        ),
    ),
    "waf": (
        "AWS/WAFV2",
        (
            AlarmRule(
                "BlockedRequests",
                "Sum",
                ABOVE,
                1.0,
                "blocked requests spiking over 5 min: an attack or a rule blocking real users",
                scale="waf_blocked_requests_threshold",
                evaluation_periods=1,
                treat_missing_data="notBreaching",
            ),
        ),
    ),
}


@dataclass(frozen=True, kw_only=True)
class DatabaseWatch:
    """What to watch for one service's database: the instance, its proxy, and its connection limit."""

    identifier: pulumi.Input[str]
    """DBInstanceIdentifier of the RDS instance."""
    proxy_name: pulumi.Input[str]
    """Name of the RDS Proxy in front of it."""
    max_connections: int
    """The instance's max_connections; connection thresholds are fractions of it."""

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"DatabaseWatch.max_connections = {self.max_connections}: must be at least 1")


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    """Inputs of Monitoring; every default is the secure choice."""

    alarm_topic_arn: pulumi.Input[str]
    """SNS topic every alarm notifies (on ALARM and on OK) and the budget notifies."""
    databases: Mapping[str, DatabaseWatch]
    """Service name -> its database and proxy."""
    cache_replication_group_id: str
    """The Redis replication group (named in cache alarm descriptions and dashboards)."""
    cache_member_cluster_ids: Sequence[str]
    """CacheClusterId of every member of the group (<group>-001, ...); each gets its own alarms."""
    web_acl_name: pulumi.Input[str]
    """Name of the CloudFront web ACL (the WAF metrics' WebACL dimension)."""
    service_names: Sequence[str]
    """Every service; each gets a dashboard."""
    region: str
    """The stack's region (dashboards draw its metrics from there)."""
    monthly_budget_usd: int
    """Monthly cost limit in USD."""
    budget_email: str
    """Address the budget notifications go to (besides the topic)."""
    account_id: pulumi.Input[str]
    """This account's id, the budget's owner."""
    tags: dict[str, str]
    """Required tags (see components.tagging); alarms carry their service's Service tag."""
    datadog: DatadogSettings = field(default_factory=DatadogSettings)
    """Datadog integration; off by default, so no third party can read the account unless asked."""
    waf_blocked_requests_threshold: int = 1000
    """Blocked requests per 5 minutes above which the WAF alarm fires."""
    edge_service: str = "gateway"
    """The internet-facing service whose dashboard shows the WAF."""
    waf_alarm_topic_arn: pulumi.Input[str] | None = None
    """SNS topic in us-east-1 for the WAF alarm (an alarm notifies only topics in its own region);
    required when `region` is not us-east-1, else alarm_topic_arn is used."""

    def __post_init__(self) -> None:
        require_tags("MonitoringArgs.tags", self.tags)
        services = list(self.service_names)
        if not services or len(set(services)) != len(services):
            raise ValueError(f"MonitoringArgs.service_names = {services}: must be non-empty and unique")
        reserved = sorted(set(services) & set(_RESERVED_KEYS))
        if reserved:
            raise ValueError(
                f"MonitoringArgs.service_names = {services}: {reserved} would collide with the "
                f"{'/'.join(_RESERVED_KEYS)} alarm keys"
            )
        unknown = sorted(set(self.databases) - set(services))
        if unknown:
            raise ValueError(f"MonitoringArgs.databases: {unknown} are not in service_names {services}")
        if self.edge_service not in services:
            raise ValueError(f"MonitoringArgs.edge_service = {self.edge_service!r}: must be one of {services}")
        members = list(self.cache_member_cluster_ids)
        strays = [m for m in members if not m.startswith(f"{self.cache_replication_group_id}-")]
        if not self.cache_replication_group_id or not members or strays or len(set(members)) != len(members):
            raise ValueError(
                f"MonitoringArgs.cache_member_cluster_ids = {members}: must be the unique, non-empty member "
                f"ids of replication group {self.cache_replication_group_id!r} (<group>-001, ...)"
            )
        if not _REGION.match(self.region):
            raise ValueError(f"MonitoringArgs.region = {self.region!r}: must be an AWS region like us-east-1")
        if self.region != WAF_METRICS_REGION and self.waf_alarm_topic_arn is None:
            raise ValueError(
                f"MonitoringArgs.waf_alarm_topic_arn: required when region = {self.region!r}; the WAF alarm "
                f"lives in {WAF_METRICS_REGION} and can notify only a topic there"
            )
        if self.monthly_budget_usd <= 0:
            raise ValueError(f"MonitoringArgs.monthly_budget_usd = {self.monthly_budget_usd}: must be above 0")
        if not _EMAIL.match(self.budget_email):
            raise ValueError(f"MonitoringArgs.budget_email = {self.budget_email!r}: must be an email address")
        if self.waf_blocked_requests_threshold < 1:
            raise ValueError(
                f"MonitoringArgs.waf_blocked_requests_threshold = {self.waf_blocked_requests_threshold}: "
                "must be at least 1"
            )
        if isinstance(self.account_id, str) and not _ACCOUNT_ID.match(self.account_id):
            raise ValueError(f"MonitoringArgs.account_id = {self.account_id!r}: must be a 12-digit account id")
        if self.datadog.enabled and not (self.datadog.external_id and _ACCOUNT_ID.match(self.datadog.account_id)):
            raise ValueError(
                "MonitoringArgs.datadog: enabled needs external_id and a 12-digit account_id "
                "(without the external id any Datadog customer could assume the role)"
            )


@dataclass(frozen=True)
class _Target:
    """One watched thing: which rules apply, its dimensions, and where its alarms go."""

    kind: str
    key: str
    label: str
    dimensions: Mapping[str, pulumi.Input[str]]
    scale: Mapping[str, float]
    tags: Mapping[str, str]
    topic: pulumi.Input[str]
    region: str


class Monitoring(pulumi.ComponentResource):
    """Alarms, dashboards, budget and the optional Datadog role for one stack."""

    alarm_names: dict[str, pulumi.Output[str]]
    dashboard_names: dict[str, pulumi.Output[str]]
    budget_name: pulumi.Output[str]
    datadog_role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:monitoring:Monitoring", name, None, opts)
        prefix = f"{args.tags['Project']}-{args.tags['Stack']}"

        alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for target in _targets(args):
            namespace, rules = ALARM_RULES[target.kind]
            for rule in rules:
                key = f"{target.key}/{rule.metric}"
                threshold = rule.threshold * (target.scale[rule.scale] if rule.scale else 1)
                alarms[key] = aws.cloudwatch.MetricAlarm(
                    f"{name}-{key.replace('/', '-')}",
                    name=f"{prefix}-{key.replace('/', '-')}",
                    alarm_description=f"{target.label}: {rule.why}",
                    namespace=namespace,
                    metric_name=rule.metric,
                    dimensions=dict(target.dimensions),
                    statistic=rule.statistic,
                    comparison_operator=rule.comparison,
                    threshold=threshold,
                    period=rule.period,
                    evaluation_periods=rule.evaluation_periods,
                    treat_missing_data=rule.treat_missing_data,
                    alarm_actions=[target.topic],
                    ok_actions=[target.topic],
                    region=target.region,
                    tags=dict(target.tags),
                    opts=pulumi.ResourceOptions(parent=self),
                )

        dashboards = {
            service: aws.cloudwatch.Dashboard(
                f"{name}-{service}-dashboard",
                dashboard_name=f"{prefix}-{service}",
                dashboard_body=_dashboard_body(
                    {key: alarm for key, alarm in alarms.items() if _shown_on(key, service, args)}
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in args.service_names
        }

        notify = {
            "subscriber_email_addresses": [args.budget_email],
            "subscriber_sns_topic_arns": [args.alarm_topic_arn],
            "comparison_operator": "GREATER_THAN",
            "threshold_type": "PERCENTAGE",
        }
        budget = aws.budgets.Budget(
            f"{name}-budget",
            name=f"{prefix}-monthly-cost",
            account_id=args.account_id,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=str(args.monthly_budget_usd),
            limit_unit="USD",
            notifications=[
                {**notify, "threshold": 80, "notification_type": "ACTUAL"},  # type: ignore[list-item]  # pulumi's Input/Output typing
                {**notify, "threshold": 100, "notification_type": "FORECASTED"},  # type: ignore[list-item]  # pulumi's Input/Output typing
            ],
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.datadog_role_arn = self._datadog_role(name, args).arn if args.datadog.enabled else None
        self.alarm_names = {key: alarm.name for key, alarm in alarms.items()}
        self.dashboard_names = {service: d.dashboard_name for service, d in dashboards.items()}
        self.budget_name = budget.name
        self.register_outputs(
            {
                "alarmNames": self.alarm_names,
                "dashboardNames": self.dashboard_names,
                "budgetName": self.budget_name,
                "datadogRoleArn": self.datadog_role_arn,
            }
        )

    def _datadog_role(self, name: str, args: MonitoringArgs) -> aws.iam.Role:
        """Read-only access for Datadog's account, usable only with our external id."""
        role, _ = role_with_policy(
            f"{name}-datadog",
            f"{name}-datadog-read",
            description="Datadog's AWS integration reads metrics, logs and configuration (read-only)",
            trust_policy=assume_role_policy(
                {"AWS": f"arn:aws:iam::{args.datadog.account_id}:root"},
                {"StringEquals": {"sts:ExternalId": args.datadog.external_id}},
            ),
            # These read actions support no resource-level scoping, hence "*" resources.
            policy=policy_document(
                [{"Sid": "DatadogReadOnly", "Effect": "Allow", "Action": list(DATADOG_READ_ACTIONS), "Resource": "*"}]
            ),
            tags=args.tags,
            parent=self,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-datadog-security-audit",
            role=role.name,
            policy_arn=SECURITY_AUDIT_POLICY_ARN,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role


def _targets(args: MonitoringArgs) -> list[_Target]:
    """Everything that can page, in a stable order (the order alarms are registered)."""
    local = {"topic": args.alarm_topic_arn, "region": args.region}
    targets: list[_Target] = []
    for service in sorted(args.databases):
        watch = args.databases[service]
        owned = {
            "key": service,
            "scale": {"max_connections": watch.max_connections},
            "tags": for_service(args.tags, service),
            **local,
        }
        targets += [
            _Target(
                kind="database",
                label=f"{service} database",
                dimensions={"DBInstanceIdentifier": watch.identifier},
                **owned,  # type: ignore[arg-type]  # pulumi's Input/Output typing
            ),
            _Target(kind="proxy", label=f"{service} RDS Proxy", dimensions={"ProxyName": watch.proxy_name}, **owned),  # type: ignore[arg-type]  # pulumi's Input/Output typing
        ]
    targets += [
        _Target(
            kind="cache",
            key=f"cache/{member}",
            label=f"Redis {args.cache_replication_group_id} member {member}",
            dimensions={"CacheClusterId": member},
            scale={},
            tags=args.tags,
            **local,  # type: ignore[arg-type]  # pulumi's Input/Output typing
        )
        for member in args.cache_member_cluster_ids
    ]
    targets.append(
        _Target(
            kind="waf",
            key="waf",
            label="CloudFront web ACL",
            dimensions={"WebACL": args.web_acl_name, "Rule": "ALL"},
            scale={"waf_blocked_requests_threshold": args.waf_blocked_requests_threshold},
            tags=for_service(args.tags, args.edge_service),
            topic=args.waf_alarm_topic_arn or args.alarm_topic_arn,
            region=WAF_METRICS_REGION,
        )
    )
    return targets


def _shown_on(key: str, service: str, args: MonitoringArgs) -> bool:
    """A service's dashboard shows its own database and proxy, the shared cache, and (edge) the WAF."""
    owner = key.split("/", 1)[0]
    return owner in (service, "cache") or (owner == "waf" and service == args.edge_service)


def _dashboard_body(alarms: Mapping[str, aws.cloudwatch.MetricAlarm]) -> pulumi.Output[str]:
    """One graph per alarm, drawn from the alarm itself so it shows the exact threshold that pages."""
    width, height, columns = 8, 6, 3
    widgets = [
        {
            "type": "metric",
            "x": (index % columns) * width,
            "y": (index // columns) * height,
            "width": width,
            "height": height,
            "properties": {
                "title": key,
                "region": alarm.region,
                "view": "timeSeries",
                "stacked": False,
                "annotations": {"alarms": [alarm.arn]},
            },
        }
        for index, (key, alarm) in enumerate(alarms.items())
    ]
    return pulumi.Output.json_dumps({"widgets": widgets})
