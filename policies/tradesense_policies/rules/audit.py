"""Audit: one multi-region, validated trail delivered to CloudWatch, and security events alarmed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tradesense_policies import types as t
from tradesense_policies.model import Props, Resource, Stack, as_bool, as_list, get_path, identity_unknown, is_unknown
from tradesense_policies.registry import (
    CIS,
    FSBP,
    GDPR,
    PCI,
    SOC2,
    Finding,
    Unknown,
    Violations,
    resource_rule,
    stack_rule,
)
from tradesense_policies.rules.monitoring import alert_topics, any_notifies

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
def cloudtrail_multi_region(props: Props, resource: Resource) -> Violations:
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
def cloudtrail_log_file_validation(props: Props, resource: Resource) -> Violations:
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
def cloudtrail_cloudwatch_delivery(props: Props, resource: Resource) -> Violations:
    missing = [k for k in ("cloudWatchLogsGroupArn", "cloudWatchLogsRoleArn") if not get_path(props, k)]
    return f"not set: {', '.join(missing)}" if missing else None


def _metric(alarm_or_filter: Resource, is_filter: bool) -> tuple[Any, Any]:
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
def audit_metric_filters_alarmed(stack: Stack) -> Iterator[Finding]:
    topics = alert_topics(stack)
    alarms = stack.of_type(t.METRIC_ALARM)
    for metric_filter in stack.of_type(t.METRIC_FILTER):
        wanted = _metric(metric_filter, True)
        matching = [a for a in alarms if _metric(a, False) == wanted and not any(map(is_unknown, wanted))]
        if not any_notifies(matching, topics):
            yield (
                metric_filter.urn,
                (
                    f"metric {wanted[1]}/{wanted[0]}: "
                    + ("no alarm" if not matching else "alarm notifies no alert topic")
                ),
            )


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
def audit_security_metric_filters(stack: Stack) -> Iterator[Finding]:
    for trail in stack.of_type(t.TRAIL):
        group_arn = trail.props.get("cloudWatchLogsGroupArn")
        if is_unknown(group_arn):
            raise Unknown(f"{trail.name}.cloudWatchLogsGroupArn")
        # arn:aws:logs:REGION:ACCOUNT:log-group:NAME:* -> NAME: only filters on that group see the trail's events.
        group = str(group_arn or "").split(":log-group:", 1)[-1].rsplit(":*", 1)[0] if group_arn else None
        filters = [f for f in stack.of_type(t.METRIC_FILTER) if group and f.props.get("logGroupName") == group]
        patterns = json.dumps([f.props.get("pattern") for f in filters])
        missing = [event for event, words in CIS_EVENTS.items() if not any(w in patterns for w in words)]
        if missing:
            yield trail.urn, f"no metric filter on {group or 'the trail log group'} for: " + "; ".join(missing)


@resource_rule(
    name="cloudtrail-logging-management-events",
    description="The trail is logging and records all management events, read and write.",
    resource_types=(t.TRAIL,),
    severity="high",
    remediation="Leave enable_logging true; event selectors (if any) need include_management_events true and "
    "read_write_type All.",
    url="https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html",
    compliance=AUDIT + ((CIS, "3.1"), (FSBP, "CloudTrail.1")),
    evidence=(
        "enableLogging",
        "eventSelectors.includeManagementEvents",
        "eventSelectors.readWriteType",
        "advancedEventSelectors.fieldSelectors.field",
    ),
)
def cloudtrail_logging_management_events(props: Props, resource: Resource) -> Violations:
    problems = []
    logging = get_path(props, "enableLogging")
    if logging is not None and not as_bool(logging):
        problems.append(f"enableLogging = {logging}: the trail records nothing")
    selectors = get_path(props, "eventSelectors") or []
    advanced = get_path(props, "advancedEventSelectors") or []
    if advanced:
        management = [
            a
            for a in advanced
            if any(
                (f or {}).get("field") == "eventCategory" and "Management" in as_list((f or {}).get("equals"))
                for f in as_list((a or {}).get("fieldSelectors"))
            )
        ]
        narrowed = [
            a
            for a in management
            if any((f or {}).get("field") == "readOnly" for f in as_list((a or {}).get("fieldSelectors")))
        ]
        if not management or len(narrowed) == len(management):
            problems.append("advancedEventSelectors record no (or only read-only/write-only) management events")
    elif selectors:
        # Without selectors a trail logs all management events; with them, only what they select.
        complete = [
            i
            for i, _ in enumerate(selectors)
            if get_path(props, f"eventSelectors.{i}.includeManagementEvents") is not False
            and str(get_path(props, f"eventSelectors.{i}.readWriteType") or "All") == "All"
            # excluding kms.amazonaws.com drops every Decrypt/ScheduleKeyDeletion from the trail
            and not get_path(props, f"eventSelectors.{i}.excludeManagementEventSources")
        ]
        if not complete:
            problems.append(
                "no event selector records all management events (includeManagementEvents true, "
                "readWriteType All, no excludeManagementEventSources)"
            )
    return problems


@stack_rule(
    name="audit-trail-present",
    description="The stack has a CloudTrail trail (the account's audit trail is a required control), delivering "
    "to a bucket of this stack (so the audit-evidence floors hold for it).",
    resource_types=(t.TRAIL,),
    severity="critical",
    remediation="Keep the AuditTrail component in the stack.",
    url="https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-a-trail.html",
    compliance=AUDIT + ((CIS, "3.1"), (FSBP, "CloudTrail.1")),
    evidence=("name",),
)
def audit_trail_present(stack: Stack) -> Iterator[Finding]:
    trails = stack.of_type(t.TRAIL)
    if not trails:
        yield "", "no CloudTrail trail in this stack: nothing records what happens in the account"
    buckets = stack.of_type(*t.BUCKETS)
    for trail in trails:
        target = trail.props.get("s3BucketName")
        if is_unknown(target):
            raise Unknown(f"{trail.name}.s3BucketName")
        # Only a bucket of this stack is held to the object-lock and lifecycle floors of audit evidence.
        if not any(b.props.get(k) == target for b in buckets for k in ("bucket", "id") if target):
            if any(identity_unknown(b, ("bucket", "id")) for b in buckets):
                raise Unknown(f"{trail.name}.s3BucketName")  # a new bucket's name is chosen at deploy
            yield trail.urn, f"trail {trail.name} delivers to {target}, not a bucket of this stack"
