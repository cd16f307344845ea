"""Encryption in transit: TLS to the database, the proxy, the cache, S3 and the edge."""

from __future__ import annotations

from tradesense_policies import types as t
from tradesense_policies.model import Document, Props, Resource, as_bool, as_list, get_path, policy_document, statements
from tradesense_policies.registry import CIS, FSBP, GDPR, PCI, SOC2, NotApplicable, Violations, resource_rule

IN_TRANSIT = ((PCI, "4.2.1"), (SOC2, "CC6.7"), (GDPR, "Art. 32(1)(a)"))
# The only rds.force_ssl value that refuses clear-text connections (the live validator reads it too).
FORCE_SSL = "1"
# CloudFront security policies that allow only TLS 1.2 or newer.
MODERN_TLS = ("TLSv1.2_2018", "TLSv1.2_2019", "TLSv1.2_2021", "TLSv1.3_2025")


def parameters(props: Props) -> dict[str, str]:
    """An RDS parameter group's parameters as name -> value."""
    found = {}
    for index, _ in enumerate(get_path(props, "parameters") or []):
        name = get_path(props, f"parameters.{index}.name")
        found[str(name)] = str(get_path(props, f"parameters.{index}.value"))
    return found


def require_postgres(props: Props) -> None:
    family = str(get_path(props, "family") or "")
    if not family.startswith("postgres"):
        raise NotApplicable(f"family {family or '(unset)'} is not PostgreSQL")


@resource_rule(
    name="rds-force-ssl",
    description="PostgreSQL parameter groups set rds.force_ssl = 1, so no client connects in clear text.",
    resource_types=(t.RDS_PARAMETER_GROUP,),
    severity="high",
    remediation="Add the parameter rds.force_ssl = 1 (apply_method pending-reboot) to the instance's parameter group.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html",
    compliance=IN_TRANSIT,
    evidence=("family", "parameters.name", "parameters.value"),
)
def rds_force_ssl(props: Props, resource: Resource) -> Violations:
    require_postgres(props)
    value = parameters(props).get("rds.force_ssl")
    if value != FORCE_SSL:
        return f"rds.force_ssl = {value}: must be 1"
    return None


@resource_rule(
    name="rds-proxy-require-tls",
    description="RDS Proxies accept only TLS connections.",
    resource_types=(t.RDS_PROXY,),
    severity="high",
    remediation="Set require_tls=True on the proxy.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.howitworks.html#rds-proxy-security.tls",
    compliance=IN_TRANSIT,
    evidence=("requireTls",),
)
def rds_proxy_require_tls(props: Props, resource: Resource) -> Violations:
    if not as_bool(get_path(props, "requireTls")):
        return "requireTls is not true"
    return None


@resource_rule(
    name="elasticache-transit-encryption",
    description="Redis replication groups require TLS in transit.",
    resource_types=(t.REPLICATION_GROUP,),
    severity="high",
    remediation="Set transit_encryption_enabled=True and leave transit_encryption_mode at `required`.",
    url="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/in-transit-encryption.html",
    compliance=IN_TRANSIT + ((FSBP, "ElastiCache.5"),),
    evidence=("transitEncryptionEnabled", "transitEncryptionMode"),
)
def elasticache_transit_encryption(props: Props, resource: Resource) -> Violations:
    if not as_bool(get_path(props, "transitEncryptionEnabled")):
        return "transitEncryptionEnabled is not true"
    if get_path(props, "transitEncryptionMode") == "preferred":
        return "transitEncryptionMode = preferred: clear-text clients are still accepted"
    return None


def denies_insecure_transport(document: Document, bucket: str | None = None) -> bool:
    """Whether one Deny statement refuses every non-TLS request: all S3 actions, by everyone, on the
    bucket and its objects (when `bucket` is given), with aws:SecureTransport false as its only condition."""
    for statement in statements(document):
        condition = statement.get("Condition") or {}
        secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
        actions = [str(a).lower() for a in as_list(statement.get("Action"))]
        resources = {str(r) for r in as_list(statement.get("Resource"))}
        covers = (
            bucket is None or "*" in resources or {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"} <= resources
        )
        if (
            statement.get("Effect") == "Deny"
            and str(secure).lower() == "false"
            and list(condition) == ["Bool"]
            and len(condition["Bool"]) == 1
            and any(a in ("s3:*", "*") for a in actions)
            and covers
            and statement.get("Principal") in ("*", {"AWS": "*"}, {"AWS": ["*"]})
        ):
            return True
    return False


@resource_rule(
    name="s3-bucket-tls-only",
    description="Bucket policies deny every request not made over TLS.",
    resource_types=t.BUCKET_POLICY,
    severity="high",
    remediation="Add a Deny statement for s3:* by * on the bucket ARN and bucket/* when aws:SecureTransport is "
    "false, with no other condition (SecureBucket always does).",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit",
    compliance=IN_TRANSIT + ((CIS, "2.1.1"), (FSBP, "S3.5")),
    evidence=("policy",),
)
def s3_bucket_tls_only(props: Props, resource: Resource) -> Violations:
    bucket = get_path(props, "bucket")
    if not denies_insecure_transport(policy_document(get_path(props, "policy")), bucket or None):
        return (
            f"no Deny of s3:* by everyone on {bucket} and {bucket}/* when aws:SecureTransport = false "
            "(and no other condition)"
        )
    return None


@resource_rule(
    name="cloudfront-https-only",
    description="CloudFront serves viewers over HTTPS only (https-only or redirect-to-https).",
    resource_types=(t.DISTRIBUTION,),
    severity="high",
    remediation="Set viewer_protocol_policy to redirect-to-https (or https-only) on every cache behaviour.",
    url="https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-https-viewers-to-cloudfront.html",
    compliance=IN_TRANSIT + ((FSBP, "CloudFront.3"),),
    evidence=("defaultCacheBehavior.viewerProtocolPolicy", "orderedCacheBehaviors.viewerProtocolPolicy"),
)
def cloudfront_https_only(props: Props, resource: Resource) -> Violations:
    problems = []
    default = get_path(props, "defaultCacheBehavior.viewerProtocolPolicy")
    if default not in ("https-only", "redirect-to-https"):
        problems.append(f"defaultCacheBehavior.viewerProtocolPolicy = {default}")
    for index, _ in enumerate(get_path(props, "orderedCacheBehaviors") or []):
        policy = get_path(props, f"orderedCacheBehaviors.{index}.viewerProtocolPolicy")
        if policy not in ("https-only", "redirect-to-https"):
            problems.append(f"orderedCacheBehaviors[{index}].viewerProtocolPolicy = {policy}")
    return problems


@resource_rule(
    name="cloudfront-minimum-tls",
    description="CloudFront uses a custom certificate with a TLS 1.2+ security policy (TLSv1.2_2021 or newer).",
    resource_types=(t.DISTRIBUTION,),
    severity="high",
    remediation="Use an ACM certificate (viewer_certificate.acm_certificate_arn, ssl_support_method sni-only) "
    "and minimum_protocol_version TLSv1.2_2021.",
    url="https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/secure-connections-supported-viewer-protocols-ciphers.html",
    compliance=IN_TRANSIT + ((FSBP, "CloudFront.7"),),
    evidence=("viewerCertificate.minimumProtocolVersion", "viewerCertificate.cloudfrontDefaultCertificate"),
)
def cloudfront_minimum_tls(props: Props, resource: Resource) -> Violations:
    if as_bool(get_path(props, "viewerCertificate.cloudfrontDefaultCertificate")):
        return "the default *.cloudfront.net certificate allows TLSv1; use an ACM certificate"
    version = get_path(props, "viewerCertificate.minimumProtocolVersion")
    if version not in MODERN_TLS[2:]:
        return f"viewerCertificate.minimumProtocolVersion = {version}: must be TLSv1.2_2021 or newer"
    return None
