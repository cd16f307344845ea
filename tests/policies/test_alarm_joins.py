"""Alarm rules join alarms to the alert topic by value. An action or topic ARN computed at deploy
cannot be compared: one alarm that does notify still decides it, and otherwise the rule is undecided,
never a failure and never a pass."""

from __future__ import annotations

import pytest

from tradesense_policies import types as t
from tradesense_policies.model import UNKNOWN, Resource, Stack
from tradesense_policies.registry import Unknown, all_rules

TOPIC_ARN = "arn:aws:sns:us-east-1:111122223333:tradesense-prod-alerts"
DB = "urn:pulumi:prod::tradesense::aws:rds/instance:Instance::db"


def stack(*actions):
    resources = [
        Resource(
            t.SNS_TOPIC,
            "urn:pulumi:prod::tradesense::aws:sns/topic:Topic::alerts",
            "alerts",
            {"arn": TOPIC_ARN, "tags": {"Purpose": "alerts"}},
        ),
        Resource(t.RDS_INSTANCE, DB, "db", {"identifier": "tradesense-prod-db"}),
    ]
    for index, action in enumerate(actions):
        resources.append(
            Resource(
                t.METRIC_ALARM,
                f"urn:pulumi:prod::tradesense::aws:cloudwatch/metricAlarm:MetricAlarm::a{index}",
                f"a{index}",
                {
                    "alarmActions": action,
                    "namespace": "AWS/RDS",
                    "dimensions": {"DBInstanceIdentifier": "tradesense-prod-db"},
                },
            )
        )
    return Stack(resources)


def judge(rule: str, *actions):
    return list(all_rules()[rule].check(stack(*actions)))


def test_one_notifying_alarm_decides_even_beside_an_undecidable_one():
    assert judge("data-stores-have-alarms", UNKNOWN, [TOPIC_ARN]) == []  # the undecidable one first


@pytest.mark.parametrize("undecidable", [UNKNOWN, [UNKNOWN], "[secret]"])
def test_no_notifying_alarm_and_an_undecidable_one_is_unknown_not_a_failure(undecidable):
    with pytest.raises(Unknown):
        judge("data-stores-have-alarms", ["arn:aws:sns:us-east-1:444455556666:elsewhere"], undecidable)


@pytest.mark.parametrize(
    "actions", [["arn:aws:sns:us-east-1:444455556666:tradesense-prod-alerts"], [], None, [TOPIC_ARN.upper()]]
)
def test_an_alarm_that_names_another_topic_or_none_fails(actions):
    (failure,) = judge("data-stores-have-alarms", actions)
    assert failure[0] == DB
