"""Live validation on deployments that differ from the compliant fixture from the start."""

from __future__ import annotations

from scripts.cli import run
from scripts.ops import validate_deployment
from tests.ops.ops_fixtures import build_deployment


def validate(capsys):
    code = run(validate_deployment.main, ["--stack", "prod"])
    return code, capsys.readouterr().out.splitlines()


def failures(lines):
    return [line for line in lines if line.startswith("FAIL")]


def test_unencrypted_database_fails_encryption(aws, settings, capsys):
    build_deployment(settings, aws, db_overrides={"analytics": {"StorageEncrypted": False, "KmsKeyId": None}})
    code, lines = validate(capsys)
    assert code == 1
    assert [line.split()[1:3] for line in failures(lines)] == [
        ["rds-storage-encrypted-cmk", "tradesense-prod-analytics"]
    ]
    assert "encrypted=False" in failures(lines)[0]


def test_missing_resources_fail_rather_than_pass_silently(aws, capsys):
    # an empty account: nothing tagged for the stack exists
    code, lines = validate(capsys)
    assert code == 1
    names = {line.split()[1] for line in failures(lines)}
    assert {
        "live-only:rds-present",
        "live-only:cache-present",
        "live-only:backup-bucket-present",
        "live-only:waf-present",
        "audit-trail-present",
    } <= names
    # even with nothing to find, every id reported is one the validator declares (a pack rule or live-only)
    assert {line.split()[1] for line in lines[:-1]} <= set(validate_deployment.LIVE_CHECKS)
