"""Thresholds come from the pack's own CrossGuard config (secure defaults, `--policy-pack-config` may only
make them stricter), never from the stack config the change under review may edit."""

import copy
import json

from google.protobuf import empty_pb2

from scripts.report import analyzer, policy_report
from tradesense_policies.floors import FLOORS, effective


def report_for(tmp_path, document, config=None):
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(document))
    config_path = None
    if config is not None:
        config_path = tmp_path / "policy-config.json"
        config_path.write_text(json.dumps(config))
    return policy_report.build_report(str(path), policy_config_path=str(config_path) if config_path else None)


def waf_findings(report):
    return {f.rule_id: f for f in report.findings if f.rule_id in ("waf-api-rate-limit", "waf-login-rate-limit")}


def test_a_looser_stack_config_does_not_lower_the_floor(tmp_path, prod_preview):
    """The change edits both the stack config and the rule: the pack still holds its own floor."""
    document = copy.deepcopy(prod_preview)
    document["config"]["tradesense:edge"]["apiRateLimit"] = {"limit": 1000, "windowSeconds": 60}
    for step in document["steps"]:
        if step["newState"]["type"] == "aws:wafv2/webAcl:WebAcl":
            for props in (step["newState"]["inputs"], step["newState"]["outputs"]):
                for rule in props["rules"]:
                    if rule["name"] == "api-rate-limit":
                        rule["statement"]["rateBasedStatement"]["limit"] = 1000
    findings = waf_findings(report_for(tmp_path, document))
    assert findings["waf-api-rate-limit"].status == "fail"
    assert "looser than 100 per minute (pack config)" in findings["waf-api-rate-limit"].message


def test_a_stricter_policy_pack_config_fails_the_deployed_rule(tmp_path, prod_preview):
    findings = waf_findings(report_for(tmp_path, prod_preview, {"waf-api-rate-limit": {"apiMaxRequestsPerMinute": 50}}))
    assert findings["waf-api-rate-limit"].status == "fail"
    assert "looser than 50 per minute" in findings["waf-api-rate-limit"].message
    assert findings["waf-login-rate-limit"].status == "pass"


def test_a_looser_policy_pack_config_is_clamped_to_the_floor():
    assert effective({"apiMaxRequestsPerMinute": 10_000}, "apiMaxRequestsPerMinute") == 100
    assert effective({"minBackupRetentionDays": 1}, "minBackupRetentionDays") == 30
    assert effective({"minBackupRetentionDays": 35}, "minBackupRetentionDays") == 35
    assert effective({"loginPaths": ["/api/v2/login"]}, "loginPaths")[-1] == "/api/v2/login"
    assert "/api/auth/login" in effective({"loginPaths": ["/api/v2/login"]}, "loginPaths")


def test_prod_passes_with_the_defaults_and_fails_a_raised_backup_floor(tmp_path, prod_preview):
    report = report_for(tmp_path, prod_preview, {"rds-backup-retention": {"minBackupRetentionDays": 35}})
    failing = {f.rule_id for f in report.findings if f.status == "fail"}
    assert failing == {"rds-backup-retention"}


def test_the_schema_the_engine_validates_refuses_a_looser_value(prod_input):
    """GetAnalyzerInfo carries each policy's config schema; its minimum/maximum is the floor, so
    `pulumi up --policy-pack-config` rejects a looser value before the pack runs."""
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc as pb_grpc

    proc = analyzer.spawn_pack(analyzer.PACK_DIR, {})
    try:
        port = analyzer.read_port(proc)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = pb_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty())
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.error_file.close()
    from google.protobuf import json_format

    schemas = {p.name: json_format.MessageToDict(p.configSchema.properties) for p in info.policies}
    floor = schemas["rds-backup-retention"]["minBackupRetentionDays"]
    assert floor["minimum"] == floor["default"] == FLOORS["minBackupRetentionDays"].default == 30
    assert schemas["waf-login-rate-limit"]["loginMaxRequestsPerMinute"]["maximum"] == 5
    assert schemas["rds-force-ssl"] == {}
