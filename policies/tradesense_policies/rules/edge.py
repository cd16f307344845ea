"""Edge protection: WAF rate limits and managed rules, WAF logging, the ACL on the entry point, headers."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from tradesense_policies import types as t
from tradesense_policies.model import (
    SECRET_SIG,
    SECRET_TEXT,
    Props,
    Resource,
    Stack,
    as_list,
    as_number,
    camel_keys,
    get_path,
    is_unknown,
    refers_to,
    refers_to_any,
)
from tradesense_policies.registry import FSBP, GDPR, PCI, SOC2, Finding, Unknown, Violations, resource_rule, stack_rule

WEB_APP = ((PCI, "6.4.2"), (SOC2, "CC6.6"), (GDPR, "Art. 32(1)(b)"))
REQUIRED_MANAGED_GROUPS = (
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
CREDENTIAL_HEADERS = ("authorization", "cookie")
# A rate-based rule without evaluation_window_sec counts over 300 s
# (https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-high-level-settings.html).
DEFAULT_WINDOW = 300
HSTS_MIN_AGE = 31_536_000
# Requests the managed groups must still inspect (a scope-down that skips any of them skips attacks).
GENERIC_PROBES = ("/", "/api/orders", "/api/auth/login", "/static/app.js")
API_PROBES = ("/api/orders", "/api/v1/accounts/42")


def web_acl_rules(props: Props) -> list[dict[str, Any]]:
    """The ACL's rules in evaluation order (ascending priority, as AWS WAF evaluates them:
    https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-processing-order.html)."""
    rules = get_path(props, "rules") or []
    text = get_path(props, "ruleJson")
    if not rules and isinstance(text, str) and text:
        try:
            rules = json.loads(text)
        except json.JSONDecodeError:
            rules = []
    rules = [camel_keys(r) for r in rules if isinstance(r, dict)]
    for rule in rules:
        if as_number(rule.get("priority")) is None:
            raise Unknown(f"rules.{rule.get('name')}.priority")
    return sorted(rules, key=lambda r: as_number(r.get("priority")) or 0.0)  # None raised Unknown above


# -- a small WAF evaluator: does a statement match a GET of `path` (no headers, no labels)? ----------
# None means "cannot tell": callers treat it as the unsafe answer.
def _transform(value: str, transformations: object) -> str | None:
    for step in sorted(as_list(transformations), key=lambda s: as_number((s or {}).get("priority")) or 0):
        kind = str((step or {}).get("type", "NONE")).upper()
        if kind == "NONE":
            continue
        if kind == "LOWERCASE":
            value = value.lower()
        elif kind in ("URL_DECODE", "URL_DECODE_UNI"):
            value = unquote(value)
        elif kind == "COMPRESS_WHITE_SPACE":
            value = re.sub(r"\s+", " ", value)
        elif kind in ("NORMALIZE_PATH", "NORMALIZE_PATH_WIN"):
            value = posixpath.normpath(value.replace("\\", "/")) if value else value
        else:
            return None
    return value


def _field(statement: Mapping[str, Any]) -> str | None:
    field = statement.get("fieldToMatch") or {}
    return "uriPath" if "uriPath" in field else None


def _byte_match(statement: Mapping[str, Any], path: str) -> bool | None:
    if _field(statement) != "uriPath":
        return None
    value = _transform(path, statement.get("textTransformations"))
    if value is None:
        return None
    needle = str(statement.get("searchString", ""))
    how = str(statement.get("positionalConstraint", "")).upper()
    if how == "EXACTLY":
        return value == needle
    if how == "STARTS_WITH":
        return value.startswith(needle)
    if how == "ENDS_WITH":
        return value.endswith(needle)
    if how == "CONTAINS":
        return needle in value
    if how == "CONTAINS_WORD":
        return re.search(rf"(^|\W){re.escape(needle)}(\W|$)", value) is not None
    return None


def matches(statement: object, path: str) -> bool | None:
    """Whether the WAF statement matches a plain GET of `path`; None when it cannot be told."""
    if not isinstance(statement, dict) or not statement:
        return None
    if "byteMatchStatement" in statement:
        return _byte_match(statement["byteMatchStatement"], path)
    if "regexMatchStatement" in statement:
        inner = statement["regexMatchStatement"]
        value = _transform(path, inner.get("textTransformations")) if _field(inner) == "uriPath" else None
        try:
            return None if value is None else re.search(str(inner.get("regexString")), value) is not None
        except re.error:
            return None
    if "orStatement" in statement:
        results = [matches(s, path) for s in as_list((statement["orStatement"] or {}).get("statements"))]
        return True if True in results else None if None in results else False
    if "andStatement" in statement:
        results = [matches(s, path) for s in as_list((statement["andStatement"] or {}).get("statements"))]
        return False if False in results else None if None in results else True
    if "notStatement" in statement:
        result = matches((statement["notStatement"] or {}).get("statement"), path)
        return None if result is None else not result
    return None


def _action(rule: Mapping[str, Any]) -> str:
    return next(iter(rule.get("action") or {}), "none")


def _allow_before(rules: Iterable[Mapping[str, Any]], rule: Mapping[str, Any], probes: Sequence[str]) -> str | None:
    """The name of a rule evaluated before `rule` that may allow one of `probes` (allow is terminal)."""
    for earlier in rules:
        if earlier is rule:
            return None
        statement = earlier.get("statement") or {}
        may_allow = _action(earlier) == "allow" or "ruleGroupReferenceStatement" in statement
        if may_allow and any(matches(statement, p) is not False for p in probes):
            return str(earlier.get("name"))
    return None


def _unforgeable_key(statement: Mapping[str, Any]) -> str | None:
    """Why the rate rule's aggregation key can be forged by a client (None when it cannot)."""
    kind = str(statement.get("aggregateKeyType") or "IP").upper()
    if kind == "IP":
        return None
    if kind == "CUSTOM_KEYS":
        keys = [k for key in as_list(statement.get("customKeys")) for k in (key or {})]
        forged = [k for k in keys if k != "ip"]
        return f"aggregates on {', '.join(forged)} (request data a client sets)" if forged or not keys else None
    if kind == "FORWARDED_IP":
        header = (statement.get("forwardedIpConfig") or {}).get("headerName", "a header")
        return f"aggregates on {header}, which the client writes"
    return f"aggregateKeyType {kind}: not one counter per client IP"


def _rate_problems(
    rule: Mapping[str, Any], rules: Sequence[Mapping[str, Any]], probes: Sequence[str], per_minute_max: float
) -> list[str]:
    statement = (rule.get("statement") or {}).get("rateBasedStatement") or {}
    name = rule.get("name")
    problems = []
    if _action(rule) != "block":
        problems.append(f"rule {name}: action {_action(rule)}, not block")
    limit = as_number(statement.get("limit"))
    window = as_number(statement.get("evaluationWindowSec")) or DEFAULT_WINDOW
    if is_unknown(statement.get("limit")):
        raise Unknown(f"rules.{name}.limit")
    if limit is None or limit * 60 / window > per_minute_max:
        problems.append(
            f"rule {name}: {statement.get('limit')} per {window:g} s is looser than "
            f"{per_minute_max:g} per minute (pack config)"
        )
    forged = _unforgeable_key(statement)
    if forged:
        problems.append(f"rule {name}: {forged}")
    scope = statement.get("scopeDownStatement")
    missed = [p for p in probes if scope is not None and matches(scope, p) is not True]
    if missed:
        problems.append(
            f"rule {name}: its scope-down does not match {', '.join(missed)} (after its own text transformations)"
        )
    allowed = _allow_before(rules, rule, probes)
    if allowed:
        problems.append(f"rule {name}: evaluated after {allowed}, which may allow those requests first")
    return problems


def _rate_requirement(props: Props, probes: Sequence[str], per_minute_max: float, kind: str) -> Violations:
    rules = web_acl_rules(props)
    rate_rules = [r for r in rules if (r.get("statement") or {}).get("rateBasedStatement") is not None]
    verdicts = [(r, _rate_problems(r, rules, probes, per_minute_max)) for r in rate_rules]
    if any(not problems for _, problems in verdicts):
        return None
    named = [problems for r, problems in verdicts if kind in str(r.get("name", "")).lower()]
    if not verdicts:
        return f"no {kind} rate-based rule (wanted at most {per_minute_max:g} per minute per client IP)"
    return named[0] if named else [f"no rate-based rule blocks {kind} floods: " + "; ".join(verdicts[0][1])]


def _login_probes(paths: Iterable[str]) -> list[str]:
    """Each login path as a client may send it: as configured, upper-cased, with a trailing slash."""
    return [variant for p in paths for variant in dict.fromkeys((p, p.upper(), p.rstrip("/") + "/"))]


RATE_EVIDENCE = (
    "rules.name",
    "rules.priority",
    "rules.statement.rateBasedStatement.limit",
    "rules.statement.rateBasedStatement.evaluationWindowSec",
    "rules.statement.rateBasedStatement.aggregateKeyType",
    "rules.action",
)


@resource_rule(
    name="waf-login-rate-limit",
    description="A blocking, per-client-IP rate rule matches every configured login path (in any case, after "
    "its own text transformations), no looser than the pack's login floor, evaluated before any allow rule.",
    resource_types=(t.WEB_ACL,),
    severity="high",
    remediation="Add a blocking rate-based rule (aggregate key IP) scoped down to the login paths with a LOWERCASE "
    "transformation and lower-case search strings, at a priority before every allow rule; limit/window "
    "at most the loginMaxRequestsPerMinute policy config.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html",
    compliance=WEB_APP + ((PCI, "8.3.4"),),
    evidence=RATE_EVIDENCE,
    config=("loginMaxRequestsPerMinute", "loginPaths"),
)
def waf_login_rate_limit(props: Props, resource: Resource) -> Violations:
    return _rate_requirement(
        props, _login_probes(resource.setting("loginPaths")), resource.setting("loginMaxRequestsPerMinute"), "login"
    )


@resource_rule(
    name="waf-api-rate-limit",
    description="A blocking, per-client-IP rate rule covers the API, no looser than the pack's API floor, "
    "evaluated before any allow rule.",
    resource_types=(t.WEB_ACL,),
    severity="high",
    remediation="Add a blocking rate-based rule (aggregate key IP) over /api/ at a priority before every allow rule, "
    "limit/window at most the apiMaxRequestsPerMinute policy config.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html",
    compliance=WEB_APP + ((SOC2, "A1.1"),),
    evidence=RATE_EVIDENCE,
    config=("apiMaxRequestsPerMinute",),
)
def waf_api_rate_limit(props: Props, resource: Resource) -> Violations:
    return _rate_requirement(props, list(API_PROBES), resource.setting("apiMaxRequestsPerMinute"), "api")


@resource_rule(
    name="waf-managed-rule-groups",
    description="The web ACL enforces AWS's SQLi, common and known-bad-inputs managed rule groups in full: not "
    "counting, no rule overridden, not scoped down, not behind an allow rule.",
    resource_types=(t.WEB_ACL,),
    severity="high",
    remediation="Add managed_rule_group_statement rules for "
    + ", ".join(REQUIRED_MANAGED_GROUPS)
    + " with override_action none, no rule_action_overrides or scope_down_statement, before any allow rule.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-rule-group-override-options.html",
    compliance=WEB_APP + ((PCI, "6.4.1"), (FSBP, "WAF.10")),
    evidence=(
        "rules.name",
        "rules.statement.managedRuleGroupStatement.name",
        "rules.overrideAction",
        "rules.statement.managedRuleGroupStatement.ruleActionOverrides",
    ),
)
def waf_managed_rule_groups(props: Props, resource: Resource) -> Violations:
    rules = web_acl_rules(props)
    problems, present = [], set()
    for rule in rules:
        group = (rule.get("statement") or {}).get("managedRuleGroupStatement") or {}
        name = group.get("name")
        if group.get("vendorName") != "AWS" or name not in REQUIRED_MANAGED_GROUPS:
            continue
        present.add(name)
        if "none" not in (rule.get("overrideAction") or {}):
            problems.append(f"{name}: overrideAction {next(iter(rule.get('overrideAction') or {}), 'unset')}, not none")
        weakened = [
            str((o or {}).get("name"))
            for o in as_list(group.get("ruleActionOverrides"))
            if "block" not in ((o or {}).get("actionToUse") or {})
        ]
        if weakened or group.get("excludedRules"):
            problems.append(f"{name}: rules overridden to not block: {', '.join(weakened) or 'excludedRules'}")
        scope = group.get("scopeDownStatement")
        skipped = [p for p in GENERIC_PROBES if scope is not None and matches(scope, p) is not True]
        if skipped:
            problems.append(f"{name}: scoped down so it never inspects {', '.join(skipped)}")
        allowed = _allow_before(rules, rule, GENERIC_PROBES)
        if allowed:
            problems.append(f"{name}: evaluated after {allowed}, which may allow requests first")
    missing = [g for g in REQUIRED_MANAGED_GROUPS if g not in present]
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
def waf_logging_enabled(stack: Stack) -> Iterator[Finding]:
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
def waf_logging_redacts_credentials(props: Props, resource: Resource) -> Violations:
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
def edge_web_acl_attached(stack: Stack) -> Iterator[Finding]:
    acls = stack.of_type(t.WEB_ACL)
    for distribution in stack.of_type(t.DISTRIBUTION):
        if not refers_to_any(distribution, "webAclId", acls, "arn", "id"):
            acl_id = distribution.props.get("webAclId")
            yield (
                distribution.urn,
                (
                    f"webAclId = {acl_id}: not a web ACL of this stack"
                    if acl_id
                    else "webAclId is not set: the distribution is unprotected"
                ),
            )


def _logged(props: Props) -> str | None:
    """Why a blocked request would not be logged (None when it is). Filters are evaluated in order,
    the first that matches decides, else the default behaviour
    (https://docs.aws.amazon.com/waf/latest/developerguide/logging-management.html#logging-management-filtering).
    A label condition may match a blocked request: a DROP filter with one is taken to drop it."""
    logging_filter = get_path(props, "loggingFilter")
    if not logging_filter:
        return None
    for index, entry in enumerate(as_list(logging_filter.get("filters"))):
        entry = entry or {}
        results: list[bool | None] = []
        for condition in as_list(entry.get("conditions")):
            condition = condition or {}
            if "actionCondition" in condition:
                results.append(str((condition["actionCondition"] or {}).get("action", "")).upper() == "BLOCK")
            else:
                results.append(None)
        behaviour = str(entry.get("behavior", "")).upper()
        if str(entry.get("requirement", "")).upper() == "MEETS_ALL":
            verdict = False if False in results else None if None in results else bool(results)
        else:
            verdict = True if True in results else None if None in results else False
        if verdict is None:
            verdict = behaviour == "DROP"  # the unsafe reading
        if verdict:
            return None if behaviour == "KEEP" else f"filters[{index}] drops blocked requests"
    if str(logging_filter.get("defaultBehavior", "")).upper() == "DROP":
        return "defaultBehavior DROP and no filter keeps blocked requests"
    return None


@resource_rule(
    name="waf-logging-keeps-blocked",
    description="WAF logging keeps every blocked request (no logging filter drops BLOCK).",
    resource_types=(t.WEB_ACL_LOGGING,),
    severity="high",
    remediation="Remove the logging_filter, or make its first matching filter for action BLOCK a KEEP.",
    url="https://docs.aws.amazon.com/waf/latest/developerguide/logging-management.html",
    compliance=((PCI, "10.2.1"), (SOC2, "CC7.2"), (FSBP, "WAF.11")),
    evidence=(
        "loggingFilter.defaultBehavior",
        "loggingFilter.filters.behavior",
        "loggingFilter.filters.conditions.actionCondition.action",
    ),
)
def waf_logging_keeps_blocked(props: Props, resource: Resource) -> Violations:
    return _logged(props)


# CloudFront's origin SSL protocols (the viewer side is cloudfront-minimum-tls); only TLSv1.2 is current:
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/secure-connections-supported-ciphers-cloudfront-to-origin.html
ORIGIN_TLS = ("TLSv1.2",)


@resource_rule(
    name="cloudfront-origin-https-only",
    description="CloudFront reaches every custom origin over HTTPS only, with TLS 1.2.",
    resource_types=(t.DISTRIBUTION,),
    severity="high",
    remediation="Set custom_origin_config.origin_protocol_policy = https-only and origin_ssl_protocols = [TLSv1.2] "
    "on every origin.",
    url="https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-https-cloudfront-to-custom-origin.html",
    compliance=((PCI, "4.2.1"), (SOC2, "CC6.7"), (GDPR, "Art. 32(1)(a)"), (FSBP, "CloudFront.9")),
    evidence=(
        "origins.originId",
        "origins.customOriginConfig.originProtocolPolicy",
        "origins.customOriginConfig.originSslProtocols",
    ),
)
def cloudfront_origin_https_only(props: Props, resource: Resource) -> Violations:
    problems = []
    origins = get_path(props, "origins") or []
    if not origins:
        return "no origins to judge"
    for index, _ in enumerate(origins):
        custom = get_path(props, f"origins.{index}.customOriginConfig")
        origin = get_path(props, f"origins.{index}.originId") or index
        if custom is None:
            if get_path(props, f"origins.{index}.s3OriginConfig") is None and not get_path(
                props, f"origins.{index}.originAccessControlId"
            ):
                problems.append(f"origin {origin}: neither a custom nor an S3 origin; cannot be judged")
            continue
        policy = get_path(props, f"origins.{index}.customOriginConfig.originProtocolPolicy")
        if policy != "https-only":
            problems.append(f"origin {origin}: originProtocolPolicy {policy}, not https-only")
        protocols = [str(p) for p in as_list(get_path(props, f"origins.{index}.customOriginConfig.originSslProtocols"))]
        old = [p for p in protocols if p not in ORIGIN_TLS]
        if old or not protocols:
            problems.append(f"origin {origin}: originSslProtocols {protocols} allow more than TLSv1.2")
    return problems


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
def cloudfront_response_headers_policy(props: Props, resource: Resource) -> Violations:
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
    evidence=(
        "securityHeadersConfig.strictTransportSecurity.accessControlMaxAgeSec",
        "securityHeadersConfig.strictTransportSecurity.includeSubdomains",
        "securityHeadersConfig.contentTypeOptions",
        "securityHeadersConfig.frameOptions.frameOption",
        "securityHeadersConfig.referrerPolicy.referrerPolicy",
    ),
)
def cloudfront_security_headers(props: Props, resource: Resource) -> Violations:
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


def _origin_protected_otherwise(origin: Mapping[str, Any]) -> bool:
    """S3 origins prove CloudFront with origin access control (or a legacy identity); VPC origins are
    not reachable from the internet at all. Only custom origins need the header."""
    return bool(
        origin.get("originAccessControlId")
        or get_path(origin, "s3OriginConfig.originAccessIdentity")
        or origin.get("vpcOriginConfig")
    )


def _verify_value_problem(value: Any) -> str | None:
    # A secret is what this header must be (whether it is generated is judged by
    # cloudfront-origin-verification-generated), so a secret passes here; only a value unknown until
    # deploy cannot be judged.
    if value == SECRET_TEXT or (isinstance(value, dict) and SECRET_SIG in value):
        return None
    if is_unknown(value):
        raise Unknown("origins.customHeaders.value")
    if not isinstance(value, str) or len(value) < MIN_ORIGIN_VERIFY_LENGTH:
        return (
            f"value has {len(value) if isinstance(value, str) else 0} characters, fewer than {MIN_ORIGIN_VERIFY_LENGTH}"
        )
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
def cloudfront_origin_verification_header(props: Props, resource: Resource) -> Violations:
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
            problems.append(
                f"origin {label} ({origin.get('domainName')}): no X-Origin-Verify header, so a "
                "direct call to the origin skips the WAF"
            )
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
def cloudfront_origin_verification_generated(stack: Stack) -> Iterator[Finding]:
    # A literal (even a long one, even the text a preview prints for secrets) is no shared secret: it
    # sits in the repository. The engine records what an input was computed from; the origins must
    # depend on a generator. Distributions whose origins need no header (S3 with origin access control,
    # VPC origins) are judged by cloudfront-origin-verification-header, not here.
    generators = {r.urn for r in stack.of_type(*t.RANDOM_SECRET_SOURCES)}
    for distribution in stack.of_type(t.DISTRIBUTION):
        origins = distribution.props.get("origins")
        if (
            isinstance(origins, list)
            and origins
            and all(isinstance(o, dict) and _origin_protected_otherwise(o) for o in origins)
        ):
            continue
        if set(distribution.property_dependencies.get("origins", ())) & generators:
            continue
        yield (
            distribution.urn,
            (
                "the origins' X-Origin-Verify value does not come from a generated secret "
                "(no RandomPassword/RandomBytes in their property dependencies)"
            ),
        )
