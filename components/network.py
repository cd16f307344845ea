"""Network: a VPC with no route to the internet, where every AWS API is reached through an endpoint.

Creates the VPC, takes over its default security group and strips it of all rules (CIS 5.4), and
in each availability zone an isolated data subnet and a private app subnet, neither with an
internet route. AWS APIs (Secrets Manager, KMS, Logs, SSM, STS, CloudWatch) are reached through
interface endpoints and S3 through a gateway endpoint, so no traffic needs a NAT. All traffic is
recorded by a flow log into a KMS-encrypted log group. Each service gets its own security group,
with egress only to the VPC on HTTPS, PostgreSQL and Redis, and to S3's prefix list on HTTPS (the
gateway endpoint's traffic); services add their own ingress.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document, role_with_policy
from components.limits import MAX_AZS, MIN_AZS, MIN_LOG_RETENTION_DAYS, private_vpc_cidr_problem
from components.log_groups import encrypted_log_group, require_log_retention
from components.tagging import for_service, require_tags, with_purpose

# The CIDR is cut into 2 * MAX_AZS (components.limits) equal blocks: app subnets first, data subnets
# after. Adding an AZ later takes the next free block of each tier and never moves an existing subnet.
SERVICE_EGRESS_PORTS = {"https": 443, "postgres": 5432, "redis": 6379}
# Each interface endpoint costs an hourly fee per AZ (https://aws.amazon.com/privatelink/pricing/),
# so only what something in this VPC calls: the workloads (secretsmanager, kms, logs, sts, monitoring),
# RDS Proxy (secretsmanager), and the documented operator path of docs/operations.md: an SSM session on
# an ops instance needs ssm, ssmmessages and ec2messages
# (https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-create-vpc.html; SSM Agent
# 3.3.40.0+ can do without ec2messages, older agents cannot), and the ops commands run from that shell
# call rds, secretsmanager, kms and sts (scripts/ops/aws.py, backup.py, restore.py, pg.py) plus S3 through
# the gateway endpoint. tests/components/test_network_reachability.py derives that list from the code.
DEFAULT_INTERFACE_ENDPOINTS = (
    "secretsmanager",
    "kms",
    "logs",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "sts",
    "monitoring",
    "rds",
)
_ENDPOINT_SERVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """Inputs of a Network; every default is the secure choice."""

    cidr: str
    """Private IPv4 block of the VPC, /16 to /22 (RFC 1918)."""
    availability_zones: Sequence[str]
    """At least two distinct AZs of `region` (at most 4); one data and one app subnet in each."""
    service_names: Sequence[str]
    """Services that get a workload security group each (non-empty, unique)."""
    region: str
    """Region of the VPC; endpoint service names are built from it."""
    logs_kms_key_arn: pulumi.Input[str]
    """Customer-managed key (PlatformKeys' `logs`) that encrypts the flow-log group."""
    tags: dict[str, str]
    """Required tags (see components.tagging)."""
    flow_log_retention_days: int = MIN_LOG_RETENTION_DAYS
    """Days flow logs are kept: at least a year, and a value CloudWatch Logs accepts."""
    interface_endpoint_services: Sequence[str] = DEFAULT_INTERFACE_ENDPOINTS
    """AWS services reached through interface endpoints (S3 always has a gateway endpoint)."""
    account_id: pulumi.Input[str] | None = None
    """When given, the flow-log role trusts the service only on behalf of this account's flow logs
    (aws:SourceAccount / aws:SourceArn), closing the confused-deputy path."""

    def __post_init__(self) -> None:
        require_tags("NetworkArgs.tags", self.tags)
        problem = private_vpc_cidr_problem(self.cidr)
        if problem:
            raise ValueError(f"NetworkArgs.cidr = {self.cidr!r}: {problem}")
        zones = list(self.availability_zones)
        if not MIN_AZS <= len(set(zones)) == len(zones) <= MAX_AZS:
            raise ValueError(f"NetworkArgs.availability_zones = {zones}: need {MIN_AZS} to {MAX_AZS} distinct zones")
        foreign = [zone for zone in zones if not (zone.startswith(self.region) and len(zone) == len(self.region) + 1)]
        if foreign:
            raise ValueError(f"NetworkArgs.availability_zones = {zones}: {foreign} not zones of region {self.region!r}")
        services = list(self.service_names)
        if not services or len(set(services)) != len(services):
            raise ValueError(f"NetworkArgs.service_names = {services}: must be non-empty and unique")
        require_log_retention("NetworkArgs.flow_log_retention_days", self.flow_log_retention_days)
        endpoints = list(self.interface_endpoint_services)
        if (
            len(set(endpoints)) != len(endpoints)
            or "s3" in endpoints
            or not all(_ENDPOINT_SERVICE.match(svc) for svc in endpoints)
        ):
            raise ValueError(
                f"NetworkArgs.interface_endpoint_services = {endpoints}: must be unique service names "
                "like 'kms', without 's3' (it has a gateway endpoint already)"
            )


def subnet_cidrs(cidr: str, zone_count: int) -> tuple[list[str], list[str]]:
    """(app, data) subnet CIDRs for the first `zone_count` zones; the same input always gives the same cut."""
    blocks = [str(block) for block in ipaddress.ip_network(cidr).subnets(prefixlen_diff=3)]
    return blocks[:zone_count], blocks[MAX_AZS : MAX_AZS + zone_count]


class Network(pulumi.ComponentResource):
    """A VPC with isolated data and private app subnets, endpoints instead of internet, and flow logs."""

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    data_subnet_ids: list[pulumi.Output[str]]
    app_subnet_ids: list[pulumi.Output[str]]
    service_security_group_ids: dict[str, pulumi.Output[str]]
    """By service name; each service's deploy adds the ingress it needs to its own group."""
    endpoint_security_group_id: pulumi.Output[str]
    s3_prefix_list_id: pulumi.Output[str]
    """Prefix list of S3 in this region (the gateway endpoint's); egress rules to S3 name it."""
    flow_log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        cidr = args.cidr

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags,
            opts=child,
        )
        # Managing the default group with no rules removes AWS's allow-all-within-group defaults.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, tags=tags, opts=child)

        app_cidrs, data_cidrs = subnet_cidrs(cidr, len(args.availability_zones))
        app_table_id, self.app_subnet_ids = self._tier(name, "app", vpc.id, args, app_cidrs)
        data_table_id, self.data_subnet_ids = self._tier(name, "data", vpc.id, args, data_cidrs)

        log_group = self._flow_log(name, vpc.id, args)

        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            description="VPC interface endpoints: HTTPS from inside the VPC only",
            tags=with_purpose(tags, "vpc-endpoints"),
            opts=child,
        )
        # From the CIDR rather than from each service group: RDS Proxy and other managed ENIs in the
        # VPC reach Secrets Manager and KMS through these endpoints too.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https-in",
            security_group_id=endpoint_sg.id,
            description="HTTPS from the VPC",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=cidr,
            tags=tags,
            opts=child,
        )
        for service in args.interface_endpoint_services:
            aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.app_subnet_ids,
                security_group_ids=[endpoint_sg.id],
                tags=tags,
                opts=child,
            )
        s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[data_table_id, app_table_id],
            tags=tags,
            opts=child,
        )

        # Traffic through a gateway endpoint is addressed to S3's public ranges, i.e. its prefix list,
        # not to the VPC CIDR: a group that restricts egress must allow that prefix list
        # (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html, "Considerations").
        self.s3_prefix_list_id = s3_endpoint.prefix_list_id
        self.service_security_group_ids = {
            service: self._service_group(name, service, vpc.id, args) for service in args.service_names
        }
        self.vpc_id = vpc.id
        self.vpc_cidr = cidr
        self.endpoint_security_group_id = endpoint_sg.id
        self.flow_log_group_name = log_group.name
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "dataSubnetIds": self.data_subnet_ids,
                "appSubnetIds": self.app_subnet_ids,
                "serviceSecurityGroupIds": self.service_security_group_ids,
                "endpointSecurityGroupId": self.endpoint_security_group_id,
                "s3PrefixListId": self.s3_prefix_list_id,
                "flowLogGroupName": self.flow_log_group_name,
            }
        )

    def _tier(
        self, name: str, tier: str, vpc_id: pulumi.Output[str], args: NetworkArgs, cidrs: list[str]
    ) -> tuple[pulumi.Output[str], list[pulumi.Output[str]]]:
        """(route table id, subnet ids): a table without an internet route, one subnet per zone on it."""
        child = pulumi.ResourceOptions(parent=self)
        tags = with_purpose(args.tags, f"{tier}-subnets")
        table = aws.ec2.RouteTable(f"{name}-{tier}-rt", vpc_id=vpc_id, tags=tags, opts=child)
        subnet_ids = []
        for zone, block in zip(args.availability_zones, cidrs, strict=False):
            subnet = aws.ec2.Subnet(
                f"{name}-{tier}-{zone}",
                vpc_id=vpc_id,
                cidr_block=block,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{name}-{tier}-{zone}", "Tier": tier},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-{tier}-{zone}-rta", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )
            subnet_ids.append(subnet.id)
        return table.id, subnet_ids

    def _flow_log(self, name: str, vpc_id: pulumi.Output[str], args: NetworkArgs) -> aws.cloudwatch.LogGroup:
        tags = with_purpose(args.tags, "vpc-flow-logs")
        log_group = encrypted_log_group(
            f"{name}-flow-logs",
            log_group_name=f"/tradesense/{args.tags['Stack']}/vpc-flow-logs",
            kms_key_arn=args.logs_kms_key_arn,
            retention_days=args.flow_log_retention_days,
            tags=tags,
            parent=self,
            deletion_protection=True,
        )
        role, policy = role_with_policy(
            f"{name}-flow-logs-role",
            f"{name}-flow-logs-delivery",
            description="VPC flow logs delivery into the flow-log group only",
            trust_policy=assume_role_policy(
                {"Service": "vpc-flow-logs.amazonaws.com"}, _flow_log_trust_condition(args)
            ),
            policy=policy_document(
                [
                    {
                        "Sid": "DeliverToTheFlowLogGroup",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        "Resource": [log_group.arn, pulumi.Output.concat(log_group.arn, ":*")],
                    }
                ]
            ),
            tags=tags,
            parent=self,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            # Without the policy the first deliveries fail and the flow log reports an access error.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        return log_group

    def _service_group(
        self, name: str, service: str, vpc_id: pulumi.Output[str], args: NetworkArgs
    ) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        tags = for_service(args.tags, service)
        group = aws.ec2.SecurityGroup(
            f"{name}-{service}-sg",
            vpc_id=vpc_id,
            description=f"{service} workloads: egress to the VPC only; ingress added by the {service} deploy",
            tags=tags,
            opts=child,
        )
        for label, port in SERVICE_EGRESS_PORTS.items():
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{service}-{label}-out",
                security_group_id=group.id,
                description=f"{label} to the VPC",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=args.cidr,
                tags=tags,
                opts=child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-{service}-s3-out",
            security_group_id=group.id,
            description="HTTPS to S3 through the VPC's gateway endpoint (its prefix list)",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            prefix_list_id=self.s3_prefix_list_id,
            tags=tags,
            opts=child,
        )
        return group.id


def _flow_log_trust_condition(args: NetworkArgs) -> dict[str, Any] | None:
    """Only this account's flow logs may use the role; None (no condition) without an account_id."""
    if not args.account_id:
        return None
    return {
        "StringEquals": {"aws:SourceAccount": args.account_id},
        "ArnLike": {
            "aws:SourceArn": pulumi.Output.format("arn:aws:ec2:{0}:{1}:vpc-flow-log/*", args.region, args.account_id)
        },
    }
