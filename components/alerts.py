"""AlertTopic: the one SNS topic every alarm, budget and security event is sent to.

Creates a KMS-encrypted topic, the on-call email subscription, and a topic policy that lets only
CloudWatch alarms, AWS Budgets and EventBridge rules of this account publish, and refuses any
publish or subscribe not made over TLS. An attacker who can publish here could bury a real alert in
noise, so no other principal is admitted by the topic itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import policy_document
from components.keys import TOPIC_PUBLISHERS
from components.limits import EMAIL_PATTERN
from components.tagging import require_tags, with_purpose


@dataclass(frozen=True, kw_only=True)
class AlertTopicArgs:
    """Inputs of an AlertTopic; every default is the secure choice."""

    email: str
    """On-call address subscribed to the topic (AWS sends it a confirmation mail first)."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed key (PlatformKeys' `logs`, whose policy admits the publishing services)."""
    account_id: pulumi.Input[str]
    """Only this account's alarms, budgets and rules may publish (aws:SourceAccount)."""
    tags: dict[str, str]
    """Required tags (see components.tagging)."""

    def __post_init__(self) -> None:
        require_tags("AlertTopicArgs.tags", self.tags)
        if not EMAIL_PATTERN.match(self.email):
            raise ValueError(f"AlertTopicArgs.email = {self.email!r}: must be an email address like oncall@example.com")


class AlertTopic(pulumi.ComponentResource):
    """An encrypted SNS topic for alerts, publishable only by this account's monitoring services."""

    topic_arn: pulumi.Output[str]
    topic_name: pulumi.Output[str]

    def __init__(self, name: str, args: AlertTopicArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:monitoring:AlertTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        topic = aws.sns.Topic(
            f"{name}-topic",
            kms_master_key_id=args.kms_key_arn,
            tags=with_purpose(args.tags, "alerts"),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=topic.arn,
            policy=topic_policy(topic.arn, args.account_id),
            opts=child,
        )
        aws.sns.TopicSubscription(
            f"{name}-email",
            topic=topic.arn,
            protocol="email",
            endpoint=args.email,
            opts=child,
        )

        self.topic_arn = topic.arn
        self.topic_name = topic.name
        self.register_outputs({"topicArn": self.topic_arn, "topicName": self.topic_name})


def topic_policy(topic_arn: pulumi.Input[str], account: pulumi.Input[str]) -> pulumi.Output[str]:
    return policy_document(
        [
            {
                "Sid": "AllowThisAccountsMonitoringToPublish",
                "Effect": "Allow",
                "Principal": {"Service": list(TOPIC_PUBLISHERS)},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["sns:Publish", "sns:Subscribe"],
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
    )
