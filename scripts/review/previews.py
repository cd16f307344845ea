"""The review's two offline previews (base and head), run in parallel by one warm helper process.

Why a helper: two previews in fresh interpreters each spend two thirds of their time importing pulumi
and pulumi-aws (the same files, from the same venv). The helper (`python -m scripts.review.previews`)
imports those once, then forks one child per revision. Each child forgets every project module it
inherited, imports that revision's own code (scripts, stacks, components) from the revision's
directory and runs its `python -m scripts.engine.preview` entry point, exactly as a subprocess
started there would. Only third-party modules are shared, never project code, so the base is
previewed by the base's program. Preloading is a speed-up only: a module that is not preloaded is
imported by the preview itself.

The helper starts first and imports while the review sets up; the jobs (revision directory, stack,
output directory) reach it as one JSON line on stdin. It writes `<out>/preview.exit` (the child's exit
code) when a child ends and `<out>/preview.log` (its stderr); `PreviewRun.wait` reads them.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.review.build import ReviewError, _last_line

PREVIEW_TIMEOUT_S = 600
_POLL_S = 0.02
_SHARED = ("pulumi", "pulumi.runtime", "pulumi.runtime.mocks", "pulumi_aws", "pulumi_random", "yaml", "pydantic")
_AWS_MODULE = re.compile(r"\baws\.([a-z][a-z0-9_]*)\b")


def preload_modules(*project_dirs: Path) -> list[str]:
    """The third-party modules the previews of these revisions import: the fixed core, and each
    pulumi-aws service module their components and stacks name (`aws.rds.Instance` -> pulumi_aws.rds)."""
    services: set[str] = set()
    for project_dir in project_dirs:
        for folder in ("components", "stacks"):
            for source in sorted((project_dir / folder).glob("*.py")):
                services.update(_AWS_MODULE.findall(source.read_text(errors="replace")))
    found = [f"pulumi_aws.{name}" for name in sorted(services) if importlib.util.find_spec(f"pulumi_aws.{name}")]
    return [*_SHARED, *found]


@dataclass
class Job:
    label: str
    project_dir: Path
    stack: str
    out_dir: Path

    @property
    def module(self) -> str:
        """That revision's preview entry point (`scripts.preview` before scripts/ had packages)."""
        if (self.project_dir / "scripts" / "engine" / "preview.py").is_file():
            return "scripts.engine.preview"
        return "scripts" + ".preview"

    def to_dict(self) -> dict[str, str]:
        return {
            "label": self.label,
            "project_dir": str(self.project_dir.resolve()),
            "module": self.module,
            "stack": self.stack,
            "out_dir": str(self.out_dir.resolve()),
        }


@dataclass
class PreviewRun:
    label: str
    helper: PreviewHelper
    out_dir: Path
    started: float
    seconds: float = 0.0

    def wait(self) -> Path:
        """preview.json once this revision's child has ended; a ReviewError if it failed."""
        exit_file = self.out_dir / "preview.exit"
        deadline = self.started + PREVIEW_TIMEOUT_S
        while not exit_file.is_file():
            if self.helper.proc.poll() is not None and not exit_file.is_file():
                raise ReviewError(
                    f"{self.label}: offline preview failed: the preview helper ended early: {self.helper.last_error()}"
                )
            if time.perf_counter() > deadline:
                self.helper.stop()
                raise ReviewError(f"{self.label}: offline preview took longer than {PREVIEW_TIMEOUT_S} s")
            time.sleep(_POLL_S)
        self.seconds = time.perf_counter() - self.started
        code = exit_file.read_text().strip()
        path = self.out_dir / "preview.json"
        if code != "0" or not path.is_file():
            log = self.out_dir / "preview.log"
            stderr = log.read_text(errors="replace") if log.is_file() else ""
            raise ReviewError(f"{self.label}: offline preview failed: {_last_line(stderr)}")
        return path


class PreviewHelper:
    """The warm process. Started first, so its imports overlap the review's own set-up (the base
    worktree, the policy packs); told the previews to run once they are known (`run`)."""

    def __init__(self, preload: Sequence[str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.started = time.perf_counter()  # a preview's time counts from here: the imports are part of it
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        with open(log, "w") as errors:  # the helper keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scripts.review.previews", *preload],
                cwd=Path(__file__).resolve().parents[2],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                text=True,
                start_new_session=True,  # its own process group: stop() kills the helper and its children
            )

    def run(self, jobs: Sequence[Job]) -> list[PreviewRun]:
        """Fork one preview per job, in parallel; one PreviewRun per job, in order."""
        for job in jobs:
            job.out_dir.mkdir(parents=True, exist_ok=True)
            for stale in ("preview.exit", "preview.json", "preview.log"):
                (job.out_dir / stale).unlink(missing_ok=True)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps([job.to_dict() for job in jobs]) + "\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            raise ReviewError(f"offline preview failed: the preview helper ended early: {self.last_error()}") from None
        return [PreviewRun(job.label, self, job.out_dir, self.started) for job in jobs]

    def last_error(self) -> str:
        return _last_line(self.log.read_text(errors="replace")) if self.log.is_file() else "no output"

    def stop(self) -> None:
        """Kill the helper and its children if they still run (a side failed: nobody waits for them)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


def _warm(modules: Sequence[str]) -> None:
    """Import each module for real: pulumi-aws's service modules are lazy until an attribute is read."""
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        # Reading an attribute other than the introspection ones (`__name__`, `__spec__`...) is what
        # makes a lazy module (pulumi._utils._LazyModule) execute; `dir()` would not.
        getattr(module, "__all__", None)


def _run_child(job: dict[str, str]) -> None:
    """In a forked child: `python -m <module> --stack S --out DIR` of the revision at project_dir.

    The child inherited the helper's sys.path and its own project modules (this one): both are dropped
    so every `scripts`, `stacks` and `components` import below resolves inside project_dir."""
    out_dir = Path(job["out_dir"])
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    errors = os.open(out_dir / "preview.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(errors, 2)
    own_root = str(Path(__file__).resolve().parents[2])
    for name, loaded in list(sys.modules.items()):
        if name != "__main__" and _is_project_module(getattr(loaded, "__file__", None) or "", own_root):
            del sys.modules[name]
    project_dir = job["project_dir"]
    sys.path[:] = [project_dir, *(p for p in sys.path if p and os.path.realpath(p) != own_root)]
    importlib.invalidate_caches()
    os.chdir(project_dir)
    sys.argv = [job["module"], "--stack", job["stack"], "--out", job["out_dir"]]
    code: object = 0
    try:
        runpy.run_module(job["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # noqa: BLE001 - logged like an uncaught error in a subprocess, exit 1
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _is_project_module(path: str, root: str) -> bool:
    """A module of the repository at `root` (not of a venv that may live inside it)."""
    parts = Path(path).parts
    return path.startswith(root + os.sep) and "site-packages" not in parts


def may_fork() -> bool:
    """Whether previews may be forked from the warm helper. Not on macOS, where Python's own docs say
    "the fork start method should be considered unsafe as it can lead to crashes of the subprocess"
    (multiprocessing, "Contexts and start methods", changed in 3.8, bpo-33725:
    https://docs.python.org/3.11/library/multiprocessing.html#contexts-and-start-methods), nor where
    TRADESENSE_REVIEW_FORK=0: there each preview is a plain subprocess, slower, same result."""
    return hasattr(os, "fork") and sys.platform != "darwin" and os.environ.get("TRADESENSE_REVIEW_FORK") != "0"


def _spawn(job: dict[str, str]) -> int:
    """The preview as a fresh `python -m` process in the revision's directory (no shared imports)."""
    out_dir = Path(job["out_dir"])
    with open(out_dir / "preview.log", "w") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", job["module"], "--stack", job["stack"], "--out", job["out_dir"]],
            cwd=job["project_dir"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    return proc.pid  # reaped by main's os.wait(), like a forked child


def main(argv: Sequence[str]) -> int:
    """The helper: `python -m scripts.review.previews [MODULE...]`, then the jobs as one JSON line on
    stdin (none: stdin closed, nothing to do)."""
    import gc

    gc.disable()  # as the preview does; the children inherit it
    fork = may_fork()
    if fork:
        _warm(argv)
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    jobs = json.loads(line)
    children = {}
    for job in jobs:
        if fork:
            pid = os.fork()
            if pid == 0:
                _run_child(job)  # never returns
        else:
            pid = _spawn(job)
        children[pid] = job
    while children:
        pid, status = os.wait()
        job = children.pop(pid, None)
        if job is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        exit_file = Path(job["out_dir"]) / "preview.exit"
        partial = exit_file.with_suffix(".exit.tmp")
        partial.write_text(f"{code}\n")
        partial.replace(exit_file)  # appears whole: the reviewer polls for it
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
