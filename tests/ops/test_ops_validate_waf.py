"""The live web ACL is judged by the pack's own WAF rules: by meaning (order, action, scope-down, text
transformations), not by a rule's name, with the verdict and message the plan would get.

The converter (scripts.ops.waf_shape) is held to both references: the WAFv2 API model botocore ships
(https://docs.aws.amazon.com/waf/latest/APIReference/API_GetWebACL.html; a botocore Stubber refuses a
response that does not fit it) and the inputs pulumi-aws gives the stack's WebAcl (the offline
preview). moto answers the drift scenarios; Firewall Manager rule groups, which moto cannot create,
are fed to the converter directly.
"""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scripts.cli import run
from scripts.ops import expectations as expect
from scripts.ops import validate_deployment, waf_shape
from tests.ops.ops_fixtures import edit_web_acl_rules

WEB_ACL = "aws:wafv2/webAcl:WebAcl"
ACL_NAME = "tradesense-prod-edge"


# -- the converter ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("api", "pulumi"),
    [
        # pulumi_aws/wafv2/_inputs.py getter names for the API members of
        # https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html and its neighbours
        ("RateBasedStatement", "rateBasedStatement"),
        ("EvaluationWindowSec", "evaluationWindowSec"),
        ("ForwardedIPConfig", "forwardedIpConfig"),
        ("IPSetReferenceStatement", "ipSetReferenceStatement"),
        ("IPSetForwardedIPConfig", "ipSetForwardedIpConfig"),
        ("ScopeDownStatement", "scopeDownStatement"),
        ("TextTransformations", "textTransformations"),
        ("JA3Fingerprint", "ja3Fingerprint"),
        ("HTTPMethod", "httpMethod"),
        ("IP", "ip"),
        ("ARN", "arn"),
        ("AWSManagedRulesATPRuleSet", "awsManagedRulesAtpRuleSet"),
        ("CloudWatchMetricsEnabled", "cloudwatchMetricsEnabled"),
        ("AWSManagedRulesAntiDDoSRuleSet", "awsManagedRulesAntiDdosRuleSet"),
    ],
)
def test_api_names_become_pulumi_input_names(api, pulumi):
    assert waf_shape.pulumi_name(api) == pulumi


def test_every_renamed_name_is_a_pulumi_input_name():
    # the exceptions to xform_name are real getters of pulumi-aws's wafv2 inputs, not guesses
    import pulumi_aws.wafv2._inputs as inputs

    text = open(inputs.__file__).read()
    for name in waf_shape.RENAMED.values():
        assert f'@pulumi.getter(name="{name}")' in text, name


def test_search_strings_become_text():
    # boto3 hands a Blob back as bytes (API_ByteMatchStatement.html); moto's server as "b'...'" text
    statement = {"ByteMatchStatement": {"SearchString": b"/api/auth/login", "PositionalConstraint": "EXACTLY"}}
    assert waf_shape.to_pulumi(statement) == {
        "byteMatchStatement": {"searchString": "/api/auth/login", "positionalConstraint": "EXACTLY"}
    }
    assert waf_shape.to_pulumi({"SearchString": "b'/api/'"}) == {"searchString": "/api/"}
    assert waf_shape.to_pulumi({"SearchString": "/plain"}) == {"searchString": "/plain"}


def _to_api(value: Any, shape: Any, unmatched: list[str], path: str = "") -> Any:
    """The inverse, driven by botocore's WAFv2 model: each member of `shape` is looked up under the
    name the converter gives it. Pulumi keys no member claims are collected in `unmatched`."""
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for member, member_shape in shape.members.items():
            key = waf_shape.pulumi_name(member)
            if key in value:
                out[member] = _to_api(value[key], member_shape, unmatched, f"{path}.{key}")
        unmatched += [f"{path}.{k}" for k in value if k not in {waf_shape.pulumi_name(m) for m in shape.members}]
        return out
    if kind == "list":
        return [_to_api(item, shape.member, unmatched, path) for item in value]
    if kind == "blob":
        return value.encode()
    if kind in ("integer", "long"):
        assert float(value).is_integer(), path
        return int(value)
    return value


def _numbers_as_floats(value: Any) -> Any:
    """The engine sends every number as a float (FACTS.md); the API's integers compare equal as floats."""
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


@pytest.fixture(scope="module")
def preview_acl(prod_preview) -> dict[str, Any]:
    (acl,) = [step["newState"]["inputs"] for step in prod_preview["steps"] if step["newState"]["type"] == WEB_ACL]
    return acl


def test_the_previews_web_acl_round_trips_through_the_api_shape(preview_acl):
    """preview inputs -> GetWebACL response (validated by botocore against AWS's model) -> converter:
    the same rules, and the pack's verdict on the converted ACL is its verdict on the plan."""
    waf = boto3.client("wafv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    model = waf.meta.service_model.shape_for("WebACL")
    unmatched: list[str] = []
    api = _to_api(preview_acl, model, unmatched)
    # Every input the stack gives its WebAcl has an API member (tags and scope are request parameters
    # of CreateWebACL, not members of WebACL: API_CreateWebACL.html).
    assert sorted(unmatched) == [".scope", ".tags"]
    api.update(Id="8c692812-f932-715d-b796-62ed701ca35f", ARN="arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/y")
    assert api["Rules"][0]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["OrStatement"]["Statements"][0][
        "ByteMatchStatement"
    ]["TextTransformations"] == [{"Type": "LOWERCASE", "Priority": 0}]
    with Stubber(waf) as stub:  # raises if the document is not a valid GetWebACL response
        stub.add_response(
            "get_web_acl", {"WebACL": api, "LockToken": "t"}, {"Name": "x", "Scope": "CLOUDFRONT", "Id": "y"}
        )
        live = waf.get_web_acl(Name="x", Scope="CLOUDFRONT", Id="y")["WebACL"]
    converted = waf_shape.web_acl_inputs(live)
    assert _numbers_as_floats(converted["rules"]) == _numbers_as_floats(preview_acl["rules"])
    assert converted["defaultAction"] == preview_acl["defaultAction"]
    assert converted["visibilityConfig"] == preview_acl["visibilityConfig"]
    config = expect.PackConfig()
    for rule in validate_deployment.WEB_ACL_RULES:
        on_plan = expect.judge(rule, WEB_ACL, ACL_NAME, preview_acl, config.for_rule(rule))
        assert expect.judge(rule, WEB_ACL, ACL_NAME, converted, config.for_rule(rule)) == on_plan == [], rule


def test_a_weakened_preview_acl_gets_the_same_verdict_converted(preview_acl):
    # the round trip carries what makes the verdict: Count instead of Block fails both the same way
    weak = copy.deepcopy(preview_acl)
    weak["rules"][0]["action"] = {"count": {}}
    model = boto3.client("wafv2", region_name="us-east-1").meta.service_model.shape_for("WebACL")
    converted = waf_shape.web_acl_inputs(_to_api(weak, model, []))
    config = expect.PackConfig().for_rule("waf-login-rate-limit")
    on_plan = expect.judge("waf-login-rate-limit", WEB_ACL, ACL_NAME, weak, config)
    assert on_plan and expect.judge("waf-login-rate-limit", WEB_ACL, ACL_NAME, converted, config) == on_plan
    assert "action count, not block" in on_plan[0]


def _fms_group(name: str, priority: int, statement: dict) -> dict:
    # https://docs.aws.amazon.com/waf/latest/APIReference/API_FirewallManagerRuleGroup.html
    return {
        "Name": name,
        "Priority": priority,
        "FirewallManagerStatement": statement,
        "OverrideAction": {"None": {}},
        "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name},
    }


def test_firewall_manager_groups_are_evaluated_around_the_acls_own_rules(preview_acl):
    """Pre-process groups run before every rule of the ACL (API_WebACL.html): one that may allow
    requests pre-empts the rate rules, as an Allow rule at priority 0 would."""
    model = boto3.client("wafv2", region_name="us-east-1").meta.service_model.shape_for("WebACL")
    api = _to_api(preview_acl, model, [])
    reference = {"RuleGroupReferenceStatement": {"ARN": "arn:aws:wafv2:us-east-1:1:global/rulegroup/allow-all/z"}}
    api["PreProcessFirewallManagerRuleGroups"] = [_fms_group("org-allow", 1, reference)]
    api["PostProcessFirewallManagerRuleGroups"] = [_fms_group("org-last", 0, reference)]
    props = waf_shape.web_acl_inputs(api)
    names = [r["name"] for r in sorted(props["rules"], key=lambda r: r["priority"])]
    assert names[0] == "firewall-manager:org-allow" and names[-1] == "firewall-manager:org-last"
    assert names[1:-1] == [r["name"] for r in preview_acl["rules"]]
    problems = expect.judge("waf-login-rate-limit", WEB_ACL, ACL_NAME, props, {})
    assert problems and "evaluated after firewall-manager:org-allow" in problems[0]


# -- the validator on a live (moto) web ACL -----------------------------------------------------------
def _validate(capsys, *args: str) -> tuple[int, dict[str, list[str]]]:
    code = run(validate_deployment.main, ["--stack", "prod", *args])
    failed: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("FAIL"):
            _, check, _, found = line.split(maxsplit=3)
            failed.setdefault(check, []).append(found)
    return code, failed


def _byte_match(path: str, transformation: str = "LOWERCASE") -> dict:
    return {
        "ByteMatchStatement": {
            "SearchString": path.encode(),
            "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [{"Priority": 0, "Type": transformation}],
            "PositionalConstraint": "STARTS_WITH",
        }
    }


def _allow_first(rules: list[dict]) -> list[dict]:
    """A partner allow-list added in the console, evaluated before the rate rules (lower priority)."""
    for rule in rules:
        rule["Priority"] += 10
    allow = {
        "Name": "allow-partner-sso",
        "Priority": 0,
        "Action": {"Allow": {}},
        "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "p"},
        "Statement": _byte_match("/api/auth/"),
    }
    return [allow, *rules]


def _renamed(rules: list[dict]) -> list[dict]:
    for rule in rules:
        if "RateBasedStatement" in rule["Statement"]:
            rule["Name"] = "throttle-" + str(rule["Priority"])
    return rules


def _login_rule(rules: list[dict]) -> dict:
    (rule,) = [r for r in rules if r["Name"] == "login-rate-limit"]
    return rule


def _count_mode(rules: list[dict]) -> list[dict]:
    _login_rule(rules)["Action"] = {"Count": {}}
    return rules


def _case_sensitive(rules: list[dict]) -> list[dict]:
    scope = _login_rule(rules)["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    for statement in scope["OrStatement"]["Statements"]:
        statement["ByteMatchStatement"]["TextTransformations"] = [{"Priority": 0, "Type": "NONE"}]
    return rules


def _forwarded_ip(rules: list[dict]) -> list[dict]:
    rate = _login_rule(rules)["Statement"]["RateBasedStatement"]
    rate["AggregateKeyType"] = "FORWARDED_IP"
    rate["ForwardedIPConfig"] = {"HeaderName": "X-Forwarded-For", "FallbackBehavior": "MATCH"}
    return rules


def _without_login_rule(rules: list[dict]) -> list[dict]:
    return [r for r in rules if r["Name"] != "login-rate-limit"]


@pytest.mark.parametrize(
    ("change", "failed", "message"),
    [
        (
            _allow_first,
            {"waf-login-rate-limit", "waf-managed-rule-groups"},
            "evaluated after allow-partner-sso, which may allow those requests first",
        ),
        (_count_mode, {"waf-login-rate-limit"}, "rule login-rate-limit: action count, not block"),
        (_case_sensitive, {"waf-login-rate-limit"}, "its scope-down does not match /API/AUTH/LOGIN"),
        (_forwarded_ip, {"waf-login-rate-limit"}, "aggregates on X-Forwarded-For, which the client writes"),
        (_without_login_rule, {"waf-login-rate-limit"}, "no rate-based rule blocks login floods"),
    ],
    ids=["allow-rule-pre-empts-login", "count-mode", "case-sensitive-scope-down", "forwarded-ip-key", "missing"],
)
def test_a_weakened_live_acl_fails_with_the_packs_message(shared_deployment, capsys, change, failed, message):
    undo = edit_web_acl_rules(shared_deployment, change)
    try:
        code, found = _validate(capsys)
    finally:
        undo()
    assert code == 1
    assert set(found) == failed
    assert message in found["waf-login-rate-limit"][0]


def test_renamed_rate_rules_with_the_same_meaning_pass(shared_deployment, capsys):
    undo = edit_web_acl_rules(shared_deployment, _renamed)
    try:
        code, found = _validate(capsys)
    finally:
        undo()
    assert (code, found) == (0, {})


def test_the_live_acl_passes_every_waf_rule_of_the_pack(shared_deployment, capsys):
    code = run(validate_deployment.main, ["--stack", "prod"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.split()[1:2] and "waf-" in line.split()[1]]
    assert code == 0
    judged = {line.split()[1] for line in lines if line.startswith("PASS")}
    assert {*validate_deployment.WEB_ACL_RULES, *validate_deployment.WAF_LOGGING_RULES} <= judged
    (login,) = [line for line in lines if line.split()[1] == "waf-login-rate-limit"]
    assert "login-rate-limit 10 per 120s block" in login


def test_the_checks_said_to_be_judged_by_the_pack_rule_are(shared_deployment, monkeypatch):
    """docs/operations.md marks BY_PACK_RULE rows `pack rule`: each is the pack's function, called."""
    from scripts.ops.aws import Aws, Discovery
    from stacks.settings import load_stack_settings

    called: set[str] = set()
    judge = expect.judge

    def recording(rule, *args, **kwargs):
        called.add(rule)
        return judge(rule, *args, **kwargs)

    monkeypatch.setattr(expect, "judge", recording)
    settings = load_stack_settings("prod")
    aws = Aws(region=settings.region, endpoint_url=shared_deployment.endpoint)
    report = validate_deployment.validate(Discovery(aws, settings.project, settings.stack), settings)
    assert called == validate_deployment.BY_PACK_RULE
    assert {c.check for c in report.checks} >= called


def test_a_logging_filter_that_drops_blocked_requests_fails_live(shared_deployment, capsys):
    # API_LoggingFilter / API_Filter.html: the first filter whose conditions match decides KEEP or DROP
    waf = shared_deployment.client("wafv2", "us-east-1")
    saved = waf.get_logging_configuration(ResourceArn=shared_deployment.web_acl["ARN"])["LoggingConfiguration"]
    saved.pop("ManagedByFirewallManager", None)
    saved = {k: v for k, v in saved.items() if v is not None}
    dropping = {
        "DefaultBehavior": "KEEP",
        "Filters": [
            {"Behavior": "DROP", "Requirement": "MEETS_ANY", "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}]}
        ],
    }
    waf.put_logging_configuration(LoggingConfiguration={**saved, "LoggingFilter": dropping})
    try:
        code, found = _validate(capsys)
    finally:
        waf.put_logging_configuration(LoggingConfiguration=saved)
    assert code == 1
    assert found == {"waf-logging-keeps-blocked": ["filters[0] drops blocked requests"]}
