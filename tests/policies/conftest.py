"""Policy fixtures: a private copy of prod's resources to mutate (prod_input and prod_report are
session fixtures in tests/conftest.py; the in-process evaluator is tests.policies.evaluate)."""

from __future__ import annotations

import copy

import pytest

from scripts.documents import reader as inputs


@pytest.fixture
def prod_resources(prod_input) -> list[inputs.ResourceState]:
    """A private deep copy of prod's resources, free to mutate."""
    return copy.deepcopy(prod_input.resources)
