"""First-deploy preflight: can this account take the stack, before `pulumi up` starts creating it?

A first `pulumi up` that fails half-way leaves a half-built stack to clean up. The failures that
cannot be seen in a plan are properties of the account, checked here, read-only:

- every database's engine version is orderable for its instance class in the region (RDS retires
  minor versions; with a major-only pin such as "16" some 16.x must be orderable);
- the Route 53 zone the edge writes to exists, is public, is the most specific zone for the public
  hostname among the account's zones, and public DNS delegates its domain to it (ACM validation
  waits for a record nobody can see otherwise);
- the stack's region and the DR region are enabled for the account;
- the account's quotas hold what the stack adds: RDS proxies and DB instances, KMS customer managed
  keys per region, VPCs and gateway endpoints per region, interface endpoints per VPC, and the web
  ACL's capacity (WCUs);
- the alert email is a real mailbox, not a placeholder.

What the stack adds is counted from the program itself: the real Pulumi program runs offline
(`scripts.engine.preview.run_stack`) and its registered resources are counted per type and region, so a
component that gains a key or an endpoint moves the preflight with it.

One line per check; exit 0 when all pass (WARN lines pass: a value assumed or a check not made),
1 when any fails, 2 on bad input.

    python -m scripts.ops.preflight --stack prod [--region R] [--endpoint-url URL] [--no-dns] [--json]

What the moto server (the test emulator) cannot emulate, and how it is tested instead:
- RDS orderable options for PostgreSQL: moto answers only Aurora PostgreSQL and Neptune, so the
  orderability check is tested with botocore's Stubber on the RDS client;
- Service Quotas for rds and kms: moto knows only vpc quota codes; the other codes fall back to
  AWS's documented defaults (the line says so), and an applied value is tested with a Stubber;
- NS delegation needs public DNS: the resolver is injected (tests pass a function; `--no-dns` skips
  it with a WARN line); the default resolver asks the system's name server with a plain UDP query.
"""

from __future__ import annotations

import random
import socket
import struct
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from components.edge import route53_zone_name
from scripts.cli import ArgumentParser, Report, UsageError, entrypoint, join, progress
from scripts.ops.aws import (
    Aws,
    Discovery,
    add_aws_arguments,
    aws_from_args,
    check_region,
    error_code,
    settings_from_args,
    tags_of,
)
from stacks.settings import Settings

ENGINE = "postgres"

# -- Quotas ------------------------------------------------------------------------------------
# Service Quotas codes and AWS's documented defaults, used when Service Quotas has no value.
# RDS: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html
#   "Proxies: 20 (L-D94C7EA3)", "DB instances: 40 (L-7B6409FD)" (RDS, Aurora, Neptune and
#   DocumentDB instances all count against it).
# KMS: https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html
#   "AWS KMS keys: 100,000, applies to customer managed keys" (AWS managed keys do not count);
#   Service Quotas code L-C2F1777E ("Customer Master Keys (CMKs)").
# VPC: https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-limits-endpoints.html
#   "Interface and Gateway Load Balancer endpoints per VPC: 50", "Gateway VPC endpoints per
#   Region: 20"; https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html
#   "VPCs per Region: 5" (codes L-29B6F2EB, L-1B52E74A, L-F678F1CE).


@dataclass(frozen=True)
class Quota:
    service: str
    code: str
    name: str
    default: float
    doc: str


RDS_PROXIES = Quota("rds", "L-D94C7EA3", "RDS proxies per region", 20, "AmazonRDS/latest/UserGuide/CHAP_Limits.html")
RDS_INSTANCES = Quota("rds", "L-7B6409FD", "DB instances per region", 40, "AmazonRDS/latest/UserGuide/CHAP_Limits.html")
KMS_KEYS = Quota(
    "kms",
    "L-C2F1777E",
    "KMS customer managed keys per region",
    100_000,
    "kms/latest/developerguide/resource-limits.html",
)
VPCS = Quota("vpc", "L-F678F1CE", "VPCs per region", 5, "vpc/latest/userguide/amazon-vpc-limits.html")
INTERFACE_ENDPOINTS = Quota(
    "vpc", "L-29B6F2EB", "interface endpoints per VPC", 50, "vpc/latest/privatelink/vpc-limits-endpoints.html"
)
GATEWAY_ENDPOINTS = Quota(
    "vpc", "L-1B52E74A", "gateway endpoints per region", 20, "vpc/latest/privatelink/vpc-limits-endpoints.html"
)

# -- WAF capacity ------------------------------------------------------------------------------
# https://docs.aws.amazon.com/waf/latest/developerguide/limits.html: "Maximum web ACL capacity
# units (WCUs) per web ACL: 5,000" (fixed). https://docs.aws.amazon.com/waf/latest/developerguide/
# aws-waf-capacity-units.html: the basic price covers 1,500 WCUs; each 500 above it is billed extra.
WAF_MAX_WCU = 5_000
WAF_PRICED_WCU = 1_500
# Managed rule group capacities, as AWS publishes them ("VendorName: AWS, Name: ..., WCU: N"):
# https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html
# https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-use-case.html
# https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-ip-rep.html
MANAGED_RULE_GROUP_WCU = {
    "AWSManagedRulesCommonRuleSet": 700,
    "AWSManagedRulesKnownBadInputsRuleSet": 200,
    "AWSManagedRulesSQLiRuleSet": 200,
    "AWSManagedRulesAnonymousIpList": 50,
    "AWSManagedRulesAmazonIpReputationList": 25,
}
# https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html:
# "WCUs - 2, as a base cost. For each custom aggregation key that you specify, add 30 WCUs. If you
# use a scope-down statement in the rule, calculate and add the WCUs for that."
RATE_BASED_WCU = 2
RATE_BASED_CUSTOM_KEY_WCU = 30
# https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-string-match.html:
# exactly/starts with/ends with 2, contains string/word 10; all query parameters +10; JSON body
# doubles the base; each text transformation +10.
BYTE_MATCH_WCU = {"EXACTLY": 2, "STARTS_WITH": 2, "ENDS_WITH": 2, "CONTAINS": 10, "CONTAINS_WORD": 10}
TEXT_TRANSFORMATION_WCU = 10
ALL_QUERY_ARGUMENTS_WCU = 10

# -- Alert email -------------------------------------------------------------------------------
# RFC 2606 (sections 2 and 3) reserves the TLDs .test, .example, .invalid, .localhost and the
# second-level names example.com/.net/.org for documentation; RFC 6761 (section 6) makes them
# special-use: mail to them is never delivered. .local is mDNS only (RFC 6762).
RESERVED_TLDS = ("test", "example", "invalid", "localhost", "local")
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
PLACEHOLDER_LOCAL_PARTS = (
    "changeme",
    "change-me",
    "change.me",
    "replaceme",
    "replace-me",
    "todo",
    "tbd",
    "placeholder",
    "your-email",
    "youremail",
    "your.email",
    "you",
    "someone",
    "user",
    "username",
    "email",
    "foo",
    "bar",
    "test",
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
)

OPT_IN_ENABLED = ("opt-in-not-required", "opted-in")


# ---------------------------------------------------------------------------------------------
# What the stack adds, counted from the program


@dataclass
class Plan:
    """Resources the stack would create, by type and region, plus what the quota checks need."""

    counts: Counter = field(default_factory=Counter)
    interface_endpoints_per_vpc: dict[str, int] = field(default_factory=dict)
    gateway_endpoints: Counter = field(default_factory=Counter)  # region -> count
    web_acls: dict[str, list[dict]] = field(default_factory=dict)

    def count(self, type_: str, region: str) -> int:
        return self.counts[(type_, region)]


def _region_of(resource: Any, default: str) -> str:
    arn = str((resource.outputs or {}).get("arn") or "")
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default


def plan_from_capture(capture: Any) -> Plan:
    """Count a captured program run (scripts.engine.offline.Capture) the way the quota checks need it."""
    plan = Plan()
    per_vpc: dict[str, int] = defaultdict(int)
    for resource in capture.resources:
        if not resource.custom:
            continue
        region = _region_of(resource, capture.region)
        plan.counts[(resource.type, region)] += 1
        if resource.type == "aws:ec2/vpcEndpoint:VpcEndpoint":
            if resource.inputs.get("vpcEndpointType") == "Gateway":
                plan.gateway_endpoints[region] += 1
            else:  # Interface (the provider's default type) and Gateway Load Balancer share one quota
                per_vpc[resource.parent.rsplit("::", 1)[-1] or str(resource.inputs.get("vpcId"))] += 1
        if resource.type == "aws:wafv2/webAcl:WebAcl":
            plan.web_acls[str(resource.inputs.get("name") or resource.name)] = list(resource.inputs.get("rules") or [])
    plan.interface_endpoints_per_vpc = dict(per_vpc)
    return plan


def plan_for_stack(stack: str) -> Plan:
    """Run the stack's real program offline and count what it registers."""
    import pulumi

    from scripts.engine.preview import run_stack

    try:
        return plan_from_capture(run_stack(stack))
    except pulumi.RunError as error:  # the program refused the config: bad input, not a finding
        raise UsageError(str(error)) from None


# ---------------------------------------------------------------------------------------------
# WAF capacity


class UnknownCapacity(ValueError):
    """A statement whose WCU cost this module does not know; the check fails rather than guess."""


def statement_wcu(statement: Mapping[str, Any]) -> int:
    """WCUs of one WAF statement as the program declares it (pulumi-aws camelCase inputs)."""
    if not isinstance(statement, Mapping) or len(statement) != 1:
        raise UnknownCapacity(f"not a single statement: {statement!r}"[:120])
    ((kind, body),) = statement.items()
    body = body or {}
    if kind == "rateBasedStatement":
        keys = body.get("customKeys") or []
        scope = body.get("scopeDownStatement")
        return RATE_BASED_WCU + RATE_BASED_CUSTOM_KEY_WCU * len(keys) + (statement_wcu(scope) if scope else 0)
    if kind == "managedRuleGroupStatement":
        name = body.get("name")
        if name not in MANAGED_RULE_GROUP_WCU:
            raise UnknownCapacity(f"managed rule group {name!r}: add its published WCU to scripts/ops/preflight.py")
        scope = body.get("scopeDownStatement")
        return MANAGED_RULE_GROUP_WCU[name] + (statement_wcu(scope) if scope else 0)
    if kind in ("orStatement", "andStatement"):
        return sum(statement_wcu(s) for s in body.get("statements") or [])
    if kind == "notStatement":
        return statement_wcu(body.get("statement") or {})
    if kind == "byteMatchStatement":
        constraint = body.get("positionalConstraint")
        if constraint not in BYTE_MATCH_WCU:
            raise UnknownCapacity(f"byte match with positionalConstraint {constraint!r}")
        base = BYTE_MATCH_WCU[constraint]
        field_to_match = body.get("fieldToMatch") or {}
        if "jsonBody" in field_to_match:
            base *= 2
        if "allQueryArguments" in field_to_match:
            base += ALL_QUERY_ARGUMENTS_WCU
        transforms = [t for t in body.get("textTransformations") or [] if t.get("type") != "NONE"]
        return base + TEXT_TRANSFORMATION_WCU * len(transforms)
    raise UnknownCapacity(f"statement type {kind}: add its WCU figure from AWS's docs to scripts/ops/preflight.py")


def web_acl_wcu(rules: Iterable[Mapping[str, Any]]) -> int:
    return sum(statement_wcu(rule.get("statement") or {}) for rule in rules)


# ---------------------------------------------------------------------------------------------
# DNS (the delegation check)


class DnsUnavailable(OSError):
    """No answer from DNS at all (no network, no resolver): the delegation could not be checked."""


Resolver = Callable[[str], Sequence[str]]


def _system_nameserver() -> str:
    try:
        with open("/etc/resolv.conf") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1]
    except OSError as exc:
        raise DnsUnavailable(f"no /etc/resolv.conf: {exc}") from None
    raise DnsUnavailable("no nameserver in /etc/resolv.conf")


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed, RFC 1035 4.1.4) domain name at offset; returns it and the next offset."""
    labels, jumped, end = [], False, offset
    for _ in range(128):  # bounded: a malicious pointer loop cannot hang us
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if not jumped:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            jumped = True
            continue
        if length == 0:
            return ".".join(labels), (end if jumped else offset + 1)
        labels.append(message[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise DnsUnavailable("malformed DNS answer")


def system_ns_lookup(domain: str, timeout: float = 3.0, server: str | None = None, port: int = 53) -> list[str]:
    """NS records of `domain` from the system's resolver (one UDP query, RFC 1035); [] for NXDOMAIN."""
    server = server or _system_nameserver()
    query_id = random.randrange(1 << 16)
    question = b"".join(bytes([len(label)]) + label.encode("ascii") for label in domain.strip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 2, 1)
    try:
        with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(packet, (server, port))
            message, _ = sock.recvfrom(4096)
    except OSError as exc:
        raise DnsUnavailable(f"no answer from {server}: {exc}") from None
    try:
        return _parse_ns_answer(message, query_id, server)
    except (IndexError, struct.error):
        raise DnsUnavailable(f"malformed DNS answer from {server}") from None


def _parse_ns_answer(message: bytes, query_id: int, server: str) -> list[str]:
    answer_id, flags, qdcount, ancount = struct.unpack(">HHHH", message[:8])
    if answer_id != query_id:
        raise DnsUnavailable(f"unexpected answer from {server}")
    rcode = flags & 0x000F
    if rcode == 3:  # NXDOMAIN
        return []
    if rcode != 0:
        raise DnsUnavailable(f"{server} answered rcode {rcode}")
    offset = 12
    for _ in range(qdcount):
        _, offset = _read_name(message, offset)
        offset += 4
    names = []
    for _ in range(ancount):
        _, offset = _read_name(message, offset)
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", message[offset : offset + 10])
        offset += 10
        if rtype == 2:
            names.append(_read_name(message, offset)[0])
        offset += length
    return names


# ---------------------------------------------------------------------------------------------
# Checks


def _plain(name: str) -> str:
    return name.lower().rstrip(".")


def check_alert_email(report: Report, settings: Settings) -> None:
    email = settings.alert_email
    local, _, domain = email.lower().rpartition("@")
    labels = domain.split(".")
    reason = ""
    if labels[-1] in RESERVED_TLDS:
        reason = f"the .{labels[-1]} top-level domain is reserved (RFC 2606, RFC 6761): mail is never delivered"
    elif any(domain == d or domain.endswith("." + d) for d in RESERVED_DOMAINS):
        reason = "example.com/.net/.org are reserved for documentation (RFC 2606): mail is never delivered"
    elif local in PLACEHOLDER_LOCAL_PARTS:
        reason = f"'{local}@' is a placeholder or an address nobody reads"
    report.add(
        "config.alert_email",
        "tradesense:alertEmail",
        not reason,
        f"{email}: {reason}" if reason else f"{email}: a deliverable-looking address (SNS asks it to confirm)",
    )


def check_regions(report: Report, aws: Aws, settings: Settings) -> None:
    """The stack's region and the DR region must be enabled (opt-in regions are off by default).

    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRegions.html: with
    AllRegions, disabled regions are listed too; opt-in-status is opt-in-not-required | opted-in |
    not-opted-in. (account:GetRegionOptStatus says the same but needs the Account API's permission.)
    """
    wanted = [("aws:region", settings.region)] + (
        [("tradesense:drRegion", settings.dr_region)] if settings.dr_region else []
    )
    try:
        regions = aws.client("ec2").describe_regions(AllRegions=True, RegionNames=[r for _, r in wanted])["Regions"]
    except ClientError as exc:
        if error_code(exc) != "InvalidParameterValue":  # AWS's answer when a name is not a region
            raise
        regions = []
        for _, region in wanted:  # one at a time, to say which name it refused
            try:
                regions += aws.client("ec2").describe_regions(AllRegions=True, RegionNames=[region])["Regions"]
            except ClientError as inner:
                if error_code(inner) != "InvalidParameterValue":
                    raise
    found = {r["RegionName"]: r.get("OptInStatus", "opt-in-not-required") for r in regions}
    for key, region in wanted:
        status = found.get(region)
        if status is None:
            report.add("region.enabled", region, False, f"{key}: not a region this account knows")
        else:
            ok = status in OPT_IN_ENABLED
            report.add(
                "region.enabled",
                region,
                ok,
                f"{key}: {status}" + ("" if ok else "; enable it in Account settings > AWS Regions first"),
            )


def _version_matches(pin: str, version: str) -> bool:
    """An exact pin ("16.4") matches itself; a major-only pin ("16") matches any 16.x."""
    return version == pin or ("." not in pin and version.startswith(pin + "."))


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def check_engine_orderable(report: Report, aws: Aws, settings: Settings) -> None:
    """Each (engine version, instance class) the databases use must be orderable in the region.

    RDS retires minor versions on a schedule, and a retired one cannot be created; not every class
    offers every version. Only VPC offerings count (the databases live in the stack's VPC).
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeOrderableDBInstanceOptions.html:
    EngineVersion, DBInstanceClass and Vpc filter the offerings; EngineVersion matches a whole
    version, so a major-only pin pages through the class's offerings until a 16.x turns up.
    """
    rds = aws.client("rds")
    pairs = sorted(
        {(s.database.engine_version, s.database.instance_class) for s in settings.services.values() if s.database}
    )
    for pin, instance_class in pairs:
        kwargs: dict[str, Any] = {"Engine": ENGINE, "DBInstanceClass": instance_class, "Vpc": True}
        if "." in pin:
            kwargs["EngineVersion"] = pin
        versions: set[str] = set()
        for page in rds.get_paginator("describe_orderable_db_instance_options").paginate(**kwargs):
            for option in page.get("OrderableDBInstanceOptions", []):
                version = option.get("EngineVersion", "")
                if option.get("Vpc", True) and _version_matches(pin, version):
                    versions.add(version)
            if versions:
                break  # one orderable match is the answer; no need to page through the rest
        services = [
            s.name
            for s in settings.services.values()
            if s.database and (s.database.engine_version, s.database.instance_class) == (pin, instance_class)
        ]
        wanted = pin if "." in pin else f"{pin}.x"
        if versions:
            newest = max(versions, key=_version_key)
            report.add(
                "rds.engine_orderable",
                instance_class,
                True,
                f"{ENGINE} {wanted} orderable in {aws.region} (e.g. {newest}); used by {join(services)}",
            )
        else:
            report.add(
                "rds.engine_orderable",
                instance_class,
                False,
                f"no {ENGINE} {wanted} offering for {instance_class} in {aws.region}; used by {join(services)}: "
                "pick a version RDS still offers (aws rds describe-db-engine-versions) or another class",
            )


def _public_zones(route53: Any) -> list[dict]:
    zones = []
    for page in route53.get_paginator("list_hosted_zones").paginate():
        zones.extend(z for z in page.get("HostedZones", []) if not z.get("Config", {}).get("PrivateZone"))
    return zones


def check_hosted_zone(report: Report, aws: Aws, settings: Settings, resolver: Resolver | None) -> None:
    """The public zone the edge writes to, found by name the way the program looks it up."""
    route53 = aws.client("route53")
    hostname = _plain(settings.edge.public_hostname)
    public = _public_zones(route53)
    # Zones whose name is the hostname or one of its parent domains, most specific first.
    covering = sorted(
        (z for z in public if hostname == _plain(z["Name"]) or hostname.endswith("." + _plain(z["Name"]))),
        key=lambda z: -len(_plain(z["Name"])),
    )
    # The program's own rule (components.edge.route53_zone_name), so the preflight predicts
    # exactly the lookup `pulumi up` will make.
    domain = route53_zone_name(hostname, getattr(settings.edge, "zone_name", None))
    resource = f"public zone {domain}"
    named = [z for z in public if _plain(z["Name"]) == domain]
    if len(named) != 1:
        found = (
            "none"
            if not named
            else f"{len(named)} ({join(z['Id'].split('/')[-1] for z in named)}); the lookup cannot choose"
        )
        report.add(
            "route53.zone",
            resource,
            False,
            f"public hosted zones named {domain}: {found}; create it, or set tradesense:edge.zoneName to the zone that serves the hostname",
        )
        return
    zone = named[0]
    name = domain
    zid = zone["Id"].split("/")[-1]
    more_specific = [_plain(z["Name"]) for z in covering if len(_plain(z["Name"])) > len(name)]
    if more_specific:
        report.add(
            "route53.zone",
            f"{name} ({zid})",
            False,
            f"a more specific public zone exists for {hostname}: {join(more_specific)}; records written to "
            f"{name} are not served if it is delegated: use it or delete it",
        )
        return
    report.add(
        "route53.zone",
        f"{name} ({zid})",
        True,
        f"public zone, the most specific of this account's zones for {hostname}",
    )
    check_delegation(report, route53, zone["Id"], name, resolver)


def check_delegation(report: Report, route53: Any, zone_id: str, name: str, resolver: Resolver | None) -> None:
    """Public DNS must send queries for the zone's domain to this zone's name servers (needs DNS).

    A hosted zone answers only once the domain is delegated to the four name servers of its
    delegation set (https://docs.aws.amazon.com/Route53/latest/APIReference/API_domains_UpdateDomainNameservers.html:
    "specify the four name servers in the delegation set for the hosted zone"); until then ACM's DNS
    validation record is invisible and the certificate, and the deploy, wait.
    """
    expected = sorted(
        _plain(ns) for ns in route53.get_hosted_zone(Id=zone_id).get("DelegationSet", {}).get("NameServers", [])
    )
    if resolver is None:
        report.add("route53.delegation", name, True, "not checked (--no-dns): needs public DNS", warn=True)
        return
    try:
        answered = sorted({_plain(ns) for ns in resolver(name)})
    except DnsUnavailable as exc:
        report.add("route53.delegation", name, True, f"not checked: DNS unavailable ({exc})", warn=True)
        return
    if not answered:
        report.add(
            "route53.delegation",
            name,
            False,
            f"public DNS has no NS records for {name} (NXDOMAIN): delegate it to {join(expected)}",
        )
    elif answered != expected:
        report.add(
            "route53.delegation",
            name,
            False,
            f"public DNS delegates {name} to {join(answered)}, but the zone's name servers are {join(expected)}: "
            "update the NS records at the registrar or parent zone",
        )
    else:
        report.add("route53.delegation", name, True, f"delegated to the zone's {len(expected)} name servers")


def quota_value(aws: Aws, quota: Quota, region: str) -> tuple[float, str]:
    """The applied quota from Service Quotas, or AWS's documented default (and a note saying so)."""
    try:
        value = aws.client("service-quotas", region).get_service_quota(ServiceCode=quota.service, QuotaCode=quota.code)[
            "Quota"
        ]["Value"]
        return float(value), f"Service Quotas {quota.service}/{quota.code}"
    except ClientError as exc:
        # NoSuchResource: Service Quotas holds no value for this code here (moto: any non-vpc code).
        # AccessDenied: the deploy role may lack servicequotas:GetServiceQuota.
        if error_code(exc) not in ("NoSuchResourceException", "AccessDeniedException", "IllegalArgumentException"):
            raise
        return float(quota.default), (
            f"AWS default {quota.default:g} assumed: Service Quotas gave no value for "
            f"{quota.service}/{quota.code} ({error_code(exc)}); see docs.aws.amazon.com/{quota.doc}"
        )


@dataclass
class Usage:
    """What a region already holds: all of it, and how much of it is this stack's own (a redeploy
    keeps those, so they must not be counted again next to what the program declares)."""

    total: int
    own: int = 0

    @property
    def others(self) -> int:
        return self.total - self.own


def _usage(items: Iterable[Mapping[str, Any]], found: Discovery, tags: Callable[[Mapping[str, Any]], Any]) -> Usage:
    items = list(items)
    return Usage(total=len(items), own=sum(found.matches(tags_of(tags(i))) for i in items))


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterable[dict]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _quota_line(
    report: Report, check: str, resource: str, quota: Quota, used: Usage, adds: int, limit: float, source: str
) -> None:
    total = used.others + adds
    ok = total <= limit
    text = f"{used.others} in use + {adds} this stack declares = {total} of {limit:g} ({source})"
    if used.own:
        text += f"; the stack's {used.own} existing are in its {adds}"
    if not ok:
        text += f"; request an increase of {quota.name} before deploying"
    report.add(check, resource, ok, text, warn=ok and source.startswith("AWS default"))


def _customer_managed_keys(kms: Any, ceiling: float) -> int:
    """Customer managed keys in a region. ListKeys also lists AWS managed keys, which the quota does
    not count; they are told apart (one DescribeKey each) only when the plain count would not fit."""
    key_ids = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page.get("Keys", [])]
    if len(key_ids) <= ceiling:
        return len(key_ids)
    return sum(kms.describe_key(KeyId=k)["KeyMetadata"].get("KeyManager") == "CUSTOMER" for k in key_ids)


def check_quotas(report: Report, aws: Aws, settings: Settings, plan: Plan) -> None:
    """Quotas against what others already use plus everything the program declares."""
    region = aws.region
    found = Discovery(aws, settings.project, settings.stack)
    rds = aws.client("rds")
    limit, source = quota_value(aws, RDS_PROXIES, region)
    proxies = list(_pages(rds, "describe_db_proxies", "DBProxies"))
    _quota_line(
        report,
        "quota.rds_proxies",
        region,
        RDS_PROXIES,
        Usage(len(proxies), len(found.db_proxies()) if proxies else 0),
        plan.count("aws:rds/proxy:Proxy", region),
        limit,
        source,
    )
    limit, source = quota_value(aws, RDS_INSTANCES, region)
    instances = _usage(_pages(rds, "describe_db_instances", "DBInstances"), found, lambda i: i.get("TagList"))
    _quota_line(
        report,
        "quota.rds_instances",
        region,
        RDS_INSTANCES,
        instances,
        plan.count("aws:rds/instance:Instance", region),
        limit,
        source,
    )

    key_regions = sorted({r for (t, r) in plan.counts if t == "aws:kms/key:Key"} | {region})
    for key_region in key_regions:
        adds = plan.count("aws:kms/key:Key", key_region)
        limit, source = quota_value(aws, KMS_KEYS, key_region)
        # An upper bound: the stack's own keys (on a redeploy) are counted as others' too; with
        # 100,000 keys a region that close to the quota is worth a look anyway.
        used = _customer_managed_keys(aws.client("kms", key_region), limit - adds)
        _quota_line(report, "quota.kms_keys", key_region, KMS_KEYS, Usage(used), adds, limit, source)

    ec2 = aws.client("ec2")
    limit, source = quota_value(aws, VPCS, region)
    vpcs = _usage(_pages(ec2, "describe_vpcs", "Vpcs"), found, lambda v: v.get("Tags"))
    _quota_line(report, "quota.vpcs", region, VPCS, vpcs, plan.count("aws:ec2/vpc:Vpc", region), limit, source)
    limit, source = quota_value(aws, GATEWAY_ENDPOINTS, region)
    gateways = _usage(
        _pages(
            ec2,
            "describe_vpc_endpoints",
            "VpcEndpoints",
            Filters=[{"Name": "vpc-endpoint-type", "Values": ["Gateway"]}],
        ),
        found,
        lambda e: e.get("Tags"),
    )
    _quota_line(
        report,
        "quota.vpc_gateway_endpoints",
        region,
        GATEWAY_ENDPOINTS,
        gateways,
        plan.gateway_endpoints[region],
        limit,
        source,
    )
    limit, source = quota_value(aws, INTERFACE_ENDPOINTS, region)
    for vpc, count in sorted(plan.interface_endpoints_per_vpc.items()):
        # The stack's VPCs are new, so nothing else uses their per-VPC quota yet.
        _quota_line(
            report,
            "quota.vpc_interface_endpoints",
            f"VPC of {vpc}",
            INTERFACE_ENDPOINTS,
            Usage(0),
            count,
            limit,
            source,
        )


def check_web_acl_capacity(report: Report, plan: Plan) -> None:
    """WCUs of each web ACL the stack declares, from AWS's published costs (no AWS call)."""
    for acl, rules in sorted(plan.web_acls.items()):
        try:
            wcu = web_acl_wcu(rules)
        except UnknownCapacity as exc:
            report.add("quota.waf_wcu", acl, False, f"cannot size the web ACL: {exc}")
            continue
        ok = wcu <= WAF_MAX_WCU
        text = f"{wcu} WCUs of at most {WAF_MAX_WCU} per web ACL (AWS's published rule costs)"
        if not ok:
            text += "; AWS refuses the web ACL: drop or scope down rules"
        elif wcu > WAF_PRICED_WCU:
            text += f"; above {WAF_PRICED_WCU} WAF bills extra per 500 WCUs"
        report.add("quota.waf_wcu", acl, ok, text, warn=ok and wcu > WAF_PRICED_WCU)


def preflight(settings: Settings, aws: Aws, plan: Plan, resolver: Resolver | None = system_ns_lookup) -> Report:
    """Every first-deploy check, in the order an engineer would fix them. Read-only."""
    report = Report()
    check_alert_email(report, settings)
    check_regions(report, aws, settings)
    check_engine_orderable(report, aws, settings)
    check_hosted_zone(report, aws, settings, resolver)
    check_quotas(report, aws, settings, plan)
    check_web_acl_capacity(report, plan)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="python -m scripts.ops.preflight",
        description="Read-only first-deploy checks: engine versions, hosted zone, regions, quotas, alert email.",
    )
    add_aws_arguments(parser)
    parser.add_argument("--no-dns", action="store_true", help="skip the NS delegation check (it queries public DNS)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    if args.region and check_region("--region", args.region) != settings.region:
        # The program deploys to aws:region only, and what it adds is counted there; checking the
        # quotas of another region would pass without meaning anything.
        raise UsageError(
            f"--region = {args.region!r}: the preflight checks the region stack {settings.stack} deploys to "
            f"(aws:region = {settings.region}); change aws:region in Pulumi.{settings.stack}.yaml instead"
        )
    aws = aws_from_args(args, settings)
    progress(f"counting what stack {settings.stack} adds (offline run of the program)")
    plan = plan_for_stack(settings.stack)
    report = preflight(settings, aws, plan, resolver=None if args.no_dns else system_ns_lookup)
    report.print(as_json=args.json, extra={"stack": settings.stack, "region": aws.region})
    return report.exit_code()


if __name__ == "__main__":
    entrypoint(main)
