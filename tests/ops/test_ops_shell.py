"""The shell entry points: shellcheck-clean, thin wrappers, and the deploy sequence with stand-ins.

The real Pulumi CLI cannot be installed here, so a stand-in `pulumi` on PATH records its
arguments and answers per a scenario; a stand-in PYTHON does the same for the offline gate,
the AWS identity check and live validation. The deploy script runs in a throwaway git repo so
the clean-tree check is real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
SHELLCHECK = Path(sys.executable).with_name("shellcheck")

STAND_IN = r"""#!/usr/bin/env bash
# Records its arguments; exits with the code the scenario gives for this command (default 0).
echo "$NAME $*" >> "$CALL_LOG"
case "$*" in
  whoami*) key=whoami ;;
  "stack select"*) key=select ;;
  "stack ls"*) key=ls; echo "prod*" ;;
  preview*) key=preview ;;
  up*) key=up ;;
  "-m scripts.ops.aws"*) key=identity ;;
  "-m scripts.ops.preflight"*) key=preflight ;;
  "-m scripts.engine.preview"*) key=gate-preview
      out=""; prev=""; for a in "$@"; do [ "$prev" = "--out" ] && out="$a"; prev="$a"; done
      echo '{"steps": []}' > "$out/preview.json" ;;
  "-m scripts.report.policy_report"*) key=gate ;;
  "-m scripts.ops.validate_deployment"*) key=validate ;;
  *) key=other ;;
esac
code="$(sed -n "s/^$key=//p" "$SCENARIO" | tail -n 1)"
[ "$key" = whoami ] && [ "${code:-0}" = 0 ] && echo "ci-bot"
[ "${code:-0}" = 0 ] || echo "$key failed (scripted)" >&2
exit "${code:-0}"
"""


def test_shell_scripts_are_shellcheck_clean():
    scripts = sorted(str(p) for p in SCRIPTS.glob("*.sh"))
    assert len(scripts) == 6
    result = subprocess.run(
        [str(SHELLCHECK), "-x", "--severity=style", *scripts], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("validate-deployment.sh", ["--stack", "nope"], "stack 'nope'"),
        ("backup.sh", ["--service", "gateway"], "has no database"),
        ("restore-from-backup.sh", ["payments", "2026-01-01"], "service = 'payments'"),
        ("monitor-health.sh", ["--retries", "99"], "--retries = 99"),
    ],
)
def test_wrappers_run_the_module_and_pass_its_exit_code(moto_server, script, args, message):
    result = subprocess.run(
        [str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        cwd="/",
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_wrapper_without_a_python_says_how_to_make_one(tmp_path):
    result = subprocess.run(
        [str(SCRIPTS / "backup.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": str(tmp_path / "missing")},
    )
    assert result.returncode == 2 and "python3 -m venv .venv" in result.stderr


@pytest.fixture
def deploy(tmp_path):
    """A throwaway committed repo holding the deploy script, plus stand-ins and their call log."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("deploy-production-secure.sh", "lib.sh"):
        shutil.copy2(SCRIPTS / name, repo / "scripts" / name)
    shutil.copy2(REPO / "Pulumi.prod.yaml", repo / "Pulumi.prod.yaml")
    (repo / ".gitignore").write_text("out/\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "fixture"], check=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pulumi", "python"):
        path = bin_dir / name
        path.write_text(STAND_IN.replace("$NAME", name))
        path.chmod(0o755)
    log, scenario = tmp_path / "calls.log", tmp_path / "scenario"
    scenario.write_text("")

    def run(*args: str, scenario_lines: str = "", stdin: str = "") -> tuple[subprocess.CompletedProcess, list[str]]:
        scenario.write_text(scenario_lines)
        if log.exists():
            log.unlink()
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHON": str(bin_dir / "python"),
            "CALL_LOG": str(log),
            "SCENARIO": str(scenario),
        }
        result = subprocess.run(
            [str(repo / "scripts" / "deploy-production-secure.sh"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        calls = log.read_text().splitlines() if log.exists() else []
        return result, calls

    run.repo = repo  # type: ignore[attr-defined]
    return run


HAPPY = [
    "pulumi whoami",
    "python -m scripts.ops.aws identity --stack prod",
    "python -m scripts.ops.preflight --stack prod",
    "pulumi stack select prod",
    "python -m scripts.engine.preview --stack prod --out <OUT>",
    "python -m scripts.report.policy_report <OUT>/preview.json --with-checkov --format text --strict",
    "pulumi preview --stack prod --diff --policy-pack policies",
    "pulumi up --stack prod --yes --policy-pack policies",
    "python -m scripts.ops.validate_deployment --stack prod",
]


def normalise(calls: list[str], repo: Path) -> list[str]:
    """Replace the timestamped output directory (repo/out/deploy/<stack>-<time>) by <OUT>."""
    out_dir = str(repo / "out" / "deploy")

    def word(w: str) -> str:
        if not w.startswith(out_dir):
            return w
        return "<OUT>/preview.json" if w.endswith("/preview.json") else "<OUT>"

    return [" ".join(word(w) for w in call.split()) for call in calls]


def test_happy_path_runs_every_step_in_order(deploy):
    result, calls = deploy("--stack", "prod", "--yes")
    assert result.returncode == 0, result.stderr
    assert normalise(calls, deploy.repo) == HAPPY
    assert "deployed at" in result.stdout and "validated" in result.stdout


def test_typed_confirmation_deploys_and_anything_else_does_not(deploy):
    result, calls = deploy(stdin="prod\n")
    assert result.returncode == 0 and normalise(calls, deploy.repo) == HAPPY
    result, calls = deploy(stdin="yes\n")
    assert result.returncode == 1
    assert "FAILED at confirmation" in result.stderr and "nothing was deployed" in result.stderr
    assert not any(c.startswith("pulumi up") for c in calls)
    assert normalise(calls, deploy.repo) == HAPPY[:7]


@pytest.mark.parametrize(
    ("scenario", "failed_step", "calls_made"),
    [
        ("whoami=1", "preflight: pulumi login", 1),
        ("identity=1", "preflight: AWS identity", 2),
        ("preflight=1", "preflight: account can take the stack", 3),
        ("select=1", "preflight: stack selected", 4),
        ("gate=1", "policy gate", 6),
        ("preview=1", "pulumi preview", 7),
        ("up=1", "pulumi up", 8),
        ("validate=1", "live validation", 9),
    ],
)
def test_each_failure_stops_the_deploy_there(deploy, scenario, failed_step, calls_made):
    result, calls = deploy("--yes", scenario_lines=scenario + "\n")
    assert result.returncode == 1
    assert f"deploy: FAILED at {failed_step}" in result.stderr
    made = normalise(calls, deploy.repo)
    expected = HAPPY[:calls_made]
    if scenario == "select=1":
        expected = [*expected, "pulumi stack ls"]
    assert made == expected
    if calls_made < 8:
        assert not any(c.startswith("pulumi up") for c in calls)


def test_dirty_tree_stops_before_the_gate(deploy):
    (deploy.repo / "stray.txt").write_text("uncommitted")
    result, calls = deploy("--yes")
    assert (
        result.returncode == 1
        and "FAILED at preflight: clean git tree" in result.stderr
        and "stray.txt" in result.stderr
    )
    assert normalise(calls, deploy.repo) == HAPPY[:4]


def test_missing_pulumi_cli_is_reported(deploy, tmp_path):
    (tmp_path / "bin" / "pulumi").unlink()
    result, calls = deploy("--yes")
    assert result.returncode == 1 and "pulumi CLI is not on PATH" in result.stderr and calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown argument '--bogus'"),
        (["--stack"], "--stack needs a stack name"),
        (["--stack", "qa"], "no Pulumi.qa.yaml"),
        (["--stack", "a;b"], "only letters"),
    ],
)
def test_bad_arguments_exit_2_before_anything_runs(deploy, args, message):
    result, calls = deploy(*args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert calls == []
