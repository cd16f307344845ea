"""The report on documents as the real Pulumi CLI prints them: public samples (tests/fixtures/cli) and
CLI-shaped variants of prod (tests/report/cli_shapes.py, built from pulumi/pulumi's JSON writer)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace

from scripts.checkov_bridge import tfplan
from scripts.documents import reader as inputs
from scripts.report import analyzer, formats, policy_report
from scripts.report.evaluate import policy_findings
from tests.report import cli_shapes as cs
from tests.report.cli_shapes import FIXTURES

PLAINTEXT = "hunter2-Pl41ntext-Secr3t-Value"


def by_rule(report, status=None):
    return {(f.rule_id, report.name(f.urn)): f for f in report.findings if status in (None, f.status)}


def rendered(report) -> dict[str, str]:
    return {fmt: policy_report.render(report, fmt) for fmt in policy_report.FORMATS}


# -- public samples ------------------------------------------------------------------------------
def test_v5_bucket_export_is_judged_on_its_inline_settings(report_on):
    """pulumi-aws 5.42 kept a bucket's encryption (SSE-S3) and versioning (off) only in outputs."""
    report = report_on("pulumi-aws-5.42-bucket.export.json")
    fails = by_rule(report, "fail")
    encryption = fails[("s3-bucket-encrypted-with-cmk", "tested-resource (inline encryption)")]
    assert "AES256" in encryption.message and "not SSE-KMS" in encryption.message
    controls = fails[("s3-bucket-has-controls", "tested-resource")].message
    # It has an encryption configuration (a weak one, failed above); it lacks the other two.
    assert "public-access block" in controls and "versioning" in controls and "encryption" not in controls
    assert report.blocking and report.stack == "test"


def test_rds_export_reads_outputs_as_evidence_and_never_writes_the_password(report_on, tmp_path):
    """The recorded RDS instance: `password` plain in inputs, secret in outputs; encryption and backup
    retention appear only in outputs."""
    report = report_on("pulumi-aws-5.42-rds-instance.export.json")
    fails = by_rule(report, "fail")
    assert fails[("rds-storage-encrypted-cmk", "tested-resource")].evidence["storageEncrypted"] is False
    assert "backupRetentionPeriod = 0" in fails[("rds-backup-retention", "tested-resource")].message
    texts = rendered(report)
    for fmt, text in texts.items():
        assert "mypassword" not in text, fmt
    # SARIF points at the judged stack's own config file (stack "test" here, not prod's).
    results = json.loads(texts["sarif"])["runs"][0]["results"]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {"Pulumi.test.yaml"}
    plan = tmp_path / "plan.json"
    assert tfplan.main([str(FIXTURES / "pulumi-aws-5.42-rds-instance.export.json"), "--out", str(plan)]) == 0
    text = plan.read_text()
    assert "mypassword" not in text and '"password": "[secret]"' in text


def test_secret_version_export_masks_the_secret_named_in_additional_secret_outputs(report_on, tmp_path):
    report = report_on("pulumi-aws-5.42-secretversion.export.json")
    assert by_rule(report, "fail")[("secret-values-generated", "mySecretVersion")]
    assert all("MySecretVersionValue" not in text for text in rendered(report).values())
    plan = tmp_path / "plan.json"
    assert tfplan.main([str(FIXTURES / "pulumi-aws-5.42-secretversion.export.json"), "--out", str(plan)]) == 0
    assert "MySecretVersionValue" not in plan.read_text()


# -- CLI-shaped prod -----------------------------------------------------------------------------
def verdicts(report) -> list[tuple[str, str, str]]:
    return sorted((f.rule_id, f.urn, f.status) for f in report.findings)


def test_show_sames_preview_and_export_of_prod_give_the_offline_verdicts(prod_preview, report_on):
    """Same steps carry no id and no outputs, config is text: the verdicts must not change."""
    offline = report_on(prod_preview)
    sames = report_on(cs.deployed_preview(prod_preview))
    export = report_on(cs.stack_export(prod_preview))
    assert offline.blocking == [] and Counter(f.status for f in offline.findings)["waived"] == 2
    assert verdicts(sames) == verdicts(offline) == verdicts(export)
    assert sames.notes == [] and not sames.undecided


def test_plain_preview_is_partial_never_blocks_falsely_and_says_what_to_run(prod_preview, write):
    """Without --show-sames only the changed steps are listed: a bucket whose controls are unchanged
    would fail `s3-bucket-has-controls`; the report leaves that stack rule undecided instead, and
    a resource rule on a changed resource (key rotation turned off) still blocks."""
    bucket = cs.state_of(prod_preview, "aws:s3/bucket:Bucket")
    key = cs.state_of(prod_preview, "aws:kms/key:Key")
    document = cs.deployed_preview(
        prod_preview,
        show_sames=False,
        updates={
            bucket["urn"]: lambda i: i.update(forceDestroy=False),
            key["urn"]: lambda i: i.update(enableKeyRotation=False),
        },
    )
    stack_input = inputs.parse(document)
    assert stack_input.partial and inputs.SHOW_SAMES in stack_input.partial
    analysis = analyzer.analyze(stack_input)
    complete = {(f.rule_id, f.urn, f.status) for f in policy_findings(replace(stack_input, partial=""), analysis)}
    assert ("s3-bucket-has-controls", bucket["urn"], "fail") in complete  # what a naive reader blocked on

    findings = policy_findings(stack_input, analysis)
    report = formats.Report(
        findings=findings, stack="prod", source="plain.json", notes=policy_report.notes_for(stack_input)
    )
    assert [(f.rule_id, f.urn) for f in report.blocking] == [("kms-key-rotation-enabled", key["urn"])]
    (controls,) = [f for f in findings if f.rule_id == "s3-bucket-has-controls"]
    assert controls.status == "undecided" and "--show-sames" in controls.message
    for fmt, text in rendered(report).items():
        assert "pulumi preview --json --show-sames" in text, fmt
    strict = formats.Report(findings=findings, stack="prod", source="plain.json", strict=True)
    undecided = {f.rule_id for f in findings if f.status == "undecided" and f.enforcement == "mandatory"}
    assert "s3-bucket-has-controls" in undecided
    assert {f.rule_id for f in strict.blocking} == {"kms-key-rotation-enabled"} | undecided


def test_first_preview_unknowns_are_undecided_counted_everywhere_and_block_only_under_strict(
    prod_preview, write, capsys
):
    path = write(cs.first_preview(prod_preview))
    report = policy_report.build_report(path)
    assert not report.violations and len(report.undecided) > 10
    assert not any(f.status == "not-applicable" and "deploy" in f.message for f in report.findings)
    count = f"{len(report.undecided)} undecided"
    texts = rendered(report)
    assert count in texts["text"].splitlines()[0] and count in texts["markdown"] and count in texts["html"]
    assert json.loads(texts["json"])["summary"]["undecided"] == len(report.undecided)
    assert json.loads(texts["sarif"])["runs"][0]["properties"]["counts"]["undecided"] == len(report.undecided)
    assert count in ET.fromstring(texts["junit"]).get("name")
    assert policy_report.main([path, "--format", "json", "--out", write("", "r.json")]) == 0
    assert policy_report.main([path, "--strict", "--summary", "--out", write("", "r.txt")]) == 1
    assert "BLOCKED" in capsys.readouterr().err


def test_export_pending_deletion_read_resources_and_show_secrets(prod_preview, report_on, tmp_path):
    """A replace leaves the old copy `delete: true` (here a key without rotation): not judged. A read
    bucket (`external: true`, no controls) is not judged. A --show-secrets export's plaintext never
    reaches a report or the converted plan."""
    key = cs.state_of(prod_preview, "aws:kms/key:Key")
    pending = {**cs.resource_v3(key, deployed=True), "delete": True}
    pending["inputs"] = {**pending["inputs"], "enableKeyRotation": False}
    read_urn = "urn:pulumi:prod::tradesense::aws:s3/bucket:Bucket::shared-artifacts"
    external = {
        "urn": read_urn,
        "custom": True,
        "id": "shared-artifacts",
        "type": "aws:s3/bucket:Bucket",
        "inputs": {"bucket": "shared-artifacts"},
        "outputs": {"bucket": "shared-artifacts", "arn": "arn:aws:s3:::shared-artifacts"},
        "external": True,
    }
    document = cs.stack_export(prod_preview, show_secrets=True, plaintext=PLAINTEXT, extra=[pending, external])
    assert PLAINTEXT in json.dumps(document)
    report = report_on(document)
    assert report.blocking == [] and not report.undecided
    assert not [f for f in report.findings if f.urn == read_urn]
    assert any("pending deletion" in n for n in report.notes) and any("shared-artifacts" in n for n in report.notes)
    for fmt, text in rendered(report).items():
        assert PLAINTEXT not in text, fmt
    conversion = tfplan.convert(document)
    assert PLAINTEXT not in json.dumps(conversion.plan)
    assert read_urn not in conversion.address_to_urn.values()


def test_replacement_steps_judge_each_urn_once(prod_preview, report_on):
    bucket = cs.state_of(prod_preview, "aws:s3/bucket:Bucket")
    key = cs.state_of(prod_preview, "aws:kms/key:Key")
    document = cs.deployed_preview(prod_preview, replacements=[bucket["urn"], key["urn"]], show_replacement_steps=True)
    assert [s["op"] for s in document["steps"] if s["urn"] == key["urn"]] == [
        "replace",
        "create-replacement",
        "delete-replaced",
    ]
    report = report_on(document)
    keys = Counter((f.source, f.rule_id, f.urn) for f in report.findings)
    assert max(keys.values()) == 1
    # A replaced bucket gets a name chosen at deploy: rules that join on it are undecided, never
    # judged against the old bucket's name (no false block) and never passed.
    assert report.blocking == []
    assert {f.rule_id for f in report.undecided} <= {
        "audit-trail-present",
        "s3-bucket-has-controls",
        "s3-object-lock-retention",
        "s3-lifecycle-not-shorter-than-retention",
    }


def test_secret_values_a_rule_needs_are_undecided_never_pass_fail_or_default(prod_preview, report_on):
    """ "[secret]" where a rule needs the value (a key ARN) is undecided: neither a pass nor a fail of
    the placeholder. The stack's own config is not what the pack judges against (its floors are the
    pack's policy config), so a secret there leaves the WAF rules decided on the web ACL itself."""
    document = cs.deployed_preview(prod_preview)
    instance = cs.state_of(document, "aws:rds/instance:Instance")  # the first step's newState
    step = next(s for s in document["steps"] if s["urn"] == instance["urn"])
    step["newState"]["inputs"]["kmsKeyId"] = "[secret]"
    document["config"]["tradesense:edge"] = "[secret]"
    report = report_on(document)
    results = {(f.rule_id, f.urn): f for f in report.findings}
    cmk = results[("rds-storage-encrypted-cmk", instance["urn"])]
    assert cmk.status == "undecided" and "kmsKeyId" in cmk.message
    waf = [f for f in report.findings if f.rule_id in ("waf-login-rate-limit", "waf-api-rate-limit")]
    assert waf and all(f.status == "pass" for f in waf)
    assert not any("fallback" in f.message for f in report.findings)
    assert (
        report.blocking == []
        and formats.Report(findings=report.findings, stack="prod", source="", strict=True).blocking
    )


def test_checkov_on_a_partial_document_blocks_only_on_what_it_can_see(prod_preview):
    """The plain preview above through checkov: a bucket's checks that read its versioning, logging or
    encryption resources (unchanged, so not listed) are undecided; the key without rotation fails,
    as in the policy report."""
    from scripts.checkov_bridge.scan import scan_document

    bucket = cs.state_of(prod_preview, "aws:s3/bucket:Bucket")
    key = cs.state_of(prod_preview, "aws:kms/key:Key")
    document = cs.deployed_preview(
        prod_preview,
        show_sames=False,
        updates={
            bucket["urn"]: lambda i: i.update(forceDestroy=False),
            key["urn"]: lambda i: i.update(enableKeyRotation=False),
        },
    )
    result = scan_document(document)
    assert {(f.rule_id, f.urn) for f in result.failures} == {("CKV_AWS_7", key["urn"])}
    undecided = [f for f in result.findings if f.status == "undecided"]
    assert undecided and all(f.urn == bucket["urn"] and "--show-sames" in f.message for f in undecided)
    assert {"CKV_AWS_21", "CKV_AWS_18"} <= {f.rule_id for f in undecided}


def test_the_stock_sdk_pack_and_the_indexed_one_leave_the_same_checks_undecided(prod_preview):
    """Unknown values reach the report as pulumi-policy's own "can't run policy" advisory, whether the
    SDK's PolicyPack serves the rules or the indexed servicer does: both become `undecided`."""
    stack_input = inputs.parse(cs.first_preview(prod_preview))
    results = []
    for stock in ("1", "0"):
        analysis = analyzer.analyze(stack_input, env={"TRADESENSE_POLICY_STOCK": stock})
        assert analysis.unknown and all(m.startswith("can't run policy") for m in analysis.unknown.values())
        results.append(sorted((f.rule_id, f.urn, f.status) for f in policy_findings(stack_input, analysis)))
    assert results[0] == results[1]
    assert sum(status == "undecided" for _, _, status in results[0]) > 10


def test_inline_bucket_settings_of_v6_shapes_are_judged_as_the_stand_alone_resources(report_on):
    """pulumi-aws v6 `Bucket` took encryption/versioning/policy as objects, `BucketV2` as one-item lists
    (still accepted, deprecated: pulumi_aws/s3/bucket.py). Judged on those settings: a CMK rule passes,
    enabled versioning counts, a policy without the TLS deny fails."""
    key = "arn:aws:kms:us-east-1:123456789012:key/0b6a8e3c-1111-2222-3333-444455556666"
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::legacy/*",
                }
            ],
        }
    )
    v6 = {
        "urn": "urn:pulumi:prod::tradesense::aws:s3/bucket:Bucket::legacy",
        "custom": True,
        "type": "aws:s3/bucket:Bucket",
        "inputs": {
            "bucket": "legacy",
            "policy": policy,
            "versioning": {"enabled": True, "mfaDelete": False},
            "serverSideEncryptionConfiguration": {
                "rule": {
                    "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key},
                    "bucketKeyEnabled": True,
                }
            },
        },
    }
    v6_list = {
        "urn": "urn:pulumi:prod::tradesense::aws:s3/bucketV2:BucketV2::listed",
        "custom": True,
        "type": "aws:s3/bucketV2:BucketV2",
        "inputs": {
            "bucket": "listed",
            "versionings": [{"enabled": False}],
            "serverSideEncryptionConfigurations": [
                {"rules": [{"applyServerSideEncryptionByDefaults": [{"sseAlgorithm": "AES256"}]}]}
            ],
        },
    }
    report = report_on({"version": 3, "deployment": {"resources": [v6, v6_list]}})
    results = by_rule(report)
    assert results[("s3-bucket-encrypted-with-cmk", "legacy (inline encryption)")].status == "pass"
    assert results[("s3-bucket-tls-only", "legacy (inline policy)")].status == "fail"
    assert (
        results[("s3-bucket-has-controls", "legacy")].message
        == "bucket legacy has no public-access block, TLS-only bucket policy"
    )  # its policy has no TLS deny
    assert "AES256" in results[("s3-bucket-encrypted-with-cmk", "listed (inline encryption)")].message
    assert "versioning" in results[("s3-bucket-has-controls", "listed")].message  # disabled is no control
