"""Report fixtures: write a document to a file and report on it the way the command does."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.report.cli_shapes import FIXTURES

TODAY = dt.date(2026, 1, 15)


@pytest.fixture
def write(tmp_path):
    def write(document, name="input.json") -> str:
        path = tmp_path / name
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        return str(path)

    return write


@pytest.fixture
def report_on(write):
    """build_report on a document (dict or fixture file name), as `python -m scripts.report.policy_report` does."""
    from scripts.report.policy_report import build_report

    def report_on(document, **kwargs):
        path = str(FIXTURES / document) if isinstance(document, str) else write(document)
        return build_report(path, today=TODAY, **kwargs)

    return report_on
