"""The live validator speaks the pack's language: its check ids are the pack's rule names (or say
`live-only:`), and its thresholds are the pack's floors, read from the pack rather than restated."""

from __future__ import annotations

import ast
from pathlib import Path

from scripts.cli import run
from scripts.ops import expectations as expect
from scripts.ops import validate_deployment
from tradesense_policies.floors import FLOORS
from tradesense_policies.registry import all_rules

EXPECTATIONS = Path(expect.__file__)
# Floors a live-judged rule reads that the live check does not need, and why.
NOT_LIVE = {
    # Audit buckets (the trail's) are not among the live checks: only the backup bucket is read live.
    "minAuditRetentionDays",
}


def test_every_live_check_is_a_pack_rule_or_says_live_only():
    rules = all_rules()
    for check in validate_deployment.LIVE_CHECKS:
        if check.startswith(expect.LIVE_ONLY_PREFIX):
            # a live-only id must not hide a pack rule of the same name behind the prefix
            assert check.removeprefix(expect.LIVE_ONLY_PREFIX) not in rules, check
        else:
            assert check in rules, f"{check}: not a pack rule; name it {expect.LIVE_ONLY_PREFIX}{check}"


def test_expectations_restates_no_floor_of_the_pack():
    tree = ast.parse(EXPECTATIONS.read_text())
    # no number assigned at module level: every threshold is read from the pack
    literals = [
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
        if isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, (int, float))
        and not isinstance(node.value.value, bool)
    ]
    assert literals == [], f"thresholds restated in expectations.py: {literals}"
    # every floor a live-judged rule reads is taken from the pack's FLOORS
    read = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "floor"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    needed = {
        key for name in validate_deployment.LIVE_CHECKS if name in all_rules() for key in all_rules()[name].config
    }
    assert needed - NOT_LIVE <= read, f"floors a live check must read from the pack: {sorted(needed - NOT_LIVE - read)}"
    assert read <= set(FLOORS)


def test_expected_values_are_the_pack_defaults():
    assert expect.MIN_BACKUP_RETENTION_DAYS == FLOORS["minBackupRetentionDays"].default
    assert expect.MAX_STATEMENT_TIMEOUT_MS == FLOORS["maxStatementTimeoutMs"].default
    assert expect.LOGIN_MAX_PER_MINUTE == FLOORS["loginMaxRequestsPerMinute"].default
    assert expect.API_MAX_PER_MINUTE == FLOORS["apiMaxRequestsPerMinute"].default
    assert tuple(expect.LOGIN_PATHS) == tuple(FLOORS["loginPaths"].default)


def test_a_stricter_pack_floor_moves_the_live_verdict(shared_deployment, capsys, monkeypatch):
    # The fixture keeps backups 30 days, as the prod settings ask; a pack floor of 35 must fail them live.
    monkeypatch.setattr(expect, "MIN_BACKUP_RETENTION_DAYS", 35)
    code = run(validate_deployment.main, ["--stack", "prod"])
    failed = [line.split(maxsplit=3) for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert code == 1
    assert {check for _, check, _, _ in failed} == {"rds-backup-retention", "s3-object-lock-retention"}
    assert all("need >= 35" in found for _, _, _, found in failed)
    assert sum(check == "rds-backup-retention" for _, check, _, _ in failed) == 5


def test_the_pack_login_rate_floor_is_judged_per_minute_live(shared_deployment, capsys, monkeypatch):
    # The fixture's 10 per 120 s is 5 a minute, the pack's default; a floor of 4 a minute must fail it.
    monkeypatch.setattr(expect, "LOGIN_MAX_PER_MINUTE", 4)
    code = run(validate_deployment.main, ["--stack", "prod"])
    failed = [line.split(maxsplit=3) for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert code == 1
    assert [(check, where) for _, check, where, _ in failed] == [("waf-login-rate-limit", "tradesense-prod-edge")]
    assert "<= 4/min" in failed[0][3]
