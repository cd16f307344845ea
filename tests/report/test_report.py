"""The offline report end to end: the pack over gRPC, the six formats, exit codes, checkov merge."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET

import pytest

from scripts.documents import reader as inputs
from scripts.report import analyzer, formats, policy_report
from scripts.report.evaluate import merge
from scripts.report.findings import Finding

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ACCESS_LOG_SSE = "access-logs-encryption"
# The DR region's own access-log target (for the audit-log replica), waived by the same waiver.
ACCESS_LOG_SSE_DR = "access-logs-dr-encryption"


def write(tmp_path, document, name="preview.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def step_of(document, type_, n=0):
    return [s for s in document["steps"] if s["newState"]["type"] == type_][n]


# -- the prod stack ----------------------------------------------------------------------------
def test_prod_is_clean_but_for_the_waived_access_log_buckets(prod_report):
    assert prod_report.blocking == []
    waived = [f for f in prod_report.findings if f.status == "waived"]
    assert sorted(f.urn.rsplit("::", 1)[-1] for f in waived) == sorted([ACCESS_LOG_SSE, ACCESS_LOG_SSE_DR])
    assert all(f.waiver["reason"] and f.waiver["expires"] for f in waived)


def test_every_policy_is_judged_on_prod_with_evidence(prod_report):
    statuses = {}
    for f in prod_report.findings:
        statuses.setdefault(f.rule_id, set()).add(f.status)
    assert len(statuses) >= 40 and all("pass" in s or "waived" in s for s in statuses.values())
    instance = next(f for f in prod_report.findings if f.rule_id == "rds-storage-encrypted-cmk")
    assert instance.evidence["storageEncrypted"] is True and instance.evidence["kmsKeyId"].startswith("arn:aws:kms:")


def test_indexed_servicer_answers_exactly_like_the_sdk_pack(prod_input):
    from scripts.report.evaluate import policy_findings

    results = []
    for stock in ("0", "1"):
        analysis = analyzer.analyze(prod_input, env={"TRADESENSE_POLICY_STOCK": stock})
        results.append(sorted(repr(f.to_dict()) for f in policy_findings(prod_input, analysis)))
    assert results[0] == results[1]


def test_a_flipped_property_fails_through_grpc_and_exits_1(prod_preview, tmp_path, capsys):
    document = copy.deepcopy(prod_preview)
    step_of(document, "aws:rds/instance:Instance")["newState"]["inputs"]["publiclyAccessible"] = True
    out = tmp_path / "r.json"
    assert policy_report.main([write(tmp_path, document), "--format", "json", "--out", str(out)]) == 1
    report = json.loads(out.read_text())
    (violation,) = [v for v in report["violations"] if v["rule_id"] == "rds-not-publicly-accessible"]
    assert violation["status"] == "fail" and violation["enforcement"] == "mandatory"
    assert violation["evidence"] == {"publiclyAccessible": True}
    assert report["summary"]["blocking"] == 1


def test_unknown_values_are_undecided_never_not_applicable(prod_preview, tmp_path):
    document = copy.deepcopy(prod_preview)
    step_of(document, "aws:rds/instance:Instance")["newState"]["inputs"]["kmsKeyId"] = UNKNOWN
    for step in document["steps"]:
        if step["newState"]["type"] == "aws:backup/selection:Selection":
            step["newState"]["inputs"]["resources"] = UNKNOWN
            step["newState"]["outputs"]["resources"] = UNKNOWN
            step["newState"]["propertyDependencies"].pop("resources", None)
    report = policy_report.build_report(write(tmp_path, document))
    assert report.blocking == []
    judged = {(f.rule_id, f.status) for f in report.findings if "not known until deploy" in f.message}
    assert ("rds-storage-encrypted-cmk", "undecided") in judged
    assert ("rds-covered-by-backup-plan", "undecided") in judged
    assert not any(f.status == "not-applicable" and "deploy" in f.message for f in report.findings)
    assert f"{report.counts()['undecided']} undecided" in formats.summary_line(report)
    strict = policy_report.build_report(write(tmp_path, document), strict=True)
    assert {f.rule_id for f in strict.blocking} >= {"rds-storage-encrypted-cmk", "rds-covered-by-backup-plan"}


def test_pack_under_the_cli_suppresses_waived_and_reports_expired(prod_input, tmp_path):
    import yaml

    cli = {"TRADESENSE_POLICY_RAW": "0"}
    waived = analyzer.analyze(prod_input, env=cli)
    assert waived.violations == []
    # The pack under the CLI ignores TRADESENSE_WAIVER_TODAY: an expired waiver is one dated in the past.
    document = yaml.safe_load((analyzer.PACK_DIR / "waivers.yaml").read_text())
    for entry in document["waivers"]:
        entry["expires"] = "2020-01-01"
    past = tmp_path / "waivers.yaml"
    past.write_text(yaml.safe_dump(document))
    expired = analyzer.analyze(
        prod_input, env={**cli, "TRADESENSE_WAIVERS": str(past), "TRADESENSE_WAIVER_TODAY": "2019-01-01"}
    )
    assert len(expired.violations) == 2  # the access-log bucket of each region
    for violation in expired.violations:
        assert violation.policy == "s3-bucket-encrypted-with-cmk" and "expired on" in violation.message


def test_malformed_waivers_stop_report_and_pack(prod_input, prod_preview_path, tmp_path, capsys):
    bad = tmp_path / "waivers.yaml"
    bad.write_text(
        "waivers:\n  - policy: rds-backup-retention\n    resources: [x]\n    approved_by: me\n    expires: 2030-01-01\n"
    )
    assert policy_report.main([str(prod_preview_path), "--waivers", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "waiver #1" in err and "reason" in err
    with pytest.raises(analyzer.PackError, match="reason"):
        analyzer.analyze(prod_input, env={"TRADESENSE_WAIVERS": str(bad)})


@pytest.mark.parametrize(
    "content, error",
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"hello": 1}', "not a `pulumi preview --json`"),
    ],
)
def test_unusable_input_exits_2_with_one_line(tmp_path, capsys, content, error):
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)
    assert policy_report.main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert error in err and len(err.splitlines()) == 1


def test_stack_export_shape_is_read(prod_preview):
    export = {
        "version": 3,
        "deployment": {
            "manifest": {},
            "resources": [
                {
                    **s["newState"],
                    "inputs": {
                        **s["newState"]["inputs"],
                        "secret": {
                            "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                            "ciphertext": "abc",
                        },
                    },
                }
                for s in prod_preview["steps"]
            ],
        },
    }
    parsed = inputs.parse(export)
    assert parsed.kind == "export" and parsed.stack == "prod"
    assert len(parsed.resources) == len(prod_preview["steps"]) - 1
    assert all(r.inputs["secret"] == "[secret]" for r in parsed.resources)


# -- formats -----------------------------------------------------------------------------------
def test_sarif_has_the_required_fields(prod_report):
    sarif = json.loads(formats.to_sarif(prod_report))
    assert sarif["version"] == "2.1.0" and "sarif" in sarif["$schema"]
    driver = sarif["runs"][0]["tool"]["driver"]
    assert driver["name"] and driver["informationUri"].startswith("https://")
    for rule in driver["rules"]:
        assert {"id", "shortDescription", "fullDescription", "helpUri", "properties"} <= set(rule)
        assert float(rule["properties"]["security-severity"]) > 0 and rule["properties"]["tags"]
    results = sarif["runs"][0]["results"]
    names = sorted(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].rsplit("::", 1)[-1] for r in results)
    assert names == sorted([ACCESS_LOG_SSE, ACCESS_LOG_SSE_DR])
    for result in results:
        assert {"ruleId", "level", "message", "locations"} <= set(result)
        location = result["locations"][0]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "components/secure_bucket.py"
        assert result["suppressions"][0]["status"] == "accepted"


def test_junit_parses_with_a_suite_per_domain(prod_report, prod_preview, tmp_path):
    root = ET.fromstring(policy_report.render(prod_report, "junit"))
    suites = {s.get("name") for s in root.iter("testsuite")}
    assert {"policy.encryption", "policy.edge", "policy.tagging"} <= suites
    cases = list(root.iter("testcase"))
    assert len(cases) == len(prod_report.findings) and not list(root.iter("failure"))
    document = copy.deepcopy(prod_preview)
    step_of(document, "aws:kms/key:Key")["newState"]["inputs"]["enableKeyRotation"] = False
    failed = ET.fromstring(policy_report.render(policy_report.build_report(write(tmp_path, document)), "junit"))
    (failure,) = failed.iter("failure")
    assert "enableKeyRotation" in failure.get("message")


def test_html_is_self_contained_and_escaped(prod_report):
    page = formats.to_html(prod_report)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "<script" not in page
    for text in ("PCI DSS v4.0", "Waiver register", "platform-lead@tradesense.io", "3.5.1"):
        assert text in page
    hostile = formats.Report(
        findings=[
            Finding(
                source="policy",
                rule_id="x",
                title="<script>alert(1)</script>",
                urn="u",
                resource_type="t",
                status="fail",
            )
        ],
        stack="s",
        source="i",
    )
    assert "<script>alert" not in formats.to_html(hostile)


def test_markdown_is_a_short_pr_comment_summary_first(prod_report):
    text = formats.to_markdown(prod_report)
    assert text.startswith("### ") and "| result | count |" in text.split("<details>")[0]
    assert len(text.encode()) < 64 * 1024
    many = formats.Report(
        findings=[
            Finding(
                source="policy",
                rule_id=f"r{i}",
                title="t" * 300,
                urn=f"u{i}",
                resource_type="t",
                status="fail",
                message="m" * 500,
            )
            for i in range(2000)
        ],
        stack="s",
        source="i",
    )
    assert len(formats.to_markdown(many).encode()) < 64 * 1024


def test_text_and_json_agree_on_the_summary(prod_report):
    data = json.loads(formats.to_json(prod_report))
    assert data["summary"]["waived"] == 2 and data["summary"]["blocking"] == 0
    assert {"policy", "checkov"} >= {r["source"] for r in data["results"]}
    assert {"rule_id", "urn", "resource_type", "status", "enforcement", "severity", "message", "compliance"} <= set(
        data["results"][0]
    )
    assert formats.to_text(prod_report).splitlines()[0] == formats.summary_line(prod_report)


# -- checkov -----------------------------------------------------------------------------------
def test_checkov_results_merge_and_can_block(prod_preview_path, tmp_path):
    findings = [
        Finding(
            source="checkov",
            rule_id="CKV_AWS_16",
            title="RDS encrypted",
            urn="urn:x::db",
            resource_type="aws_db_instance",
            status="fail",
            compliance=(("CIS AWS Foundations v3.0.0", "2.3.1"),),
        ),
        Finding(
            source="checkov",
            rule_id="CKV_AWS_17",
            title="RDS private",
            urn="urn:x::db",
            resource_type="aws_db_instance",
            status="pass",
        ),
    ]
    results = tmp_path / "checkov.json"
    results.write_text(json.dumps([f.to_dict() for f in findings]))
    out = tmp_path / "r.json"
    assert (
        policy_report.main(
            [str(prod_preview_path), "--checkov-results", str(results), "--format", "json", "--out", str(out)]
        )
        == 1
    )
    data = json.loads(out.read_text())
    assert [v["rule_id"] for v in data["violations"]] == ["CKV_AWS_16"]
    assert merge(findings, findings[:1]) == findings
