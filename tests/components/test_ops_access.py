"""OpsAccess: the runbook's way into the VPC is locked down, costs nothing idle, and reaches the databases."""

import json

import pytest

from components.ops_access import AL2023_AMI_PARAMETER, SSM_CORE_POLICY, OpsAccess, OpsAccessArgs

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def args(tags, /, **overrides):
    return OpsAccessArgs(
        **{
            "vpc_id": "vpc-0123",
            "vpc_cidr": "10.40.0.0/16",
            "subnet_id": "subnet-app-a",
            "s3_prefix_list_id": "pl-63a5400a",
            "ebs_kms_key_arn": KEY,
            "tags": tags,
            **overrides,
        }
    )


def build(tags, **overrides):
    def program():
        OpsAccess("ops", args(tags, **overrides))

    return program


def test_no_instance_runs_and_the_template_is_locked_down(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    assert not cap.of_type("aws:ec2/instance:Instance")
    template = cap.one("aws:ec2/launchTemplate:LaunchTemplate").inputs
    # The AMI is resolved at launch from AWS's public parameter, never pinned.
    assert template["imageId"] == AL2023_AMI_PARAMETER
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
    nic = template["networkInterfaces"][0]
    assert nic["associatePublicIpAddress"] == "false" and nic["subnetId"] == "subnet-app-a"
    ebs = template["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true" and ebs["kmsKeyId"] == KEY
    assert template["instanceInitiatedShutdownBehavior"] == "terminate"
    assert "userData" not in template
    assert {spec["resourceType"] for spec in template["tagSpecifications"]} == {"instance", "volume"}


def test_the_instance_role_can_only_be_managed_by_ssm(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    role = cap.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "ec2.amazonaws.com"}]
    assert [a.inputs["policyArn"] for a in cap.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")] == [
        SSM_CORE_POLICY
    ]
    assert not cap.of_type("aws:iam/rolePolicy:RolePolicy")
    profile = cap.one("aws:iam/instanceProfile:InstanceProfile")
    assert (
        cap.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["iamInstanceProfile"]["arn"] == profile.outputs["arn"]
    )


def test_the_group_has_no_ingress_and_egress_only_to_endpoints_s3_and_postgres(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    assert not cap.of_type(INGRESS)
    rules = sorted(
        (r.inputs["fromPort"], r.inputs.get("cidrIpv4", ""), r.inputs.get("prefixListId", ""))
        for r in cap.of_type(EGRESS)
    )
    assert rules == [(443, "", "pl-63a5400a"), (443, "10.40.0.0/16", ""), (5432, "10.40.0.0/16", "")]


@pytest.mark.parametrize(
    "override, message",
    [
        ({"instance_type": "t3.small"}, "instance_type = 't3.small'"),
        ({"tags": {}}, "OpsAccessArgs.tags"),
    ],
)
def test_bad_arguments_are_refused_with_the_field_named(tags, override, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        args(tags, **override)


def test_every_prod_database_admits_the_ops_group_and_only_on_5432(prod_capture):
    group = prod_capture.one("aws:ec2/securityGroup:SecurityGroup", "ops-sg")
    from_ops = [
        r.inputs for r in prod_capture.of_type(INGRESS) if r.inputs.get("referencedSecurityGroupId") == group.id
    ]
    db_groups = {
        g.id for g in prod_capture.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name.endswith("-db-db-sg")
    }
    assert len(db_groups) == 5
    assert {r["securityGroupId"] for r in from_ops} == db_groups
    assert all((r["fromPort"], r["toPort"], r["ipProtocol"]) == (5432, 5432, "tcp") for r in from_ops)
    assert prod_capture.outputs["opsAccess"]["launchTemplateName"] == "tradesense-prod-ops"
