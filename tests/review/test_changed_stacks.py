"""The pull-request matrix: which stacks a change touches."""

import json
import subprocess
import sys

import pytest

from scripts.review.changed_stacks import all_stacks, changed_stacks
from stacks.settings import REPO_ROOT


@pytest.fixture
def repo(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml", "Pulumi.qa.yaml"):
        (tmp_path / name).write_text("config: {}\n")
    return tmp_path


@pytest.mark.parametrize(
    "paths, expected",
    [
        (["Pulumi.staging.yaml"], ["staging"]),
        (["Pulumi.staging.yaml", "Pulumi.qa.yaml", "README.md"], ["qa", "staging"]),
        (["components/redis.py"], ["prod", "qa", "staging"]),
        (["Pulumi.staging.yaml", "stacks/program.py"], ["prod", "qa", "staging"]),
        (["policies/waivers.yaml"], ["prod", "qa", "staging"]),
        (["scripts/engine/offline.py"], ["prod", "qa", "staging"]),
        (["constraints.txt"], ["prod", "qa", "staging"]),
        (["Pulumi.yaml"], ["prod", "qa", "staging"]),
        (["README.md", "docs/operations.md", "tests/test_preview.py"], []),
        (["Pulumi.gone.yaml"], []),  # a deleted stack file: nothing left to preview
        ([], []),
    ],
)
def test_a_change_touches_its_stack_or_every_stack(repo, paths, expected):
    assert changed_stacks(paths, repo) == expected


def test_this_repo_lists_its_stack_files():
    assert all_stacks() == sorted(p.name.split(".")[1] for p in REPO_ROOT.glob("Pulumi.*.yaml"))
    assert {"prod", "staging"} <= set(all_stacks())


def test_cli_reads_git_diff_output_and_prints_json(repo):
    result = subprocess.run(
        [sys.executable, "-m", "scripts.review.changed_stacks", "--project-dir", str(repo)],
        input="Pulumi.qa.yaml\ndocs/x.md\n",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == ["qa"]
    bad = subprocess.run(
        [sys.executable, "-m", "scripts.review.changed_stacks", "--project-dir", str(repo / "nope")],
        input="",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: --project-dir = ") and bad.stdout == ""
