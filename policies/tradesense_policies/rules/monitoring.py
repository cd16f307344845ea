"""Monitoring: every data store alarms to the on-call topic; logs are kept long enough."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tradesense_policies import types as t
from tradesense_policies.floors import FLOORS
from tradesense_policies.model import (
    Props,
    Resource,
    Stack,
    as_bool,
    as_list,
    as_number,
    get_path,
    is_unknown,
    refers_to,
    tags_of,
)
from tradesense_policies.registry import FSBP, PCI, SOC2, Finding, Unknown, Violations, resource_rule, stack_rule

MONITORED = ((SOC2, "CC7.2"), (PCI, "10.7.2"), (SOC2, "A1.1"))
MIN_LOG_RETENTION_DAYS = FLOORS["minLogRetentionDays"].default  # as shipped; policy config may raise it
# CloudWatch dimension naming each monitored resource, and the input holding its value.
DIMENSIONS = {
    t.RDS_INSTANCE: (("DBInstanceIdentifier",), "identifier"),
    t.RDS_PROXY: (("ProxyName", "DBProxyName"), "name"),
    t.REPLICATION_GROUP: (("ReplicationGroupId", "CacheClusterId"), "replicationGroupId"),
}


def alert_topics(stack: Stack) -> list[Resource]:
    """The on-call topics: those whose Purpose tag or name says alert; else every topic."""
    topics = stack.of_type(t.SNS_TOPIC)
    alerting = [
        tp
        for tp in topics
        if "alert" in str(tags_of(tp.props).get("Purpose", "")).lower() or "alert" in tp.name.lower()
    ]
    return alerting or topics


def notifies(alarm: Resource, topics: Sequence[Resource]) -> bool:
    """Whether an alarm action is (the value of) an alert topic's ARN; a recorded dependency alone is not."""
    actions = as_list(alarm.props.get("alarmActions"))
    if any(refers_to(alarm, "alarmActions", action, topic, "arn", "id") for action in actions for topic in topics):
        return True
    # An action or a topic ARN computed at deploy (a first preview) cannot be compared: undecided,
    # never "notifies no topic" and never a pass.
    if (
        is_unknown(alarm.props.get("alarmActions"))
        or any(map(is_unknown, actions))
        or (actions and any(is_unknown(tp.props.get("arn")) for tp in topics))
    ):
        raise Unknown(f"{alarm.name}.alarmActions")
    return False


def any_notifies(alarms: Iterable[Resource], topics: Sequence[Resource]) -> bool:
    """Whether one of `alarms` notifies an alert topic. One that does decides it even when another
    cannot be told before deploy; when none does and one cannot be told, Unknown (never a fail)."""
    undecided: Unknown | None = None
    for alarm in alarms:
        try:
            if notifies(alarm, topics):
                return True
        except Unknown as exc:
            undecided = undecided or exc
    if undecided is not None:
        raise undecided
    return False


def _alarm_dimensions(alarm: Resource) -> list[dict[str, Any]]:
    found = [alarm.props.get("dimensions") or {}]
    for query in as_list(alarm.props.get("metricQueries")):
        if isinstance(query, dict):
            found.append(((query.get("metric") or {}).get("dimensions")) or {})
    return [d for d in found if isinstance(d, dict)]


def watches(alarm: Resource, resource: Resource) -> bool:
    """Whether the alarm's dimensions name the resource, judged on the values (an alarm that merely
    depends on the resource but names another one watches nothing of ours)."""
    names, key = DIMENSIONS[resource.type]
    value = resource.props.get(key) or (resource.props.get("name") if key != "name" else None)
    if not value or is_unknown(value):
        if any(resource.urn in urns for urns in alarm.property_dependencies.values()):
            raise Unknown(f"{resource.name}.{key}")
        return False
    for dims in _alarm_dimensions(alarm):
        for name in names:
            seen = dims.get(name)
            member = name == "CacheClusterId" and re.fullmatch(re.escape(str(value)) + r"-\d{3}", str(seen))
            if seen and not is_unknown(seen) and (seen == value or member):
                return True
    return False


@stack_rule(
    name="data-stores-have-alarms",
    description="Every database, RDS Proxy and cache has at least one alarm that notifies the alert topic.",
    resource_types=tuple(DIMENSIONS),
    severity="high",
    remediation="Create the component's CloudWatch alarms (dimensions naming the resource) with alarm_actions "
    "set to the alerts topic ARN.",
    url="https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html",
    compliance=MONITORED + ((FSBP, "CloudWatch.15"),),
    evidence=("identifier", "name", "replicationGroupId"),
)
def data_stores_have_alarms(stack: Stack) -> Iterator[Finding]:
    alarms = stack.of_type(t.METRIC_ALARM)
    topics = alert_topics(stack)
    for resource in stack.of_type(*DIMENSIONS):
        watching = [a for a in alarms if watches(a, resource)]
        if any_notifies(watching, topics):
            continue
        yield (
            resource.urn,
            (
                f"{resource.name}: {len(watching)} alarm(s), none notifying the alert topic"
                if watching
                else f"{resource.name}: no CloudWatch alarm watches it"
            ),
        )


@stack_rule(
    name="alarms-notify-alert-topic",
    description="Every CloudWatch alarm sends its ALARM state to the alert topic (no silent alarms).",
    resource_types=(t.METRIC_ALARM,),
    severity="medium",
    remediation="Set alarm_actions (and ok_actions) to the alerts topic ARN.",
    url="https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html",
    compliance=MONITORED + ((FSBP, "CloudWatch.15"),),
    evidence=("alarmActions", "actionsEnabled"),
)
def alarms_notify_alert_topic(stack: Stack) -> Iterator[Finding]:
    topics = alert_topics(stack)
    for alarm in stack.of_type(t.METRIC_ALARM):
        enabled = alarm.props.get("actionsEnabled")
        if enabled is not None and not as_bool(enabled):
            yield alarm.urn, f"alarm {alarm.name} has actionsEnabled = {enabled}"
            continue
        if notifies(alarm, topics):
            continue
        yield (
            alarm.urn,
            f"alarm {alarm.name} notifies no alert topic (alarmActions = {alarm.props.get('alarmActions')})",
        )


@resource_rule(
    name="log-group-retention",
    description="CloudWatch log groups keep events at least the pack's minLogRetentionDays "
    f"({MIN_LOG_RETENTION_DAYS} by default; "
    "never-expire also passes).",
    resource_types=(t.LOG_GROUP,),
    severity="medium",
    remediation=f"Set retention_in_days to tradesense:logRetentionDays ({MIN_LOG_RETENTION_DAYS} or more).",
    url="https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/Working-with-log-groups-and-streams.html",
    compliance=((PCI, "10.5.1"), (SOC2, "CC7.2"), (FSBP, "CloudWatch.16")),
    evidence=("retentionInDays",),
    config=("minLogRetentionDays",),
)
def log_group_retention(props: Props, resource: Resource) -> Violations:
    floor = resource.setting("minLogRetentionDays")
    raw = get_path(props, "retentionInDays")
    days = as_number(raw)
    if raw is not None and days is None:
        return f"retentionInDays = {raw}: not a number"
    if days and days < floor:
        return f"retentionInDays = {days:g}: must be at least {floor:g} (pack config)"
    return None
