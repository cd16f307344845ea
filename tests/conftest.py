"""Shared fixtures: every Pulumi test runs the real code under one mock engine (scripts.engine.offline).

Each run happens in a fresh context, so no mock or resource leaks from one test into another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.tagging import base_tags
from scripts.engine.offline import Capture, run_program
from tests.stack_files import STACKS  # noqa: F401  (the stacks the fixtures serve)

TEST_REGION = "us-east-1"


@pytest.fixture
def tags() -> dict[str, str]:
    """A complete set of required tags, as the stack would pass them."""
    return base_tags(
        project="tradesense",
        stack="test",
        environment="production",
        owner="platform-engineering",
        data_classification="restricted",
        compliance=("pci", "sox", "gdpr"),
    )


@pytest.fixture
def run_pulumi() -> Callable[..., Capture]:
    """Run a function that declares resources; returns everything it registered."""

    def run(program: Callable[[], Any], config: dict[str, Any] | None = None) -> Capture:
        return run_program(
            program,
            project="tradesense",
            stack="test",
            config={"aws:region": TEST_REGION, **(config or {})},
        )

    return run


@pytest.fixture(scope="session")
def prod_capture() -> Capture:
    """The prod stack, run once per session under the mock engine (read-only for tests)."""
    from scripts.engine.preview import run_stack

    return run_stack("prod")


@pytest.fixture(scope="session")
def prod_preview(prod_capture, tmp_path_factory) -> dict[str, Any]:
    """prod's preview.json document, as `python -m scripts.engine.preview` writes it."""
    import json

    from scripts.engine.preview import write_preview
    from stacks.settings import read_stack_config

    out = tmp_path_factory.mktemp("prod-preview")
    path = write_preview(prod_capture, out, read_stack_config("prod"), 0)
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def prod_preview_path(prod_preview, tmp_path_factory):
    import json

    path = tmp_path_factory.mktemp("prod-preview-file") / "preview.json"
    path.write_text(json.dumps(prod_preview))
    return path


@pytest.fixture(scope="session")
def prod_input(prod_preview):
    """prod's preview as the report reads it (the documents reader)."""
    from scripts.documents import reader

    return reader.parse(prod_preview, "prod preview")


@pytest.fixture(scope="session")
def prod_report(prod_preview_path):
    """One evaluation of prod by the pack over gRPC, plus waivers, shared by tests that only read it."""
    import datetime as dt

    from scripts.report.policy_report import build_report

    return build_report(str(prod_preview_path), today=dt.date(2026, 1, 15))


# Every stack of the repo: one Pulumi.<stack>.yaml each (adding a file adds it to the tests).


@dataclass(frozen=True)
class StackRun:
    stack: str
    capture: Capture
    preview_path: Path

    @property
    def preview(self) -> dict[str, Any]:
        import json

        return json.loads(self.preview_path.read_text())


@pytest.fixture(scope="session")
def stack_run(prod_capture, prod_preview_path, tmp_path_factory) -> Callable[[str], StackRun]:
    """Any stack's capture and preview.json, each stack run once per session (prod reuses prod_capture)."""
    from scripts.engine.preview import run_stack, write_preview
    from stacks.settings import read_stack_config

    runs = {"prod": StackRun("prod", prod_capture, prod_preview_path)}

    def get(stack: str) -> StackRun:
        if stack not in runs:
            capture = run_stack(stack)
            path = write_preview(capture, tmp_path_factory.mktemp(f"{stack}-preview"), read_stack_config(stack), 0)
            runs[stack] = StackRun(stack, capture, path)
        return runs[stack]

    return get
