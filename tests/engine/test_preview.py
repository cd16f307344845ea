"""The offline preview: the document `pulumi preview --json` would print, and the CLI around it."""

import json
import subprocess
import sys

from scripts.engine.offline import unwrap_secrets
from stacks.settings import REPO_ROOT

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def test_document_has_the_engine_shape(prod_preview, prod_capture):
    assert set(prod_preview) == {"config", "steps", "duration", "changeSummary", "diagnostics"}
    steps = prod_preview["steps"]
    assert steps[0]["newState"]["type"] == "pulumi:pulumi:Stack"
    assert {s["op"] for s in steps} == {"create"}
    assert prod_preview["changeSummary"] == {"create": len(steps)}
    urns = {s["urn"] for s in steps}
    for step in steps:
        state = step["newState"]
        assert {"type", "urn", "custom", "parent", "inputs", "dependencies", "propertyDependencies"} <= set(state)
        assert state["urn"] == step["urn"]
        if state["type"] != "pulumi:pulumi:Stack":
            assert state["parent"] in urns, step["urn"]
        assert set(state["dependencies"]) <= urns
        if state["custom"] and not state["type"].startswith("pulumi:providers:"):
            assert step["provider"].rsplit("::", 1)[0] in urns
    assert len(steps) == len(prod_capture.resources) + 1 + 2  # stack + aws and random default providers


def test_urns_nest_the_full_chain_of_parent_types(prod_preview):
    nested = [
        s["urn"] for s in prod_preview["steps"] if "tradesense:storage:SecureBucket$aws:s3/bucket:Bucket" in s["urn"]
    ]
    assert any(
        u.split("::")[2].startswith("tradesense:backup:BackupStorage$tradesense:storage:SecureBucket$") for u in nested
    )


def test_inputs_are_camel_case_and_references_show_their_target(prod_preview):
    by_urn = {s["urn"]: s["newState"] for s in prod_preview["steps"]}
    instance = next(s for s in by_urn.values() if s["type"] == "aws:rds/instance:Instance")
    assert "storageEncrypted" in instance["inputs"] and "storage_encrypted" not in instance["inputs"]
    [key_urn] = instance["propertyDependencies"]["kmsKeyId"]
    assert instance["inputs"]["kmsKeyId"] == by_urn[key_urn]["outputs"]["arn"]
    assert instance["inputs"]["kmsKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_no_secret_value_is_written_in_clear(prod_preview, prod_capture):
    text = json.dumps(prod_preview)
    generated = [r.outputs for r in prod_capture.resources if r.type.startswith("random:")]
    assert len(generated) >= 14
    for outputs in generated:
        for key in ("result", "base64", "hex", "b64Std"):
            value = unwrap_secrets(outputs.get(key))
            if isinstance(value, str) and len(value) >= 8:
                assert value not in text
    versions = [
        s["newState"]
        for s in prod_preview["steps"]
        if s["newState"]["type"] == "aws:secretsmanager/secretVersion:SecretVersion"
    ]
    assert versions and all(v["inputs"]["secretString"] == "[secret]" for v in versions)
    assert UNKNOWN not in text


def test_cli_prints_the_tree_and_counts_and_writes_the_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "scripts.engine.preview", "--stack", "prod", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    assert out.startswith("Offline preview of tradesense/prod (us-east-1): ")
    for service in ("platform", "auth", "gateway", "market-data"):
        assert f"\n{service}  (" in out
    assert "tradesense:database:PostgresDatabase  auth-db" in out
    assert "Resources by type:" in out and "aws:rds/instance:Instance" in out
    assert json.loads((tmp_path / "preview.json").read_text())["steps"]


def test_cli_config_error_is_one_line_exit_2_and_writes_nothing(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    prod = (REPO_ROOT / "Pulumi.prod.yaml").read_text()
    (tmp_path / "Pulumi.bad.yaml").write_text(prod.replace("backupRetentionDays: 30", "backupRetentionDays: 7"))
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.engine.preview",
            "--stack",
            "bad",
            "--out",
            str(out),
            "--project-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr == "error: tradesense:backupRetentionDays = 7: must be at least 30\n"
    assert not out.exists()


def test_two_previews_of_the_same_program_are_identical(prod_preview):
    from scripts.engine.preview import preview_document, run_stack
    from stacks.settings import read_stack_config

    again = preview_document(run_stack("prod"), read_stack_config("prod"), 0)
    assert json.dumps(again) == json.dumps(prod_preview)


def test_config_of_other_namespaces_never_reaches_preview_json(prod_preview):
    """Only the project's namespace and aws:region are written: provider credentials and other
    tools' keys stay in Pulumi.<stack>.yaml (and, encrypted, out of every file we write)."""
    from scripts.engine.preview import document_config

    assert set(prod_preview["config"]) == {
        k for k in prod_preview["config"] if k.startswith("tradesense:") or k == "aws:region"
    }
    written = document_config(
        {
            "aws:region": "us-east-1",
            "aws:secretKey": {"secure": "v1:abc"},
            "datadog:apiKey": {"secure": "v1:def"},
            "aws:profile": "ops",
            "tradesense:owner": "platform",
            "tradesense:token": {"secure": "v1:x"},
        },
        "tradesense",
    )
    assert written == {"aws:region": "us-east-1", "tradesense:owner": "platform", "tradesense:token": "[secret]"}


def test_a_plain_text_credential_in_another_namespace_is_refused(tmp_path):
    """`datadog:apiKey: <plain text>` belongs in `pulumi config set --secret`: one line naming the key
    (never the value), exit 2, nothing written."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    secret = "dd0123456789abcdef0123456789abcd"
    (project / "Pulumi.prod.yaml").write_text(
        (REPO_ROOT / "Pulumi.prod.yaml").read_text().replace("config:\n", f"config:\n  datadog:apiKey: {secret}\n", 1)
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.engine.preview",
            "--stack",
            "prod",
            "--out",
            str(out),
            "--project-dir",
            str(project),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "datadog:apiKey" in err and "pulumi config set --secret" in err
    assert secret not in err + proc.stdout and not out.exists()
