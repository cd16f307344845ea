"""The one reader (scripts.documents.reader) on documents shaped as the CLI prints them."""

from __future__ import annotations

import json

from scripts.documents import reader as inputs
from scripts.documents.secrets import SECRET_SIG, SECRET_VALUE
from tests.report import cli_shapes as cs

ENVELOPE = {SECRET_SIG: SECRET_VALUE, "ciphertext": "v1:abc"}


def key_state(**extra):
    urn = "urn:pulumi:prod::tradesense::aws:kms/key:Key::data"
    return {"urn": urn, "custom": True, "type": "aws:kms/key:Key", "inputs": {"enableKeyRotation": True}, **extra}


def test_a_full_show_sames_preview_lists_the_whole_stack_and_a_plain_one_is_partial(prod_preview):
    offline = inputs.parse(prod_preview)
    full = inputs.parse(cs.deployed_preview(prod_preview))
    plain = inputs.parse(cs.deployed_preview(prod_preview, show_sames=False))
    assert not offline.partial and not full.partial
    assert [r.urn for r in full.resources] == [r.urn for r in offline.resources]
    assert (
        plain.resources == []
        and f"{len(prod_preview['steps'])} resources" in plain.partial
        and inputs.SHOW_SAMES in plain.partial
    )
    assert all(isinstance(v, str) for v in full.config.values())


def test_same_steps_read_deployed_outputs_and_updates_keep_only_their_identity():
    old = key_state(
        id="k-1",
        outputs={
            "arn": "arn:aws:kms:us-east-1:1:key/k-1",
            "keyId": "k-1",
            "enableKeyRotation": True,
            "description": "old",
        },
    )
    new = key_state(inputs={"enableKeyRotation": False})
    same = inputs.parse({"steps": [{"op": "same", "urn": old["urn"], "oldState": old, "newState": key_state()}]})
    assert same.resources[0].outputs["arn"].endswith("key/k-1") and same.resources[0].inputs["description"] == "old"
    update = inputs.parse({"steps": [{"op": "update", "urn": old["urn"], "oldState": old, "newState": new}]})
    (resource,) = update.resources
    assert resource.outputs == {"arn": "arn:aws:kms:us-east-1:1:key/k-1", "keyId": "k-1"}
    assert resource.inputs == {"enableKeyRotation": False}  # the update's own value, never the old one


def test_replacement_steps_give_one_resource_per_urn():
    state = key_state()
    document = {
        "steps": [
            {
                "op": op,
                "urn": state["urn"],
                "oldState": state,
                **({"newState": state} if op != "delete-replaced" else {}),
            }
            for op in ("replace", "create-replacement", "delete-replaced")
        ],
        "changeSummary": {"replace": 1},
    }
    parsed = inputs.parse(document)
    assert len(parsed.resources) == 1 and not parsed.partial


def test_export_skips_pending_deletions_and_marks_read_resources():
    live, pending = key_state(id="k-2"), key_state(id="k-1", delete=True)
    read = {**key_state(id="k-0", external=True), "urn": "urn:pulumi:prod::tradesense::aws:kms/key:Key::shared"}
    parsed = inputs.parse({"version": 3, "deployment": {"resources": [live, pending, read]}})
    assert [r.urn for r in parsed.resources] == [live["urn"], read["urn"]]
    assert parsed.skipped == [(pending["urn"], parsed.skipped[0][1])] and "pending deletion" in parsed.skipped[0][1]
    assert [r.judged for r in parsed.resources] == [True, False] and not parsed.resources[1].analyzed


def test_inputs_the_provider_marks_secret_are_masked_and_show_secrets_plaintext_too():
    db = {
        "urn": "urn:pulumi:prod::tradesense::aws:rds/instance:Instance::db",
        "custom": True,
        "type": "aws:rds/instance:Instance",
        "inputs": {
            "password": "mypassword",
            "token": "t0ken",
            "other": {SECRET_SIG: SECRET_VALUE, "plaintext": '"hunter2"'},
        },
        "outputs": {"password": ENVELOPE},
        "additionalSecretOutputs": ["token"],
    }
    (resource,) = inputs.parse({"deployment": {"resources": [db]}}).resources
    assert resource.inputs == {"password": "[secret]", "token": "[secret]", "other": "[secret]"}
    assert "mypassword" not in json.dumps(resource.__dict__) and "hunter2" not in json.dumps(resource.__dict__)


def test_a_failed_preview_is_incomplete_and_its_error_line_is_redacted():
    document = {
        "steps": [{"op": "create", "urn": key_state()["urn"], "newState": key_state()}],
        "diagnostics": [
            {"severity": "warning", "message": "warning: deprecated"},
            {
                "severity": "error",
                "urn": key_state()["urn"],
                "message": "error: AccessDenied for AKIAIOSFODNN7EXAMPLE\n  more detail",
            },
        ],
    }
    parsed = inputs.parse(document)
    reason = parsed.incomplete()
    assert "the preview failed" in reason and "AccessDenied" in reason and "AKIA" not in reason
    assert "\n" not in reason


def test_a_preview_prints_a_plain_input_as_stored_and_its_secret_output_marks_it():
    """json.go masks secrets only: a `password` given in plain text is printed plain in `inputs`, while
    the provider's output of it is "[secret]" (in oldState for an update). The reader masks the input."""
    urn = "urn:pulumi:prod::tradesense::aws:rds/instance:Instance::db"
    old = {
        "urn": urn,
        "custom": True,
        "type": "aws:rds/instance:Instance",
        "id": "db-1",
        "inputs": {"password": "mypassword"},
        "outputs": {"password": "[secret]", "arn": "arn:aws:rds:x:1:db:db"},
    }
    new = {
        "urn": urn,
        "custom": True,
        "type": "aws:rds/instance:Instance",
        "inputs": {"password": "mypassword", "instanceClass": "db.r6g.large"},
    }
    for op in ("same", "update"):
        (resource,) = inputs.parse({"steps": [{"op": op, "urn": urn, "oldState": old, "newState": new}]}).resources
        assert resource.inputs["password"] == "[secret]", op


def test_an_input_that_shows_its_secret_part_keeps_the_rest_readable():
    """The engine makes the whole `origins` output secret because one header value is: the input,
    which shows exactly that value as [secret], stays readable so origin rules can still judge it."""
    urn = "urn:pulumi:prod::tradesense::aws:cloudfront/distribution:Distribution::edge"
    origins = [
        {
            "originId": "gw",
            "customOriginConfig": {"originProtocolPolicy": "https-only"},
            "customHeaders": [{"name": "X-Origin-Verify", "value": "[secret]"}],
        }
    ]
    step = {
        "op": "create",
        "urn": urn,
        "newState": {
            "urn": urn,
            "custom": True,
            "type": "aws:cloudfront/distribution:Distribution",
            "inputs": {"origins": origins, "comment": "x"},
            "outputs": {"origins": "[secret]", "comment": "x"},
        },
    }
    (state,) = inputs.parse({"steps": [step]}).resources
    assert state.inputs["origins"] == origins and state.state["origins"] == origins
    # a plain-text input whose output is secret stays masked (nothing in it says which part is secret)
    step["newState"]["inputs"]["origins"] = [{"originId": "gw", "customHeaders": [{"name": "X", "value": "hunter2"}]}]
    (state,) = inputs.parse({"steps": [step]}).resources
    assert state.inputs["origins"] == "[secret]"
