"""End to end through git: a temp repository holding this working tree as its base commit, a
one-line change in the working tree, `python -m scripts.review --base HEAD` (two offline previews in
parallel, the pack on both). Two such runs only: each costs two previews."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from scripts.review.__main__ import main
from scripts.review.build import snapshot_repo
from stacks.settings import REPO_ROOT

RENAME = (re.compile(r'PostgresDatabase\(\s*f"\{service\.name\}-db",'), 'PostgresDatabase(f"{service.name}-database",')


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """This working tree (tracked and new files, not ignored ones) committed as the base."""
    root = tmp_path_factory.mktemp("review-repo") / "repo"
    root.mkdir()
    snapshot_repo(REPO_ROOT, root)
    return root


@pytest.fixture
def program(repo):
    """stacks/program.py of the temp repo, restored after the test."""
    path = repo / "stacks" / "program.py"
    original = path.read_text()
    assert RENAME[0].search(original), "the database component's name moved: update RENAME"
    yield path
    path.write_text(original)


def _review(repo: Path, out: Path, capsys) -> tuple[int, str, dict]:
    code = main(["--base", "HEAD", "--repo", str(repo), "--out", str(out)])
    captured = capsys.readouterr()
    review = json.loads((out / "review.json").read_text()) if (out / "review.json").exists() else {}
    return code, captured.out + captured.err, review


def test_renaming_the_database_component_without_alias_is_flagged(repo, program, tmp_path, capsys):
    program.write_text(RENAME[0].sub(RENAME[1], program.read_text()))
    code, output, review = _review(repo, tmp_path / "out", capsys)
    assert code == 1, output
    db = "urn:pulumi:prod::tradesense::tradesense:database:PostgresDatabase$aws:rds/instance:Instance::auth-db-instance"
    loss = {f["urn"]: f for f in review["data_loss"]}
    assert loss[db]["operation"] == "delete" and loss[db]["blocking"] and loss[db]["protected"]
    assert 'pulumi.Alias(name="auth-db")' in loss[db]["fix"]
    comment = (tmp_path / "out" / "review.md").read_text()
    assert comment.startswith("<!-- tradesense-change-review:prod -->") and "BLOCKED" in comment
    # The worktree of the base is gone afterwards.
    assert "tradesense-review-" not in _git(repo, "worktree", "list")


def test_renaming_it_with_the_alias_is_not(repo, program, tmp_path, capsys):
    source = RENAME[0].sub(RENAME[1], program.read_text())
    source = source.replace(
        "                tags=for_service(tags, service.name),\n            ),\n        )\n"
        "        for service in settings.database_services",
        "                tags=for_service(tags, service.name),\n            ),\n"
        '            opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{service.name}-db")]),\n        )\n'
        "        for service in settings.database_services",
    )
    assert "aliases=[pulumi.Alias" in source
    program.write_text(source)
    code, output, review = _review(repo, tmp_path / "out", capsys)
    assert code == 0, output
    assert review["data_loss"] == []
    assert review["plan"]["counts"]["delete"] == 0 and review["plan"]["counts"]["create"] == 0


def test_a_bad_ref_is_one_line_and_exit_2(repo, tmp_path, capsys):
    assert main(["--base", "no-such-branch", "--repo", str(repo), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-branch" in err


def test_not_a_git_repository_is_exit_2(tmp_path, capsys):
    assert main(["--base", "HEAD", "--repo", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a git repository" in capsys.readouterr().err


def test_an_unknown_stack_is_exit_2(repo, tmp_path, capsys):
    assert main(["--base", "HEAD", "--repo", str(repo), "--stack", "qa", "--out", str(tmp_path)]) == 2
    assert "Pulumi.qa.yaml" in capsys.readouterr().err


def test_no_source_is_exit_2(capsys):
    assert main([]) == 2
    assert "--base" in capsys.readouterr().err


def test_a_head_that_does_not_preview_is_one_line_and_exit_2(repo, tmp_path, capsys):
    config = repo / "Pulumi.prod.yaml"
    original = config.read_text()
    assert "tradesense:backupRetentionDays: 30" in original
    config.write_text(original.replace("tradesense:backupRetentionDays: 30", "tradesense:backupRetentionDays: 7"))
    try:
        assert main(["--base", "HEAD", "--repo", str(repo), "--out", str(tmp_path)]) == 2
    finally:
        config.write_text(original)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "head (working tree): offline preview failed" in err
    assert "backupRetentionDays" in err
    assert "tradesense-review-" not in _git(repo, "worktree", "list")
