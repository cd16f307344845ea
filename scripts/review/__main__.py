"""Review a pull request by what it changes: `python -m scripts.review --base REF [--stack prod]`.

Offline (the default): previews the base revision (a git worktree at REF) and the working tree in
parallel, evaluates the policy pack on both, and writes the change plan, the data-loss findings and
the policy delta to OUT (review.md: the pull-request comment; review-full.md; review.json).
With `--preview FILE` (a real `pulumi preview --json --show-sames`) the engine's plan is used instead.

Exit codes: 0 nothing blocking; 1 blocked (a stateful resource deleted or replaced without a change
waiver, or a new unwaived mandatory violation); 2 bad input, one line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scripts.review import render
from scripts.review.build import (
    ReviewError,
    base_worktree,
    check_stack,
    copy_if_exists,
    has_stack,
    repo_root,
    resolve,
)
from scripts.review.guard import find_data_loss, waiver_module
from scripts.review.plan import PlanError, diff_previews, engine_plan, engine_states, load_document
from scripts.review.policy_delta import (
    PolicyDelta,
    compare,
    evaluate,
    start_pack,
    stop_pack,
    waiver_changes,
    warm_report_modules,
)
from scripts.review.previews import Job, PreviewHelper, preload_modules


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ReviewError(f"{self.prog}: {message} (see --help)")


def _evaluate(preview: Path, waivers: Path | None, today: dt.date, with_checkov: bool, pack=None):
    from scripts.report.analyzer import PackError
    from scripts.report.policy_report import UsageError

    try:
        return evaluate(preview, waivers, today, with_checkov, pack=pack)
    except (UsageError, PackError) as exc:
        raise ReviewError(f"policy report of {preview}: {exc}") from None


def _usable_waivers(path: Path | None, fallback: Path | None, notes: list[str]) -> Path | None:
    """The base's waiver file if the head's rules can read it; otherwise the head's, noted."""
    if path is None:
        return None
    try:
        waiver_module.load(path)
        return path
    except waiver_module.WaiverError as exc:
        notes.append(
            f"base waiver file unreadable with the head's rules ({exc}); the base is judged with the head's waivers"
        )
        return fallback


def review_offline(args, out: Path, today: dt.date) -> render.Review:
    repo = repo_root(Path(args.repo))
    sha = resolve(repo, args.base)
    check_stack(repo, args.stack)
    head_waivers = Path(args.waivers) if args.waivers else repo / "policies" / "waivers.yaml"
    started = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[str] = []
    # The preview helper starts first: its imports (pulumi, pulumi-aws) are the longest step, and
    # overlap everything up to the previews (the base worktree, the policy packs).
    helper = PreviewHelper(preload_modules(repo), out / "previews.log")
    packs: list = []
    runs: list = []
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        with base_worktree(repo, sha) as base_dir:
            base_waivers = copy_if_exists(base_dir / "policies" / "waivers.yaml", out / "base" / "waivers.yaml")
            with_base = has_stack(base_dir, args.stack)
            base_judge_waivers = _usable_waivers(base_waivers, head_waivers, notes) if with_base else None
            packs = [start_pack(head_waivers), *([start_pack(base_judge_waivers)] if with_base else [])]
            jobs = [Job("head (working tree)", repo, args.stack, out / "head")]
            if with_base:
                jobs.append(Job(f"base {args.base}", base_dir, args.stack, out / "base"))
            runs = helper.run(jobs)
            warm_report_modules()  # while the previews run, not after them

            def side(index: int, waivers: Path | None):
                path = runs[index].wait()
                return path, _evaluate(path, waivers, today, args.with_checkov, pack=packs[index])

            # Each side runs its preview and then its policy report; the two sides overlap.
            head_future = pool.submit(side, 0, head_waivers)
            base_future = pool.submit(side, 1, base_judge_waivers) if with_base else None
            head_path, head_report = head_future.result()
            base_path, base_report = base_future.result() if base_future else (None, None)
    finally:
        helper.stop()  # one side failed: do not wait for the other's preview
        pool.shutdown(wait=True, cancel_futures=True)
        for pack in packs:  # analyze() stops the packs it used; these were not used
            if not pack.stdout.closed:
                stop_pack(pack)
    timings["previews"] = max(run.seconds for run in runs)
    timings["previews_and_policy"] = time.perf_counter() - started
    diff_started = time.perf_counter()
    try:
        head_doc = load_document(head_path)
        plan = diff_previews(
            load_document(base_path) if base_path else None,
            head_doc,
            base_source=f"base {args.base}",
            head_source="head",
        )
    except PlanError as exc:
        raise ReviewError(str(exc)) from None
    data_loss = find_data_loss(plan, _change_waivers(head_waivers), today)
    delta = compare(base_report, head_report, plan)
    delta.notes += notes
    waiver_changes(delta, base_waivers, head_waivers, today)
    timings["diff"] = time.perf_counter() - diff_started
    timings["total"] = time.perf_counter() - started
    return render.Review(
        plan, data_loss, delta, f"base {args.base} ({sha[:10]})", "head (working tree)", today, timings
    )


def _change_waivers(path: Path) -> list:
    try:
        return waiver_module.load_change_waivers(path)
    except waiver_module.WaiverError as exc:
        raise ReviewError(str(exc)) from None


def review_engine(args, out: Path, today: dt.date) -> render.Review:
    started = time.perf_counter()
    try:
        document = load_document(args.preview)
        plan = engine_plan(document, str(args.preview))
    except PlanError as exc:
        raise ReviewError(str(exc)) from None
    repo = Path(args.repo)
    head_waivers = Path(args.waivers) if args.waivers else repo / "policies" / "waivers.yaml"
    data_loss = find_data_loss(plan, _change_waivers(head_waivers), today)
    if plan.complete:
        base_states, _ = engine_states(plan)
        out.mkdir(parents=True, exist_ok=True)
        base_path = out / "deployed.json"
        base_path.write_text(
            json.dumps(
                {
                    "steps": [{"op": "same", "urn": s["urn"], "newState": s} for s in base_states],
                    "config": document.get("config") or {},
                }
            )
        )
        with ThreadPoolExecutor(max_workers=2) as pool:
            head_future = pool.submit(_evaluate, Path(args.preview), head_waivers, today, args.with_checkov)
            base_future = pool.submit(_evaluate, base_path, head_waivers, today, args.with_checkov)
            delta = compare(base_future.result(), head_future.result(), plan)
        delta.notes.append(
            "no base revision: the deployed state is judged with the same waivers, so the waiver delta is empty"
        )
    else:
        delta = PolicyDelta(computed=False)
    waiver_changes(delta, head_waivers, head_waivers, today)
    timings = {"total": time.perf_counter() - started}
    return render.Review(
        plan,
        data_loss,
        delta,
        "deployed state (the preview's oldState)",
        f"{args.preview} (pulumi preview)",
        today,
        timings,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m scripts.review", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--base", help="git revision to compare the working tree with (e.g. origin/main)")
    source.add_argument("--preview", help="a real `pulumi preview --json --show-sames` output to review instead")
    parser.add_argument("--stack", default="prod", help="stack name: Pulumi.<stack>.yaml (default prod)")
    parser.add_argument("--repo", default=".", help="the git working tree to review (default .)")
    parser.add_argument("--out", help="output directory (default build/<stack>/review)")
    parser.add_argument("--waivers", help="waiver file of the head (default <repo>/policies/waivers.yaml)")
    parser.add_argument("--artifact-url", help="link to the full review, for the comment's footer")
    parser.add_argument("--with-checkov", action="store_true", help="include checkov findings in the policy delta")
    # A short batch process, as the preview is: the cyclic GC's passes over two previews' worth of
    # states cost more than they free before exit (see scripts/offline.run_program).
    gc.disable()
    try:
        args = parser.parse_args(argv)
        if not args.base and not args.preview:
            raise ReviewError("python -m scripts.review: give --base REF (offline) or --preview FILE (real preview)")
        today = waiver_module.today_from_env(dict(os.environ))
        out = Path(args.out or f"build/{args.stack}/review").resolve()
        review = review_offline(args, out, today) if args.base else review_engine(args, out, today)
    except ReviewError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except ValueError as exc:  # TRADESENSE_WAIVER_TODAY not a date
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "review.md").write_text(render.to_markdown(review, args.artifact_url))
    (out / "review-full.md").write_text(render.to_full_markdown(review))
    (out / "review.json").write_text(render.to_json(review))
    sys.stdout.write(render.to_text(review))
    print(f"Wrote {out}/review.md (the pull-request comment), review-full.md, review.json")
    return 1 if review.blocked else 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
