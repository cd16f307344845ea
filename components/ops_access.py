"""OpsAccess: how an operator reaches the private databases, with no standing host and no open port.

The databases have no public address and the VPC has no route out, so backup and restore need a
foothold inside it. This creates what that foothold is made of, and nothing that runs or costs while
nobody uses it:

- a launch template for a short-lived ops instance: the current Amazon Linux 2023 AMI (its SSM Agent
  is preinstalled), an app subnet, no public address, IMDSv2 only, an encrypted root volume under the
  data key, and "terminate" as its shutdown behaviour (`sudo shutdown -h now` in the session ends
  it; no user data, so nothing in the template can carry a secret);
- its instance profile, whose role can do only what Session Manager needs
  (AmazonSSMManagedInstanceCore): every AWS call an operator makes from a session is made with the
  operator's own credentials, so CloudTrail names the person, not a shared host;
- its security group: no ingress at all (Session Manager connects outwards through the ssm and
  ssmmessages endpoints), egress HTTPS to the VPC (the interface endpoints) and to S3's prefix list
  (the gateway endpoint), and PostgreSQL to the VPC; each database admits this group on 5432
  (PostgresDatabaseArgs.operator_security_group_id).

Why a template and not an instance: a standing bastion is a standing target and a monthly bill for a
path used on bad days; an opt-in flag would leave the documented path missing exactly when needed.
docs/operations.md ("Getting into the VPC") gives the commands: `aws ec2 run-instances
--launch-template ...`, `aws ssm start-session --target <id>` (a shell) or the
AWS-StartPortForwardingSessionToRemoteHost document (a tunnel to a database), then terminate.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy
from components.tagging import require_tags, with_purpose

# EC2 resolves an AMI id from this public SSM parameter when the instance is launched
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-systems-manager-parameter-to-find-AMI.html),
# so the template never pins an AMI that ages; AL2023 ships the SSM Agent
# (https://docs.aws.amazon.com/systems-manager/latest/userguide/ami-preinstalled-agent.html).
AL2023_AMI_PARAMETER = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
POSTGRES_PORT = 5432


@dataclass(frozen=True, kw_only=True)
class OpsAccessArgs:
    """Inputs of OpsAccess; every default is the secure choice."""

    vpc_id: pulumi.Input[str]
    """VPC of the databases."""
    vpc_cidr: str
    """The VPC's CIDR: HTTPS to its interface endpoints and PostgreSQL to its databases only."""
    subnet_id: pulumi.Input[str]
    """A private app subnet (no route out) the ops instance is launched into."""
    s3_prefix_list_id: pulumi.Input[str]
    """S3's prefix list (Network.s3_prefix_list_id): S3 through the gateway endpoint."""
    ebs_kms_key_arn: pulumi.Input[str]
    """Customer-managed key for the instance's root volume."""
    tags: dict[str, str]
    """Required tags (see components.tagging); also stamped on every instance and volume launched."""
    instance_type: str = "t4g.small"
    """Graviton, to match the arm64 AMI; a session and a tunnel need little."""

    def __post_init__(self) -> None:
        require_tags("OpsAccessArgs.tags", self.tags)
        if not self.instance_type.split(".")[0].endswith("g"):
            raise ValueError(
                f"OpsAccessArgs.instance_type = {self.instance_type!r}: must be a Graviton type like "
                "t4g.small (the AMI is arm64)"
            )


class OpsAccess(pulumi.ComponentResource):
    """Launch template, instance profile and security group of the short-lived ops instance."""

    security_group_id: pulumi.Output[str]
    launch_template_name: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    instance_profile_name: pulumi.Output[str]

    def __init__(self, name: str, args: OpsAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:ops:OpsAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = with_purpose(args.tags, "ops-access")

        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="Short-lived ops instances: no ingress; HTTPS to endpoints and S3, PostgreSQL to the VPC",
            tags=tags,
            opts=child,
        )
        egress = (
            ("https-out", 443, {"cidr_ipv4": args.vpc_cidr}, "HTTPS to the VPC's interface endpoints (SSM, RDS, ...)"),
            ("s3-out", 443, {"prefix_list_id": args.s3_prefix_list_id}, "HTTPS to S3 through the gateway endpoint"),
            ("postgres-out", POSTGRES_PORT, {"cidr_ipv4": args.vpc_cidr}, "PostgreSQL to the databases"),
        )
        for suffix, port, destination, description in egress:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{suffix}",
                security_group_id=group.id,
                description=description,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                tags=tags,
                opts=child,
                **destination,
            )

        role = aws.iam.Role(
            f"{name}-role",
            description="Short-lived ops instances: Session Manager only; operators act with their own credentials",
            assume_role_policy=assume_role_policy({"Service": "ec2.amazonaws.com"}),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(f"{name}-ssm-core", role=role.name, policy_arn=SSM_CORE_POLICY, opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=tags, opts=child)

        instance_tags = {**tags, "Name": f"{tags['Project']}-{tags['Stack']}-ops"}
        template = aws.ec2.LaunchTemplate(
            f"{name}-template",
            name=f"{tags['Project']}-{tags['Stack']}-ops",
            description="Short-lived ops instance for backup/restore (docs/operations.md); terminate after use",
            image_id=AL2023_AMI_PARAMETER,
            instance_type=args.instance_type,
            iam_instance_profile={"arn": profile.arn},
            instance_initiated_shutdown_behavior="terminate",
            ebs_optimized="true",
            monitoring={"enabled": True},
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            network_interfaces=[
                {
                    "subnet_id": args.subnet_id,
                    "security_groups": [group.id],
                    "associate_public_ip_address": "false",
                    "delete_on_termination": "true",
                }
            ],
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "encrypted": "true",
                        "kms_key_id": args.ebs_kms_key_arn,
                        "volume_size": 16,
                        "volume_type": "gp3",
                        "delete_on_termination": "true",
                    },
                }
            ],
            tag_specifications=[{"resource_type": kind, "tags": instance_tags} for kind in ("instance", "volume")],
            update_default_version=True,
            tags=tags,
            opts=child,
        )

        self.security_group_id = group.id
        self.launch_template_name = template.name
        self.launch_template_id = template.id
        self.instance_profile_name = profile.name
        self.register_outputs(
            {
                "securityGroupId": self.security_group_id,
                "launchTemplateName": self.launch_template_name,
                "launchTemplateId": self.launch_template_id,
                "instanceProfileName": self.instance_profile_name,
            }
        )
