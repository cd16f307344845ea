"""The revisions a review compares: the base (a throw-away git worktree at REF) and the working tree.

Every git failure becomes a ReviewError: one line, exit 2, nothing left behind (the worktree is
removed whatever happens). The previews of both are run by `scripts.review.previews`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


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
