"""The offline change plan on two previews: fast, no git, no subprocess (the prod preview is built
once per session). The end-to-end runs through git are in test_review_cli.py."""

from __future__ import annotations

import datetime as dt

from scripts.review.guard import find_data_loss
from scripts.review.plan import diff_previews, property_diff
from tests.review.documents import DB, first_of_type, rename_subtree, state

TODAY = dt.date(2026, 11, 30)


def test_identical_previews_change_nothing(base_doc, head_doc):
    plan = diff_previews(base_doc, head_doc)
    assert set(plan.counts()) == {"same"}
    assert find_data_loss(plan, [], TODAY) == []


def test_renaming_the_database_component_without_alias_deletes_the_database(base_doc):
    head = rename_subtree(base_doc, "auth-db", "auth-database")
    plan = diff_previews(base_doc, head)
    deleted = {c.urn: c for c in plan.of("delete")}
    assert DB in deleted
    assert deleted[DB].move is not None
    assert deleted[DB].move.to_urn.endswith("::auth-database-instance")
    # The one alias that keeps the whole component: on the component, inherited by its children.
    assert deleted[DB].move.inherited_from.endswith("PostgresDatabase::auth-database")
    findings = {f.urn: f for f in find_data_loss(plan, [], TODAY)}
    assert findings[DB].blocking and findings[DB].category == "database"
    assert findings[DB].change.protected  # the component declares protect=True on the instance
    assert 'pulumi.Alias(name="auth-db")' in findings[DB].fix


def test_renaming_with_the_alias_the_engine_resolves_is_not_a_delete(base_doc):
    head = rename_subtree(base_doc, "auth-db", "auth-database")
    for step in head["steps"]:
        new = step["newState"]
        if "::auth-database" in new["urn"]:
            # What scripts/engine/offline.py records for `aliases=[pulumi.Alias(name="auth-db")]` on the
            # component: the old URN of the component and, inherited, of each child.
            new["aliases"] = [new["urn"].replace("::auth-database", "::auth-db")]
    plan = diff_previews(base_doc, head)
    assert plan.of("delete") == [] and plan.of("create") == []
    assert find_data_loss(plan, [], TODAY) == []
    instance = next(c for c in plan.changes if c.urn.endswith("::auth-database-instance"))
    assert instance.op == "same" and instance.old_urn == DB


def test_storage_encryption_change_replaces_the_database_naming_the_property(base_doc, head_doc):
    state(head_doc, DB)["inputs"]["storageEncrypted"] = False
    plan = diff_previews(base_doc, head_doc)
    change = next(c for c in plan.changes if c.urn == DB)
    assert change.op == "replace"
    assert list(change.replace_reasons) == ["storageEncrypted"]
    # Pinned to the provider's schema: terraform-provider-aws internal/service/rds/instance.go
    # marks storage_encrypted ForceNew.
    assert "internal/service/rds/instance.go" in change.replace_reasons["storageEncrypted"]
    finding = next(f for f in find_data_loss(plan, [], TODAY) if f.urn == DB)
    assert finding.operation == "replace" and finding.blocking
    assert "storageEncrypted" in finding.why


def test_identifier_change_replaces_the_database(base_doc, head_doc):
    state(head_doc, DB)["inputs"]["identifier"] = "tradesense-prod-auth2"
    plan = diff_previews(base_doc, head_doc)
    change = next(c for c in plan.changes if c.urn == DB)
    assert change.op == "replace" and "identifier" in change.replace_reasons


def test_tag_change_is_an_in_place_update_and_not_flagged(base_doc, head_doc):
    state(head_doc, DB)["inputs"]["tags"]["CostCenter"] = "trading-42"
    plan = diff_previews(base_doc, head_doc)
    change = next(c for c in plan.changes if c.urn == DB)
    assert change.op == "update" and change.replace_reasons == {}
    assert [d.path for d in change.diffs] == ["tags.CostCenter"]
    assert find_data_loss(plan, [], TODAY) == []


def test_a_region_change_replaces_everything_under_the_provider(base_doc, head_doc):
    head_doc["config"]["aws:region"] = "us-west-2"
    plan = diff_previews(base_doc, head_doc)
    replaced = {c.urn for c in plan.of("replace")}
    assert DB in replaced
    change = next(c for c in plan.changes if c.urn == DB)
    assert "us-west-2" in change.replace_reasons["provider"]
    # Resources under the explicit DR provider stay where they are.
    dr = [c for c in plan.changes if "pulumi:providers:aws::dr::" in ((c.new or {}).get("provider") or "")]
    assert dr and all(c.op == "same" for c in dr)
    assert {f.category for f in find_data_loss(plan, [], TODAY)} >= {"database", "KMS key", "bucket (data or logs)"}


def test_no_stack_on_the_base_means_everything_is_created(head_doc):
    plan = diff_previews(None, head_doc)
    assert set(plan.counts()) == {"create"} and plan.notes


def test_a_deleted_bucket_is_flagged_and_an_added_one_is_not(base_doc, head_doc):
    bucket = first_of_type(base_doc, "aws:s3/bucket:Bucket")["urn"]
    head_doc["steps"] = [s for s in head_doc["steps"] if s["newState"]["urn"] != bucket]
    plan = diff_previews(base_doc, head_doc)
    assert [c.urn for c in plan.of("delete")] == [bucket]
    assert [f.urn for f in find_data_loss(plan, [], TODAY)] == [bucket]
    assert find_data_loss(diff_previews(head_doc, base_doc), [], TODAY) == []  # the create direction


def test_secrets_stay_masked_in_the_diff():
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    from scripts.review.plan import _inputs

    diffs = property_diff(_inputs({"inputs": {"password": "[secret]"}}), _inputs({"inputs": {"password": secret}}))
    assert "hunter2" not in repr(diffs)


def test_numbers_as_floats_and_ints_are_the_same_input():
    assert property_diff({"port": 5432.0}, {"port": 5432}) == []


def test_a_region_change_of_the_dr_provider_replaces_what_lives_there(base_doc, head_doc):
    dr = next(s["newState"] for s in head_doc["steps"] if s["newState"]["urn"].endswith("pulumi:providers:aws::dr"))
    dr["inputs"]["region"] = "eu-west-1"
    plan = diff_previews(base_doc, head_doc)
    under_dr = [c for c in plan.changes if c.custom and "::dr::" in ((c.new or {}).get("provider") or "")]
    assert under_dr and all(c.op == "replace" and "eu-west-1" in c.replace_reasons["provider"] for c in under_dr)
    assert next(c for c in plan.changes if c.urn == DB).op == "same"


def test_moving_a_resource_to_another_provider_replaces_it(base_doc, head_doc):
    dr = next(s["newState"] for s in head_doc["steps"] if s["newState"]["urn"].endswith("pulumi:providers:aws::dr"))
    state(head_doc, DB)["provider"] = f"{dr['urn']}::{dr['id']}"
    change = next(c for c in diff_previews(base_doc, head_doc).changes if c.urn == DB)
    assert change.op == "replace" and "to dr" in change.replace_reasons["provider"]
