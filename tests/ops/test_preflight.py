"""The first-deploy preflight against the moto server, and with stubs where moto cannot answer.

moto cannot emulate three things the preflight asks, so those are tested otherwise (never skipped):
- RDS orderable options for PostgreSQL (moto knows only Aurora PostgreSQL and Neptune): botocore's
  Stubber on the RDS client;
- Service Quotas for rds and kms (moto knows only vpc codes): the documented default is assumed,
  and an applied value is tested with a Stubber on the Service Quotas client;
- public DNS for the NS delegation: an injected resolver, and a local UDP server for the parser.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from types import SimpleNamespace

import pytest
from botocore.stub import Stubber

from components.network import DEFAULT_INTERFACE_ENDPOINTS
from scripts.cli import Report, run
from scripts.ops import preflight as pf
from scripts.ops.aws import Aws

REGION = "us-east-1"


@pytest.fixture(scope="session")
def plan(prod_capture) -> pf.Plan:
    return pf.plan_from_capture(prod_capture)


@pytest.fixture(scope="module")
def boto_session():
    """One boto3 session for the module: its loader parses each service model once, not per test."""
    import boto3

    return boto3.session.Session()


@pytest.fixture
def aws_client(aws, boto_session) -> Aws:
    """An Aws with its own clients, pointed at a clean moto account."""
    return Aws(region=REGION, endpoint_url=aws, session=boto_session)


def lines_of(report: Report) -> list[tuple[str, str, str, str]]:
    return [(c.status, c.check, c.resource, c.found) for c in report.checks]


def only(report: Report, check: str) -> list:
    return [c for c in report.checks if c.check == check]


def edge(hostname: str = "api.tradesense.io", zone_name=None) -> SimpleNamespace:
    return SimpleNamespace(public_hostname=hostname, zone_name=zone_name)


# -- what the stack adds, from the program -----------------------------------------------------


def test_plan_counts_what_the_program_registers(plan, settings):
    databases = [s for s in settings.services.values() if s.database]
    assert plan.count("aws:rds/proxy:Proxy", REGION) == len(databases) == 5
    assert plan.count("aws:rds/instance:Instance", REGION) == len(databases)
    assert plan.count("aws:ec2/vpc:Vpc", REGION) == 1
    assert plan.interface_endpoints_per_vpc == {"network": len(DEFAULT_INTERFACE_ENDPOINTS)}
    assert plan.gateway_endpoints[REGION] == 1  # S3
    # keys: one per purpose in the stack's region, and the DR copies in the DR region
    assert plan.count("aws:kms/key:Key", REGION) >= 4
    assert plan.count("aws:kms/key:Key", settings.dr_region) >= 1
    assert list(plan.web_acls) == ["tradesense-prod-edge"]


def test_prod_web_acl_capacity_is_the_sum_of_awss_published_costs(plan):
    # AWS's figures (the test pins them, not our arithmetic):
    # managed groups, https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html
    # and ...-use-case.html, ...-ip-rep.html: CommonRuleSet 700, KnownBadInputs 200, SQLi 200, AnonymousIpList 50.
    # rate-based: 2 + scope-down (waf-rule-statement-type-rate-based.html); STARTS_WITH string match 2,
    # +10 per text transformation (waf-rule-statement-type-string-match.html); OR = sum of nested.
    managed = 700 + 200 + 200 + 50
    login = 2 + 2 * (2 + 10)  # two login paths, OR-ed, each lowercased
    api = 2 + (2 + 10)  # one /api/ prefix, lowercased
    assert pf.web_acl_wcu(plan.web_acls["tradesense-prod-edge"]) == managed + login + api == 1190
    # the web ACL limits: 5,000 per web ACL, 1,500 in the basic price
    # (https://docs.aws.amazon.com/waf/latest/developerguide/limits.html, aws-waf-capacity-units.html)
    assert (pf.WAF_MAX_WCU, pf.WAF_PRICED_WCU) == (5000, 1500)


def _rule(statement):
    return {"name": "r", "priority": 0, "statement": statement}


def _managed(name):
    return _rule({"managedRuleGroupStatement": {"name": name, "vendorName": "AWS"}})


@pytest.mark.parametrize(
    ("rules", "status", "text"),
    [
        ([_managed("AWSManagedRulesCommonRuleSet")] * 2, "PASS", "1400 WCUs"),
        ([_managed("AWSManagedRulesCommonRuleSet")] * 3, "WARN", "above 1500 WAF bills extra"),
        ([_managed("AWSManagedRulesCommonRuleSet")] * 8, "FAIL", "5600 WCUs"),
        (
            [_rule({"regexPatternSetReferenceStatement": {}})],
            "FAIL",
            "statement type regexPatternSetReferenceStatement",
        ),
        (
            [_managed("AWSManagedRulesBotControlRuleSet")],
            "FAIL",
            "managed rule group 'AWSManagedRulesBotControlRuleSet'",
        ),
    ],
)
def test_web_acl_capacity_over_the_limit_or_unknown_fails(rules, status, text):
    report = Report()
    pf.check_web_acl_capacity(report, pf.Plan(web_acls={"acl": rules}))
    (line,) = report.checks
    assert line.status == status and text in line.found, line


# -- alert email -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("platform-oncall@tradesense.io", True),
        ("oncall@example.com", False),  # RFC 2606 section 3
        ("oncall@alerts.example.org", False),
        ("ops@tradesense.test", False),  # RFC 2606 section 2 / RFC 6761 6.2
        ("ops@tradesense.invalid", False),  # RFC 6761 6.4
        ("ops@box.localhost", False),  # RFC 6761 6.3
        ("changeme@tradesense.io", False),
        ("noreply@tradesense.io", False),
    ],
)
def test_alert_email_placeholders_fail(email, ok):
    report = Report()
    pf.check_alert_email(report, SimpleNamespace(alert_email=email))
    assert report.checks[0].ok is ok, report.checks[0]


# -- regions -----------------------------------------------------------------------------------


def test_an_opt_in_dr_region_that_is_not_enabled_fails(aws_client):
    report = Report()
    pf.check_regions(report, aws_client, SimpleNamespace(region=REGION, dr_region="ap-east-1"))
    assert [(c.status, c.resource) for c in report.checks] == [("PASS", REGION), ("FAIL", "ap-east-1")]
    assert "not-opted-in" in report.checks[1].found


def test_a_region_aws_does_not_know_fails(aws_client):
    """moto answers an unknown name with no region; AWS refuses it (Stubber)."""
    ec2 = aws_client.client("ec2")
    refused = {"AllRegions": True, "RegionNames": [REGION, "us-nowhere-9"]}
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_regions", "InvalidParameterValue", "Invalid region", expected_params=refused)
        stub.add_response(
            "describe_regions",
            {"Regions": [{"RegionName": REGION, "OptInStatus": "opt-in-not-required"}]},
            {"AllRegions": True, "RegionNames": [REGION]},
        )
        stub.add_client_error(
            "describe_regions",
            "InvalidParameterValue",
            "Invalid region",
            expected_params={"AllRegions": True, "RegionNames": ["us-nowhere-9"]},
        )
        report = Report()
        pf.check_regions(report, aws_client, SimpleNamespace(region=REGION, dr_region="us-nowhere-9"))
    assert [(c.status, c.resource) for c in report.checks] == [("PASS", REGION), ("FAIL", "us-nowhere-9")]
    assert "not a region this account knows" in report.checks[1].found


def test_enabled_regions_pass(aws_client, settings):
    report = Report()
    pf.check_regions(report, aws_client, settings)
    assert [(c.status, c.resource) for c in report.checks] == [("PASS", REGION), ("PASS", settings.dr_region)]


# -- engine version orderable (Stubber: moto has no PostgreSQL orderable options) ------------------


def _offering(version, vpc=True):
    return {"Engine": "postgres", "EngineVersion": version, "DBInstanceClass": "x", "Vpc": vpc}


def _databases(*pairs):
    return SimpleNamespace(
        services={
            f"svc{i}": SimpleNamespace(name=f"svc{i}", database=SimpleNamespace(engine_version=v, instance_class=c))
            for i, (v, c) in enumerate(pairs)
        }
        | {"edge": SimpleNamespace(name="edge", database=None)}
    )


def test_exact_pin_is_looked_up_per_instance_class(aws_client, settings):
    rds = aws_client.client("rds")
    classes = sorted({s.database.instance_class for s in settings.services.values() if s.database})
    pins = {s.database.engine_version for s in settings.services.values() if s.database}
    assert len(pins) == 1
    (pin,) = pins
    with Stubber(rds) as stub:
        for cls, offered in zip(classes, ([_offering(pin)], []), strict=True):
            params = {"Engine": "postgres", "DBInstanceClass": cls, "Vpc": True}
            if "." in pin:
                params["EngineVersion"] = pin
            stub.add_response("describe_orderable_db_instance_options", {"OrderableDBInstanceOptions": offered}, params)
        report = Report()
        pf.check_engine_orderable(report, aws_client, settings)
        stub.assert_no_pending_responses()
    assert [(c.status, c.resource) for c in report.checks] == [("PASS", classes[0]), ("FAIL", classes[1])]
    assert "trading" in report.checks[1].found or "analytics" in report.checks[1].found


def test_major_pin_needs_some_orderable_minor_and_pages_until_found(aws_client):
    rds = aws_client.client("rds")
    settings = _databases(("16", "db.r6g.large"), ("16", "db.t4g.micro"))
    with Stubber(rds) as stub:
        base = {"Engine": "postgres", "DBInstanceClass": "db.r6g.large", "Vpc": True}
        # page 1: only other majors (and a non-VPC 16.x, which does not count); page 2: 16.x
        stub.add_response(
            "describe_orderable_db_instance_options",
            {"OrderableDBInstanceOptions": [_offering("15.8"), _offering("16.1", vpc=False)], "Marker": "m1"},
            base,
        )
        stub.add_response(
            "describe_orderable_db_instance_options",
            {"OrderableDBInstanceOptions": [_offering("16.2"), _offering("16.6"), _offering("17.2")]},
            {**base, "Marker": "m1"},
        )
        stub.add_response(
            "describe_orderable_db_instance_options",
            {"OrderableDBInstanceOptions": [_offering("14.12"), _offering("15.8")]},
            {"Engine": "postgres", "DBInstanceClass": "db.t4g.micro", "Vpc": True},
        )
        report = Report()
        pf.check_engine_orderable(report, aws_client, settings)
        stub.assert_no_pending_responses()
    large, micro = report.checks
    assert large.status == "PASS" and "16.x" in large.found and "16.6" in large.found
    assert micro.status == "FAIL" and "no postgres 16.x offering for db.t4g.micro" in micro.found


# -- hosted zone (moto) and delegation (injected resolver) -------------------------------------


def _zone(client, name, private_vpc=None):
    kwargs = {"Name": name, "CallerReference": f"{name}-{private_vpc}"}
    if private_vpc:
        kwargs.update(
            HostedZoneConfig={"PrivateZone": True, "Comment": "private"},
            VPC={"VPCRegion": REGION, "VPCId": private_vpc},
        )
    created = client.create_hosted_zone(**kwargs)
    return created["HostedZone"]["Id"].split("/")[-1], created["DelegationSet"][
        "NameServers"
    ] if "DelegationSet" in created else []


def _zone_report(aws_client, hostname, zone_name, resolver):
    report = Report()
    pf.check_hosted_zone(report, aws_client, SimpleNamespace(edge=edge(hostname, zone_name)), resolver)
    return report


def test_zone_of_the_parent_domain_and_its_delegation_pass(aws_client):
    zone_id, servers = _zone(aws_client.client("route53"), "tradesense.io")
    asked = []

    def resolver(name):
        asked.append(name)
        return [s.upper() + "." for s in servers]  # DNS answers are case-insensitive, dot-terminated

    report = _zone_report(aws_client, "api.tradesense.io", None, resolver)
    assert [c.status for c in report.checks] == ["PASS", "PASS"], lines_of(report)
    assert asked == ["tradesense.io"] and zone_id in report.checks[0].resource


def test_an_apex_hostname_is_served_by_the_zone_named_in_zone_name(aws_client):
    """The parent of tradesense.io is io, which no account owns: zoneName names the zone instead."""
    _zone(aws_client.client("route53"), "tradesense.io")
    report = _zone_report(aws_client, "tradesense.io", None, None)
    assert report.checks[0].status == "FAIL" and "public hosted zones named io: none" in report.checks[0].found
    report = _zone_report(aws_client, "tradesense.io", "tradesense.io", None)
    assert [(c.status, c.check) for c in report.checks] == [("PASS", "route53.zone"), ("WARN", "route53.delegation")]


def test_a_missing_zone_fails_and_says_how_to_name_another(aws_client):
    route53 = aws_client.client("route53")
    _zone(route53, "other.io")
    report = _zone_report(aws_client, "api.tradesense.io", None, None)
    assert (
        report.checks[0].status == "FAIL" and "public hosted zones named tradesense.io: none" in report.checks[0].found
    )
    zone_id, _ = _zone(route53, "tradesense.io")
    report = _zone_report(aws_client, "api.tradesense.io", None, None)
    assert [(c.status, c.check) for c in report.checks] == [("PASS", "route53.zone"), ("WARN", "route53.delegation")]
    assert zone_id in report.checks[0].resource and "--no-dns" in report.checks[1].found


@pytest.mark.parametrize(
    ("setup", "hostname", "message"),
    [
        ("private", "api.tradesense.io", "public hosted zones named tradesense.io: none"),
        (
            "more-specific",
            "api.tradesense.io",
            "a more specific public zone exists for api.tradesense.io: api.tradesense.io",
        ),
        ("duplicate", "api.tradesense.io", "public hosted zones named tradesense.io: 2"),
    ],
)
def test_a_zone_that_cannot_serve_the_hostname_fails(aws_client, setup, hostname, message):
    route53 = aws_client.client("route53")
    if setup == "private":
        vpc = aws_client.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        zone_id, _ = _zone(route53, "tradesense.io", private_vpc=vpc)
    else:
        zone_id, _ = _zone(route53, "tradesense.io")
        if setup == "more-specific":
            _zone(route53, "api.tradesense.io")
        else:
            route53.create_hosted_zone(Name="tradesense.io", CallerReference="second")
    report = _zone_report(aws_client, hostname, None, lambda name: pytest.fail("DNS asked"))
    assert len(report.checks) == 1 and report.checks[0].status == "FAIL" and message in report.checks[0].found, (
        lines_of(report)
    )


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        (
            ["ns1.registrar-dns.net", "ns2.registrar-dns.net"],
            "FAIL",
            "public DNS delegates tradesense.io to ns1.registrar-dns.net",
        ),
        ([], "FAIL", "no NS records for tradesense.io"),
        (pf.DnsUnavailable("no answer from 10.0.0.2: timed out"), "WARN", "not checked: DNS unavailable"),
    ],
)
def test_delegation_elsewhere_fails_and_no_dns_warns(aws_client, answer, status, message):
    zone_id, servers = _zone(aws_client.client("route53"), "tradesense.io")

    def resolver(name):
        if isinstance(answer, Exception):
            raise answer
        return answer

    report = _zone_report(aws_client, "api.tradesense.io", None, resolver)
    zone_line, delegation = report.checks
    assert zone_line.status == "PASS" and delegation.status == status and message in delegation.found
    if status == "FAIL" and answer:
        assert servers[0] in delegation.found  # says what it should be


def _dns_answer(query: bytes, rcode: int, servers: list[str]) -> bytes:
    """A DNS response to `query` with NS answers, using name compression as real servers do."""
    (query_id,) = struct.unpack(">H", query[:2])
    question = query[12:]
    header = struct.pack(">HHHHHH", query_id, 0x8180 | rcode, 1, len(servers), 0, 0)
    answers = b""
    for server in servers:
        label, _, rest = server.partition(".")
        rdata = (
            bytes([len(label)])
            + label.encode()
            + b"".join(bytes([len(p)]) + p.encode() for p in rest.split("."))
            + b"\0"
        )
        answers += struct.pack(">HHHIH", 0xC00C, 2, 1, 300, len(rdata)) + rdata  # owner: pointer to the question
    return header + question + answers


@pytest.mark.parametrize(
    ("rcode", "servers", "expected"),
    [(0, ["ns-1.awsdns-01.org", "ns-2.awsdns-02.com"], ["ns-1.awsdns-01.org", "ns-2.awsdns-02.com"]), (3, [], [])],
)
def test_the_stdlib_resolver_parses_ns_answers(rcode, servers, expected):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        query, peer = sock.recvfrom(512)
        assert query[-4:] == struct.pack(">HH", 2, 1)  # an NS question, class IN
        sock.sendto(_dns_answer(query, rcode, servers), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert (
            pf.system_ns_lookup("tradesense.io", timeout=5, server="127.0.0.1", port=sock.getsockname()[1]) == expected
        )
    finally:
        thread.join(5)
        sock.close()


def test_the_stdlib_resolver_reports_a_garbled_answer_as_unavailable():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        query, peer = sock.recvfrom(512)
        sock.sendto(_dns_answer(query, 0, ["ns-1.awsdns-01.org"])[:-6], peer)  # cut inside the answer

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(pf.DnsUnavailable, match="malformed"):
            pf.system_ns_lookup("tradesense.io", timeout=5, server="127.0.0.1", port=sock.getsockname()[1])
    finally:
        thread.join(5)
        sock.close()


def test_the_stdlib_resolver_reports_no_answer_as_unavailable():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # bound, never answers
    try:
        with pytest.raises(pf.DnsUnavailable, match="no answer"):
            pf.system_ns_lookup("tradesense.io", timeout=0.2, server="127.0.0.1", port=sock.getsockname()[1])
    finally:
        sock.close()


# -- quotas --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quota", "code", "default", "doc"),
    [
        # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html: Proxies 20, DB instances 40
        (pf.RDS_PROXIES, ("rds", "L-D94C7EA3"), 20, "CHAP_Limits"),
        (pf.RDS_INSTANCES, ("rds", "L-7B6409FD"), 40, "CHAP_Limits"),
        # https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html: 100,000 customer managed keys
        (pf.KMS_KEYS, ("kms", "L-C2F1777E"), 100_000, "resource-limits"),
        # https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html: VPCs per Region 5
        (pf.VPCS, ("vpc", "L-F678F1CE"), 5, "amazon-vpc-limits"),
        # https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-limits-endpoints.html: 50 interface per VPC, 20 gateway per Region
        (pf.INTERFACE_ENDPOINTS, ("vpc", "L-29B6F2EB"), 50, "vpc-limits-endpoints"),
        (pf.GATEWAY_ENDPOINTS, ("vpc", "L-1B52E74A"), 20, "vpc-limits-endpoints"),
    ],
)
def test_quota_codes_and_defaults_are_awss(quota, code, default, doc, aws_client):
    assert (quota.service, quota.code) == code and quota.default == default and doc in quota.doc
    if quota.service == "vpc":  # moto ships these vpc defaults too: the emulator agrees with the docs
        assert (
            aws_client.client("service-quotas").get_service_quota(ServiceCode="vpc", QuotaCode=quota.code)["Quota"][
                "Value"
            ]
            == default
        )


def test_quotas_of_an_empty_account_hold_the_stack(aws_client, settings, plan):
    report = Report()
    pf.check_quotas(report, aws_client, settings, plan)
    by_check = {(c.check, c.resource): c for c in report.checks}
    assert not report.failures, lines_of(report)
    # moto has Service Quotas for vpc codes: read, not assumed
    vpcs = by_check[("quota.vpcs", REGION)]
    assert (
        vpcs.status == "PASS" and "Service Quotas vpc/L-F678F1CE" in vpcs.found and "= 2 of 5" in vpcs.found
    )  # moto's default VPC + ours
    # no rds/kms codes in moto: AWS's documented defaults, and the line says so
    proxies = by_check[("quota.rds_proxies", REGION)]
    assert (
        proxies.status == "WARN"
        and "0 in use + 5 this stack declares = 5 of 20" in proxies.found
        and "AWS default 20 assumed" in proxies.found
    )
    assert ("quota.kms_keys", settings.dr_region) in by_check
    assert by_check[("quota.vpc_interface_endpoints", "VPC of network")].found.startswith(
        f"0 in use + {len(DEFAULT_INTERFACE_ENDPOINTS)} this stack declares"
    )


def test_a_redeploy_does_not_count_the_stacks_own_resources_twice(deployment, boto_session, settings, plan):
    """The compliant fixture deployment carries the stack's Project/Stack tags: its 5 proxies and 5
    databases are the ones the program declares, not 5 more."""
    aws_client = Aws(region=REGION, endpoint_url=deployment.endpoint, session=boto_session)
    rds = aws_client.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="someone-elses",
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="x",
        MasterUserPassword="not-a-real-password",
    )
    report = Report()
    pf.check_quotas(report, aws_client, settings, plan)
    proxies = only(report, "quota.rds_proxies")[0]
    assert (
        proxies.found.startswith("0 in use + 5 this stack declares = 5 of 20")
        and "the stack's 5 existing are in its 5" in proxies.found
    )
    instances = only(report, "quota.rds_instances")[0]
    assert instances.found.startswith("1 in use + 5 this stack declares = 6 of 40")


def test_a_full_region_fails_the_vpc_quota(aws_client, settings, plan):
    ec2 = aws_client.client("ec2")
    for i in range(4):  # moto's default VPC + 4 = 5, the default quota; the stack needs one more
        ec2.create_vpc(CidrBlock=f"10.{i + 1}.0.0/16")
    report = Report()
    pf.check_quotas(report, aws_client, settings, plan)
    assert [(c.check, c.found.split(" (")[0]) for c in report.failures] == [
        ("quota.vpcs", "5 in use + 1 this stack declares = 6 of 5")
    ]
    assert "request an increase of VPCs per region" in report.failures[0].found


def test_an_applied_quota_from_service_quotas_is_used(aws_client, settings, plan):
    """moto has no rds code in Service Quotas; an applied value (raised or lowered) comes from a Stubber."""
    rds, ec2 = aws_client.client("rds"), aws_client.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{'ab'[i]}")["Subnet"][
            "SubnetId"
        ]
        for i in range(2)
    ]
    for i in range(2):
        rds.create_db_proxy(
            DBProxyName=f"existing-{i}",
            EngineFamily="POSTGRESQL",
            RoleArn="arn:aws:iam::123456789012:role/p",
            Auth=[{"AuthScheme": "SECRETS", "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"}],
            VpcSubnetIds=subnets,
        )
    quotas = aws_client.client("service-quotas")

    def value(quota, v):
        return {"Quota": {"ServiceCode": quota.service, "QuotaCode": quota.code, "Value": v}}

    with Stubber(quotas) as stub:
        for quota, v in (
            (pf.RDS_PROXIES, 6.0),
            (pf.RDS_INSTANCES, 40.0),
            (pf.KMS_KEYS, 100000.0),
            (pf.VPCS, 10.0),
            (pf.GATEWAY_ENDPOINTS, 20.0),
            (pf.INTERFACE_ENDPOINTS, 50.0),
        ):
            stub.add_response(
                "get_service_quota", value(quota, v), {"ServiceCode": quota.service, "QuotaCode": quota.code}
            )
        report = Report()
        pf.check_quotas(report, aws_client, settings, plan)
        stub.assert_no_pending_responses()
    (failure,) = report.failures
    assert failure.check == "quota.rds_proxies"
    assert failure.found.startswith("2 in use + 5 this stack declares = 7 of 6 (Service Quotas rds/L-D94C7EA3)")
    instances = only(report, "quota.rds_instances")[0]
    assert instances.status == "PASS" and "assumed" not in instances.found


def test_aws_managed_keys_do_not_count_against_the_kms_quota(aws_client):
    """ListKeys lists AWS managed keys too; when the raw count would not fit, each key is described."""
    kms = aws_client.client("kms")
    keys = [{"KeyId": f"k{i}", "KeyArn": f"arn:aws:kms:us-east-1:123456789012:key/k{i}"} for i in range(3)]
    with Stubber(kms) as stub:
        stub.add_response("list_keys", {"Keys": keys, "Truncated": False}, {})
        for key, manager in zip(keys, ("AWS", "CUSTOMER", "AWS"), strict=True):
            stub.add_response(
                "describe_key", {"KeyMetadata": {"KeyId": key["KeyId"], "KeyManager": manager}}, {"KeyId": key["KeyId"]}
            )
        assert pf._customer_managed_keys(kms, ceiling=2) == 1
        stub.assert_no_pending_responses()
    with Stubber(kms) as stub:  # room enough: the raw count is an upper bound, no DescribeKey needed
        stub.add_response("list_keys", {"Keys": keys, "Truncated": False}, {})
        assert pf._customer_managed_keys(kms, ceiling=10) == 3
        stub.assert_no_pending_responses()


# -- the whole command ---------------------------------------------------------------------------

MUTATING = (
    "Create",
    "Put",
    "Delete",
    "Update",
    "Modify",
    "Start",
    "Stop",
    "Request",
    "Associate",
    "Change",
    "Tag",
    "Untag",
)


def test_preflight_is_read_only(aws_client, settings, plan):
    route53 = aws_client.client("route53")
    _zone(route53, "tradesense.io")
    fresh = Aws(region=REGION, endpoint_url=aws_client.endpoint_url)  # its own session: the hook sees every call
    calls: list[str] = []
    fresh.session.events.register("before-call", lambda model, **_: calls.append(model.name))
    zone_free = SimpleNamespace(
        **{k: getattr(settings, k) for k in ("project", "stack", "alert_email", "region", "dr_region", "services")},
        edge=edge(settings.edge.public_hostname, None),
    )
    pf.preflight(zone_free, fresh, plan, resolver=lambda name: [])
    assert calls and all(name.startswith(("Describe", "List", "Get")) for name in calls), sorted(set(calls))
    assert not [name for name in calls if name.startswith(MUTATING)]
    for expected in (
        "DescribeRegions",
        "DescribeOrderableDBInstanceOptions",
        "ListHostedZones",
        "GetHostedZone",
        "GetServiceQuota",
        "DescribeDBProxies",
        "ListKeys",
        "DescribeVpcs",
        "DescribeVpcEndpoints",
    ):
        assert expected in calls


def test_the_command_against_moto_fails_only_what_moto_cannot_hold(aws, capsys):
    # An empty moto account: no PostgreSQL offerings (moto has none) and no zone with prod's id.
    code = run(pf.main, ["--stack", "prod", "--no-dns"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[-1].endswith(" failed") and " warned, " in out[-1]
    statuses = {line.split()[0] for line in out[:-1]}
    assert statuses <= {"PASS", "WARN", "FAIL"}
    failed = {line.split()[1] for line in out[:-1] if line.startswith("FAIL")}
    assert failed == {"rds.engine_orderable", "route53.zone"}, out
    checked = {line.split()[1] for line in out[:-1]}
    assert {
        "config.alert_email",
        "region.enabled",
        "quota.rds_proxies",
        "quota.kms_keys",
        "quota.vpcs",
        "quota.vpc_interface_endpoints",
        "quota.vpc_gateway_endpoints",
        "quota.waf_wcu",
    } <= checked


def test_json_output(aws, capsys, monkeypatch, plan):
    monkeypatch.setattr(pf, "plan_for_stack", lambda stack: plan)
    code = run(pf.main, ["--no-dns", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["ok"] is False and document["stack"] == "prod"
    assert {c["status"] for c in document["checks"]} == {"PASS", "WARN", "FAIL"}
    assert document["warned"] == sum(c["status"] == "WARN" for c in document["checks"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "qa"], "stack 'qa'"),
        (["--region", "moon-base-1"], "--region = 'moon-base-1': must be an AWS region"),
        (["--region", "eu-west-1"], "--region = 'eu-west-1': the preflight checks the region stack prod deploys to"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_exit_2_before_any_aws_call(capsys, monkeypatch, args, message):
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pf, "plan_for_stack", lambda stack: pytest.fail("the program ran"))
    assert run(pf.main, args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_a_program_that_refuses_the_config_is_bad_input(monkeypatch):
    """The program's own refusal (pulumi.RunError, e.g. a region other than us-east-1) is exit 2."""
    import pulumi

    import scripts.engine.preview

    def refuse(stack):
        raise pulumi.RunError("aws:region = 'eu-west-1': this program deploys the CloudFront edge ...")

    monkeypatch.setattr(scripts.engine.preview, "run_stack", refuse)
    with pytest.raises(pf.UsageError, match="aws:region = 'eu-west-1'"):
        pf.plan_for_stack("prod")
