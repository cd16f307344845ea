"""The review's preview helper: warm imports shared, project code never shared, children stopped.

Fake revisions (a directory with its own `scripts/engine/preview.py`) stand in for the base and the
head, so each test costs a helper start-up, not two real previews."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.review.build import ReviewError
from scripts.review.previews import Job, PreviewHelper, preload_modules
from stacks.settings import REPO_ROOT

FAKE_PREVIEW = """
import json, sys, pathlib
import scripts  # must be this revision's package, not the reviewer's
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
(out / "preview.json").write_text(json.dumps({"scripts": scripts.__file__, "marker": scripts.MARKER,
    "stack": sys.argv[sys.argv.index("--stack") + 1], "warm": type(sys.modules.get("pulumi_aws.budgets")).__name__}))
"""


def _revision(root: Path, marker: str, body: str = FAKE_PREVIEW) -> Path:
    (root / "scripts" / "engine").mkdir(parents=True)
    (root / "scripts" / "__init__.py").write_text(f"MARKER = {marker!r}\n")
    (root / "scripts" / "engine" / "__init__.py").write_text("")
    (root / "scripts" / "engine" / "preview.py").write_text(body)
    return root


def test_the_preload_names_the_pulumi_aws_modules_the_program_uses():
    modules = preload_modules(REPO_ROOT)
    assert {"pulumi", "pulumi_aws", "pulumi_aws.rds", "pulumi_aws.wafv2", "pulumi_aws.budgets"} <= set(modules)
    assert "pulumi_aws.amazon" not in modules  # "aws.amazon.com" in a principal is no module


def test_each_revision_runs_its_own_code_with_the_shared_imports_already_loaded(tmp_path):
    base = _revision(tmp_path / "base", "base")
    head = _revision(tmp_path / "head", "head")
    helper = PreviewHelper(["pulumi_aws.budgets"], tmp_path / "out" / "previews.log")
    try:
        runs = helper.run(
            [Job("head", head, "prod", tmp_path / "out" / "head"), Job("base", base, "dev", tmp_path / "out" / "base")]
        )
        head_doc, base_doc = (json.loads(run.wait().read_text()) for run in runs)
    finally:
        helper.stop()
    assert head_doc["marker"] == "head" and head_doc["scripts"].startswith(str(head))
    assert base_doc["marker"] == "base" and base_doc["stack"] == "dev"
    # Imported for real in the helper (a lazy module would still be pulumi's _LazyModule).
    assert head_doc["warm"] == "module"


def test_a_failing_preview_is_its_last_stderr_line(tmp_path):
    broken = _revision(
        tmp_path / "broken", "x", "import sys\nprint('noise', file=sys.stderr)\nsys.exit('error: bad stack')\n"
    )
    helper = PreviewHelper([], tmp_path / "out" / "previews.log")
    try:
        (run,) = helper.run([Job("head", broken, "prod", tmp_path / "out" / "head")])
        with pytest.raises(ReviewError, match=r"^head: offline preview failed: error: bad stack$"):
            run.wait()
    finally:
        helper.stop()


def test_stopping_the_helper_stops_the_previews_it_forked(tmp_path):
    slow = _revision(
        tmp_path / "slow",
        "x",
        "import os, time, pathlib\npathlib.Path(os.environ['PID_FILE']).write_text(str(os.getpid()))\ntime.sleep(120)\n",
    )
    pid_file = tmp_path / "child.pid"
    os.environ["PID_FILE"] = str(pid_file)
    try:
        helper = PreviewHelper([], tmp_path / "out" / "previews.log")
    finally:
        del os.environ["PID_FILE"]
    helper.run([Job("head", slow, "prod", tmp_path / "out" / "head")])
    deadline = time.monotonic() + 60
    while not pid_file.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert _running(child)
    helper.stop()
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed child may wait a moment for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_helper_started_without_jobs_exits_cleanly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "scripts.review.previews", "pulumi"],
        cwd=REPO_ROOT,
        input="",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_without_fork_each_preview_is_a_plain_subprocess_with_the_same_result(tmp_path, monkeypatch):
    """macOS (fork is unsafe there) or TRADESENSE_REVIEW_FORK=0: same jobs, same files, no shared imports."""
    monkeypatch.setenv("TRADESENSE_REVIEW_FORK", "0")
    head = _revision(tmp_path / "head", "head")
    broken = _revision(tmp_path / "broken", "x", "import sys\nsys.exit('error: bad stack')\n")
    helper = PreviewHelper(["pulumi_aws.budgets"], tmp_path / "out" / "previews.log")
    try:
        good, bad = helper.run(
            [
                Job("head", head, "prod", tmp_path / "out" / "head"),
                Job("base", broken, "prod", tmp_path / "out" / "base"),
            ]
        )
        document = json.loads(good.wait().read_text())
        with pytest.raises(ReviewError, match=r"^base: offline preview failed: error: bad stack$"):
            bad.wait()
    finally:
        helper.stop()
    assert document["marker"] == "head" and document["scripts"].startswith(str(head))
    assert document["warm"] == "NoneType"  # nothing preloaded: a fresh interpreter
