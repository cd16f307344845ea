"""Review fixtures: prod's offline preview (built once per session, tests/conftest.py) as the base,
and helpers that make a head from it the way a one-line change would."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.review.documents import DB, first_of_type, rename_subtree, state  # noqa: F401  (fixtures' helpers)


@pytest.fixture
def base_doc(prod_preview) -> dict[str, Any]:
    return copy.deepcopy(prod_preview)


@pytest.fixture
def head_doc(prod_preview) -> dict[str, Any]:
    return copy.deepcopy(prod_preview)


@pytest.fixture
def write_json(tmp_path) -> Callable[[str, Any], Any]:
    def write(name: str, document: Any):
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return path

    return write
