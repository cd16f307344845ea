"""The live WAF as the policy pack sees it: a WAFv2 API document (PascalCase) as Pulumi's inputs (camelCase).

The pack's WAF rules judge an `aws.wafv2.WebAcl` (and `WebAclLoggingConfiguration`) by their Pulumi
inputs; the live validator reads the same objects with `wafv2:GetWebACL` / `GetLoggingConfiguration`.
Converting the live document into the inputs' shape lets the live check call the pack's own rule
functions, so a rule renamed, pre-empted by an earlier Allow, put in Count mode or scoped down in the
console gets the verdict (and message) the plan would get.

The two shapes, from their references:
- API: `GetWebACL` returns `WebACL` (https://docs.aws.amazon.com/waf/latest/APIReference/API_GetWebACL.html,
  https://docs.aws.amazon.com/waf/latest/APIReference/API_WebACL.html) whose `Rules` are `Rule`s
  (Name, Priority, Statement, Action | OverrideAction, VisibilityConfig, RuleLabels:
  https://docs.aws.amazon.com/waf/latest/APIReference/API_Rule.html); a `RateBasedStatement` has
  Limit, EvaluationWindowSec, AggregateKeyType, ForwardedIPConfig, CustomKeys and ScopeDownStatement
  (https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html); a
  `TextTransformation` is {Priority, Type}, applied lowest priority first
  (https://docs.aws.amazon.com/waf/latest/APIReference/API_TextTransformation.html); a
  `ByteMatchStatement`'s SearchString is a Blob, bytes in boto3
  (https://docs.aws.amazon.com/waf/latest/APIReference/API_ByteMatchStatement.html).
- Pulumi: pulumi_aws/wafv2/_inputs.py (`WebAclRuleArgs`, `WebAclRuleStatementRateBasedStatementArgs`,
  ...): the Terraform provider's snake_case names in camelCase, e.g. `forwarded_ip_config` ->
  `forwardedIpConfig`, `ip_set_reference_statement`, `ja3_fingerprint`, custom key `ip`; blobs are
  strings. botocore's own `xform_name` gives exactly those snake_case names from the API's, except
  for the names in `RENAMED` (Terraform spells them differently).

The logging configuration (`GetLoggingConfiguration`,
https://docs.aws.amazon.com/waf/latest/APIReference/API_LoggingConfiguration.html: RedactedFields,
LoggingFilter {DefaultBehavior, Filters [{Behavior, Requirement, Conditions [{ActionCondition}]}]},
https://docs.aws.amazon.com/waf/latest/APIReference/API_Filter.html) converts the same way into the
inputs of `aws.wafv2.WebAclLoggingConfiguration` (`redactedFields`, `loggingFilter.filters`).

Firewall Manager: a web ACL may also hold `PreProcessFirewallManagerRuleGroups`, evaluated before
every rule of the ACL, and `PostProcessFirewallManagerRuleGroups`, evaluated after them
(API_WebACL.html above; https://docs.aws.amazon.com/waf/latest/developerguide/waf-policies-rule-groups.html).
Pulumi cannot declare them, so a plan never has them; live they are real rules. They are placed in
`rules` before (and after) the ACL's own rules, in their order, so the pack judges evaluation order
with them in it (a Firewall Manager rule group that may Allow login requests pre-empts the rate rule).
"""

from __future__ import annotations

from typing import Any

from botocore import xform_name

# API names whose Pulumi (Terraform) name is not xform_name's snake_case in camelCase
# (pulumi_aws/wafv2/_inputs.py: `cloudwatch_metrics_enabled`, `aws_managed_rules_anti_ddos_rule_set`).
RENAMED = {
    "CloudWatchMetricsEnabled": "cloudwatchMetricsEnabled",
    "AWSManagedRulesAntiDDoSRuleSet": "awsManagedRulesAntiDdosRuleSet",
}
# Members that are a map from a name the user chose (not a shape's member names) in the API and a
# list of {key, ...} in Pulumi (`custom_response_bodies`).
KEYED_MAPS = {"CustomResponseBodies": "key"}
FMS_PRE = "PreProcessFirewallManagerRuleGroups"
FMS_POST = "PostProcessFirewallManagerRuleGroups"
FMS_RULE_PREFIX = "firewall-manager:"


def pulumi_name(api_name: str) -> str:
    """`ForwardedIPConfig` -> `forwardedIpConfig`, as pulumi-aws names the input."""
    if api_name in RENAMED:
        return RENAMED[api_name]
    head, *rest = xform_name(api_name).split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    # moto's server answers a blob with the text of Python's bytes repr ("b'/api/'"); AWS sends base64,
    # which botocore decodes to bytes above.
    if value[:2] in ("b'", 'b"') and value[-1:] == value[1:2]:
        return value[2:-1]
    return value


def to_pulumi(value: Any) -> Any:
    """Any WAFv2 API value (a statement, a rule, a logging configuration) in Pulumi's input shape."""
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key in KEYED_MAPS and isinstance(item, dict):
                result[pulumi_name(key)] = [{KEYED_MAPS[key]: k, **to_pulumi(v)} for k, v in item.items()]
            elif key == "SearchString" and isinstance(item, (bytes, str)):
                result["searchString"] = _text(item)
            else:
                result[pulumi_name(key)] = to_pulumi(item)
        return result
    if isinstance(value, list):
        return [to_pulumi(item) for item in value]
    if isinstance(value, bytes):
        return _text(value)
    return value


def _fms_rule(group: dict, priority: float) -> dict[str, Any]:
    """A Firewall Manager rule group as the rule it acts as (its statement is one rule group reference)."""
    rule = to_pulumi({k: v for k, v in group.items() if k not in ("FirewallManagerStatement", "Name", "Priority")})
    return {
        **rule,
        "name": FMS_RULE_PREFIX + str(group.get("Name")),
        "priority": priority,
        "statement": to_pulumi(group.get("FirewallManagerStatement") or {}),
    }


def web_acl_inputs(web_acl: dict) -> dict[str, Any]:
    """`GetWebACL`'s `WebACL` as the inputs of the `aws.wafv2.WebAcl` that would declare it, with the
    Firewall Manager rule groups as rules in their evaluation order."""
    props = to_pulumi({k: v for k, v in web_acl.items() if k not in (FMS_PRE, FMS_POST)})
    own = props.get("rules") or []
    pre = sorted(web_acl.get(FMS_PRE) or [], key=lambda g: g.get("Priority", 0))
    post = sorted(web_acl.get(FMS_POST) or [], key=lambda g: g.get("Priority", 0))
    if pre or post:
        priorities = [r["priority"] for r in own if isinstance(r.get("priority"), (int, float))] or [0]
        first, last = min(priorities), max(priorities)
        props["rules"] = (
            [_fms_rule(g, first - len(pre) + i) for i, g in enumerate(pre)]
            + own
            + [_fms_rule(g, last + 1 + i) for i, g in enumerate(post)]
        )
    return props
