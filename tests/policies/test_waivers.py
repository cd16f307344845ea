"""Waivers: valid, expired, malformed; honoured the same way by the pack (CLI) and the report."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from scripts.report.evaluate import apply_waivers
from scripts.report.findings import Finding
from tradesense_policies import pack, waivers
from tradesense_policies.governance import WAIVERS_SCOPED
from tradesense_policies.pack import Gate

URN = "urn:pulumi:prod::tradesense::tradesense:storage:SecureBucket$aws:s3/bucket:Bucket::audit-bucket"
VALID = {
    "policy": "rds-backup-retention",
    "resources": ["audit-*"],
    "reason": "migration window",
    "approved_by": "ciso@tradesense.io",
    "expires": "2026-03-31",
}


def fail(rule_id="rds-backup-retention", urn=URN, source="policy"):
    return Finding(source=source, rule_id=rule_id, title="t", urn=urn, resource_type="x", status="fail", message="bad")


def test_committed_waivers_are_valid_and_reasoned():
    loaded = waivers.load()
    assert loaded and all(w.reason and w.approved_by and w.expires for w in loaded)


def test_valid_waiver_matches_by_name_or_urn_pattern():
    (by_name,) = waivers.parse({"waivers": [VALID]})
    (by_urn,) = waivers.parse({"waivers": [{**VALID, "resources": ["urn:pulumi:prod::*::audit-bucket"]}]})
    today = dt.date(2026, 1, 1)
    for waiver in (by_name, by_urn):
        assert waivers.match([waiver], "rds-backup-retention", URN, today) == (waiver, None)
        assert waivers.match([waiver], "rds-final-snapshot", URN, today) == (None, None)


def test_expired_waiver_no_longer_waives_and_says_so():
    (waiver,) = waivers.parse({"waivers": [VALID]})
    assert waivers.match([waiver], "rds-backup-retention", URN, dt.date(2026, 3, 31))[0] is waiver  # last day
    assert waivers.match([waiver], "rds-backup-retention", URN, dt.date(2026, 4, 1)) == (None, waiver)
    (after,) = apply_waivers([fail()], [waiver], dt.date(2026, 4, 1))
    assert after.status == "fail" and "expired on 2026-03-31" in after.message
    assert after.waiver["status"] == "expired"


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("reason", None, "field 'reason' is missing"),
        ("reason", "  ", "field 'reason' is missing"),
        ("expires", None, "without an expiry date"),
        ("expires", "next year", "not a date"),
        ("approved_by", None, "field 'approved_by'"),
        ("resources", [], "field 'resources'"),
    ],
)
def test_malformed_waiver_is_rejected_naming_entry_and_field(field, value, error):
    entry = {**VALID, field: value}
    if value is None:
        del entry[field]
    with pytest.raises(waivers.WaiverError, match=error) as info:
        waivers.parse({"waivers": [VALID, entry]})
    assert "waiver #2 (rds-backup-retention)" in str(info.value)


def test_checkov_ids_are_waived_with_the_same_rules():
    (waiver,) = waivers.parse({"waivers": [{**VALID, "policy": "CKV_AWS_16"}]})
    result = apply_waivers([fail("CKV_AWS_16", source="checkov"), fail()], [waiver], dt.date(2026, 1, 1))
    assert [f.status for f in result] == ["waived", "fail"]
    assert result[0].waiver["approved_by"] == "ciso@tradesense.io"


def test_cli_gate_suppresses_active_and_annotates_expired():
    (waiver,) = waivers.parse({"waivers": [VALID]})
    reported = []
    Gate([waiver], dt.date(2026, 1, 1), suppress=True)(
        "rds-backup-retention", URN, "bad", lambda m, u: reported.append(m)
    )
    assert reported == []
    Gate([waiver], dt.date(2026, 5, 1), suppress=True)(
        "rds-backup-retention", URN, "bad", lambda m, u: reported.append(m)
    )
    assert len(reported) == 1 and "expired on 2026-03-31" in reported[0]
    Gate([waiver], dt.date(2026, 1, 1), suppress=False)(
        "rds-backup-retention", URN, "bad", lambda m, u: reported.append(m)
    )
    assert reported[-1] == "bad"


STAGING_URN = URN.replace("urn:pulumi:prod::", "urn:pulumi:staging::")


def test_a_waiver_scoped_to_stacks_covers_only_their_resources():
    (scoped,) = waivers.parse({"waivers": [{**VALID, "stacks": ["staging"]}]})
    (one,) = waivers.parse({"waivers": [{**VALID, "stacks": "staging"}]})
    (everywhere,) = waivers.parse({"waivers": [VALID]})
    today = dt.date(2026, 1, 1)
    for waiver in (scoped, one):
        assert waiver.stacks == ("staging",)
        assert waivers.match([waiver], "rds-backup-retention", STAGING_URN, today) == (waiver, None)
        assert waivers.match([waiver], "rds-backup-retention", URN, today) == (None, None)
        # A bare name says nothing about its stack: a scoped waiver does not gamble on it.
        assert waivers.match([waiver], "rds-backup-retention", "audit-bucket", today) == (None, None)
    assert everywhere.stacks == () and everywhere.covers("rds-backup-retention", URN)
    assert everywhere.covers("rds-backup-retention", STAGING_URN)
    assert scoped.to_dict()["stacks"] == ["staging"] and "stacks" not in everywhere.to_dict()
    # The report and the CLI gate honour the scope alike.
    result = apply_waivers([fail(), fail(urn=STAGING_URN)], [scoped], today)
    assert [f.status for f in result] == ["fail", "waived"]
    reported = []
    Gate([scoped], today, suppress=True)("rds-backup-retention", URN, "bad", lambda m, u: reported.append(m))
    assert reported == ["bad"]


@pytest.mark.parametrize("value", [[], "", [""], ["prod", 3], ["pr od"], {"prod": True}])
def test_a_malformed_stack_scope_is_rejected_naming_the_field(value):
    with pytest.raises(waivers.WaiverError, match=r"waiver #1 \(rds-backup-retention\): field 'stacks'"):
        waivers.parse({"waivers": [{**VALID, "stacks": value}]})


def test_committed_stack_scopes_name_existing_stacks():
    from tests.stack_files import STACKS

    scoped = [w for w in waivers.load() if w.stacks]
    assert scoped and all(set(w.stacks) <= set(STACKS) for w in scoped)


# -- waivers that cannot switch a rule off by accident -------------------------------------------------
def test_unknown_rule_or_check_id_is_refused():
    with pytest.raises(waivers.WaiverError, match="neither a policy of the pack nor a checkov check id"):
        waivers.parse({"waivers": [{**VALID, "policy": "rds-backup-retentoin"}]})
    assert waivers.parse({"waivers": [{**VALID, "policy": "CKV2_AWS_62"}]})


def test_approver_must_be_listed_in_the_repo():
    with pytest.raises(waivers.WaiverError, match="not an approver listed in approvers.yaml"):
        waivers.parse({"waivers": [{**VALID, "approved_by": "intern@tradesense.io"}]})
    approvers, days = waivers.load_approvers()
    assert "platform-lead@tradesense.io" in approvers and days == 365


def test_a_waiver_runs_at_most_the_maximum_duration_from_the_real_date():
    (waiver,) = waivers.parse({"waivers": [VALID]})
    waivers.vet([waiver], today=dt.date(2025, 4, 1))  # 364 days
    with pytest.raises(waivers.WaiverError, match="a waiver may run at most 365 days"):
        waivers.vet([waiver], today=dt.date(2025, 3, 30))  # 366 days


@pytest.mark.parametrize("pattern", ["*", "urn:*", "urn:pulumi:prod::*", "*?*"])
def test_a_pattern_matching_everything_needs_all_resources(pattern):
    entry = {**VALID, "resources": [pattern]}
    with pytest.raises(waivers.WaiverError, match="match every resource"):
        waivers.parse({"waivers": [entry]})
    (waiver,) = waivers.parse({"waivers": [{**entry, "all_resources": True}]})
    assert waiver.to_dict()["all_resources"] is True


def test_a_pattern_covering_every_resource_of_its_rule_in_the_stack_is_reported():
    (waiver,) = waivers.parse({"waivers": [{**VALID, "resources": ["audit-*"]}]})
    urns = [URN, URN.replace("audit-bucket", "audit-replica")]
    assert waivers.breadth_problems([waiver], {"rds-backup-retention": urns})
    assert not waivers.breadth_problems([waiver], {"rds-backup-retention": urns + [URN.replace("audit-", "dumps-")]})
    (marked,) = waivers.parse({"waivers": [{**VALID, "resources": ["audit-*"], "all_resources": True}]})
    assert not waivers.breadth_problems([marked], {"rds-backup-retention": urns})


def test_patterns_split_over_several_waivers_are_judged_together():
    """`a*` and `[b-z]*` in two entries switch the rule off as surely as one `*`; all names written out
    one by one is a decision in plain sight, and two patterns that leave a resource out are narrow."""
    urns = [URN.replace("audit-bucket", name) for name in ("audit-bucket", "billing-bucket", "trading-bucket")]
    subjects = {"rds-backup-retention": urns}

    def parsed(*resources: list[str]) -> list[waivers.Waiver]:
        return waivers.parse(
            {"waivers": [{**VALID, "resources": r, "reason": f"r{i}"} for i, r in enumerate(resources)]}
        )

    (problem,) = waivers.breadth_problems(parsed(["a*"], ["[b-z]*"]), subjects)
    assert "2 waivers for rds-backup-retention (a*, [b-z]*) together cover every one of its 3 resources" in problem
    assert waivers.breadth_problems(parsed(["a*"], ["billing-bucket", "trading-bucket"]), subjects)
    assert not waivers.breadth_problems(parsed(["audit-bucket"], ["billing-bucket", "trading-bucket"]), subjects)
    assert not waivers.breadth_problems(parsed(["a*"], ["b*"]), subjects)  # trading-bucket stays judged
    marked = waivers.parse({"waivers": [{**VALID, "resources": ["*-bucket"], "all_resources": True}]})
    assert not waivers.breadth_problems([*marked, *parsed(["a*"])], subjects)


def test_duplicate_keys_and_duplicate_waivers_are_refused(tmp_path):
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "waivers:\n  - policy: rds-backup-retention\n    policy: rds-final-snapshot\n"
        "    resources: [x]\n    reason: r\n    approved_by: ciso@tradesense.io\n    expires: 2026-12-01\n"
    )
    with pytest.raises(waivers.WaiverError, match="duplicate key 'policy'"):
        waivers.load(path)
    with pytest.raises(waivers.WaiverError, match="waived twice"):
        waivers.parse({"waivers": [VALID, dict(VALID)]})


def test_the_pack_under_the_cli_never_honours_a_date_override():
    from tradesense_policies.pack import make_gate

    cli = make_gate({"TRADESENSE_WAIVER_TODAY": "2030-01-01"})
    assert cli.suppress and cli.today == dt.date.today()
    raw = make_gate({"TRADESENSE_WAIVER_TODAY": "2030-01-01", "TRADESENSE_POLICY_RAW": "1"})
    assert raw.today == dt.date(2030, 1, 1)


def test_the_committed_files_are_owned_through_codeowners():
    from pathlib import Path

    owners = (Path(__file__).resolve().parents[2] / ".github" / "CODEOWNERS").read_text()
    approvers, _ = waivers.load_approvers()
    for path in ("/policies/waivers.yaml", "/policies/approvers.yaml"):
        line = next(line for line in owners.splitlines() if line.startswith(path))
        assert set(line.split()[1:]) <= approvers


def _waiver_file(tmp_path, *entries: tuple[str, str, bool]):
    """The committed waivers plus one entry per (policy, pattern, all_resources)."""
    import yaml

    document = yaml.safe_load(waivers.DEFAULT_PATH.read_text())
    expires = dt.date.today() + dt.timedelta(days=30)
    for policy, pattern, every in entries:
        entry = {"policy": policy, "resources": [pattern], "reason": "cost", "approved_by": "ciso@tradesense.io"}
        document["waivers"].append({**entry, "expires": expires, **({"all_resources": True} if every else {})})
    path = tmp_path / "waivers.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _with_db_instances(prod_input, **changes):
    """prod's resources with `changes` set on the inputs (and outputs) of every RDS instance."""
    import copy

    changed = copy.deepcopy(prod_input)
    for resource in changed.resources:
        if resource.type == "aws:rds/instance:Instance":
            resource.inputs.update(changes)
            resource.outputs.update(changes) if resource.outputs else None
    return changed


def test_the_cli_pack_blocks_on_a_waiver_covering_every_resource_of_its_rule(prod_input, tmp_path):
    """Under the CLI the pack (the SDK's PolicyPack) applies waivers itself: a pattern covering all
    five databases for rds-multi-az, without all_resources, is refused by the mandatory stack policy
    waivers-scoped, not silently honoured."""
    from scripts.report import analyzer

    broad = _waiver_file(tmp_path, ("rds-multi-az", "*-db-instance", False))
    result = analyzer.analyze(prod_input, env={"TRADESENSE_POLICY_RAW": "0", "TRADESENSE_WAIVERS": str(broad)})
    (refused,) = [v for v in result.violations if "refused" in v.message]
    assert refused.policy == WAIVERS_SCOPED and refused.enforcement == "mandatory" and refused.urn == ""
    assert "waiver for rds-multi-az (*-db-instance) covers every one of its 5 resources" in refused.message
    assert result.policies[WAIVERS_SCOPED]["type"] == "stack"


def test_the_cli_pack_honours_a_narrow_waiver_and_one_marked_all_resources(prod_input, tmp_path):
    """The same pack, the same stack: a waiver naming one database, and one covering every database
    that says all_resources: true, both waive their violations and waivers-scoped stays silent."""
    from scripts.report import analyzer

    weakened = _with_db_instances(prod_input, multiAz=False, deletionProtection=False)
    raw = analyzer.analyze(weakened)  # the violations the two waivers are about, unwaived
    assert {(v.policy, v.urn.rsplit("::", 1)[-1]) for v in raw.violations} >= {
        ("rds-multi-az", "auth-db-instance"),
        ("rds-deletion-protection", "auth-db-instance"),
        ("rds-deletion-protection", "trading-db-instance"),
    }
    waived = _waiver_file(
        tmp_path,
        ("rds-multi-az", "*-db-instance", False),  # refused: covers all five
        ("rds-deletion-protection", "*-db-instance", True),
    )
    refused = analyzer.analyze(weakened, env={"TRADESENSE_POLICY_RAW": "0", "TRADESENSE_WAIVERS": str(waived)})
    # The deploy stops on the refusal (the waivers still silence what they cover; nothing deploys).
    assert [(v.policy, v.enforcement) for v in refused.violations] == [(WAIVERS_SCOPED, "mandatory")]
    waived = _waiver_file(
        tmp_path, ("rds-multi-az", "auth-db-instance", False), ("rds-deletion-protection", "*-db-instance", True)
    )
    cli = analyzer.analyze(weakened, env={"TRADESENSE_POLICY_RAW": "0", "TRADESENSE_WAIVERS": str(waived)})
    assert sorted({v.policy for v in cli.violations}) == ["rds-multi-az"]  # only the four not named
    assert "auth-db-instance" not in {v.urn.rsplit("::", 1)[-1] for v in cli.violations}


def test_waivers_scoped_in_process_judges_the_waivers_against_the_stack(prod_resources):
    from tests.policies.evaluate import violations
    from tradesense_policies.governance import waivers_scoped
    from tradesense_policies.model import Resource, Stack

    rule = pack.all_rules()[WAIVERS_SCOPED]
    assert rule.kind == "stack" and rule.enforcement == "mandatory"
    assert violations(rule, prod_resources) == []  # prod with the committed waivers
    stack = Stack(Resource(r.type, r.urn, r.name, r.state) for r in prod_resources)
    (broad,) = waivers.parse({"waivers": [{**VALID, "policy": "rds-multi-az", "resources": ["*-db-instance"]}]})
    ((urn, message),) = waivers_scoped(stack, [broad])
    assert urn == "" and "covers every one of its 5 resources" in message
    (narrow,) = waivers.parse({"waivers": [{**VALID, "policy": "rds-multi-az", "resources": ["a*-db-instance"]}]})
    (marked,) = waivers.parse(
        {"waivers": [{**VALID, "policy": "rds-multi-az", "resources": ["*-db-instance"], "all_resources": True}]}
    )
    assert waivers_scoped(stack, [narrow, marked]) == []
    # Five instances of the rule's type, four of them dropped: one left is no pattern's "every" (two needed).
    one_left = Stack(r for r in stack if r.type != "aws:rds/instance:Instance" or r.name == "auth-db-instance")
    assert waivers_scoped(one_left, [broad]) == []


def test_in_raw_mode_the_pack_judges_the_callers_waivers_once_and_the_policy_cannot_be_waived(
    prod_report, prod_input, tmp_path
):
    """Raw mode (the report, the review): the pack applies no waiver but judges the file its caller
    applies, as under the CLI; the report shows one result for the policy, passed on prod."""
    from scripts.report import analyzer

    (finding,) = [f for f in prod_report.findings if f.rule_id == WAIVERS_SCOPED]
    assert finding.status == "pass"
    assert ("SOC 2", "CC8.1") in finding.compliance
    broad = _waiver_file(tmp_path, ("rds-multi-az", "*-db-instance", False))
    raw = analyzer.analyze(prod_input, env={"TRADESENSE_WAIVERS": str(broad)})
    (refused,) = [v for v in raw.violations if v.policy == WAIVERS_SCOPED]
    assert "covers every one of its 5 resources" in refused.message
    with pytest.raises(waivers.WaiverError, match="guards the waivers themselves and cannot be waived"):
        waivers.parse({"waivers": [{**VALID, "policy": WAIVERS_SCOPED, "resources": ["x"]}]})


def test_change_waivers_are_read_like_policy_waivers_duplicate_keys_and_unlisted_approvers_refused(tmp_path):
    path = tmp_path / "waivers.yaml"
    urn = "urn:pulumi:prod::tradesense::aws:rds/instance:Instance::auth-db-instance"
    entry = f"  - urn: {urn}\n    operations: [replace]\n    reason: r\n    expires: {dt.date.today()}\n"
    path.write_text(
        "waivers: []\nchange_waivers:\n" + entry + "    approved_by: ciso@tradesense.io\n"
        "    approved_by: platform-lead@tradesense.io\n"
    )
    with pytest.raises(waivers.WaiverError, match="duplicate key 'approved_by'"):
        waivers.load_change_waivers(path)
    path.write_text("waivers: []\nchange_waivers:\n" + entry + "    approved_by: intern@tradesense.io\n")
    with pytest.raises(waivers.WaiverError, match="not an approver listed in approvers.yaml"):
        waivers.load_change_waivers(path)
    path.write_text("waivers: []\nchange_waivers:\n" + entry + "    approved_by: ciso@tradesense.io\n")
    (waiver,) = waivers.load_change_waivers(path)
    assert waiver.covers(urn, "replace") and not waiver.covers(urn, "delete")


@pytest.mark.parametrize(
    "change, line",
    [
        (
            {"expires": "next year"},
            "waiver #1 (rds-backup-retention): field 'expires' = \"next year\": is not a date (YYYY-MM-DD)",
        ),
        ({"all_resources": "yes"}, "field 'all_resources' = \"yes\": must be true or false"),
        ({"resources": 5}, "field 'resources' = 5: must be a non-empty list of URN or name patterns"),
        ({"stacks": ["prod", 3]}, "field 'stacks' = [\"prod\", 3]: must be a non-empty list of stack names"),
        ({"approver": "ciso@tradesense.io"}, "field 'approver' is an unknown field; allowed: policy, resources"),
    ],
)
def test_every_refusal_is_one_line_naming_the_field_its_value_and_what_is_allowed(change, line):
    with pytest.raises(waivers.WaiverError) as info:
        waivers.parse({"waivers": [{**VALID, **change}]})
    assert line in str(info.value) and len(str(info.value).splitlines()) == 1


def test_a_value_that_looks_like_a_credential_is_never_echoed():
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    with pytest.raises(waivers.WaiverError) as info:
        waivers.parse({"waivers": [{**VALID, "resources": 7, "stacks": [key]}]})
    assert "field 'resources' = 7" in str(info.value)
    with pytest.raises(waivers.WaiverError) as info:
        waivers.parse({"waivers": [{**VALID, "stacks": [key, "prod!"]}]})
    assert "field 'stacks' = [secret]" in str(info.value) and key not in str(info.value)
    with pytest.raises(waivers.WaiverError) as info:
        waivers.parse({"waivers": [{**VALID, "token": key}]})
    assert key not in str(info.value)


def test_the_file_and_the_approvers_file_refuse_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(
        waivers.WaiverError, match="field 'waiver' is an unknown field; allowed: waivers, change_waivers"
    ):
        waivers.parse({"waiver": [VALID]})
    with pytest.raises(waivers.WaiverError, match="field 'waivers' = 3: must be a list of waivers"):
        waivers.parse({"waivers": 3})
    path = tmp_path / "approvers.yaml"
    for text, line in [
        ("approvers: []\n", "approvers.yaml: field 'approvers' = []: must be a non-empty list of e-mail addresses"),
        ("approvers: [ciso@tradesense.io]\nmax_waiver_days: 400\n", "field 'max_waiver_days' = 400: must be a whole"),
        ("approvers: [ciso@tradesense.io]\nmax_waiver_days: true\n", "field 'max_waiver_days' = true: must be a whole"),
        ("approvers: [ciso@tradesense.io]\nowners: [x]\n", "field 'owners' is an unknown field"),
        ("approvers: [a@b]\napprovers: [c@d]\n", "duplicate key 'approvers'"),
    ]:
        path.write_text(text)
        with pytest.raises(waivers.WaiverError, match=re.escape(line)):
            waivers.load_approvers(path)
    path.write_text("approvers: [CISO@tradesense.io]\nmax_waiver_days: 30\n")
    assert waivers.load_approvers(path) == (frozenset({"ciso@tradesense.io"}), 30)
