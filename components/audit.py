"""AuditTrail: the CloudTrail record auditors read, and the CIS alarms that watch it.

Creates a multi-region trail with log-file validation, encrypted with the logs key, writing to a
SecureBucket in object-lock COMPLIANCE mode (so nobody, root included, can rewrite history within
the retention) and to a CloudWatch log group, plus one metric filter and alarm per CIS AWS
Foundations Benchmark monitoring control, paging the alarm topic. The trail's name is fixed so
the bucket policy can admit exactly this trail (aws:SourceArn) before the trail exists. With a
replica, the audit bucket replicates to an equally locked bucket in the DR region, so the SOX/PCI
evidence survives the loss of the home region.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document, role_with_policy
from components.limits import MIN_LOG_RETENTION_DAYS, REGION_PATTERN
from components.log_groups import encrypted_log_group, require_log_retention
from components.secure_bucket import BUCKET_ARN, BucketReplica, SecureBucket, SecureBucketArgs
from components.tagging import require_tags, with_purpose

SECURITY_NAMESPACE = "TradeSense/Security"
# CloudTrail's rule: 3-128 letters, digits, . _ -; starting and ending with a letter or digit.
_TRAIL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = REGION_PATTERN


@dataclass(frozen=True)
class CisControl:
    """One CIS monitoring control: the filter over CloudTrail events and the metric it counts."""

    control: str
    metric: str
    title: str
    pattern: str


# CIS AWS Foundations Benchmark (v3.0.0, section 4), filter patterns as the benchmark gives them.
# 4.9 (AWS Config) and 4.15 (Organizations) are left out: this stack runs neither.
CIS_CONTROLS: tuple[CisControl, ...] = (
    CisControl(
        "4.1",
        "UnauthorizedApiCalls",
        "unauthorized API calls",
        '{ ($.errorCode ="*UnauthorizedOperation") || ($.errorCode ="AccessDenied*") && '
        '($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket") }',
    ),
    CisControl(
        "4.2",
        "ConsoleSignInWithoutMfa",
        "management console sign-in without MFA",
        '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }',
    ),
    CisControl(
        "4.3",
        "RootAccountUsage",
        "usage of the root account",
        '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }',
    ),
    CisControl(
        "4.4",
        "IamPolicyChanges",
        "IAM policy changes",
        "{($.eventName=DeleteGroupPolicy)||($.eventName=DeleteRolePolicy)||($.eventName=DeleteUserPolicy)||"
        "($.eventName=PutGroupPolicy)||($.eventName=PutRolePolicy)||($.eventName=PutUserPolicy)||"
        "($.eventName=CreatePolicy)||($.eventName=DeletePolicy)||($.eventName=CreatePolicyVersion)||"
        "($.eventName=DeletePolicyVersion)||($.eventName=AttachRolePolicy)||($.eventName=DetachRolePolicy)||"
        "($.eventName=AttachUserPolicy)||($.eventName=DetachUserPolicy)||($.eventName=AttachGroupPolicy)||"
        "($.eventName=DetachGroupPolicy)}",
    ),
    CisControl(
        "4.5",
        "CloudTrailConfigChanges",
        "CloudTrail configuration changes",
        "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || "
        "($.eventName = StartLogging) || ($.eventName = StopLogging) }",
    ),
    CisControl(
        "4.6",
        "ConsoleAuthenticationFailures",
        "management console authentication failures",
        '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }',
    ),
    CisControl(
        "4.7",
        "CmkDisabledOrScheduledForDeletion",
        "disabling or scheduled deletion of CMKs",
        "{($.eventSource = kms.amazonaws.com) && (($.eventName=DisableKey)||($.eventName=ScheduleKeyDeletion)) }",
    ),
    CisControl(
        "4.8",
        "S3BucketPolicyChanges",
        "S3 bucket policy changes",
        "{ ($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || "
        "($.eventName = PutBucketPolicy) || ($.eventName = PutBucketCors) || "
        "($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || "
        "($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || "
        "($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication)) }",
    ),
    CisControl(
        "4.10",
        "SecurityGroupChanges",
        "security group changes",
        "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || "
        "($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || "
        "($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }",
    ),
    CisControl(
        "4.11",
        "NetworkAclChanges",
        "network ACL changes",
        "{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || "
        "($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || "
        "($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }",
    ),
    CisControl(
        "4.12",
        "NetworkGatewayChanges",
        "network gateway changes",
        "{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || "
        "($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || "
        "($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }",
    ),
    CisControl(
        "4.13",
        "RouteTableChanges",
        "route table changes",
        "{($.eventSource = ec2.amazonaws.com) && (($.eventName = CreateRoute) || "
        "($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || "
        "($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || "
        "($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable)) }",
    ),
    CisControl(
        "4.14",
        "VpcChanges",
        "VPC changes",
        "{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || "
        "($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || "
        "($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) || "
        "($.eventName = AttachClassicLinkVpc) || ($.eventName = DetachClassicLinkVpc) || "
        "($.eventName = DisableVpcClassicLink) || ($.eventName = EnableVpcClassicLink) }",
    ),
)


@dataclass(frozen=True, kw_only=True)
class AuditTrailArgs:
    """Inputs of AuditTrail; every default is the secure choice."""

    logs_kms_key_arn: pulumi.Input[str]
    """Customer-managed key for the trail's log files, its bucket and its log group."""
    access_log_bucket: pulumi.Input[str]
    """Bucket receiving the audit bucket's server access logs."""
    alarm_topic_arn: pulumi.Input[str]
    """SNS topic the CIS alarms page."""
    account_id: pulumi.Input[str]
    """This account's id: the trail writes under AWSLogs/<account_id>/ and its ARN names it."""
    region: str
    """Home region of the trail (it records every region)."""
    trail_name: str
    """Fixed trail name (e.g. tradesense-prod-audit), so policies can name the trail's ARN first."""
    tags: dict[str, str]
    """Required tags (see components.tagging); `Stack` also names the log group."""
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    """Days the trail's files stay locked in S3 and events stay in CloudWatch Logs (>= 365)."""
    data_event_bucket_arns: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    """Buckets whose object-level reads and writes are recorded too (e.g. the backup bucket)."""
    replica: BucketReplica | None = None
    """Replicate the audit bucket to the DR region (same lock and expiry); `None` keeps the audit
    record in the home region only (flagged by checkov CKV_AWS_144)."""

    def __post_init__(self) -> None:
        require_tags("AuditTrailArgs.tags", self.tags)
        require_log_retention("AuditTrailArgs.log_retention_days", self.log_retention_days)
        if not _TRAIL_NAME.match(self.trail_name) or re.search(r"[._-]{2}", self.trail_name):
            raise ValueError(
                f"AuditTrailArgs.trail_name = {self.trail_name!r}: must be 3-128 letters, digits, '.', '_' "
                "or '-', start and end with a letter or digit, no two symbols adjacent"
            )
        if isinstance(self.account_id, str) and not _ACCOUNT_ID.match(self.account_id):
            raise ValueError(f"AuditTrailArgs.account_id = {self.account_id!r}: must be a 12-digit account id")
        if not _REGION.match(self.region):
            raise ValueError(f"AuditTrailArgs.region = {self.region!r}: must be an AWS region like us-east-1")


class AuditTrail(pulumi.ComponentResource):
    """A validated, locked, multi-region CloudTrail with CIS alarms on its log group."""

    trail_arn: pulumi.Output[str]
    trail_name: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    replica_bucket_arn: pulumi.Output[str] | None
    """The audit bucket's DR-region replica, or None without `replica`."""
    log_group_name: pulumi.Output[str]
    security_alarm_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:audit:AuditTrail", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        trail_arn = pulumi.Output.format(
            "arn:aws:cloudtrail:{0}:{1}:trail/{2}", args.region, args.account_id, args.trail_name
        )

        bucket = SecureBucket(
            f"{name}-logs",
            SecureBucketArgs(
                purpose="audit-logs",
                tags=args.tags,
                kms_key_arn=args.logs_kms_key_arn,
                # No S3 Bucket Key here. The logs key admits CloudTrail's GenerateDataKey only with
                # kms:EncryptionContext:aws:cloudtrail:arn naming one of this account's trails, AWS's
                # required statement
                # (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html);
                # with a bucket key S3 asks KMS under the bucket's context instead of the object's
                # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/configuring-bucket-key.html), and
                # CloudTrail refuses to create or update a trail whose key it cannot use
                # (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/encrypting-cloudtrail-log-files-with-aws-kms.html).
                # AWS's pages do not say the CloudTrail context survives a bucket key, so the bucket
                # does without one: one KMS call per log file, a few cents a month.
                bucket_key=False,
                access_log_bucket=args.access_log_bucket,
                expire_after_days=args.log_retention_days,
                object_lock_days=args.log_retention_days,
                object_lock_mode="COMPLIANCE",
                replica=args.replica,
                region=args.region,
                account_id=args.account_id,
                extra_policy_statements=[
                    {
                        "Sid": "AllowCloudTrailAclCheck",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "s3:GetBucketAcl",
                        "Resource": BUCKET_ARN,
                        "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
                    },
                    {
                        "Sid": "AllowCloudTrailWrite",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": pulumi.Output.format("{0}/AWSLogs/{1}/*", BUCKET_ARN, args.account_id),
                        "Condition": {
                            "StringEquals": {
                                "s3:x-amz-acl": "bucket-owner-full-control",
                                "aws:SourceArn": trail_arn,
                            }
                        },
                    },
                ],
            ),
            opts=child,
        )

        log_group = encrypted_log_group(
            f"{name}-log-group",
            log_group_name=f"/{args.tags['Project']}/{args.tags['Stack']}/cloudtrail",
            kms_key_arn=args.logs_kms_key_arn,
            retention_days=args.log_retention_days,
            tags=args.tags,
            parent=self,
            # The searchable copy of the audit record; losing it blinds the CIS alarms.
            protect=True,
        )
        role, delivery = role_with_policy(
            f"{name}-delivery-role",
            f"{name}-delivery",
            description="CloudTrail delivers the audit trail's events to its CloudWatch log group as this role",
            trust_policy=assume_role_policy({"Service": "cloudtrail.amazonaws.com"}),
            policy=policy_document(
                [
                    {
                        "Sid": "WriteTrailEventsToItsLogGroupOnly",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": pulumi.Output.concat(log_group.arn, ":log-stream:*"),
                    }
                ]
            ),
            tags=args.tags,
            parent=self,
        )

        selector: dict[str, Any] = {"read_write_type": "All", "include_management_events": True}
        if args.data_event_bucket_arns:
            selector["data_resources"] = [
                {
                    "type": "AWS::S3::Object",
                    "values": [pulumi.Output.concat(arn, "/") for arn in args.data_event_bucket_arns],
                }
            ]
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=args.trail_name,
            s3_bucket_name=bucket.bucket_name,
            kms_key_id=args.logs_kms_key_arn,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            cloud_watch_logs_group_arn=pulumi.Output.concat(log_group.arn, ":*"),
            cloud_watch_logs_role_arn=role.arn,
            event_selectors=[selector],  # type: ignore[list-item]  # pulumi's Input/Output typing
            tags=with_purpose(args.tags, "audit"),
            # CloudTrail checks on creation that it may write to the bucket and the log group.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket.policy, delivery]),
        )

        alarms = [self._cis_alarm(name, control, log_group, args) for control in CIS_CONTROLS]
        # The CIS alarms treat silence as fine, so a trail that stops delivering would go unseen:
        # this one pages when the trail's log group receives nothing for an hour.
        alarms.append(
            aws.cloudwatch.MetricAlarm(
                f"{name}-delivery-stopped-alarm",
                name=f"{args.tags['Project']}-{args.tags['Stack']}-cloudtrail-delivery-stopped",
                alarm_description=f"CloudTrail {args.trail_name} delivered no events to CloudWatch Logs for an hour",
                namespace="AWS/Logs",
                metric_name="IncomingLogEvents",
                dimensions={"LogGroupName": log_group.name},
                statistic="Sum",
                period=3600,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="LessThanThreshold",
                treat_missing_data="breaching",
                alarm_actions=[args.alarm_topic_arn],
                ok_actions=[args.alarm_topic_arn],
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[trail]),
            )
        )

        self.trail_arn = trail.arn
        self.trail_name = trail.name
        self.bucket_name = bucket.bucket_name
        self.bucket_arn = bucket.bucket_arn
        self.replica_bucket_arn = bucket.replica_bucket_arn
        self.log_group_name = log_group.name
        self.security_alarm_names = [alarm.name for alarm in alarms]
        self.register_outputs(
            {
                "trailArn": self.trail_arn,
                "trailName": self.trail_name,
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "replicaBucketArn": self.replica_bucket_arn,
                "logGroupName": self.log_group_name,
                "securityAlarmNames": self.security_alarm_names,
            }
        )

    def _cis_alarm(
        self, name: str, cis: CisControl, log_group: aws.cloudwatch.LogGroup, args: AuditTrailArgs
    ) -> aws.cloudwatch.MetricAlarm:
        """The control's metric filter and the alarm that pages on its first match."""
        slug = f"cis-{cis.control.replace('.', '-')}"
        metric_filter = aws.cloudwatch.LogMetricFilter(
            f"{name}-{slug}-filter",
            name=f"{slug}-{cis.metric}",
            log_group_name=log_group.name,
            pattern=cis.pattern,
            metric_transformation={"name": cis.metric, "namespace": SECURITY_NAMESPACE, "value": "1"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.cloudwatch.MetricAlarm(
            f"{name}-{slug}-alarm",
            name=f"{args.tags['Project']}-{args.tags['Stack']}-{slug}-{cis.metric}",
            alarm_description=f"CIS AWS Foundations {cis.control}: {cis.title} (CloudTrail {args.trail_name})",
            namespace=SECURITY_NAMESPACE,
            metric_name=cis.metric,
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.alarm_topic_arn],
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[metric_filter]),
        )
