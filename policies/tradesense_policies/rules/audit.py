"""Audit: one multi-region, validated trail delivered to CloudWatch, and security events alarmed."""

from __future__ import annotations

import json

from tradesense_policies import types as t
from tradesense_policies.model import as_bool, get_path, is_unknown
from tradesense_policies.registry import CIS, FSBP, GDPR, PCI, SOC2, resource_rule, stack_rule
from tradesense_policies.rules.monitoring import alert_topics, notifies

AUDIT = ((PCI, "10.2.1"), (SOC2, "CC7.2"), (GDPR, "Art. 32(1)(d)"))
# CIS 4.x security events: a metric filter pattern mentioning any of these words covers the event.
CIS_EVENTS = {
    "4.1 unauthorized API calls": ("UnauthorizedOperation", "AccessDenied"),
    "4.3 root account usage": ('"Root"', "Root"),
    "4.4 IAM policy changes": ("PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "CreatePolicy"),
    "4.5 CloudTrail configuration changes": ("StopLogging", "UpdateTrail", "DeleteTrail"),
    "4.7 KMS key disabling or deletion": ("DisableKey", "ScheduleKeyDeletion"),
}


@resource_rule(
    name="cloudtrail-multi-region",
    description="The trail records every region and global services.",
    resource_types=(t.TRAIL,),
    severity="high",
    remediation="Set is_multi_region_trail=True and include_global_service_events=True.",
    url="https://docs.aws.amazon.com/awscloudtrail/latest/userguide/receive-cloudtrail-log-files-from-multiple-regions.html",
    compliance=AUDIT + ((CIS, "3.1"), (FSBP, "CloudTrail.1")),
    evidence=("isMultiRegionTrail", "includeGlobalServiceEvents"),
)
def cloudtrail_multi_region(props, resource):
    problems = []
    if not as_bool(get_path(props, "isMultiRegionTrail")):
        problems.append("isMultiRegionTrail is not true")
    if get_path(props, "includeGlobalServiceEvents") is False:
        problems.append("includeGlobalServiceEvents is false")
    return problems


@resource_rule(
    name="cloudtrail-log-file-validation",
    description="CloudTrail signs digest files so tampering with logs is detectable.",
    resource_types=(t.TRAIL,),
    severity="high",
    remediation="Set enable_log_file_validation=True.",
    url="https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html",
    compliance=AUDIT + ((PCI, "10.3.4"), (CIS, "3.2"), (FSBP, "CloudTrail.4")),
    evidence=("enableLogFileValidation",),
)
def cloudtrail_log_file_validation(props, resource):
    return None if as_bool(get_path(props, "enableLogFileValidation")) else "enableLogFileValidation is not true"


@resource_rule(
    name="cloudtrail-cloudwatch-delivery",
    description="CloudTrail delivers events to CloudWatch Logs, where security metric filters alarm on them.",
    resource_types=(t.TRAIL,),
    severity="medium",
    remediation="Set cloud_watch_logs_group_arn (ending in :*) and cloud_watch_logs_role_arn.",
    url="https://docs.aws.amazon.com/awscloudtrail/latest/userguide/send-cloudtrail-events-to-cloudwatch-logs.html",
    compliance=AUDIT + ((PCI, "10.4.1"), (FSBP, "CloudTrail.5")),
    evidence=("cloudWatchLogsGroupArn", "cloudWatchLogsRoleArn"),
)
def cloudtrail_cloudwatch_delivery(props, resource):
    missing = [k for k in ("cloudWatchLogsGroupArn", "cloudWatchLogsRoleArn") if not get_path(props, k)]
    return f"not set: {', '.join(missing)}" if missing else None


def _metric(alarm_or_filter, is_filter: bool) -> tuple:
    props = alarm_or_filter.props
    if is_filter:
        transform = props.get("metricTransformation") or {}
        return transform.get("name"), transform.get("namespace")
    return props.get("metricName"), props.get("namespace")


@stack_rule(
    name="audit-metric-filters-alarmed",
    description="Every log metric filter has an alarm on its metric that notifies the alert topic.",
    resource_types=(t.METRIC_FILTER,),
    severity="medium",
    remediation="Create a MetricAlarm on the filter's metric name and namespace with alarm_actions = alerts topic.",
    url="https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create_alarm_log_group_metric_filter.html",
    compliance=AUDIT + ((PCI, "10.7.2"), (CIS, "4.1")),
    evidence=("pattern", "metricTransformation.name", "metricTransformation.namespace"),
)
def audit_metric_filters_alarmed(stack):
    topics = alert_topics(stack)
    alarms = stack.of_type(t.METRIC_ALARM)
    for metric_filter in stack.of_type(t.METRIC_FILTER):
        wanted = _metric(metric_filter, True)
        matching = [a for a in alarms if _metric(a, False) == wanted and not any(map(is_unknown, wanted))]
        if not any(notifies(a, topics) for a in matching):
            yield metric_filter.urn, (f"metric {wanted[1]}/{wanted[0]}: "
                                      + ("no alarm" if not matching else "alarm notifies no alert topic"))


@stack_rule(
    name="audit-security-metric-filters",
    description="The trail's log group has metric filters for the CIS 4.x security events.",
    resource_types=(t.TRAIL,),
    severity="medium",
    remediation="Add LogMetricFilters (with alarms) for: " + "; ".join(CIS_EVENTS) + ".",
    url="https://docs.aws.amazon.com/securityhub/latest/userguide/cloudwatch-controls.html",
    compliance=AUDIT + ((CIS, "4.1"), (CIS, "4.3"), (CIS, "4.4"), (CIS, "4.5"), (CIS, "4.7")),
    evidence=("cloudWatchLogsGroupArn",),
)
def audit_security_metric_filters(stack):
    patterns = json.dumps([f.props.get("pattern") for f in stack.of_type(t.METRIC_FILTER)])
    missing = [event for event, words in CIS_EVENTS.items() if not any(w in patterns for w in words)]
    for trail in stack.of_type(t.TRAIL):
        if missing:
            yield trail.urn, "no metric filter for: " + "; ".join(missing)
