"""Edge protection: WAF rate limits and managed rules, WAF logging, the ACL on the entry point, headers."""

from __future__ import annotations

import json
from typing import Any

from tradesense_policies import types as t
from tradesense_policies.model import as_number, get_path, is_unknown, refers_to, refers_to_any, tags_of
from tradesense_policies.registry import FSBP, GDPR, PCI, SOC2, Unknown, resource_rule, stack_rule
from tradesense_policies.stackconfig import login_paths, rate_limits

WEB_APP = ((PCI, "6.4.2"), (SOC2, "CC6.6"), (GDPR, "Art. 32(1)(b)"))
REQUIRED_MANAGED_GROUPS = (
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
CREDENTIAL_HEADERS = ("authorization", "cookie")
DEFAULT_WINDOW = 300
HSTS_MIN_AGE = 31_536_000


def _camel(value: Any) -> Any:
    """WAF rules given as `ruleJson` use the API's PascalCase; rules from inputs use camelCase."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def web_acl_rules(props) -> list[dict[str, Any]]:
    rules = get_path(props, "rules") or []
    text = get_path(props, "ruleJson")
    if not rules and isinstance(text, str) and text:
        try:
            rules = json.loads(text)
        except json.JSONDecodeError:
            rules = []
    return [_camel(r) for r in rules if isinstance(r, dict)]


def _rate_rules(props, stack: str):
    """(kind, rule name, limit, window, action) for every rate-based rule; kind is login or api."""
    paths = login_paths(stack)
    for rule in web_acl_rules(props):
        statement = (rule.get("statement") or {}).get("rateBasedStatement")
        if not statement:
            continue
        scope = json.dumps(statement.get("scopeDownStatement") or {})
        kind = "login" if any(p in scope for p in paths) or "login" in str(rule.get("name", "")).lower() else "api"
        limit = as_number(statement.get("limit"))
        window = as_number(statement.get("evaluationWindowSec")) or DEFAULT_WINDOW
        action = next(iter(rule.get("action") or {}), "none")
        yield kind, rule.get("name"), limit, window, action


def _rate_problem(props, resource, kind: str):
    stack = str(tags_of(props).get("Stack", ""))
    login, api = rate_limits(stack)
    wanted = login if kind == "login" else api
    found = [r for r in _rate_rules(props, stack) if r[0] == kind]
    if not found:
        return f"no {kind} rate-based rule (wanted at most {wanted.describe()})"
    problems = []
    for _, name, limit, window, action in found:
        if action != "block":
            problems.append(f"rule {name}: action {action}, not block")
        if limit is None or limit * 60 / window > wanted.per_minute:
            problems.append(f"rule {name}: {limit:g} per {window:g} s is looser than {wanted.describe()}")
    return problems


RATE_EVIDENCE = ("tags.Stack", "rules.name", "rules.statement.rateBasedStatement.limit",
                 "rules.statement.rateBasedStatement.evaluationWindowSec", "rules.action")


@resource_rule(
    name="waf-login-rate-limit",
    description="The web ACL blocks login floods with a rate rule no looser than the stack's edge.loginRateLimit.",
    resource_types=(t.WEB_ACL,),
    severity="high",
    remediation="Add a blocking rate-based rule scoped down to tradesense:edge.loginPaths with limit/window at "
                "most tradesense:edge.loginRateLimit.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html",
    compliance=WEB_APP + ((PCI, "8.3.4"),),
    evidence=RATE_EVIDENCE,
)
def waf_login_rate_limit(props, resource):
    return _rate_problem(props, resource, "login")


@resource_rule(
    name="waf-api-rate-limit",
    description="The web ACL blocks API floods with a rate rule no looser than the stack's edge.apiRateLimit.",
    resource_types=(t.WEB_ACL,),
    severity="high",
    remediation="Add a blocking rate-based rule with limit/window at most tradesense:edge.apiRateLimit.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html",
    compliance=WEB_APP + ((SOC2, "A1.1"),),
    evidence=RATE_EVIDENCE,
)
def waf_api_rate_limit(props, resource):
    return _rate_problem(props, resource, "api")


@resource_rule(
    name="waf-managed-rule-groups",
    description="The web ACL enforces AWS's SQLi, common and known-bad-inputs managed rule groups.",
    resource_types=(t.WEB_ACL,),
    severity="high",
    remediation="Add managed_rule_group_statement rules for " + ", ".join(REQUIRED_MANAGED_GROUPS)
                + " with override_action none (not count).",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html",
    compliance=WEB_APP + ((PCI, "6.4.1"), (FSBP, "WAF.10")),
    evidence=("rules.name", "rules.statement.managedRuleGroupStatement.name", "rules.overrideAction"),
)
def waf_managed_rule_groups(props, resource):
    enforced, counting = set(), set()
    for rule in web_acl_rules(props):
        group = (rule.get("statement") or {}).get("managedRuleGroupStatement") or {}
        if group.get("vendorName") == "AWS" and group.get("name"):
            (counting if "count" in (rule.get("overrideAction") or {}) else enforced).add(group["name"])
    problems = [f"{g} only counts (overrideAction count)" for g in REQUIRED_MANAGED_GROUPS if g in counting]
    missing = [g for g in REQUIRED_MANAGED_GROUPS if g not in enforced | counting]
    if missing:
        problems.append("missing " + ", ".join(missing))
    return problems


@stack_rule(
    name="waf-logging-enabled",
    description="Every web ACL has a logging configuration.",
    resource_types=(t.WEB_ACL,),
    severity="medium",
    remediation="Add aws.wafv2.WebAclLoggingConfiguration for the ACL, delivering to an aws-waf-logs-* log group.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/logging.html",
    compliance=((PCI, "10.2.1"), (SOC2, "CC7.2"), (FSBP, "WAF.11")),
    evidence=("name", "scope"),
)
def waf_logging_enabled(stack):
    configs = stack.of_type(t.WEB_ACL_LOGGING)
    for acl in stack.of_type(t.WEB_ACL):
        if any(refers_to(c, "resourceArn", c.props.get("resourceArn"), acl, "arn") for c in configs):
            continue
        if any(is_unknown(c.props.get("resourceArn")) for c in configs):
            raise Unknown(f"{acl.name}.arn")
        yield acl.urn, f"web ACL {acl.name} has no logging configuration"


@resource_rule(
    name="waf-logging-redacts-credentials",
    description="WAF logs redact the Authorization and Cookie headers, so no credential lands in a log.",
    resource_types=(t.WEB_ACL_LOGGING,),
    severity="high",
    remediation="Add redacted_fields single_header entries for authorization and cookie.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/logging-management.html",
    compliance=((PCI, "3.3.1"), (PCI, "8.3.2"), (GDPR, "Art. 32(1)(a)"), (SOC2, "C1.1")),
    evidence=("redactedFields.singleHeader.name",),
)
def waf_logging_redacts_credentials(props, resource):
    redacted = {
        str(get_path(props, f"redactedFields.{i}.singleHeader.name") or "").lower()
        for i, _ in enumerate(get_path(props, "redactedFields") or [])
    }
    missing = [h for h in CREDENTIAL_HEADERS if h not in redacted]
    return f"headers not redacted: {', '.join(missing)}" if missing else None


@stack_rule(
    name="edge-web-acl-attached",
    description="The public entry point (every CloudFront distribution) is guarded by a web ACL of this stack.",
    resource_types=(t.DISTRIBUTION,),
    severity="critical",
    remediation="Set web_acl_id on the distribution to the CLOUDFRONT-scoped web ACL's ARN.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/cloudfront-features.html",
    compliance=WEB_APP + ((PCI, "6.4.1"), (FSBP, "CloudFront.6")),
    evidence=("webAclId",),
)
def edge_web_acl_attached(stack):
    acls = stack.of_type(t.WEB_ACL)
    for distribution in stack.of_type(t.DISTRIBUTION):
        if not refers_to_any(distribution, "webAclId", acls, "arn", "id"):
            acl_id = distribution.props.get("webAclId")
            yield distribution.urn, (f"webAclId = {acl_id}: not a web ACL of this stack" if acl_id
                                     else "webAclId is not set: the distribution is unprotected")


@resource_rule(
    name="cloudfront-response-headers-policy",
    description="Every CloudFront cache behaviour attaches a response headers policy.",
    resource_types=(t.DISTRIBUTION,),
    severity="medium",
    remediation="Set response_headers_policy_id on the default and every ordered cache behaviour.",
    url="https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/adding-response-headers.html",
    compliance=((PCI, "6.4.1"), (SOC2, "CC6.6")),
    evidence=("defaultCacheBehavior.responseHeadersPolicyId", "orderedCacheBehaviors.responseHeadersPolicyId"),
)
def cloudfront_response_headers_policy(props, resource):
    problems = []
    if not get_path(props, "defaultCacheBehavior.responseHeadersPolicyId"):
        problems.append("defaultCacheBehavior has no responseHeadersPolicyId")
    for index, _ in enumerate(get_path(props, "orderedCacheBehaviors") or []):
        if not get_path(props, f"orderedCacheBehaviors.{index}.responseHeadersPolicyId"):
            problems.append(f"orderedCacheBehaviors[{index}] has no responseHeadersPolicyId")
    return problems


@resource_rule(
    name="cloudfront-security-headers",
    description="Response headers policies send HSTS (1 year, subdomains), nosniff, frame options and a referrer policy.",
    resource_types=(t.RESPONSE_HEADERS_POLICY,),
    severity="medium",
    remediation="Set security_headers_config.strict_transport_security (access_control_max_age_sec >= 31536000, "
                "include_subdomains, override), content_type_options, frame_options (DENY) and referrer_policy.",
    url="https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/understanding-response-headers-policies.html",
    compliance=((PCI, "6.4.1"), (PCI, "4.2.1"), (SOC2, "CC6.7")),
    evidence=("securityHeadersConfig.strictTransportSecurity.accessControlMaxAgeSec",
              "securityHeadersConfig.strictTransportSecurity.includeSubdomains",
              "securityHeadersConfig.contentTypeOptions", "securityHeadersConfig.frameOptions.frameOption",
              "securityHeadersConfig.referrerPolicy.referrerPolicy"),
)
def cloudfront_security_headers(props, resource):
    base = "securityHeadersConfig"
    problems = []
    age = as_number(get_path(props, f"{base}.strictTransportSecurity.accessControlMaxAgeSec"))
    if age is None or age < HSTS_MIN_AGE:
        problems.append(f"HSTS max-age = {age}: must be at least {HSTS_MIN_AGE}")
    elif not get_path(props, f"{base}.strictTransportSecurity.includeSubdomains"):
        problems.append("HSTS without includeSubdomains")
    if get_path(props, f"{base}.contentTypeOptions") is None:
        problems.append("no X-Content-Type-Options")
    if get_path(props, f"{base}.frameOptions.frameOption") not in ("DENY", "SAMEORIGIN"):
        problems.append("no X-Frame-Options DENY/SAMEORIGIN")
    if not get_path(props, f"{base}.referrerPolicy.referrerPolicy"):
        problems.append("no Referrer-Policy")
    return problems




# ---- Origin verification (issue 8) ---------------------------------------------------------------
# Own imports and constants, so this policy stands alone beside the ones above.
from tradesense_policies.model import as_list as _as_list  # noqa: E402

ORIGIN_VERIFY_HEADERS = ("x-origin-verify",)
# A value CloudFront sends and the origin compares: generated, at least 32 characters (the stack's is
# 64 from pulumi-random). "[secret]" is how a preview prints a secret value; the engine hands the
# pack the value itself.
MIN_ORIGIN_VERIFY_LENGTH = 32
_SECRET_TEXT = "[secret]"
_SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _origin_protected_otherwise(origin: dict) -> bool:
    """S3 origins prove CloudFront with origin access control (or a legacy identity); VPC origins are
    not reachable from the internet at all. Only custom origins need the header."""
    return bool(
        origin.get("originAccessControlId")
        or get_path(origin, "s3OriginConfig.originAccessIdentity")
        or origin.get("vpcOriginConfig")
    )


def _verify_value_problem(value: Any) -> str | None:
    if is_unknown(value):
        raise Unknown("origins.customHeaders.value")
    if value == _SECRET_TEXT or (isinstance(value, dict) and _SECRET_SIG in value):
        return None
    if not isinstance(value, str) or len(value) < MIN_ORIGIN_VERIFY_LENGTH:
        return f"value has {len(value) if isinstance(value, str) else 0} characters, fewer than {MIN_ORIGIN_VERIFY_LENGTH}"
    if len(set(value)) < 8:
        return "value is not random (fewer than 8 distinct characters)"
    return None


@resource_rule(
    name="cloudfront-origin-verification-header",
    description="Every CloudFront custom origin receives an X-Origin-Verify header with a long random value, so "
                "the origin can refuse requests that did not pass the WAF.",
    resource_types=(t.DISTRIBUTION,),
    severity="high",
    remediation="Add origins[].custom_headers {name: X-Origin-Verify, value: OriginVerification.header_value} "
                "(components/origin_verification.py) and make the origin answer 403 without it (docs/edge.md).",
    url="https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/add-origin-custom-headers.html",
    compliance=((PCI, "6.4.2"), (PCI, "1.4.2"), (SOC2, "CC6.6"), (GDPR, "Art. 32(1)(b)")),
    evidence=("origins.originId", "origins.domainName", "origins.customHeaders.name"),
)
def cloudfront_origin_verification_header(props, resource):
    if is_unknown(get_path(props, "origins")):
        raise Unknown("origins")
    origins = _as_list(get_path(props, "origins"))
    if not origins:
        return "the distribution declares no origin"
    problems = []
    for index, origin in enumerate(origins):
        if not isinstance(origin, dict):
            raise Unknown(f"origins[{index}]")
        label = origin.get("originId") or f"origins[{index}]"
        if _origin_protected_otherwise(origin):
            continue
        headers = [h for h in _as_list(origin.get("customHeaders")) if isinstance(h, dict)]
        verify = [h for h in headers if str(h.get("name", "")).strip().lower() in ORIGIN_VERIFY_HEADERS]
        if not verify:
            problems.append(f"origin {label} ({origin.get('domainName')}): no X-Origin-Verify header, so a "
                            "direct call to the origin skips the WAF")
            continue
        for header in verify:
            problem = _verify_value_problem(header.get("value"))
            if problem:
                problems.append(f"origin {label}: X-Origin-Verify {problem}")
    return problems


@stack_rule(
    name="cloudfront-origin-verification-generated",
    description="The X-Origin-Verify value CloudFront sends is generated (pulumi-random), never a literal in the program.",
    resource_types=(t.DISTRIBUTION,),
    severity="high",
    remediation="Take the header value from OriginVerification.header_value (a RandomPassword), not a string.",
    url="https://www.pulumi.com/registry/packages/random/api-docs/randompassword/",
    compliance=((PCI, "6.4.2"), (PCI, "8.3.1"), (SOC2, "CC6.1")),
    evidence=("origins.originId",),
)
def cloudfront_origin_verification_generated(stack):
    # A literal (even a long one, even the text a preview prints for secrets) is no shared secret: it
    # sits in the repository. The engine records what an input was computed from; the origins must
    # depend on a generator. Distributions whose origins need no header (S3 with origin access control,
    # VPC origins) are judged by cloudfront-origin-verification-header, not here.
    generators = {r.urn for r in stack.of_type(*t.RANDOM_SECRET_SOURCES)}
    for distribution in stack.of_type(t.DISTRIBUTION):
        origins = distribution.props.get("origins")
        if isinstance(origins, list) and origins and all(
                isinstance(o, dict) and _origin_protected_otherwise(o) for o in origins):
            continue
        if set(distribution.property_dependencies.get("origins", ())) & generators:
            continue
        yield distribution.urn, ("the origins' X-Origin-Verify value does not come from a generated secret "
                                 "(no RandomPassword/RandomBytes in their property dependencies)")
