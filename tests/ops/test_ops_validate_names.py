"""The live validator speaks the pack's language: its check ids are the pack's rule names (or say
`live-only:`), and its thresholds are the pack's floors, read from the pack rather than restated."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from scripts.cli import run
from scripts.ops import expectations as expect
from scripts.ops import validate_deployment
from tradesense_policies.floors import FLOORS
from tradesense_policies.registry import all_rules

EXPECTATIONS = Path(expect.__file__)
# Floors a live-judged rule reads that the live check does not need, and why.
NOT_LIVE = {
    # Audit buckets (the trail's) are not among the live checks: only the backup bucket is read live.
    ("s3-object-lock-retention", "minAuditRetentionDays"),
    ("s3-lifecycle-not-shorter-than-retention", "minAuditRetentionDays"),
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


def test_every_floor_a_live_rule_reads_comes_from_the_pack_config(shared_deployment):
    """Each (rule, floor) the pack reads for a live-judged rule is asked of PackConfig under that rule's
    name, so a floor configured for that rule is the one judged live."""
    from scripts.ops.aws import Aws, Discovery
    from stacks.settings import load_stack_settings

    settings = load_stack_settings("prod")
    config = expect.PackConfig()
    aws = Aws(region=settings.region, endpoint_url=shared_deployment.endpoint)
    validate_deployment.validate(Discovery(aws, settings.project, settings.stack), settings, config)
    rules = all_rules()
    needed = {(name, key) for name in validate_deployment.LIVE_CHECKS if name in rules for key in rules[name].config}
    assert needed - NOT_LIVE <= config.read, (
        f"floors not read from the pack config: {sorted(needed - NOT_LIVE - config.read)}"
    )
    assert NOT_LIVE <= needed  # the exceptions are still real


def test_without_a_config_the_floors_are_the_pack_defaults():
    config = expect.PackConfig()
    for name, rule in all_rules().items():
        for key in rule.config:
            default = FLOORS[key].default
            assert config.floor(name, key) == default, (name, key)


# -- --policy-pack-config: the file the pack is given sets the floors judged live ----------------------
def _validate_with(capsys, tmp_path, document) -> tuple[int, list[list[str]], str]:
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(document))
    code = run(validate_deployment.main, ["--stack", "prod", "--policy-pack-config", str(path)])
    captured = capsys.readouterr()
    failed = [line.split(maxsplit=3) for line in captured.out.splitlines() if line.startswith("FAIL")]
    return code, failed, captured.err


def test_a_stricter_floor_for_one_rule_moves_that_rules_live_verdict(shared_deployment, capsys, tmp_path):
    # The fixture keeps backups 30 days, as prod asks; 35 configured for rds-backup-retention fails every
    # database, and only that rule: CrossGuard config is per policy, the bucket's rule keeps its floor.
    code, failed, _ = _validate_with(capsys, tmp_path, {"rds-backup-retention": {"minBackupRetentionDays": 35}})
    assert code == 1
    assert {check for _, check, _, _ in failed} == {"rds-backup-retention"}
    assert len(failed) == 5 and all("need >= 35" in found for _, _, _, found in failed)
    code, failed, _ = _validate_with(
        capsys, tmp_path, {"s3-object-lock-retention": {"enforcementLevel": "mandatory", "minBackupRetentionDays": 35}}
    )
    assert code == 1
    assert [(check, found) for _, check, _, found in failed] == [
        ("s3-object-lock-retention", "object lock Enabled, default retention 30 days (need >= 35)")
    ]


def test_a_stricter_login_floor_is_judged_by_the_packs_rule(shared_deployment, capsys, tmp_path):
    # 10 per 120 s is 5 a minute, the pack's default; 4 configured for the pack's rule fails it live
    code, failed, _ = _validate_with(capsys, tmp_path, {"waf-login-rate-limit": {"loginMaxRequestsPerMinute": 4}})
    assert code == 1
    assert [(check, where) for _, check, where, _ in failed] == [("waf-login-rate-limit", "tradesense-prod-edge")]
    assert "rule login-rate-limit: 10 per 120 s is looser than 4 per minute" in failed[0][3]


def test_a_configured_login_path_must_be_covered_live(shared_deployment, capsys, tmp_path):
    code, failed, _ = _validate_with(capsys, tmp_path, {"waf-login-rate-limit": {"loginPaths": ["/sso/callback"]}})
    assert code == 1
    assert [check for _, check, _, _ in failed] == ["waf-login-rate-limit"]
    assert "its scope-down does not match /sso/callback" in failed[0][3]


def test_a_looser_configured_floor_is_ignored_as_by_the_pack(shared_deployment, capsys, tmp_path):
    # floors.effective keeps the stricter of default and config; the CLI's schema refuses it outright
    code, failed, _ = _validate_with(
        capsys,
        tmp_path,
        {"all": "mandatory", "rds-backup-retention": {"minBackupRetentionDays": 1}, "waf-api-rate-limit": "advisory"},
    )
    assert (code, failed) == (0, [])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not a readable JSON file (JSONDecodeError)"),
        ("[1, 2]", "a policy pack config is a JSON object keyed by policy name"),
        (
            '{"rds-backup-retentoin": {"minBackupRetentionDays": 35}}',
            "names no policy of the pack: rds-backup-retentoin",
        ),
        ('{"rds-backup-retention": "strict"}', "enforcement level 'strict' is not one of"),
    ],
    ids=["missing", "not-json", "not-an-object", "unknown-policy", "bad-level"],
)
def test_a_bad_policy_config_is_one_line_exit_2_before_any_aws_call(capsys, tmp_path, monkeypatch, content, message):
    def no_aws(*args, **kwargs):
        raise AssertionError("AWS was reached with a bad --policy-pack-config")

    monkeypatch.setattr(validate_deployment, "aws_from_args", no_aws)
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    code = run(validate_deployment.main, ["--stack", "prod", "--policy-pack-config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"error: --policy-pack-config {path}: ") and message in err
    assert "Traceback" not in err
