"""Benchmark the offline preview: prod, and a generated stack with ten times the services.

Reports medians of what it measured, nothing else:
- `run`: the program under the mock engine plus writing preview.json, in one warm process;
- `cli`: `python -m scripts.engine.preview` end to end in a fresh process (imports included).
Targets (2-core machine): prod at most 3 s; the 10x stack at most 6x the prod time.
- `review`: `python -m scripts.review --base HEAD` of a one-line change (a temp repository whose
  commit is this working tree), against one `cli` preview. Target: at most 1.3x one preview plus
  the diff (the review's two previews run in parallel, forked from one helper that imports pulumi-aws
  once; `previews` counts from the helper's start; the diff is what the review reports as `diff`).

    python -m scripts.engine.bench [--repeat 5] [--scale 10] [--review-only]
"""

from __future__ import annotations

import copy
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from scripts.cli import ArgumentParser, entrypoint
from scripts.engine.preview import run_stack, write_preview
from stacks.settings import REPO_ROOT, read_stack_config


def scaled_config(config: dict[str, Any], scale: int) -> dict[str, Any]:
    """The stack's config with every service repeated `scale` times (one edge service kept)."""
    scaled = copy.deepcopy(config)
    services = config["tradesense:services"]
    grown: dict[str, Any] = {}
    for copy_index in range(scale):
        for name, body in services.items():
            if body and body.get("tier") == "edge":
                if copy_index == 0:
                    grown[name] = body
                continue
            grown[name if copy_index == 0 else f"{name}-{copy_index}"] = copy.deepcopy(body)
    scaled["tradesense:services"] = grown
    return scaled


def _time_run(stack: str, config: dict[str, Any], repeat: int) -> tuple[float, int]:
    times, count = [], 0
    with tempfile.TemporaryDirectory() as out:
        for _ in range(repeat):
            gc.collect()  # each run starts from a clean heap, as a fresh CLI process does
            started = time.perf_counter()
            capture = run_stack(stack, config=config)
            write_preview(capture, Path(out), config, 0)
            times.append(time.perf_counter() - started)
            count = len(capture.resources)
    return statistics.median(times), count


def _time_cli(stack: str, repeat: int, project_dir: Path) -> float:
    times = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "scripts.engine.preview",
                    "--stack",
                    stack,
                    "--out",
                    out,
                    "--project-dir",
                    str(project_dir),
                ],
                cwd=REPO_ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _cpu_children() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_review(stack: str, repeat: int) -> dict[str, float]:
    """Medians for a one-line change, a review and a preview taken in turns (same load for both):
    wall s of the review, of one cli preview, of the review's phases, and CPU s of each."""
    import json

    from scripts.review.build import snapshot_repo

    samples: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        samples.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        snapshot_repo(REPO_ROOT, repo)
        config = repo / f"Pulumi.{stack}.yaml"
        text = config.read_text()
        assert "monthlyBudgetUsd: 25000" in text, "the one-line change moved: update scripts/engine/bench.py"
        config.write_text(text.replace("monthlyBudgetUsd: 25000", "monthlyBudgetUsd: 26000"))
        for index in range(repeat):
            cpu = _cpu_children()
            add("preview", _time_cli(stack, 1, repo))
            add("preview_cpu", _cpu_children() - cpu)
            out = Path(tmp) / f"out{index}"
            cpu, started = _cpu_children(), time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "scripts.review",
                    "--base",
                    "HEAD",
                    "--repo",
                    str(repo),
                    "--stack",
                    stack,
                    "--out",
                    str(out),
                ],
                cwd=REPO_ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            add("review", time.perf_counter() - started)
            add("review_cpu", _cpu_children() - cpu)
            timings = json.loads((out / "review.json").read_text())["timings_s"]
            add("previews", timings["previews"])
            add("policy", timings["previews_and_policy"] - timings["previews"])
            add("diff", timings["diff"])
    return {key: statistics.median(values) for key, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m scripts.engine.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--review-only", action="store_true", help="only time the change review")
    args = parser.parse_args(argv)
    gc.disable()  # as the preview CLI does: measure the same process the user runs
    if args.review_only:
        _print_review(args.stack)
        return 0

    config = read_stack_config(args.stack)
    big = scaled_config(config, args.scale)
    _time_run(args.stack, config, 1)  # warm-up: first touch of pulumi_aws submodules

    prod_run, prod_count = _time_run(args.stack, config, args.repeat)
    big_run, big_count = _time_run(args.stack, big, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
        (root / f"Pulumi.{args.stack}x{args.scale}.yaml").write_text(yaml.safe_dump({"config": big}))
        prod_cli = _time_cli(args.stack, max(3, args.repeat // 2), REPO_ROOT)
        big_cli = _time_cli(f"{args.stack}x{args.scale}", max(3, args.repeat // 2), root)

    print(f"offline preview, median of {args.repeat} runs (cli: of {max(3, args.repeat // 2)})")
    print(f"  {'stack':<14}{'resources':>10}{'run s':>9}{'cli s':>9}")
    print(f"  {args.stack:<14}{prod_count:>10}{prod_run:>9.2f}{prod_cli:>9.2f}")
    print(f"  {args.stack + 'x' + str(args.scale):<14}{big_count:>10}{big_run:>9.2f}{big_cli:>9.2f}")
    print(
        f"  ratio {args.scale}x/prod: run {big_run / prod_run:.2f}, cli {big_cli / prod_cli:.2f} "
        f"(target <= 6: {_met(big_run / prod_run <= 6)} by the run, {_met(big_cli / prod_cli <= 6)} by the cli)"
    )
    print(
        f"  prod at most 3 s: {_met(prod_run <= 3)} by the run ({prod_run:.2f} s), {_met(prod_cli <= 3)} by the cli "
        f"({prod_cli:.2f} s, of which importing pulumi and pulumi-aws is about 3 s)"
    )
    _print_review(args.stack)
    return 0


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _print_review(stack: str) -> None:
    m = _time_review(stack, 3)
    print("change review of a one-line change vs one offline preview (cli), median of 3 taken in turns:")
    print(
        f"  review {m['review']:.2f} s: both previews in parallel (imports included) {m['previews']:.2f} s, then the policy "
        f"packs {m['policy']:.2f} s, the diff {m['diff']:.2f} s; one preview {m['preview']:.2f} s"
    )
    print(
        f"  (review - diff) / preview = {(m['review'] - m['diff']) / m['preview']:.2f} "
        f"(target <= 1.3: {_met((m['review'] - m['diff']) / m['preview'] <= 1.3)}); "
        f"parallel previews / one preview = {m['previews'] / m['preview']:.2f}"
    )
    print(
        f"  CPU: review {m['review_cpu']:.2f} s in all its processes (one import of pulumi-aws shared by both "
        f"previews, two policy packs, git, diff) vs two separate previews {2 * m['preview_cpu']:.2f} s; "
        "the wall time above assumes two free cores"
    )


if __name__ == "__main__":
    entrypoint(main)  # bad arguments: one line, exit 2 (scripts.cli)
