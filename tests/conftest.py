"""Shared fixtures: every Pulumi test runs the real code under one mock engine (scripts.offline).

Each run happens in a fresh context, so no mock or resource leaks from one test into another.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from components.tagging import base_tags
from scripts.offline import Capture, run_program

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
