"""The pull-request comment: summary first, details collapsed, one marker, under GitHub's limit."""

from __future__ import annotations

import datetime as dt
import re

from scripts.review import render
from scripts.review.guard import find_data_loss
from scripts.review.plan import diff_previews
from scripts.review.policy_delta import PolicyDelta
from tests.review.documents import DB, rename_subtree, state

TODAY = dt.date(2026, 11, 30)


def _review(plan) -> render.Review:
    return render.Review(plan, find_data_loss(plan, [], TODAY), PolicyDelta(), "base origin/main (abc)", "head", TODAY)


def test_the_comment_leads_with_the_summary_and_collapses_the_details(base_doc):
    head = rename_subtree(base_doc, "auth-db", "auth-database")
    text = render.to_markdown(_review(diff_previews(base_doc, head)))
    assert text.splitlines()[0] == "<!-- tradesense-change-review:prod -->"
    assert text.count("<!-- tradesense-change-review:") == 1
    summary, _, details = text.partition("<details>")
    assert "| create | update | replace | delete | unchanged |" in summary
    assert "Data loss: " in summary and "auth-db-instance" in summary
    assert text.count("<details>") == text.count("</details>") >= 3
    assert "Moved without an alias" in details
    # Code inside the fix is a <code> element, so quotes are not shown as entities.
    assert "&quot;" not in summary.split("**do:**")[1].split("<code>")[0]


def test_a_huge_change_is_cut_under_githubs_limit_with_a_link(base_doc, head_doc):
    for step in head_doc["steps"]:
        inputs = step["newState"]["inputs"]
        inputs["description"] = "x" * 200 + step["newState"]["urn"]
        inputs.setdefault("tags", {})
        if isinstance(inputs["tags"], dict):
            inputs["tags"] = {**inputs["tags"], **{f"K{i}": "v" * 60 for i in range(20)}}
    review = _review(diff_previews(base_doc, head_doc))
    full = render.to_full_markdown(review)
    assert len(full) > render.COMMENT_LIMIT
    text = render.to_markdown(review, artifact_url="https://github.com/o/r/actions/runs/1")
    assert len(text) <= render.COMMENT_LIMIT
    assert "Truncated to fit a pull-request comment" in text
    assert "https://github.com/o/r/actions/runs/1" in text
    assert text.count("<details>") == text.count("</details>")
    assert "| create | update | replace | delete | unchanged |" in text


def test_secret_values_never_reach_the_comment(base_doc, head_doc):
    secret_value = "s3cr3t-do-not-print"
    state(head_doc, DB)["inputs"]["masterPassword"] = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": secret_value,
    }
    review = _review(diff_previews(base_doc, head_doc))
    for text in (
        render.to_markdown(review),
        render.to_full_markdown(review),
        render.to_text(review),
        render.to_json(review),
    ):
        assert secret_value not in text
    assert re.search(r"masterPassword.*\[secret\]", render.to_full_markdown(review))
