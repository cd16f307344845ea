"""The pack compares WAF limits with the config the engine sends (ConfigureStack), as under the CLI."""

import copy
import json

from scripts.report import policy_report
def report_for(tmp_path, document):
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(document))
    return policy_report.build_report(str(path))


def waf_findings(report):
    return {f.rule_id: f for f in report.findings if f.rule_id in ("waf-api-rate-limit", "waf-login-rate-limit")}


def test_limits_come_from_the_engine_config_of_the_preview(tmp_path, prod_preview):
    findings = waf_findings(report_for(tmp_path, prod_preview))
    assert {f.status for f in findings.values()} == {"pass"}


def test_a_tighter_engine_config_makes_the_deployed_rule_too_loose(tmp_path, prod_preview):
    document = copy.deepcopy(prod_preview)
    document["config"]["tradesense:edge"]["apiRateLimit"] = {"limit": 50, "windowSeconds": 60}
    findings = waf_findings(report_for(tmp_path, document))
    assert findings["waf-api-rate-limit"].status == "fail"
    assert "100 per 60 s is looser than 50 per 60 s (engine config" in findings["waf-api-rate-limit"].message
    assert findings["waf-login-rate-limit"].status == "pass"


def test_without_engine_config_or_stack_file_the_rules_fail_closed(tmp_path, prod_preview):
    text = json.dumps(prod_preview).replace("urn:pulumi:prod::", "urn:pulumi:elsewhere::")
    document = json.loads(text.replace('"Stack": "prod"', '"Stack": "elsewhere"'))
    document["config"] = {}
    findings = waf_findings(report_for(tmp_path, document))
    assert findings["waf-login-rate-limit"].status == "fail"
    assert "fallback: AWS WAF minimum 10 per 300 s" in findings["waf-login-rate-limit"].message
