"""A real `pulumi preview --json --show-sames` document: the engine's ops are authoritative, and the
guard and the comment are the same as offline.

The fixture follows what the CLI prints (pkg/backend/display/json.go and apitype; FACTS.md): a
same/update/replace step's newState has no id and no outputs (oldState has them), a delete step has
oldState only, config values are strings, secrets are "[secret]", `replaceReasons` names the inputs.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from scripts.review.__main__ import main
from scripts.review.guard import find_data_loss
from scripts.review.plan import PlanError, diff_previews, engine_plan
from tests.review.documents import DB, first_of_type, state

TODAY = dt.date(2026, 11, 30)


def _cli_preview(base: dict, head: dict, replaced: dict[str, list[str]], show_sames: bool = True) -> dict:
    """What `pulumi preview --json` prints for deploying `head` over a stack deployed from `base`."""
    head_states = {s["newState"]["urn"]: s["newState"] for s in head["steps"]}
    steps, counts = [], {}
    for step in base["steps"]:
        old = step["newState"]
        urn = old["urn"]
        if urn not in head_states:
            op, new = "delete", None
        else:
            new = {k: v for k, v in head_states[urn].items() if k not in ("id", "outputs")}
            op = "replace" if urn in replaced else "update" if new["inputs"] != old["inputs"] else "same"
        counts[op] = counts.get(op, 0) + 1
        if op == "same" and not show_sames:
            continue
        entry = {"op": op, "urn": urn, "provider": old.get("provider", ""), "oldState": old}
        if new is not None:
            entry["newState"] = new
        if op == "replace":
            entry["replaceReasons"] = replaced[urn]
            entry["diffReasons"] = replaced[urn]
        steps.append(entry)
    return {
        "config": {k: v if isinstance(v, str) else json.dumps(v) for k, v in base["config"].items()},
        "steps": steps,
        "duration": 0,
        "changeSummary": counts,
    }


@pytest.fixture
def change(base_doc, head_doc):
    """Encrypt the auth database differently (ForceNew) and drop one bucket."""
    state(head_doc, DB)["inputs"]["storageEncrypted"] = False
    bucket = first_of_type(base_doc, "aws:s3/bucket:Bucket")["urn"]
    head_doc["steps"] = [s for s in head_doc["steps"] if s["newState"]["urn"] != bucket]
    return base_doc, head_doc, bucket


def test_replace_and_delete_steps_give_the_same_findings_as_offline(change):
    base, head, bucket = change
    document = _cli_preview(base, head, {DB: ["storageEncrypted"]})
    engine = engine_plan(document)
    offline = diff_previews(base, head)
    found = {(f.operation, f.urn) for f in find_data_loss(engine, [], TODAY)}
    assert found == {("replace", DB), ("delete", bucket)}
    assert found == {(f.operation, f.urn) for f in find_data_loss(offline, [], TODAY)}
    replaced = next(c for c in engine.changes if c.urn == DB)
    assert list(replaced.replace_reasons) == ["storageEncrypted"] and replaced.protected
    assert engine.complete


def test_the_engine_op_wins_over_the_offline_table(change):
    base, head, _ = change
    # The engine says update (say, the provider can now change it in place): no replacement claimed.
    document = _cli_preview(base, head, {})
    plan = engine_plan(document)
    assert next(c for c in plan.changes if c.urn == DB).op == "update"


def test_without_show_sames_the_policy_delta_is_not_computed(change, tmp_path, capsys):
    base, head, _ = change
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(_cli_preview(base, head, {DB: ["storageEncrypted"]}, show_sames=False)))
    code = main(["--preview", str(path), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 1
    assert "--show-sames" in out
    assert not json.loads((tmp_path / "out" / "review.json").read_text())["policy"]["computed"]


def test_the_cli_reviews_a_real_preview(change, tmp_path, capsys):
    base, head, bucket = change
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(_cli_preview(base, head, {DB: ["storageEncrypted"]})))
    code = main(["--preview", str(path), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "[BLOCK] replace database auth-db-instance" in out
    review = json.loads((tmp_path / "out" / "review.json").read_text())
    assert review["policy"]["computed"]
    # storageEncrypted false is also a policy violation the head introduces.
    assert ("rds-storage-encrypted-cmk", DB) in {(f["rule_id"], f["urn"]) for f in review["policy"]["introduced"]}
    comment = (tmp_path / "out" / "review.md").read_text()
    assert comment.startswith("<!-- tradesense-change-review:prod -->")


def test_an_unknown_op_is_bad_input(tmp_path):
    with pytest.raises(PlanError, match="not an operation"):
        engine_plan({"steps": [{"op": "explode", "urn": DB, "newState": {"urn": DB, "type": "t"}}]})
    path = tmp_path / "p.json"
    path.write_text("{not json")
    assert main(["--preview", str(path), "--out", str(tmp_path / "o")]) == 2
