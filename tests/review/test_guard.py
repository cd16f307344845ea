"""Change waivers: the written approval to delete or replace one stateful resource."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from scripts.review.guard import find_data_loss, waiver_module
from scripts.review.plan import diff_previews
from tests.review.documents import DB, state

OTHER_DB = DB.replace("::auth-db-instance", "::billing-db-instance")


def _waivers(*entries) -> list:
    return waiver_module.parse_change_waivers({"change_waivers": list(entries)}, "test.yaml")


def _entry(urn: str, expires: str = "2026-12-31", operations=("replace",)) -> dict:
    return {
        "urn": urn,
        "operations": list(operations),
        "reason": "migrated to a new KMS key, snapshot CHG-7 restored",
        "approved_by": "platform-lead@tradesense.io",
        "expires": expires,
    }


@pytest.fixture
def two_replaced_databases(base_doc, head_doc):
    for urn in (DB, OTHER_DB):
        state(head_doc, urn)["inputs"]["kmsKeyId"] = "arn:aws:kms:us-east-1:123456789012:key/rotated"
    return diff_previews(base_doc, head_doc)


def test_a_change_waiver_lets_exactly_the_named_urn_through(two_replaced_databases):
    findings = {f.urn: f for f in find_data_loss(two_replaced_databases, _waivers(_entry(DB)), dt.date(2026, 12, 1))}
    assert not findings[DB].blocking and findings[DB].waiver.approved_by == "platform-lead@tradesense.io"
    assert findings[OTHER_DB].blocking and findings[OTHER_DB].waiver is None


def test_a_change_waiver_stops_working_after_it_expires(two_replaced_databases):
    waivers = _waivers(_entry(DB, expires="2026-12-31"))
    on_the_day = {f.urn: f for f in find_data_loss(two_replaced_databases, waivers, dt.date(2026, 12, 31))}
    after = {f.urn: f for f in find_data_loss(two_replaced_databases, waivers, dt.date(2027, 1, 1))}
    assert not on_the_day[DB].blocking
    assert after[DB].blocking and after[DB].expired_waiver is not None


def test_a_waiver_for_delete_does_not_cover_a_replace(two_replaced_databases):
    findings = {
        f.urn: f
        for f in find_data_loss(
            two_replaced_databases, _waivers(_entry(DB, operations=["delete"])), dt.date(2026, 12, 1)
        )
    }
    assert findings[DB].blocking


@pytest.mark.parametrize(
    "entry, message",
    [
        ({**_entry(DB), "urn": "urn:pulumi:prod::tradesense::*::auth-db-instance"}, "no patterns"),
        ({**_entry(DB), "urn": "auth-db-instance"}, "exact resource URN"),
        ({k: v for k, v in _entry(DB).items() if k != "expires"}, "without an expiry"),
        ({**_entry(DB), "reason": " "}, "'reason' is missing"),
        ({**_entry(DB), "operations": ["drop"]}, "delete and/or replace"),
        ({**_entry(DB), "resources": ["x"]}, "unknown field"),
    ],
)
def test_an_incomplete_or_broad_change_waiver_is_refused(entry, message):
    with pytest.raises(waiver_module.WaiverError, match=message):
        _waivers(entry)


def test_the_repository_waiver_file_parses_with_its_change_waivers_block():
    document = yaml.safe_load(waiver_module.DEFAULT_PATH.read_text())
    assert "change_waivers" in document
    assert waiver_module.load_change_waivers() == waiver_module.parse_change_waivers(document)
    # The policy waivers in the same file still load (the block is separate).
    assert waiver_module.load()
