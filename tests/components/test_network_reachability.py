"""What a first deploy depends on in the network: facts about AWS, derived from the code, not our inputs.

- Traffic to an S3 gateway endpoint is addressed to S3's prefix list, not the VPC CIDR; a security
  group with restricted egress must name that prefix list
  (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html, "Considerations").
- In a VPC without a route out, every AWS API called from inside needs an endpoint (interface, or the
  S3 gateway) (https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html);
  an SSM session needs ssm, ssmmessages and ec2messages
  (https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-create-vpc.html).
"""

from __future__ import annotations

import ast
from pathlib import Path

from components.network import DEFAULT_INTERFACE_ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> str:
    """scripts/ops/<name> (one package per subsystem) or scripts/<name> (the flat layout)."""
    for candidate in (f"scripts/ops/{name}", f"scripts/{name}"):
        if (ROOT / candidate).is_file():
            return candidate
    raise FileNotFoundError(name)


# The commands docs/operations.md says run inside the VPC, and the helpers they call into.
IN_VPC_COMMANDS = tuple(_script(name) for name in ("backup.py", "restore.py", "pg.py"))
DISCOVERY = _script("aws.py")
SSM_SESSION_ENDPOINTS = ("ssm", "ssmmessages", "ec2messages")
GATEWAY_ENDPOINTS = ("s3",)


def _client_calls(tree: ast.AST) -> list[tuple[str, bool]]:
    """(service, names a region) for every `<x>.client("service"[, region])` in a module or function."""
    calls = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "client"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            calls.append((node.args[0].value, len(node.args) > 1))
    return calls


def _discovery_methods() -> dict[str, list[tuple[str, bool]]]:
    tree = ast.parse((ROOT / DISCOVERY).read_text())
    return {
        fn.name: _client_calls(fn)
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for fn in cls.body
        if isinstance(fn, ast.FunctionDef)
    }


def in_vpc_api_calls() -> dict[str, set[str]]:
    """Service -> where it is called from, for every AWS API the in-VPC commands reach."""
    methods = _discovery_methods()
    found: dict[str, set[str]] = {}
    for path in IN_VPC_COMMANDS:
        tree = ast.parse((ROOT / path).read_text())
        for service, _ in _client_calls(tree):
            found.setdefault(service, set()).add(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in methods:
                for service, _ in methods[node.func.attr]:
                    found.setdefault(service, set()).add(f"{path} -> {DISCOVERY}:{node.func.attr}")
    return found


def test_the_code_scan_sees_the_clients_it_must():
    """Guard against the scan itself going blind (a rename would otherwise make the next test vacuous)."""
    calls = in_vpc_api_calls()
    assert {"rds", "s3", "secretsmanager", "kms"} <= set(calls), calls


def test_every_api_the_in_vpc_ops_commands_call_has_an_endpoint():
    calls = in_vpc_api_calls()
    reachable = set(DEFAULT_INTERFACE_ENDPOINTS) | set(GATEWAY_ENDPOINTS)
    missing = {service: sorted(where) for service, where in calls.items() if service not in reachable}
    assert not missing, f"called from inside the VPC without an endpoint: {missing}"


def test_an_ssm_session_into_the_private_subnets_has_its_endpoints():
    assert set(SSM_SESSION_ENDPOINTS) <= set(DEFAULT_INTERFACE_ENDPOINTS)


def test_cross_region_calls_are_documented_as_not_run_from_inside_the_vpc():
    """Endpoints are regional: a client for another region (the DR copy) has no path from this VPC,
    so the runbook must send that step through the operator's own machine."""
    cross = sorted(
        {
            service
            for path in IN_VPC_COMMANDS
            for service, regional in _client_calls(ast.parse((ROOT / path).read_text()))
            if regional
        }
    )
    assert cross == ["rds"], cross  # backup.py's copy_db_snapshot into the DR region
    runbook = (ROOT / "docs/operations.md").read_text()
    assert "no path to the DR region's RDS and KMS APIs" in runbook
    assert "AWS-StartPortForwardingSessionToRemoteHost" in runbook and "aws ssm start-session --target" in runbook


def test_service_groups_name_the_s3_gateway_prefix_list(prod_capture):
    """The egress rule must carry the gateway endpoint's own prefix-list id; a CIDR never matches S3."""
    s3_endpoint = prod_capture.one("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3-endpoint")
    prefix_list = s3_endpoint.outputs["prefixListId"]
    assert prefix_list.startswith("pl-")
    from stacks.settings import load_stack_settings

    services = load_stack_settings("prod").services
    groups = [prod_capture.one("aws:ec2/securityGroup:SecurityGroup", f"network-{name}-sg") for name in services]
    egress = prod_capture.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    for group in groups:
        to_s3 = [r for r in egress if r.inputs["securityGroupId"] == group.id and r.inputs.get("prefixListId")]
        assert [(r.inputs["prefixListId"], r.inputs["fromPort"], r.inputs["toPort"]) for r in to_s3] == [
            (prefix_list, 443, 443)
        ], group.name
