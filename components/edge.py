"""EdgeFirewall: the gateway's only public entry point, CloudFront behind a rate-limiting WAF.

Creates a CLOUDFRONT-scoped WAFv2 web ACL (per-IP rate limits on the login paths and on the API,
then AWS's SQLi, common and known-bad-inputs rule groups), its KMS-encrypted CloudWatch log group
and logging configuration (credentials redacted), a response-headers policy with the security
headers, a DNS-validated ACM certificate, the distribution in front of the origin, and the Route 53
A/AAAA aliases. The web ACL, its log group and the certificate must live in us-east-1, so every
child takes the `provider` the caller gives for that region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.limits import MIN_LOG_RETENTION_DAYS, WAF_MIN_LIMIT, WAF_WINDOWS, RateLimit
from components.log_groups import encrypted_log_group, require_log_retention
from components.origin_verification import ORIGIN_VERIFY_HEADER
from components.tagging import for_service, require_tags, with_purpose

CLOUDFRONT_REGION = "us-east-1"
# AWS managed CloudFront policies: no caching (every API answer is per user) and every viewer
# header but Host forwarded (the origin's own certificate is checked against its own name).
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
# VPNs, Tor and hosting providers. Counted (metrics, sampled requests, logs) unless blocking is
# asked for: algorithmic-trading clients legitimately call the API from cloud hosts.
ANONYMOUS_IP_RULE_GROUP = "AWSManagedRulesAnonymousIpList"
# Request headers that carry credentials; WAF logs would otherwise keep them for a year.
REDACTED_HEADERS = ("authorization", "cookie")
HSTS_MAX_AGE_SECONDS = 63_072_000  # two years, the minimum the HSTS preload list accepts
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]


@dataclass(frozen=True, kw_only=True)
class EdgeFirewallArgs:
    """Inputs of an EdgeFirewall; every default is the secure choice."""

    origin_domain: str
    """DNS name of the gateway origin CloudFront forwards to (over HTTPS only)."""
    public_hostname: str
    """The name clients use; the certificate and the Route 53 aliases are made for it."""
    hosted_zone_id: str
    """Route 53 zone of public_hostname (certificate validation record and aliases)."""
    login_paths: Sequence[str]
    """Path prefixes of the login endpoints, rate-limited per client IP by `login_rate_limit`."""
    login_rate_limit: RateLimit
    """Per-IP limit on the login paths; WAF accepts >= 10 requests per 60/120/300/600 s."""
    api_rate_limit: RateLimit
    """Per-IP limit on everything under api_path_prefix."""
    origin_verify_header_value: pulumi.Input[str]
    """Secret value CloudFront sends to the origin as X-Origin-Verify on every request, so the gateway
    can refuse requests that did not come through the WAF (OriginVerification.header_value)."""
    logs_kms_key_arn: pulumi.Input[str]
    """Customer-managed key for the WAF log group; it must be in us-east-1, like the log group,
    and allow the logs.us-east-1.amazonaws.com service to use it."""
    tags: dict[str, str]
    """Required tags (see components.tagging)."""
    api_path_prefix: str = "/api/"
    """Path prefix that `api_rate_limit` applies to."""
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    """Retention of the WAF logs: at least a year (PCI DSS 10.5.1), one of CloudWatch's values."""
    provider: pulumi.ProviderResource | None = None
    """AWS provider for us-east-1, where a CLOUDFRONT web ACL, its log group and the certificate
    must be; None only when the stack itself runs in us-east-1."""
    content_security_policy: str = "default-src 'none'; frame-ancestors 'none'"
    """CSP sent on every response; the gateway serves an API, so nothing may load or frame it."""
    service: str = "gateway"
    """The service behind the distribution, written to the distribution's Service tag."""
    block_anonymous_ips: bool = False
    """Block (rather than only count) requests from anonymising networks and hosting providers."""

    def __post_init__(self) -> None:
        require_tags("EdgeFirewallArgs.tags", self.tags)
        for name in ("origin_domain", "public_hostname", "hosted_zone_id", "content_security_policy"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"EdgeFirewallArgs.{name} = {getattr(self, name)!r}: must be non-empty")
        if self.origin_domain == self.public_hostname:
            raise ValueError(
                f"EdgeFirewallArgs.origin_domain = {self.origin_domain!r}: must differ from "
                "public_hostname, or CloudFront would forward requests to itself"
            )
        if (
            isinstance(self.login_paths, str)
            or not self.login_paths
            or not all(isinstance(p, str) and p.startswith("/") for p in self.login_paths)
        ):
            raise ValueError(
                f"EdgeFirewallArgs.login_paths = {self.login_paths!r}: must be a non-empty list of "
                "paths starting with /"
            )
        if not self.api_path_prefix.startswith("/"):
            raise ValueError(f"EdgeFirewallArgs.api_path_prefix = {self.api_path_prefix!r}: must start with /")
        _check_rate_limit("login_rate_limit", self.login_rate_limit)
        _check_rate_limit("api_rate_limit", self.api_rate_limit)
        require_log_retention("EdgeFirewallArgs.log_retention_days", self.log_retention_days)
        key = self.logs_kms_key_arn
        if isinstance(key, str) and key.startswith("arn:") and key.split(":")[3] != CLOUDFRONT_REGION:
            raise ValueError(
                f"EdgeFirewallArgs.logs_kms_key_arn = {key!r}: must be a key in {CLOUDFRONT_REGION}, "
                "the region of the WAF log group it encrypts"
            )


def route53_zone_name(public_hostname: str, zone_name: str | None = None) -> str:
    """The public Route 53 zone that serves `public_hostname`: `zone_name` when given, else the
    hostname's parent domain (api.tradesense.io -> tradesense.io). One rule for the program's lookup
    and the preflight's check. An apex hostname, or a zone deeper or shallower than the parent (a
    delegated sub-zone, a multi-label public suffix such as co.uk), needs `zone_name`: the parent of
    `tradesense.io` would be `io`, which no account owns."""
    if zone_name:
        return zone_name
    return public_hostname.split(".", 1)[1]


def _check_rate_limit(name: str, rate: RateLimit) -> None:
    if rate.limit < WAF_MIN_LIMIT or rate.window_seconds not in WAF_WINDOWS:
        raise ValueError(
            f"EdgeFirewallArgs.{name} = {rate.limit} per {rate.window_seconds} s: AWS WAF allows a "
            f"limit of at least {WAF_MIN_LIMIT} per window of {', '.join(map(str, WAF_WINDOWS))} s"
        )


class EdgeFirewall(pulumi.ComponentResource):
    """CloudFront in front of the gateway origin, guarded by a rate-limiting, logged WAF."""

    web_acl_arn: pulumi.Output[str]
    web_acl_id: pulumi.Output[str]
    web_acl_name: pulumi.Output[str]
    distribution_id: pulumi.Output[str]
    distribution_arn: pulumi.Output[str]
    distribution_domain_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    certificate_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EdgeFirewallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:edge:EdgeFirewall", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        tags = args.tags
        acl_name = f"{tags['Project']}-{tags['Stack']}-edge"

        web_acl = aws.wafv2.WebAcl(  # type: ignore[call-overload]  # pulumi's Input/Output typing
            f"{name}-web-acl",
            name=acl_name,
            description=f"Rate limits and managed rules in front of {args.public_hostname}",
            scope="CLOUDFRONT",
            default_action={"allow": {}},
            rules=[
                # The seed app allows 5 logins a minute per IP; AWS WAF's lowest limit is 10 per
                # evaluation window, so the config uses 10 per 120 s, the tightest equivalent AWS allows.
                _rate_rule("login-rate-limit", 0, args.login_rate_limit, args.login_paths),
                _rate_rule("api-rate-limit", 1, args.api_rate_limit, [args.api_path_prefix]),
                *(_managed_rule(group, priority) for priority, group in enumerate(MANAGED_RULE_GROUPS, start=2)),
                _managed_rule(
                    ANONYMOUS_IP_RULE_GROUP, 2 + len(MANAGED_RULE_GROUPS), count_only=not args.block_anonymous_ips
                ),
            ],
            visibility_config=_visibility(acl_name),
            tags=with_purpose(tags, "edge-firewall"),
            opts=child,
        )

        log_group = encrypted_log_group(
            f"{name}-waf-logs",
            # WAF delivers only to log groups whose name starts with aws-waf-logs-.
            log_group_name=f"aws-waf-logs-{tags['Stack']}-edge",
            kms_key_arn=args.logs_kms_key_arn,
            retention_days=args.log_retention_days,
            tags=tags,
            parent=self,
            provider=args.provider,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-waf-logging",
            resource_arn=web_acl.arn,
            log_destination_configs=[log_group.arn],
            redacted_fields=[{"single_header": {"name": header}} for header in REDACTED_HEADERS],
            opts=child,
        )

        headers = aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-security-headers",
            comment=f"Security headers for {args.public_hostname}",
            security_headers_config={
                "content_security_policy": {
                    "content_security_policy": args.content_security_policy,
                    "override": True,
                },
                "strict_transport_security": {
                    "access_control_max_age_sec": HSTS_MAX_AGE_SECONDS,
                    "include_subdomains": True,
                    "preload": True,
                    "override": True,
                },
                "frame_options": {"frame_option": "DENY", "override": True},
                "content_type_options": {"override": True},
                "referrer_policy": {"referrer_policy": "strict-origin-when-cross-origin", "override": True},
                "xss_protection": {"protection": True, "mode_block": True, "override": True},
            },
            opts=child,
        )

        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=args.public_hostname,
            validation_method="DNS",
            tags=tags,
            opts=child,
        )
        # One name on the certificate, so exactly one validation record.
        validation_option = certificate.domain_validation_options.apply(lambda options: options[0])
        validation_record = aws.route53.Record(
            f"{name}-certificate-validation-record",
            zone_id=args.hosted_zone_id,
            name=validation_option.apply(lambda o: o.resource_record_name),
            type=validation_option.apply(lambda o: o.resource_record_type),
            records=[validation_option.apply(lambda o: o.resource_record_value)],  # type: ignore[arg-type, return-value]  # pulumi's Input/Output typing
            ttl=300,
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[validation_record.fqdn],
            opts=child,
        )

        origin_id = f"{args.service}-origin"
        distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            comment=f"{args.public_hostname} -> {args.origin_domain}",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            aliases=[args.public_hostname],
            origins=[
                {
                    "origin_id": origin_id,
                    "domain_name": args.origin_domain,
                    # Without it the public origin accepts anyone, and a direct call skips the WAF.
                    # Secret: previews and state show "[secret]" (components/origin_verification.py).
                    "custom_headers": [
                        {
                            "name": ORIGIN_VERIFY_HEADER,
                            "value": pulumi.Output.secret(args.origin_verify_header_value),
                        }
                    ],
                    "custom_origin_config": {
                        "http_port": 80,
                        "https_port": 443,
                        "origin_protocol_policy": "https-only",
                        "origin_ssl_protocols": ["TLSv1.2"],
                    },
                }
            ],
            default_cache_behavior={
                "target_origin_id": origin_id,
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ALL_METHODS,
                "cached_methods": ["GET", "HEAD"],
                "cache_policy_id": CACHING_DISABLED_POLICY_ID,
                "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST_POLICY_ID,
                "response_headers_policy_id": headers.id,
            },
            # WAFv2 web ACLs are attached to CloudFront by ARN (the id is for WAF Classic).
            web_acl_id=web_acl.arn,
            viewer_certificate={
                "acm_certificate_arn": validation.certificate_arn,
                "ssl_support_method": "sni-only",
                "minimum_protocol_version": "TLSv1.2_2021",
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            price_class="PriceClass_100",
            tags=for_service(tags, args.service),
            opts=child,
        )
        for record_type in ("A", "AAAA"):
            aws.route53.Record(
                f"{name}-alias-{record_type.lower()}",
                zone_id=args.hosted_zone_id,
                name=args.public_hostname,
                type=record_type,
                aliases=[
                    {
                        "name": distribution.domain_name,
                        "zone_id": distribution.hosted_zone_id,
                        "evaluate_target_health": False,
                    }
                ],
                opts=child,
            )

        self.web_acl_arn = web_acl.arn
        self.web_acl_id = web_acl.id
        self.web_acl_name = web_acl.name
        self.distribution_id = distribution.id
        self.distribution_arn = distribution.arn
        self.distribution_domain_name = distribution.domain_name
        self.log_group_name = log_group.name
        self.certificate_arn = validation.certificate_arn
        self.register_outputs(
            {
                "webAclArn": self.web_acl_arn,
                "webAclId": self.web_acl_id,
                "webAclName": self.web_acl_name,
                "distributionId": self.distribution_id,
                "distributionArn": self.distribution_arn,
                "distributionDomainName": self.distribution_domain_name,
                "logGroupName": self.log_group_name,
                "certificateArn": self.certificate_arn,
            }
        )


def _visibility(metric_name: str) -> dict[str, Any]:
    return {"cloudwatch_metrics_enabled": True, "sampled_requests_enabled": True, "metric_name": metric_name}


def _starts_with(path: str) -> dict[str, Any]:
    # The request path is lowercased before matching, so /API/Auth/Login cannot slip past.
    return {
        "byte_match_statement": {
            "field_to_match": {"uri_path": {}},
            "positional_constraint": "STARTS_WITH",
            "search_string": path.lower(),
            "text_transformations": [{"priority": 0, "type": "LOWERCASE"}],
        }
    }


def _rate_rule(rule_name: str, priority: int, rate: RateLimit, paths: Sequence[str]) -> dict[str, Any]:
    matches = [_starts_with(path) for path in paths]
    return {
        "name": rule_name,
        "priority": priority,
        "action": {"block": {"custom_response": {"response_code": 429}}},
        "statement": {
            "rate_based_statement": {
                "limit": rate.limit,
                "evaluation_window_sec": rate.window_seconds,
                "aggregate_key_type": "IP",
                "scope_down_statement": matches[0] if len(matches) == 1 else {"or_statement": {"statements": matches}},
            }
        },
        "visibility_config": _visibility(rule_name),
    }


def _managed_rule(group: str, priority: int, count_only: bool = False) -> dict[str, Any]:
    return {
        "name": group,
        "priority": priority,
        "override_action": {"count": {}} if count_only else {"none": {}},
        "statement": {"managed_rule_group_statement": {"name": group, "vendor_name": "AWS"}},
        "visibility_config": _visibility(group),
    }
