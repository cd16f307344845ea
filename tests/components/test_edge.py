import pulumi_aws as aws
import pytest

from components.edge import EdgeFirewall, EdgeFirewallArgs
from components.limits import RateLimit

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
RECORD = "aws:route53/record:Record"


def build_args(tags, **overrides):
    args = dict(
        origin_domain="gateway-origin.example.com",
        public_hostname="api.example.com",
        hosted_zone_id="Z0123456789ABC",
        origin_verify_header_value="offline-origin-verify-value-0123456789abcdef0123456789abcdef",
        login_paths=["/api/auth/login"],
        login_rate_limit=RateLimit(limit=10, window_seconds=120),
        api_rate_limit=RateLimit(limit=100, window_seconds=60),
        logs_kms_key_arn=KEY,
        tags=tags,
    )
    args.update(overrides)
    return EdgeFirewallArgs(**args)


def build(tags, **overrides):
    return lambda: EdgeFirewall("edge", build_args(tags, **overrides))


def rules(cap):
    return {rule["name"]: rule for rule in cap.one(WEB_ACL).inputs["rules"]}


def starts_with(path):
    return {
        "byteMatchStatement": {
            "fieldToMatch": {"uriPath": {}},
            "positionalConstraint": "STARTS_WITH",
            "searchString": path,
            "textTransformations": [{"priority": 0, "type": "LOWERCASE"}],
        }
    }


def test_defaults_are_the_secure_posture(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    acl = cap.one(WEB_ACL).inputs
    assert acl["scope"] == "CLOUDFRONT"
    assert acl["defaultAction"] == {"allow": {}}
    assert acl["tags"]["Purpose"] == "edge-firewall"
    assert [r["name"] for r in sorted(acl["rules"], key=lambda r: r["priority"])] == [
        "login-rate-limit",
        "api-rate-limit",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAnonymousIpList",
    ]
    for visibility in [acl["visibilityConfig"], *(r["visibilityConfig"] for r in acl["rules"])]:
        assert visibility["cloudwatchMetricsEnabled"] is True and visibility["sampledRequestsEnabled"] is True
    assert acl["visibilityConfig"]["metricName"] == "tradesense-test-edge"

    group = cap.one("aws:cloudwatch/logGroup:LogGroup").inputs
    assert group["name"] == "aws-waf-logs-test-edge"
    assert group["kmsKeyId"] == KEY and group["retentionInDays"] == 365

    headers = cap.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy").inputs["securityHeadersConfig"]
    assert headers["contentSecurityPolicy"] == {
        "contentSecurityPolicy": "default-src 'none'; frame-ancestors 'none'",
        "override": True,
    }
    assert headers["strictTransportSecurity"] == {
        "accessControlMaxAgeSec": 63072000,
        "includeSubdomains": True,
        "preload": True,
        "override": True,
    }
    assert headers["frameOptions"] == {"frameOption": "DENY", "override": True}
    assert headers["contentTypeOptions"] == {"override": True}
    assert headers["referrerPolicy"] == {"referrerPolicy": "strict-origin-when-cross-origin", "override": True}
    assert headers["xssProtection"] == {"protection": True, "modeBlock": True, "override": True}

    dist = cap.one(DISTRIBUTION).inputs
    assert dist["enabled"] is True and dist["isIpv6Enabled"] is True and dist["httpVersion"] == "http2and3"
    assert dist["aliases"] == ["api.example.com"]
    assert dist["priceClass"] == "PriceClass_100"
    assert dist["restrictions"] == {"geoRestriction": {"restrictionType": "none"}}
    assert dist["tags"]["Service"] == "gateway"
    [origin] = dist["origins"]
    assert origin["domainName"] == "gateway-origin.example.com"
    assert origin["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    assert origin["customOriginConfig"]["originSslProtocols"] == ["TLSv1.2"]
    behavior = dist["defaultCacheBehavior"]
    assert behavior["targetOriginId"] == origin["originId"]
    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
    assert set(behavior["allowedMethods"]) == {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}
    assert behavior["cachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert behavior["originRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    assert dist["viewerCertificate"]["sslSupportMethod"] == "sni-only"
    assert dist["viewerCertificate"]["minimumProtocolVersion"] == "TLSv1.2_2021"

    cert = cap.one("aws:acm/certificate:Certificate").inputs
    assert cert["domainName"] == "api.example.com" and cert["validationMethod"] == "DNS"


def test_every_taggable_resource_carries_the_required_tags(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    taggable = [WEB_ACL, "aws:cloudwatch/logGroup:LogGroup", "aws:acm/certificate:Certificate", DISTRIBUTION]
    for type_ in taggable:
        assert {k: v for k, v in cap.one(type_).inputs["tags"].items() if k not in ("Purpose", "Service")} == {
            k: v for k, v in tags.items() if k != "Service"
        }, type_


def test_login_rule_limits_each_ip_on_the_login_path(run_pulumi, tags):
    rule = rules(run_pulumi(build(tags)))["login-rate-limit"]
    assert rule["action"] == {"block": {"customResponse": {"responseCode": 429}}}
    rate = rule["statement"]["rateBasedStatement"]
    assert rate["limit"] == 10 and rate["evaluationWindowSec"] == 120 and rate["aggregateKeyType"] == "IP"
    assert rate["scopeDownStatement"] == starts_with("/api/auth/login")


def test_several_login_paths_are_or_ed_and_matched_lowercase(run_pulumi, tags):
    cap = run_pulumi(
        build(
            tags,
            login_paths=["/api/auth/login", "/API/Auth/Token"],
            login_rate_limit=RateLimit(limit=20, window_seconds=300),
        )
    )
    rate = rules(cap)["login-rate-limit"]["statement"]["rateBasedStatement"]
    assert rate["limit"] == 20 and rate["evaluationWindowSec"] == 300
    assert rate["scopeDownStatement"] == {
        "orStatement": {"statements": [starts_with("/api/auth/login"), starts_with("/api/auth/token")]}
    }


def test_api_rule_limits_each_ip_under_the_api_prefix(run_pulumi, tags):
    cap = run_pulumi(build(tags, api_path_prefix="/v2/", api_rate_limit=RateLimit(limit=500, window_seconds=300)))
    rule = rules(cap)["api-rate-limit"]
    assert rule["priority"] > rules(cap)["login-rate-limit"]["priority"]
    assert rule["action"] == {"block": {"customResponse": {"responseCode": 429}}}
    rate = rule["statement"]["rateBasedStatement"]
    assert rate["limit"] == 500 and rate["evaluationWindowSec"] == 300 and rate["aggregateKeyType"] == "IP"
    assert rate["scopeDownStatement"] == starts_with("/v2/")


@pytest.mark.parametrize(
    "group", ["AWSManagedRulesSQLiRuleSet", "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
)
def test_managed_rule_groups_apply_their_own_actions(run_pulumi, tags, group):
    rule = rules(run_pulumi(build(tags)))[group]
    assert rule["statement"] == {"managedRuleGroupStatement": {"name": group, "vendorName": "AWS"}}
    assert rule["overrideAction"] == {"none": {}}
    assert rule["visibilityConfig"]["metricName"] == group


def test_anonymous_ips_are_counted_by_default_and_blocked_on_request(run_pulumi, tags):
    counted = rules(run_pulumi(build(tags)))["AWSManagedRulesAnonymousIpList"]
    assert counted["overrideAction"] == {"count": {}}
    assert counted["priority"] > max(
        r["priority"] for r in rules(run_pulumi(build(tags))).values() if r["name"] != "AWSManagedRulesAnonymousIpList"
    )
    blocked = rules(run_pulumi(build(tags, block_anonymous_ips=True)))["AWSManagedRulesAnonymousIpList"]
    assert blocked["overrideAction"] == {"none": {}}


def test_logging_redacts_credentials_and_targets_the_log_group(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    logging = cap.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration").inputs
    assert logging["resourceArn"] == cap.one(WEB_ACL).outputs["arn"]
    assert logging["logDestinationConfigs"] == [cap.one("aws:cloudwatch/logGroup:LogGroup").outputs["arn"]]
    assert logging["redactedFields"] == [
        {"singleHeader": {"name": "authorization"}},
        {"singleHeader": {"name": "cookie"}},
    ]


def test_distribution_uses_the_web_acl_headers_policy_and_validated_certificate(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    dist = cap.one(DISTRIBUTION).inputs
    assert dist["webAclId"] == cap.one(WEB_ACL).outputs["arn"]
    assert (
        dist["defaultCacheBehavior"]["responseHeadersPolicyId"]
        == cap.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy").outputs["id"]
    )
    validation = cap.one("aws:acm/certificateValidation:CertificateValidation")
    assert dist["viewerCertificate"]["acmCertificateArn"] == validation.outputs["certificateArn"]
    assert validation.inputs["certificateArn"] == cap.one("aws:acm/certificate:Certificate").outputs["arn"]
    # The distribution waits for validation, not just for the certificate request.
    assert validation.urn in cap.one(DISTRIBUTION).property_dependencies["viewerCertificate"]


def test_certificate_is_validated_through_its_own_dns_record(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    [option] = cap.one("aws:acm/certificate:Certificate").outputs["domainValidationOptions"]
    record = cap.one(RECORD, "edge-certificate-validation-record")
    assert record.inputs["zoneId"] == "Z0123456789ABC" and record.inputs["allowOverwrite"] is True
    assert record.inputs["name"] == option["resourceRecordName"]
    assert record.inputs["type"] == option["resourceRecordType"]
    assert record.inputs["records"] == [option["resourceRecordValue"]]
    validation = cap.one("aws:acm/certificateValidation:CertificateValidation").inputs
    assert validation["validationRecordFqdns"] == [record.outputs["fqdn"]]


def test_alias_records_point_the_hostname_at_the_distribution(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    dist = cap.one(DISTRIBUTION).outputs
    for record_type in ("A", "AAAA"):
        record = cap.one(RECORD, f"edge-alias-{record_type.lower()}").inputs
        assert record["type"] == record_type and record["name"] == "api.example.com"
        assert record["zoneId"] == "Z0123456789ABC"
        assert record["aliases"] == [
            {"name": dist["domainName"], "zoneId": dist["hostedZoneId"], "evaluateTargetHealth": False}
        ]


def test_options_csp_retention_and_service(run_pulumi, tags):
    cap = run_pulumi(
        build(tags, content_security_policy="default-src 'self'", log_retention_days=731, service="edge-api")
    )
    headers = cap.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy").inputs["securityHeadersConfig"]
    assert headers["contentSecurityPolicy"]["contentSecurityPolicy"] == "default-src 'self'"
    assert cap.one("aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 731
    assert cap.one(DISTRIBUTION).inputs["tags"]["Service"] == "edge-api"


def test_every_child_uses_the_us_east_1_provider(run_pulumi, tags):
    def program():
        provider = aws.Provider("us-east-1", region="us-east-1")
        EdgeFirewall("edge", build_args(tags, provider=provider))

    cap = run_pulumi(program)
    provider = cap.one("pulumi:providers:aws")
    component = cap.one("tradesense:edge:EdgeFirewall")
    children = cap.children(component.urn)
    assert len(children) == 10
    for child in children:
        assert child.provider.startswith(provider.urn + "::"), child.name


def test_children_are_parented_to_the_component(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    component = cap.one("tradesense:edge:EdgeFirewall")
    assert len(cap.children(component.urn)) == len(cap.resources) - 1


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"login_paths": []}, "login_paths = \\[\\]"),
        ({"login_paths": ["api/auth/login"]}, "login_paths"),
        ({"login_paths": "/api/auth/login"}, "login_paths"),
        ({"login_rate_limit": RateLimit(limit=5, window_seconds=60)}, "login_rate_limit = 5 per 60 s"),
        ({"login_rate_limit": RateLimit(limit=10, window_seconds=90)}, "login_rate_limit = 10 per 90 s"),
        ({"api_rate_limit": RateLimit(limit=9, window_seconds=60)}, "api_rate_limit = 9 per 60 s"),
        ({"api_rate_limit": RateLimit(limit=100, window_seconds=30)}, "api_rate_limit = 100 per 30 s"),
        ({"api_path_prefix": "api/"}, "api_path_prefix = 'api/'"),
        ({"log_retention_days": 90}, "log_retention_days = 90"),
        ({"log_retention_days": 366}, "log_retention_days = 366"),
        ({"origin_domain": "api.example.com"}, "origin_domain = 'api.example.com'"),
        ({"public_hostname": " "}, "public_hostname"),
        ({"hosted_zone_id": ""}, "hosted_zone_id"),
        ({"content_security_policy": ""}, "content_security_policy"),
        ({"logs_kms_key_arn": KEY.replace("us-east-1", "eu-west-1")}, "logs_kms_key_arn = .*us-east-1"),
    ],
)
def test_invalid_args_are_rejected(tags, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(tags, **overrides)()


def test_missing_tags_are_rejected(tags):
    del tags["Compliance"]
    with pytest.raises(ValueError, match="EdgeFirewallArgs.tags: missing required tag\\(s\\) Compliance"):
        build(tags)()
