import json

import pulumi
import pulumi_aws as aws
import pytest

from components.alerts import AlertTopic, AlertTopicArgs
from components.keys import PlatformKeys, PlatformKeysArgs

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ACCOUNT = "123456789012"
TOPIC = "aws:sns/topic:Topic"


def build(tags, **overrides):
    def program():
        args = dict(email="oncall@example.com", kms_key_arn=KEY, account_id=ACCOUNT, tags=tags)
        args.update(overrides)
        alerts = AlertTopic("alerts", AlertTopicArgs(**args))
        pulumi.export("topic_arn", alerts.topic_arn)
        pulumi.export("topic_name", alerts.topic_name)
        return alerts

    return program


def statements(cap):
    return {s["Sid"]: s for s in json.loads(cap.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])["Statement"]}


def test_defaults_encrypted_topic_with_email_subscription(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    topic = cap.one(TOPIC)
    assert topic.inputs["kmsMasterKeyId"] == KEY
    assert topic.inputs["tags"] == {**tags, "Purpose": "alerts"}
    subscription = cap.one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert (subscription["topic"], subscription["protocol"], subscription["endpoint"]) == (
        topic.outputs["arn"],
        "email",
        "oncall@example.com",
    )
    assert cap.one("aws:sns/topicPolicy:TopicPolicy").inputs["arn"] == topic.outputs["arn"]
    assert cap.outputs == {"topic_arn": topic.outputs["arn"], "topic_name": topic.outputs["name"]}
    component = cap.one("tradesense:monitoring:AlertTopic")
    assert len(cap.children(component.urn)) == 3


def test_only_this_accounts_monitoring_services_may_publish(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    arn = cap.one(TOPIC).outputs["arn"]
    policy = statements(cap)
    allows = [s for s in policy.values() if s["Effect"] == "Allow"]
    assert allows == [policy["AllowThisAccountsMonitoringToPublish"]]
    allow = allows[0]
    assert sorted(allow["Principal"]["Service"]) == [
        "budgets.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
    ]
    assert allow["Action"] == "sns:Publish" and allow["Resource"] == arn
    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_plain_http_publish_and_subscribe_are_denied(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    deny = statements(cap)["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Action"] == ["sns:Publish", "sns:Subscribe"]
    assert deny["Resource"] == cap.one(TOPIC).outputs["arn"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_logs_key_admits_every_publisher_of_the_topic(run_pulumi, tags):
    """An encrypted topic drops messages from a publisher its key does not admit, silently."""

    def program():
        keys = PlatformKeys(
            "keys", PlatformKeysArgs(account_id=ACCOUNT, region="us-east-1", tags=tags, alias_prefix="tradesense-test")
        )
        build(tags, kms_key_arn=keys.logs_key_arn)()

    cap = run_pulumi(program)
    key = cap.one("aws:kms/key:Key", "keys-logs")
    assert cap.one(TOPIC).inputs["kmsMasterKeyId"] == key.outputs["arn"]
    key_grants = {
        service: statement["Action"]
        for statement in json.loads(key.inputs["policy"])["Statement"]
        if isinstance(statement["Principal"], dict) and "Service" in statement["Principal"]
        for service in (
            statement["Principal"]["Service"]
            if isinstance(statement["Principal"]["Service"], list)
            else [statement["Principal"]["Service"]]
        )
    }
    for publisher in statements(cap)["AllowThisAccountsMonitoringToPublish"]["Principal"]["Service"]:
        assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(key_grants.get(publisher, [])), publisher


def test_account_id_may_be_an_output(run_pulumi, tags):
    def program():
        build(tags, account_id=aws.get_caller_identity_output().account_id)()

    cap = run_pulumi(program)
    condition = statements(cap)["AllowThisAccountsMonitoringToPublish"]["Condition"]
    assert condition == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


@pytest.mark.parametrize("email", ["", "oncall", "oncall@", "@example.com", "on call@example.com", "a@b"])
def test_invalid_email_is_rejected(tags, email):
    with pytest.raises(ValueError, match=f"AlertTopicArgs.email = '{email}'"):
        build(tags, email=email)()


def test_missing_tags_are_rejected(tags):
    del tags["Service"]
    with pytest.raises(ValueError, match="AlertTopicArgs.tags: missing required tag\\(s\\) Service"):
        build(tags)()
