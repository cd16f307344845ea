"""No public exposure: private databases, private buckets, no internet ingress to data ports."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from tradesense_policies import types as t
from tradesense_policies.model import (
    Props,
    Resource,
    Stack,
    as_bool,
    as_list,
    as_number,
    get_path,
    is_unknown,
    names,
    referrers,
)
from tradesense_policies.registry import (
    CIS,
    FSBP,
    GDPR,
    PCI,
    SOC2,
    Finding,
    NotApplicable,
    Unknown,
    Violations,
    resource_rule,
    stack_rule,
)

NO_PUBLIC = ((PCI, "1.4.4"), (SOC2, "CC6.6"), (GDPR, "Art. 32(1)(b)"))
WORLD = ("0.0.0.0/0", "::/0")
# PostgreSQL (instances and RDS Proxy), MySQL, Redis, Memcached.
DATA_PORTS = {5432: "PostgreSQL / RDS Proxy", 3306: "MySQL", 6379: "Redis", 11211: "Memcached"}
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
INGRESS_TYPES = (t.SG_INGRESS_RULE, t.SG_RULE, t.SG)
# Address space that is not reachable from the internet: RFC 1918, shared (RFC 6598), loopback,
# link-local, and IPv6 unique-local / link-local. Any range reaching outside these is public.
NON_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


def public_range(cidr: object) -> bool:
    """Whether a CIDR includes any public address (judged as an address range, IPv4 or IPv6, so
    0.0.0.0/1, 2000::/3 or ::ffff:0:0/96 are as public as 0.0.0.0/0). Unparseable text counts as public."""
    if is_unknown(cidr):
        raise Unknown(f"cidr {cidr}")
    try:
        network = ipaddress.ip_network(str(cidr).strip(), strict=False)
    except ValueError:
        return True
    # subnet_of compares like with like; the version check makes that so (mypy cannot narrow on it).
    return not any(network.version == n.version and network.subnet_of(n) for n in NON_PUBLIC)  # type: ignore[arg-type]


@resource_rule(
    name="rds-not-publicly-accessible",
    description="RDS instances are not publicly accessible.",
    resource_types=(t.RDS_INSTANCE,),
    severity="critical",
    remediation="Set publicly_accessible=False and place the instance in private subnets only.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_VPC.WorkingWithRDSInstanceinaVPC.html",
    compliance=NO_PUBLIC + ((CIS, "2.3.3"), (FSBP, "RDS.2")),
    evidence=("publiclyAccessible",),
)
def rds_not_publicly_accessible(props: Props, resource: Resource) -> Violations:
    if as_bool(get_path(props, "publiclyAccessible")):
        return "publiclyAccessible is true"
    return None


@resource_rule(
    name="s3-public-access-block",
    description="Every bucket public-access block sets all four flags.",
    resource_types=t.BUCKET_PAB,
    severity="critical",
    remediation="Set block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets to True.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
    compliance=NO_PUBLIC + ((CIS, "2.1.4"), (FSBP, "S3.8")),
    evidence=PUBLIC_ACCESS_FLAGS,
)
def s3_public_access_block(props: Props, resource: Resource) -> Violations:
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if not as_bool(get_path(props, flag))]
    return f"not true: {', '.join(off)}" if off else None


def _bucket_ref_keys() -> tuple[str, ...]:
    return ("bucket", "id", "arn")


@stack_rule(
    name="s3-bucket-has-controls",
    description="Every bucket has a public-access block, default encryption, versioning and a TLS-only bucket "
    "policy attached (named by value, not merely depending on the bucket).",
    resource_types=t.BUCKETS,
    severity="high",
    remediation="Create buckets through SecureBucket, which attaches every control; never a bare aws.s3.Bucket.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html",
    compliance=NO_PUBLIC + ((PCI, "3.5.1"), (FSBP, "S3.8"), (FSBP, "S3.14")),
    evidence=("bucket", "bucketPrefix"),
)
def s3_bucket_has_controls(stack: Stack) -> Iterator[Finding]:
    from tradesense_policies.model import policy_document
    from tradesense_policies.rules.transit import denies_insecure_transport

    controls = {
        "public-access block": t.BUCKET_PAB,
        "encryption configuration": t.BUCKET_SSE,
        "versioning": t.BUCKET_VERSIONING,
        "TLS-only bucket policy": t.BUCKET_POLICY,
    }
    for bucket in stack.of_type(*t.BUCKETS):
        missing = []
        for label, types in controls.items():
            attached = referrers(stack.of_type(*types), "bucket", bucket, *_bucket_ref_keys())
            if types == t.BUCKET_POLICY:
                attached = [
                    p
                    for p in attached
                    if denies_insecure_transport(policy_document(p.props.get("policy")), p.props.get("bucket"))
                ]
            if not attached:
                missing.append(label)
        if missing:
            yield bucket.urn, f"bucket {bucket.name} has no {', '.join(missing)}"


def _ingress_entries(resource: Resource) -> Iterator[tuple[Any, Any, Any, list[Any], list[Any]]]:
    """(from_port, to_port, protocol, cidrs, prefix lists) for each ingress the resource opens, as given."""
    props = resource.props
    if resource.type == t.SG_INGRESS_RULE:
        yield (
            get_path(props, "fromPort"),
            get_path(props, "toPort"),
            get_path(props, "ipProtocol"),
            [c for c in (get_path(props, "cidrIpv4"), get_path(props, "cidrIpv6")) if c],
            [p for p in (get_path(props, "prefixListId"),) if p],
        )
    elif resource.type == t.SG_RULE:
        if get_path(props, "type") != "ingress":
            return
        yield (
            get_path(props, "fromPort"),
            get_path(props, "toPort"),
            get_path(props, "protocol"),
            as_list(get_path(props, "cidrBlocks")) + as_list(get_path(props, "ipv6CidrBlocks")),
            as_list(get_path(props, "prefixListIds")),
        )
    else:
        for index, _ in enumerate(get_path(props, "ingress") or []):
            yield (
                get_path(props, f"ingress.{index}.fromPort"),
                get_path(props, f"ingress.{index}.toPort"),
                get_path(props, f"ingress.{index}.protocol"),
                as_list(get_path(props, f"ingress.{index}.cidrBlocks"))
                + as_list(get_path(props, f"ingress.{index}.ipv6CidrBlocks")),
                as_list(get_path(props, f"ingress.{index}.prefixListIds")),
            )


def _port_range(low: object, high: object, protocol: object) -> tuple[int, int]:
    if str(protocol).lower() in ("-1", "all") or (low is None and high is None):
        return 0, 65535
    lo = as_number(low)
    hi = as_number(high) if high is not None else lo
    if lo is None or hi is None or lo < 0 or hi < 0:
        return 0, 65535
    return int(lo), int(hi)


def _world_ingress(resource: Resource) -> Iterator[tuple[int, int, str]]:
    """(low, high, what) of every ingress reachable from a public range or a prefix list (whose
    entries are not in the plan, so it is taken to be public)."""
    for low, high, protocol, cidrs, prefix_lists in _ingress_entries(resource):
        public = [str(c) for c in cidrs if public_range(c)] + [f"prefix list {p}" for p in prefix_lists]
        if public:
            lo, hi = _port_range(low, high, protocol)
            yield lo, hi, ", ".join(public)


INGRESS_EVIDENCE = (
    "cidrIpv4",
    "cidrIpv6",
    "cidrBlocks",
    "fromPort",
    "toPort",
    "ipProtocol",
    "type",
    "ingress.cidrBlocks",
    "ingress.fromPort",
    "ingress.toPort",
)


@resource_rule(
    name="no-public-ingress-to-data-ports",
    description="No security group admits any public address range (IPv4 or IPv6, however split) or prefix list "
    "to a database, proxy or cache port.",
    resource_types=INGRESS_TYPES,
    severity="critical",
    remediation="Admit data ports only from the application security groups (referenced_security_group_id).",
    url="https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
    compliance=NO_PUBLIC + ((PCI, "1.3.1"), (CIS, "5.2"), (CIS, "5.3"), (FSBP, "EC2.19")),
    evidence=INGRESS_EVIDENCE,
)
def no_public_ingress_to_data_ports(props: Props, resource: Resource) -> Violations:
    problems = []
    for low, high, sources in _world_ingress(resource):
        exposed = [f"{port} ({label})" for port, label in DATA_PORTS.items() if low <= port <= high]
        if exposed:
            problems.append(f"ports {low}-{high} open to {sources} include {', '.join(exposed)}")
    if not problems and resource.type == t.SG and not get_path(props, "ingress"):
        raise NotApplicable("no inline ingress")
    return problems


@resource_rule(
    name="no-public-ingress",
    description="No security group admits a public address range or prefix list on any port: the edge is "
    "CloudFront, not the VPC.",
    resource_types=INGRESS_TYPES,
    severity="high",
    remediation="Reach services through CloudFront and VPC endpoints; admit traffic from named security groups.",
    url="https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
    compliance=NO_PUBLIC + ((PCI, "1.3.1"), (CIS, "5.2"), (FSBP, "EC2.18")),
    evidence=INGRESS_EVIDENCE,
)
def no_public_ingress(props: Props, resource: Resource) -> Violations:
    opened = [f"{low}-{high} from {sources}" for low, high, sources in _world_ingress(resource)]
    return f"ports open to public ranges: {'; '.join(opened)}" if opened else None


DATA_STORE_GROUPS = {
    t.RDS_INSTANCE: "vpcSecurityGroupIds",
    t.RDS_PROXY: "vpcSecurityGroupIds",
    t.REPLICATION_GROUP: "securityGroupIds",
}


def _group_ingress(stack: Stack, group: Resource) -> Iterator[tuple[Resource, str, bool]]:
    """(rule, source description, allowed) for every ingress into `group` the stack declares."""
    standalone = [
        r
        for r in stack.of_type(t.SG_INGRESS_RULE, t.SG_RULE)
        if r.type == t.SG_INGRESS_RULE or r.props.get("type") == "ingress"
    ]
    groups = stack.of_type(t.SG)
    for rule in referrers(standalone, "securityGroupId", group, "id"):
        source = rule.props.get("referencedSecurityGroupId") or rule.props.get("sourceSecurityGroupId")
        literal = [
            c
            for c in (
                rule.props.get("cidrIpv4"),
                rule.props.get("cidrIpv6"),
                rule.props.get("prefixListId"),
                *as_list(rule.props.get("cidrBlocks")),
                *as_list(rule.props.get("ipv6CidrBlocks")),
                *as_list(rule.props.get("prefixListIds")),
            )
            if c
        ]
        if is_unknown(source):
            raise Unknown(f"{rule.name}.referencedSecurityGroupId")
        own = bool(source) and any(names(source, g, "id") for g in groups)
        yield rule, (", ".join(map(str, literal)) or f"group {source}"), own and not literal
    for index, entry in enumerate(as_list(group.props.get("ingress"))):
        entry = entry or {}
        sources = as_list(entry.get("securityGroups"))
        literal = (
            as_list(entry.get("cidrBlocks"))
            + as_list(entry.get("ipv6CidrBlocks"))
            + as_list(entry.get("prefixListIds"))
        )
        own = all(any(names(s, g, "id") for g in groups) for s in sources)
        yield (
            group,
            f"inline ingress[{index}] from {', '.join(map(str, literal + sources)) or 'self'}",
            own and not literal,
        )


@stack_rule(
    name="data-store-ingress-from-own-groups",
    description="Databases, proxies and caches sit in security groups of this stack that admit traffic only "
    "from this stack's own security groups (no CIDR, prefix list or foreign group).",
    resource_types=tuple(DATA_STORE_GROUPS),
    severity="critical",
    remediation="Attach the component's security group; admit clients with referenced_security_group_id naming "
    "the service's workload group of this stack, never a CIDR.",
    url="https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html#security-group-referencing",
    compliance=NO_PUBLIC + ((PCI, "1.3.1"), (PCI, "1.2.1")),
    evidence=("vpcSecurityGroupIds", "securityGroupIds"),
)
def data_store_ingress_from_own_groups(stack: Stack) -> Iterator[Finding]:
    groups = stack.of_type(t.SG)
    for store in stack.of_type(*DATA_STORE_GROUPS):
        ids = store.props.get(DATA_STORE_GROUPS[store.type])
        if is_unknown(ids) or any(is_unknown(i) for i in as_list(ids)):
            raise Unknown(f"{store.name}.{DATA_STORE_GROUPS[store.type]}")
        if not as_list(ids):
            yield (
                store.urn,
                f"{store.name}: no security group of this stack attached (the VPC default group admits its members)",
            )
        for group_id in as_list(ids):
            group = next((g for g in groups if names(group_id, g, "id")), None)
            if group is None:
                yield store.urn, f"{store.name}: security group {group_id} is not a group of this stack"
                continue
            for rule, source, allowed in _group_ingress(stack, group):
                if not allowed:
                    yield (
                        store.urn,
                        f"{store.name}: {group.name} admits {source} ({rule.name}), not only this stack's groups",
                    )


@stack_rule(
    name="vpc-flow-logs-enabled",
    description="Every VPC has a flow log recording all traffic (accepted and rejected) to a destination.",
    resource_types=(t.VPC,),
    severity="medium",
    remediation="Create aws.ec2.FlowLog with vpc_id = the VPC's id, traffic_type ALL and a log destination "
    "(the Network component does).",
    url="https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs.html",
    compliance=((PCI, "10.2.1"), (SOC2, "CC7.2"), (CIS, "3.7"), (FSBP, "EC2.6")),
    evidence=("cidrBlock",),
)
def vpc_flow_logs_enabled(stack: Stack) -> Iterator[Finding]:
    logs = stack.of_type(t.FLOW_LOG)
    for vpc in stack.of_type(t.VPC):
        attached = referrers(logs, "vpcId", vpc, "id")
        complete = [
            f
            for f in attached
            if str(f.props.get("trafficType", "")).upper() == "ALL"
            and (f.props.get("logDestination") or f.props.get("logGroupName"))
        ]
        if not complete:
            yield (
                vpc.urn,
                (
                    f"VPC {vpc.name}: no flow log"
                    if not attached
                    else f"VPC {vpc.name}: flow logs record {[f.props.get('trafficType') for f in attached]}, not ALL"
                ),
            )
