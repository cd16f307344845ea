"""The two offline previews a review compares: the base revision's (a throw-away git worktree at
REF) and the working tree's, each `python -m scripts.engine.preview` of that revision, run in parallel.

Every git or preview failure becomes a ReviewError: one line, exit 2, nothing left behind (the
worktree is removed even when a preview fails).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
PREVIEW_TIMEOUT_S = 600


class ReviewError(Exception):
    """Bad input or an unusable revision: one line, exit 2."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise ReviewError("git is not installed") from None
    if done.returncode != 0:
        raise ReviewError(f"git {args[0]}: {_last_line(done.stderr)}")
    return done.stdout.strip()


def repo_root(path: Path) -> Path:
    if not path.is_dir():
        raise ReviewError(f"--repo {path}: no such directory")
    try:
        return Path(git(path, "rev-parse", "--show-toplevel"))
    except ReviewError:
        raise ReviewError(f"--repo {path}: not a git repository") from None


def resolve(repo: Path, ref: str) -> str:
    if not ref or ref.startswith("-"):
        raise ReviewError(f"--base {ref!r}: must name a git revision (a branch, tag or commit)")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ReviewError:
        raise ReviewError(
            f"--base {ref}: no such revision in {repo} (fetch it first, e.g. `git fetch origin main`)"
        ) from None


def check_stack(repo: Path, stack: str) -> None:
    if not STACK_NAME.match(stack):
        raise ReviewError(f"--stack {stack!r}: a stack name is letters, digits, _ . and -")
    if not (repo / f"Pulumi.{stack}.yaml").is_file():
        raise ReviewError(f"--stack {stack}: no Pulumi.{stack}.yaml in the working tree {repo}")


@contextmanager
def base_worktree(repo: Path, sha: str) -> Iterator[Path]:
    """A detached worktree of `sha`, removed afterwards whatever happens."""
    parent = Path(tempfile.mkdtemp(prefix="tradesense-review-"))
    path = parent / "base"
    try:
        git(repo, "worktree", "add", "--detach", "--quiet", str(path), sha)
        yield path
    finally:
        # Removes this worktree's entry too; no `git worktree prune`, which would touch other entries.
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(path)], capture_output=True, text=True
        )
        shutil.rmtree(parent, ignore_errors=True)


@dataclass
class PreviewRun:
    label: str
    proc: subprocess.Popen
    out_dir: Path
    started: float
    seconds: float = 0.0

    def wait(self) -> Path:
        try:
            _, stderr = self.proc.communicate(timeout=PREVIEW_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise ReviewError(f"{self.label}: offline preview took longer than {PREVIEW_TIMEOUT_S} s") from None
        self.seconds = time.perf_counter() - self.started
        path = self.out_dir / "preview.json"
        if self.proc.returncode != 0 or not path.is_file():
            raise ReviewError(f"{self.label}: offline preview failed: {_last_line(stderr)}")
        return path


def start_preview(label: str, project_dir: Path, stack: str, out_dir: Path) -> PreviewRun:
    """The offline preview of the revision checked out at `project_dir`, with this venv: its own
    `scripts.engine.preview`, or `scripts.preview` for a revision from before scripts/ had packages."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # import that revision's code
    module = (
        "scripts.engine.preview"
        if (project_dir / "scripts" / "engine" / "preview.py").is_file()
        else "scripts" + ".preview"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--stack", stack, "--out", str(out_dir)],
        cwd=project_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return PreviewRun(label, proc, out_dir, time.perf_counter())


def has_stack(project_dir: Path, stack: str) -> bool:
    return (project_dir / f"Pulumi.{stack}.yaml").is_file()


def copy_if_exists(source: Path, target: Path) -> Path | None:
    if not source.is_file():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def snapshot_repo(source: Path, target: Path) -> Path:
    """A new git repository at `target` whose one commit is `source`'s working tree (tracked and
    untracked files, not ignored ones): a base to review a change against, for tests and the bench."""
    files = git(source, "ls-files", "-co", "--exclude-standard").splitlines()
    for name in files:
        path = source / name
        if path.is_file() and not path.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / name)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "-c", "user.email=review@localhost", "-c", "user.name=review", "commit", "-qm", "base")
    return target
