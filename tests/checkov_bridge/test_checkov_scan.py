"""checkov end to end: the insecure stack fails exactly where it should; prod is clean or waived."""

from __future__ import annotations

import json

from scripts.checkov_bridge import scan as checkov_scan
from scripts.report.findings import Finding


def _fails(result, name):
    return {f.rule_id for f in result.findings if f.status == "fail" and f.urn.endswith(f"::{name}")}


def test_unencrypted_public_database_fails(insecure_scan):
    assert {"CKV_AWS_16", "CKV_AWS_17"} <= _fails(insecure_scan, "open-db")


def test_public_bucket_fails(insecure_scan):
    assert {"CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"} <= _fails(insecure_scan, "public-bucket-pab")


def test_web_acl_without_logging_fails(insecure_scan):
    assert "CKV2_AWS_31" in _fails(insecure_scan, "unlogged-acl")


def test_findings_are_mapped_to_urns(insecure_scan):
    assert all(isinstance(f, Finding) and f.source == "checkov" for f in insecure_scan)
    db = next(f for f in insecure_scan.findings if f.rule_id == "CKV_AWS_16")
    assert db.urn == "urn:pulumi:test::tradesense::aws:rds/instance:Instance::open-db"
    assert db.resource_type == "aws:rds/instance:Instance"
    assert db.evidence["terraform_address"] == "aws_db_instance.open-db"
    assert db.url.startswith("https://") and db.severity in ("low", "medium", "high", "critical")
    assert db.blocks_deploy


def test_secure_settings_pass_too(insecure_scan):
    passed = {(f.rule_id, f.urn.rsplit("::", 1)[1]) for f in insecure_scan.findings if f.status == "pass"}
    assert ("CKV_AWS_192", "unlogged-acl") not in passed  # no managed rule groups: log4j check fails
    assert any(name == "open-db" for _, name in passed)


def test_waivers_turn_fails_into_waived(insecure_scan, tmp_path):
    import datetime as dt

    waivers_file = tmp_path / "w.yaml"
    waivers_file.write_text(
        "waivers:\n  - policy: CKV_AWS_16\n    resources: [open-db]\n    reason: test\n"
        "    approved_by: platform-lead@tradesense.io\n    expires: 2027-01-01\n"
    )
    waived = checkov_scan.apply_waivers(
        insecure_scan.findings, checkov_scan.load_waivers([waivers_file]), dt.date(2026, 1, 1)
    )
    statuses = {f.rule_id: f.status for f in waived if f.urn.endswith("::open-db")}
    assert statuses["CKV_AWS_16"] == "waived" and statuses["CKV_AWS_17"] == "fail"
    late = checkov_scan.apply_waivers(
        insecure_scan.findings, checkov_scan.load_waivers([waivers_file]), dt.date(2100, 1, 1)
    )
    assert {f.status for f in late if f.rule_id == "CKV_AWS_16"} == {"fail"}


def test_prod_has_no_unwaived_failures(prod_scan):
    failures = [f"{f.rule_id} {f.urn}" for f in prod_scan.failures]
    assert failures == []
    assert prod_scan.unknown_types == []
    assert len([f for f in prod_scan.findings if f.status == "pass"]) > 500


def test_every_prod_waiver_is_used_and_explained(prod_scan):
    waived = [f for f in prod_scan.findings if f.status == "waived"]
    assert waived
    assert all(len(f.waiver["reason"]) > 40 and f.waiver["approved_by"] for f in waived)
    used = {(f.waiver["policy"], tuple(f.waiver["resources"])) for f in waived}
    declared = {
        (w.policy, w.resources)
        for w in checkov_scan.load_waivers()
        if w.policy.startswith("CKV") and (not w.stacks or "prod" in w.stacks)
    }
    assert declared <= used, f"stale checkov waivers: {declared - used}"


def test_prod_coverage(prod_scan):
    # checkov's only checks on these are conditional: CKV2_AWS_23 looks at A records only, and
    # aws_backup_selection is read only when joined from an EBS volume (CKV2_AWS_9).
    unchecked = {(e["type"], e["terraform_address"].split(".")[1]) for e in prod_scan.unchecked_resources}
    assert unchecked <= {
        ("aws:route53/record:Record", "edge-alias-aaaa"),
        ("aws:route53/record:Record", "edge-certificate-validation-record"),
        ("aws:backup/selection:Selection", "backups-selection"),
    }
    checked = {f.evidence["terraform_address"].split(".")[0] for f in prod_scan.findings}
    assert {
        "aws_db_instance",
        "aws_s3_bucket",
        "aws_wafv2_web_acl",
        "aws_cloudfront_distribution",
        "aws_elasticache_replication_group",
        "aws_cloudtrail",
        "aws_kms_key",
    } <= checked


def test_result_json_is_complete(prod_scan):
    data = json.loads(json.dumps(prod_scan.to_dict(), default=str))
    assert set(data) >= {"findings", "unchecked_resources", "unknown_types", "not_applicable"}
    assert data["checkov_seconds"] > 0


def test_repo_files_pass():
    assert checkov_scan.scan_repo() == []


def test_repo_scan_catches_an_unsafe_workflow(tmp_path):
    # Proves the repo scan above reads workflows at all: the same call fails on a bad one.
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "name: bad\non: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    env:\n      ACTIONS_ALLOW_UNSECURE_COMMANDS: true\n    steps:\n      - run: echo hi\n"
    )
    assert "CKV_GHA_1" in {f["check_id"] for f in checkov_scan.scan_repo(tmp_path)}


def test_unjudged_resources_become_not_applicable_findings_every_report_lists(prod_scan):
    from scripts.report import formats

    coverage = prod_scan.coverage_findings()
    assert {f.urn for f in coverage} == {r["urn"] for r in prod_scan.unchecked_resources}
    assert {f.status for f in coverage} == {"not-applicable"} and not any(f.blocks_deploy for f in coverage)
    text = formats.to_text(formats.Report(findings=coverage, stack="prod", source="preview.json"))
    assert "checkov judged no check on: backups-selection, edge-alias-aaaa" in text
