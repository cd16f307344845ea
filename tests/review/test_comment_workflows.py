"""The change review reaches every pull request, forks included, without giving a fork's code a
writable token: same-repository pull requests comment from their own run; a fork's review is posted
by pull-request-comment.yml, which runs after it, reads the artifact as text and runs nothing of it."""

from __future__ import annotations

import yaml

from stacks.settings import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"


def _load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads a bare `on` as true
    return document


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_pull_request_run_writes_only_where_its_token_can():
    """A fork's token is read-only: the comment and the SARIF upload are for same-repository runs."""
    steps = {step.get("name", ""): step for step in _steps(_load("pull-request.yml"))}
    comment = next(s for n, s in steps.items() if n.startswith("Comment the change review"))
    sarif = steps["Upload SARIF to code scanning"]
    assert comment["if"] == SAME_REPO
    assert SAME_REPO in sarif["if"]
    # The fork's review leaves the run as this artifact, whatever the outcome.
    keep = steps["Keep the full change review"]
    assert keep["if"] == "always()" and keep["with"]["name"] == "change-review-${{ matrix.stack }}"


def test_the_fork_comment_workflow_runs_after_the_pull_request_run_and_runs_none_of_its_code():
    pull_request = _load("pull-request.yml")
    workflow = _load("pull-request-comment.yml")
    assert workflow["on"] == {"workflow_run": {"workflows": [pull_request["name"]], "types": ["completed"]}}
    assert workflow["permissions"] == {"actions": "read", "pull-requests": "write"}
    (job,) = workflow["jobs"].values()
    assert "head_repository.full_name != github.repository" in job["if"]
    assert "conclusion != 'cancelled'" in job["if"]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert not any(u.startswith("actions/checkout") for u in uses), "never check out the fork's code"
    assert not any("run" in step for step in job["steps"]), "no shell step: the artifact is only read"
    download = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["pattern"] == "change-review-*"


def test_the_fork_comment_finds_the_pull_request_from_the_run_not_from_the_artifact():
    script = next(s for s in _steps(_load("pull-request-comment.yml")) if "script" in s.get("with", {}))["with"][
        "script"
    ]
    assert "p.head.sha === run.head_sha" in script
    assert "p.head.repo.full_name === run.head_repository.full_name" in script
    assert "issue_number = pull.number" in script
    # The stack name from the artifact's name is checked before it reaches the marker.
    assert "/^[A-Za-z0-9_.-]+$/.test(stack)" in script
    # The same marker as the same-repository comment, so both update one comment per stack.
    same_repo = next(
        s for s in _steps(_load("pull-request.yml")) if s.get("name", "").startswith("Comment the change review")
    )["with"]["script"]
    assert "const marker = `<!-- tradesense-change-review:${stack} -->`;" in script
    assert "const marker = `<!-- tradesense-change-review:${stack} -->`;" in same_repo
