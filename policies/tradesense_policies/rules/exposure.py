"""No public exposure: private databases, private buckets, no internet ingress to data ports."""

from __future__ import annotations

from tradesense_policies import types as t
from tradesense_policies.model import as_bool, as_list, as_number, get_path, refers_to
from tradesense_policies.registry import CIS, FSBP, GDPR, NotApplicable, PCI, SOC2, resource_rule, stack_rule

NO_PUBLIC = ((PCI, "1.4.4"), (SOC2, "CC6.6"), (GDPR, "Art. 32(1)(b)"))
WORLD = ("0.0.0.0/0", "::/0")
# PostgreSQL (instances and RDS Proxy), MySQL, Redis, Memcached.
DATA_PORTS = {5432: "PostgreSQL / RDS Proxy", 3306: "MySQL", 6379: "Redis", 11211: "Memcached"}
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
INGRESS_TYPES = (t.SG_INGRESS_RULE, t.SG_RULE, t.SG)


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
def rds_not_publicly_accessible(props, resource):
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
def s3_public_access_block(props, resource):
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if not as_bool(get_path(props, flag))]
    return f"not true: {', '.join(off)}" if off else None


def _bucket_ref_keys():
    return ("bucket", "id", "arn")


@stack_rule(
    name="s3-bucket-has-controls",
    description="Every bucket has a public-access block, default encryption and versioning attached.",
    resource_types=t.BUCKETS,
    severity="high",
    remediation="Create buckets through SecureBucket, which attaches every control; never a bare aws.s3.Bucket.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html",
    compliance=NO_PUBLIC + ((PCI, "3.5.1"), (FSBP, "S3.8"), (FSBP, "S3.14")),
    evidence=("bucket", "bucketPrefix"),
)
def s3_bucket_has_controls(stack):
    controls = {"public-access block": t.BUCKET_PAB, "encryption configuration": t.BUCKET_SSE,
                "versioning": t.BUCKET_VERSIONING}
    for bucket in stack.of_type(*t.BUCKETS):
        missing = [
            label for label, types in controls.items()
            if not any(refers_to(c, "bucket", c.props.get("bucket"), bucket, *_bucket_ref_keys())
                       for c in stack.of_type(*types))
        ]
        if missing:
            yield bucket.urn, f"bucket {bucket.name} has no {', '.join(missing)}"


def _ingress_entries(resource):
    """(from_port, to_port, cidrs) for each ingress the resource opens."""
    props = resource.props
    if resource.type == t.SG_INGRESS_RULE:
        yield (get_path(props, "fromPort"), get_path(props, "toPort"), get_path(props, "ipProtocol"),
               [get_path(props, "cidrIpv4"), get_path(props, "cidrIpv6")])
    elif resource.type == t.SG_RULE:
        if get_path(props, "type") != "ingress":
            return
        yield (get_path(props, "fromPort"), get_path(props, "toPort"), get_path(props, "protocol"),
               as_list(get_path(props, "cidrBlocks")) + as_list(get_path(props, "ipv6CidrBlocks")))
    else:
        for index, _ in enumerate(get_path(props, "ingress") or []):
            yield (get_path(props, f"ingress.{index}.fromPort"), get_path(props, f"ingress.{index}.toPort"),
                   get_path(props, f"ingress.{index}.protocol"),
                   as_list(get_path(props, f"ingress.{index}.cidrBlocks"))
                   + as_list(get_path(props, f"ingress.{index}.ipv6CidrBlocks")))


def _world_ingress(resource):
    """(label, low, high) of every ingress open to the whole internet."""
    for low, high, protocol, cidrs in _ingress_entries(resource):
        if any(c in WORLD for c in cidrs):
            all_ports = str(protocol) in ("-1", "all") or (low is None and high is None)
            lo = 0 if all_ports else int(as_number(low) or 0)
            hi = 65535 if all_ports else int(as_number(high) if high is not None else lo)
            yield lo, hi


INGRESS_EVIDENCE = ("cidrIpv4", "cidrIpv6", "cidrBlocks", "fromPort", "toPort", "ipProtocol", "type",
                    "ingress.cidrBlocks", "ingress.fromPort", "ingress.toPort")


@resource_rule(
    name="no-public-ingress-to-data-ports",
    description="No security group admits 0.0.0.0/0 or ::/0 to a database, proxy or cache port.",
    resource_types=INGRESS_TYPES,
    severity="critical",
    remediation="Admit data ports only from the application security groups (referenced_security_group_id).",
    url="https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
    compliance=NO_PUBLIC + ((PCI, "1.3.1"), (CIS, "5.2"), (CIS, "5.3"), (FSBP, "EC2.19")),
    evidence=INGRESS_EVIDENCE,
)
def no_public_ingress_to_data_ports(props, resource):
    problems = []
    for low, high in _world_ingress(resource):
        exposed = [f"{port} ({label})" for port, label in DATA_PORTS.items() if low <= port <= high]
        if exposed:
            problems.append(f"ports {low}-{high} open to the internet include {', '.join(exposed)}")
    if not problems and resource.type == t.SG and not get_path(props, "ingress"):
        raise NotApplicable("no inline ingress")
    return problems


@resource_rule(
    name="no-public-ingress",
    description="No security group admits the whole internet on any port: the edge is CloudFront, not the VPC.",
    resource_types=INGRESS_TYPES,
    severity="high",
    remediation="Reach services through CloudFront and VPC endpoints; admit traffic from named security groups.",
    url="https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
    compliance=NO_PUBLIC + ((PCI, "1.3.1"), (CIS, "5.2"), (FSBP, "EC2.18")),
    evidence=INGRESS_EVIDENCE,
)
def no_public_ingress(props, resource):
    opened = [f"{low}-{high}" for low, high in _world_ingress(resource)]
    return f"ports {', '.join(opened)} open to 0.0.0.0/0 or ::/0" if opened else None
