"""Bad input to the report, the converter and the checkov gate: one line, exit 2, no traceback,
nothing written, no value echoed. Exit 1 means "blocked" and nothing else."""

from __future__ import annotations

import json

import pytest

from scripts.checkov_bridge import scan as checkov_scan
from scripts.checkov_bridge import tfplan
from scripts.documents import reader as inputs
from scripts.documents.secrets import redact
from scripts.report import formats, policy_report
from scripts.report.findings import Finding

URN = "urn:pulumi:prod::tradesense::aws:kms/key:Key::data"


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def preview(**new_state):
    state = {"urn": URN, "custom": True, "type": "aws:kms/key:Key", "inputs": {"enableKeyRotation": True}}
    state.update(new_state)
    return {"steps": [{"op": "create", "urn": URN, "newState": state}], "changeSummary": {"create": 1}}


@pytest.mark.parametrize(
    "document, expected",
    [
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ({"steps": {"0": {}}}, "steps: must be a list of step objects, found an object"),
        ({"steps": ["create"]}, "steps[0]: must be a step object, found a string"),
        (
            preview(inputs=["enableKeyRotation"]),
            "steps[0].newState.inputs: must be an object of property values, found a list",
        ),
        (
            preview(dependencies="urn:pulumi:x"),
            "steps[0].newState.dependencies: must be a list of URNs, found a string",
        ),
        (preview(urn=7), "steps[0].newState: a resource needs `type` and `urn` as strings"),
        ({**preview(), "config": ["aws:region"]}, "config: must be an object of key -> text, found a list"),
        ({"deployment": {"resources": {"a": 1}}}, "deployment.resources: must be a list of resource objects"),
        (preview(inputs={"a": json.loads("[" * 70 + "]" * 70)}), "nested deeper than 64 levels"),
        (
            {"version": 3, "checkpoint": {"stack": "prod", "latest": {"resources": []}}},
            "a backend checkpoint file, not an export; run `pulumi stack export",
        ),
        (
            {
                **preview(),
                "diagnostics": [
                    {
                        "urn": URN,
                        "severity": "error",
                        "message": "error: creating KMS Key: AccessDeniedException token=AKIAIOSFODNN7EXAMPLE",
                    }
                ],
            },
            "the preview failed, so its steps are incomplete",
        ),
        (
            {
                "steps": [
                    {
                        "op": "create",
                        "urn": "urn:pulumi:prod::tradesense::random:index/randomPassword:RandomPassword::pw",
                        "newState": {
                            "urn": "urn:pulumi:prod::tradesense::random:index/randomPassword:RandomPassword::pw",
                            "custom": True,
                            "type": "random:index/randomPassword:RandomPassword",
                        },
                    }
                ]
            },
            "nothing to judge",
        ),
    ],
)
def test_unusable_documents_are_one_line_and_exit_2(write, capsys, document, expected):
    path = write(document)
    out = write("", "untouched.json")
    assert policy_report.main([path, "--format", "json", "--out", out]) == 2
    err = one_line(capsys)
    assert expected in err and "AKIAIOSFODNN7EXAMPLE" not in err
    assert open(out).read() == ""


def test_the_converter_refuses_the_same_documents(write, capsys, tmp_path):
    failed = {**preview(), "diagnostics": [{"severity": "error", "message": "error: boom"}]}
    for document in (failed, {"version": 3, "checkpoint": {}}, preview(inputs="x")):
        assert tfplan.main([write(document), "--out", str(tmp_path / "plan.json")]) == 2
        one_line(capsys)
    assert not (tmp_path / "plan.json").exists()


def test_both_gates_exit_2_when_nothing_is_mappable(write, capsys):
    """Only pulumi-random resources: no policy and no checkov check applies. Same exit from both."""
    urn = "urn:pulumi:prod::tradesense::random:index/randomPassword:RandomPassword::pw"
    document = {
        "version": 3,
        "deployment": {
            "resources": [
                {
                    "urn": urn,
                    "custom": True,
                    "type": "random:index/randomPassword:RandomPassword",
                    "inputs": {"length": 32},
                }
            ]
        },
    }
    path = write(document)
    assert policy_report.main([path]) == 2
    assert "nothing to judge" in one_line(capsys)
    assert checkov_scan.main([path]) == 2
    assert "nothing to judge" in one_line(capsys)


def test_out_into_a_missing_directory_or_onto_the_input_and_a_missing_waiver_file(write, tmp_path, capsys):
    path = write(preview())
    before = open(path).read()
    cases = [
        ([path, "--out", str(tmp_path / "missing" / "r.txt")], "does not exist"),
        ([path, "--out", path], "is the input file"),
        ([path, "--out", str(tmp_path)], "is a directory"),
        ([path, "--waivers", str(tmp_path / "nope.yaml")], "--waivers"),
        ([path, "--format", "pdf"], "invalid choice"),
    ]
    for argv, expected in cases:
        assert policy_report.main(argv) == 2  # a bad argument too: one line, exit 2, no SystemExit
        assert expected in one_line(capsys)
    assert open(path).read() == before
    assert tfplan.main([path, "--out", path]) == 2
    assert "is the input file" in one_line(capsys) and open(path).read() == before


def test_error_lines_never_echo_a_value_that_looks_like_a_secret(write, capsys):
    findings = [
        {
            **Finding(
                source="checkov", rule_id="CKV_AWS_1", title="t", urn=URN, resource_type="t", status="pass"
            ).to_dict(),
            "status": "dd0123456789abcdef0123456789abcdef",
        }
    ]
    results = write(findings, "checkov.json")
    assert policy_report.main([write(preview()), "--checkov-results", results]) == 2
    err = one_line(capsys)
    assert "Finding.status" in err and "dd0123456789abcdef" not in err and "[redacted]" in err
    assert (
        redact("arn:aws:kms:us-east-1:123456789012:key/data urn:pulumi:prod::p::t::n")
        == "arn:aws:kms:us-east-1:123456789012:key/data urn:pulumi:prod::p::t::n"
    )


def test_reader_api_is_stable_for_the_change_review(tmp_path):
    """scripts.documents.reader.read_input(path) -> StackInput is what tfplan and the change review use."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps(preview()))
    stack_input = inputs.read_input(path)
    assert stack_input.kind == "preview" and stack_input.stack == "prod" and stack_input.project == "tradesense"
    (resource,) = stack_input.resources
    assert resource.analyzed and resource.judged and resource.inputs == {"enableKeyRotation": True}
    assert inputs.load is inputs.read_input


def test_colliding_names_are_qualified_by_type_in_every_format():
    bucket = "urn:pulumi:prod::tradesense::tradesense:storage:SecureBucket$aws:s3/bucket:Bucket::audit"
    key = "urn:pulumi:prod::tradesense::aws:kms/key:Key::audit"
    report = formats.Report(
        findings=[
            Finding(
                source="policy",
                rule_id="r1",
                title="t",
                urn=bucket,
                resource_type="aws:s3/bucket:Bucket",
                status="fail",
            ),
            Finding(source="policy", rule_id="r2", title="t", urn=key, resource_type="aws:kms/key:Key", status="fail"),
            Finding(source="policy", rule_id="r3", title="t", urn=URN, resource_type="aws:kms/key:Key", status="fail"),
        ],
        stack="staging",
        source="in.json",
    )
    text = formats.to_text(report)
    assert "on aws:s3/bucket:Bucket audit:" in text and "on aws:kms/key:Key audit:" in text and "on data:" in text
    sarif = json.loads(formats.to_sarif(report))
    assert {r["message"]["text"].split(":")[0] for r in sarif["runs"][0]["results"]} >= {"aws"}
    # SARIF points at the judged stack's own file when no component declares the resource.
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]}
    assert uris == {"Pulumi.staging.yaml"}
