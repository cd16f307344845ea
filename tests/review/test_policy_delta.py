"""Policy delta: violations a head introduces and fixes, judged by the real pack over gRPC, and the
waivers it adds, removes or lets run out."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from scripts.review.plan import diff_previews
from scripts.review.policy_delta import PolicyDelta, compare, evaluate, waiver_changes
from tests.review.documents import DB, rename_subtree, state

BILLING_DB = DB.replace("::auth-db-instance", "::billing-db-instance")
TODAY = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def delta(prod_preview, tmp_path_factory):
    import copy
    import json

    base, head = copy.deepcopy(prod_preview), copy.deepcopy(prod_preview)
    state(base, BILLING_DB)["inputs"]["storageEncrypted"] = False  # the base's violation, fixed by the head
    state(head, DB)["inputs"]["publiclyAccessible"] = True  # the head's new violation
    out = tmp_path_factory.mktemp("delta")
    (out / "base.json").write_text(json.dumps(base))
    (out / "head.json").write_text(json.dumps(head))
    base_report = evaluate(out / "base.json", None, TODAY)
    head_report = evaluate(out / "head.json", None, TODAY)
    return compare(base_report, head_report, diff_previews(base, head))


def test_a_violation_the_head_introduces_shows_as_introduced_and_blocks(delta):
    introduced = {(f.rule_id, f.urn) for f in delta.introduced}
    assert ("rds-not-publicly-accessible", DB) in introduced
    assert any(f.rule_id == "rds-not-publicly-accessible" for f in delta.blocking)


def test_a_violation_the_head_fixes_shows_as_fixed(delta):
    assert ("rds-storage-encrypted-cmk", BILLING_DB) in {(f.rule_id, f.urn) for f in delta.fixed}
    assert ("rds-storage-encrypted-cmk", BILLING_DB) not in {(f.rule_id, f.urn) for f in delta.introduced}


def test_a_rename_does_not_read_as_fixed_here_and_introduced_there(prod_preview, tmp_path):
    import copy
    import json

    base = copy.deepcopy(prod_preview)
    state(base, DB)["inputs"]["publiclyAccessible"] = True
    head = rename_subtree(base, "auth-db", "auth-database")
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    result = compare(
        evaluate(tmp_path / "b.json", None, TODAY),
        evaluate(tmp_path / "h.json", None, TODAY),
        diff_previews(base, head),
    )
    renamed = DB.replace("::auth-db-instance", "::auth-database-instance")
    assert ("rds-not-publicly-accessible", renamed) in {(f.rule_id, f.urn) for f in result.unchanged}
    assert not [f for f in result.introduced if f.rule_id == "rds-not-publicly-accessible"]
    assert not [f for f in result.fixed if f.rule_id == "rds-not-publicly-accessible"]


def test_waivers_added_removed_and_expiring(tmp_path):
    def waiver(policy: str, expires: str) -> dict:
        return {
            "policy": policy,
            "resources": ["x-bucket"],
            "reason": "r",
            "approved_by": "platform-lead@tradesense.io",
            "expires": expires,
        }

    base = tmp_path / "base.yaml"
    head = tmp_path / "head.yaml"
    base.write_text(yaml.safe_dump({"waivers": [waiver("CKV_AWS_1", "2027-06-01"), waiver("CKV_AWS_2", "2027-06-01")]}))
    head.write_text(
        yaml.safe_dump(
            {
                "waivers": [waiver("CKV_AWS_1", "2027-06-01"), waiver("CKV_AWS_3", "2026-12-15")],
                "change_waivers": [
                    {
                        "urn": DB,
                        "operations": ["replace"],
                        "reason": "r",
                        "approved_by": "platform-lead@tradesense.io",
                        "expires": "2026-12-20",
                    }
                ],
            }
        )
    )
    delta = PolicyDelta()
    waiver_changes(delta, base, head, TODAY)
    assert {e.get("policy") or e.get("urn") for e in delta.waivers_added} == {"CKV_AWS_3", DB}
    assert [e["policy"] for e in delta.waivers_removed] == ["CKV_AWS_2"]
    # Expiring within 30 days of 2026-11-30: the new checkov waiver and the change waiver.
    assert [e.get("policy") or e.get("urn") for e in delta.waivers_expiring] == ["CKV_AWS_3", DB]
