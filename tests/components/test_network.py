import json

import pulumi
import pytest

from components.network import DEFAULT_INTERFACE_ENDPOINTS, Network, NetworkArgs
from components.tagging import REQUIRED_TAG_KEYS

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
SERVICES = ["gateway", "auth", "trading"]
SG = "aws:ec2/securityGroup:SecurityGroup"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SUBNET = "aws:ec2/subnet:Subnet"
# Resources AWS cannot tag.
UNTAGGABLE = {"aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:iam/rolePolicy:RolePolicy"}


def build(tags, **overrides):
    def program():
        args = dict(
            cidr="10.40.0.0/16",
            availability_zones=ZONES,
            service_names=SERVICES,
            region="us-east-1",
            logs_kms_key_arn=KEY,
            tags=tags,
        )
        args.update(overrides)
        net = Network("net", NetworkArgs(**args))
        pulumi.export("vpc_id", net.vpc_id)
        pulumi.export("vpc_cidr", net.vpc_cidr)
        pulumi.export("data_subnet_ids", net.data_subnet_ids)
        pulumi.export("app_subnet_ids", net.app_subnet_ids)
        pulumi.export("service_security_group_ids", net.service_security_group_ids)
        pulumi.export("endpoint_security_group_id", net.endpoint_security_group_id)
        pulumi.export("flow_log_group_name", net.flow_log_group_name)
        return net

    return program


def subnets(cap, tier):
    """One tier's subnets in zone order (registration order is not creation order)."""
    found = [s for s in cap.of_type(SUBNET) if s.inputs["tags"]["Tier"] == tier]
    return sorted(found, key=lambda s: s.inputs["availabilityZone"])


def test_defaults_vpc_and_deterministic_subnets(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    vpc = cap.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.40.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is True and vpc.inputs["enableDnsHostnames"] is True
    app, data = subnets(cap, "app"), subnets(cap, "data")
    assert [s.inputs["cidrBlock"] for s in app] == ["10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"]
    assert [s.inputs["cidrBlock"] for s in data] == ["10.40.128.0/19", "10.40.160.0/19", "10.40.192.0/19"]
    for tier in (app, data):
        assert [s.inputs["availabilityZone"] for s in tier] == ZONES
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in app + data)
    assert all(s.inputs["vpcId"] == vpc.id for s in app + data)
    assert cap.outputs["app_subnet_ids"] == [s.id for s in app]
    assert cap.outputs["data_subnet_ids"] == [s.id for s in data]
    assert cap.outputs["vpc_id"] == vpc.id and cap.outputs["vpc_cidr"] == "10.40.0.0/16"


def test_no_route_leaves_the_vpc(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    for type_ in (
        "aws:ec2/route:Route",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
    ):
        assert cap.of_type(type_) == [], type_
    tables = {t.name: t for t in cap.of_type("aws:ec2/routeTable:RouteTable")}
    assert sorted(tables) == ["net-app-rt", "net-data-rt"]
    assert all(not t.inputs.get("routes") for t in tables.values())
    associations = {
        (a.inputs["subnetId"], a.inputs["routeTableId"])
        for a in cap.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    expected = {(s.id, tables[f"net-{tier}-rt"].id) for tier in ("app", "data") for s in subnets(cap, tier)}
    assert associations == expected


def test_default_security_group_has_no_rules(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    default = cap.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert default["vpcId"] == cap.one("aws:ec2/vpc:Vpc").id
    assert not default.get("ingress") and not default.get("egress")


def test_flow_log_records_all_traffic_into_an_encrypted_group(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    group = cap.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "/tradesense/test/vpc-flow-logs"
    assert group.inputs["kmsKeyId"] == KEY
    assert group.inputs["retentionInDays"] == 365
    assert group.inputs["deletionProtectionEnabled"] is True
    role = cap.one("aws:iam/role:Role")
    flow = cap.one("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["vpcId"] == cap.one("aws:ec2/vpc:Vpc").id
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestinationType"] == "cloud-watch-logs"
    assert flow.inputs["logDestination"] == group.outputs["arn"]
    assert flow.inputs["iamRoleArn"] == role.outputs["arn"]
    assert cap.one("aws:iam/rolePolicy:RolePolicy").urn in flow.dependencies
    assert cap.outputs["flow_log_group_name"] == "/tradesense/test/vpc-flow-logs"


def test_flow_log_role_may_only_write_to_its_group(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    role = cap.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "vpc-flow-logs.amazonaws.com"}]
    assert [s["Action"] for s in trust] == ["sts:AssumeRole"]
    inline = cap.one("aws:iam/rolePolicy:RolePolicy")
    assert inline.inputs["role"] == role.id
    arn = cap.one("aws:cloudwatch/logGroup:LogGroup").outputs["arn"]
    (statement,) = json.loads(inline.inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    assert statement["Resource"] == [arn, f"{arn}:*"]


def test_no_iam_action_or_resource_is_a_wildcard(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    documents = [
        json.loads(cap.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"]),
        json.loads(cap.one("aws:iam/role:Role").inputs["assumeRolePolicy"]),
    ]
    for document in documents:
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), actions
            assert statement.get("Resource", "") != "*"


def test_account_id_scopes_the_flow_log_trust(run_pulumi, tags):
    cap = run_pulumi(build(tags, account_id="123456789012"))
    (statement,) = json.loads(cap.one("aws:iam/role:Role").inputs["assumeRolePolicy"])["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"},
    }


def test_endpoints_reach_aws_apis_privately(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    endpoint_sg = cap.one(SG, "net-endpoints-sg")
    app_ids = [s.id for s in subnets(cap, "app")]
    interface = [e for e in cap.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]
    assert sorted(e.inputs["serviceName"] for e in interface) == sorted(
        f"com.amazonaws.us-east-1.{svc}" for svc in DEFAULT_INTERFACE_ENDPOINTS
    )
    for endpoint in interface:
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert endpoint.inputs["subnetIds"] == app_ids
        assert endpoint.inputs["securityGroupIds"] == [endpoint_sg.id]
    s3 = cap.one(ENDPOINT, "net-s3-endpoint").inputs
    assert s3["vpcEndpointType"] == "Gateway" and s3["serviceName"] == "com.amazonaws.us-east-1.s3"
    tables = {t.id for t in cap.of_type("aws:ec2/routeTable:RouteTable")}
    assert set(s3["routeTableIds"]) == tables and len(tables) == 2
    (https,) = cap.of_type(INGRESS)
    assert https.inputs["securityGroupId"] == endpoint_sg.id
    assert (https.inputs["ipProtocol"], https.inputs["fromPort"], https.inputs["toPort"]) == ("tcp", 443, 443)
    assert https.inputs["cidrIpv4"] == "10.40.0.0/16"
    assert cap.outputs["endpoint_security_group_id"] == endpoint_sg.id


def test_interface_endpoint_services_option(run_pulumi, tags):
    cap = run_pulumi(build(tags, interface_endpoint_services=("kms", "ecr.api")))
    names = sorted(e.inputs["serviceName"] for e in cap.of_type(ENDPOINT))
    assert names == ["com.amazonaws.us-east-1.ecr.api", "com.amazonaws.us-east-1.kms", "com.amazonaws.us-east-1.s3"]


def test_one_group_per_service_with_vpc_only_egress_and_no_ingress(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    vpc_id = cap.one("aws:ec2/vpc:Vpc").id
    groups = {}
    for service in SERVICES:
        group = cap.one(SG, f"net-{service}-sg")
        groups[service] = group.id
        assert group.inputs["vpcId"] == vpc_id
        assert service in group.inputs["description"]
        assert group.inputs["tags"]["Service"] == service
        rules = [r.inputs for r in cap.of_type(EGRESS) if r.inputs["securityGroupId"] == group.id]
        assert all(r["fromPort"] == r["toPort"] and r["ipProtocol"] == "tcp" for r in rules)
        to_vpc = [r for r in rules if "prefixListId" not in r]
        assert sorted(r["fromPort"] for r in to_vpc) == [443, 5432, 6379]
        assert all(r["cidrIpv4"] == "10.40.0.0/16" for r in to_vpc)
        # The one other destination: S3 over HTTPS via the gateway endpoint's prefix list.
        assert [(r["fromPort"], "cidrIpv4" in r) for r in rules if "prefixListId" in r] == [(443, False)]
        assert not [r for r in cap.of_type(INGRESS) if r.inputs["securityGroupId"] == group.id]
    assert cap.outputs["service_security_group_ids"] == groups


def test_no_security_group_is_open_to_the_internet(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    for group in cap.of_type(SG):
        # Rules live in their own resources; inline rules would fight with them.
        assert not group.inputs.get("ingress") and not group.inputs.get("egress"), group.name
    for rule in cap.of_type(INGRESS) + cap.of_type(EGRESS):
        assert rule.inputs.get("cidrIpv4") not in ("0.0.0.0/0", None) or rule.inputs.get("prefixListId")
        assert "cidrIpv6" not in rule.inputs and rule.inputs["ipProtocol"] != "-1"


def test_every_taggable_resource_has_the_required_tags(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    network = cap.one("tradesense:network:Network")
    for resource in cap.descendants(network.urn):
        if resource.type in UNTAGGABLE:
            continue
        assert set(REQUIRED_TAG_KEYS) <= set(resource.inputs.get("tags", {})), resource.name
        assert resource.parent == network.urn


def test_two_zones_of_a_small_block(run_pulumi, tags):
    cap = run_pulumi(build(tags, cidr="172.16.4.0/22", availability_zones=["us-east-1a", "us-east-1d"]))
    assert [s.inputs["cidrBlock"] for s in subnets(cap, "app")] == ["172.16.4.0/25", "172.16.4.128/25"]
    assert [s.inputs["cidrBlock"] for s in subnets(cap, "data")] == ["172.16.6.0/25", "172.16.6.128/25"]


def test_adding_a_zone_keeps_existing_subnets(run_pulumi, tags):
    before = run_pulumi(build(tags, availability_zones=ZONES[:2]))
    after = run_pulumi(build(tags))
    cut = lambda cap: {s.name: s.inputs["cidrBlock"] for s in cap.of_type(SUBNET)}  # noqa: E731
    assert cut(before).items() <= cut(after).items() and len(cut(after)) == 6


def test_flow_log_retention_option(run_pulumi, tags):
    cap = run_pulumi(build(tags, flow_log_retention_days=731))
    assert cap.one("aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 731


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"cidr": "not-a-cidr"}, "cidr = 'not-a-cidr'"),
        ({"cidr": "10.40.0.1/16"}, "cidr = '10.40.0.1/16'"),
        ({"cidr": "8.8.0.0/16"}, "cidr = '8.8.0.0/16': must be inside an RFC 1918 private range"),
        # Private-looking by prefix, but outside RFC 1918 (172.16.0.0/12 ends at 172.31.255.255;
        # 100.64.0.0/10 is carrier-grade NAT, 198.18.0.0/15 benchmarking: `is_private`, not RFC 1918).
        ({"cidr": "172.32.0.0/16"}, "cidr = '172.32.0.0/16': must be inside an RFC 1918"),
        ({"cidr": "192.0.0.0/22"}, "cidr = '192.0.0.0/22': must be inside an RFC 1918"),
        ({"cidr": "198.18.0.0/16"}, "cidr = '198.18.0.0/16': must be inside an RFC 1918"),
        ({"cidr": "100.64.0.0/16"}, "cidr = '100.64.0.0/16': must be inside an RFC 1918"),
        ({"cidr": "10.40.0.0/24"}, "cidr = '10.40.0.0/24'"),
        ({"cidr": "10.0.0.0/8"}, "cidr = '10.0.0.0/8'"),
        ({"cidr": "fd00::/16"}, "cidr = 'fd00::/16'"),
        ({"availability_zones": ["us-east-1a"]}, "availability_zones"),
        ({"availability_zones": ["us-east-1a", "us-east-1a"]}, "availability_zones"),
        ({"availability_zones": [f"us-east-1{z}" for z in "abcde"]}, "availability_zones"),
        ({"availability_zones": ["us-east-1a", "us-west-2a"]}, "availability_zones.*not zones of region"),
        ({"service_names": []}, "service_names"),
        ({"service_names": ["auth", "auth"]}, "service_names"),
        ({"flow_log_retention_days": 30}, "flow_log_retention_days = 30"),
        ({"flow_log_retention_days": 366}, "flow_log_retention_days = 366"),
        ({"interface_endpoint_services": ("kms", "s3")}, "interface_endpoint_services"),
        ({"interface_endpoint_services": ("kms", "kms")}, "interface_endpoint_services"),
        ({"interface_endpoint_services": ("KMS!",)}, "interface_endpoint_services"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(tags, **overrides)()


def test_missing_tags_are_rejected(tags):
    del tags["Stack"]
    with pytest.raises(ValueError, match="NetworkArgs.tags: missing required tag\\(s\\) Stack"):
        build(tags)()
