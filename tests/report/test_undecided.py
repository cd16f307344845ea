"""Fail closed, decided in the report from what the pack said: a value a rule needs that is unknown or
secret, or a stack rule on a partial document, is `undecided` (never pass, fail or not-applicable)."""

from __future__ import annotations

from scripts.documents.reader import UNKNOWN, ResourceState, StackInput
from scripts.report import formats
from scripts.report.analyzer import AnalysisResult, Diagnostic
from scripts.report.evaluate import policy_findings
from scripts.report.findings import STATUSES, Finding

PREFIX = "urn:pulumi:prod::tradesense::"
DB = PREFIX + "aws:rds/instance:Instance::db"
BUCKET = PREFIX + "aws:s3/bucket:Bucket::backups"


def stack(db_inputs=None, bucket_inputs=None, partial=""):
    return StackInput(
        "preview",
        [
            ResourceState("aws:rds/instance:Instance", DB, "db", True, db_inputs or {"storageEncrypted": True}),
            ResourceState("aws:s3/bucket:Bucket", BUCKET, "backups", True, bucket_inputs or {"bucket": "b"}),
        ],
        partial=partial,
    )


def result(findings, rule, urn):
    (found,) = [f for f in findings if f.rule_id == rule and f.urn == urn]
    return found


def analysis(**kwargs):
    return AnalysisResult(policies={}, **kwargs)


def test_undecided_is_a_status_and_blocks_only_mandatory_under_strict():
    assert "undecided" in STATUSES
    f = Finding(source="policy", rule_id="r", title="t", urn="u", resource_type="t", status="undecided")
    assert not f.blocks_deploy and f.blocks_strict
    advisory = Finding(
        source="policy", rule_id="r", title="t", urn="u", resource_type="t", status="undecided", enforcement="advisory"
    )
    assert not advisory.blocks_strict
    assert formats.Report(findings=[f], stack="s", source="i").blocking == []
    assert formats.Report(findings=[f], stack="s", source="i", strict=True).blocking == [f]


def test_the_sdk_advisory_for_an_unknown_value_is_undecided():
    said = analysis(
        unknown={
            ("rds-storage-encrypted-cmk", DB): "can't run policy 'rds-storage-encrypted-cmk' "
            "from policy pack 'p@v0.0.1' during preview: kmsKeyId"
        }
    )
    found = result(policy_findings(stack({"kmsKeyId": UNKNOWN}), said), "rds-storage-encrypted-cmk", DB)
    assert found.status == "undecided" and "not known until deploy" in found.message


def test_not_applicable_said_over_an_unknown_value_is_undecided():
    bucket = {"bucket": "b", "tags": {"Purpose": UNKNOWN}}
    said = analysis(not_applicable={("s3-object-lock-on-backup-and-audit-buckets", BUCKET): "Purpose (none)"})
    found = result(
        policy_findings(stack(bucket_inputs=bucket), said), "s3-object-lock-on-backup-and-audit-buckets", BUCKET
    )
    assert found.status == "undecided" and "tags.Purpose" in found.message


def test_a_secret_value_never_passes_and_never_fails_on_its_placeholder():
    secret = {"storageEncrypted": True, "kmsKeyId": "[secret]"}
    passed = result(policy_findings(stack(secret), analysis()), "rds-storage-encrypted-cmk", DB)
    assert passed.status == "undecided" and "kmsKeyId is a secret" in passed.message
    about = analysis(
        violations=[Diagnostic("rds-storage-encrypted-cmk", DB, "kmsKeyId = [secret]: not a key ARN", "mandatory")]
    )
    assert result(policy_findings(stack(secret), about), "rds-storage-encrypted-cmk", DB).status == "undecided"
    # A violation about something else stays a failure: a secret elsewhere launders nothing.
    other = analysis(
        violations=[Diagnostic("rds-storage-encrypted-cmk", DB, "storageEncrypted is not true", "mandatory")]
    )
    assert result(policy_findings(stack(secret), other), "rds-storage-encrypted-cmk", DB).status == "fail"


def test_a_stack_rule_on_a_partial_document_is_undecided_even_when_the_pack_failed_it():
    failed = analysis(
        violations=[Diagnostic("s3-bucket-has-controls", BUCKET, "bucket backups has no versioning", "mandatory")]
    )
    partial = stack(partial="the document lists 2 of the 9 resources ...: run `pulumi preview --json --show-sames`")
    found = result(policy_findings(partial, failed), "s3-bucket-has-controls", BUCKET)
    assert found.status == "undecided" and "--show-sames" in found.message
    assert result(policy_findings(stack(), failed), "s3-bucket-has-controls", BUCKET).status == "fail"


def test_read_resources_are_context_not_subjects():
    read = stack()
    read.resources[1].external = True
    failed = analysis(violations=[Diagnostic("s3-bucket-has-controls", BUCKET, "no versioning", "mandatory")])
    assert not [f for f in policy_findings(read, failed) if f.urn == BUCKET]
