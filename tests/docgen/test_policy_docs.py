from scripts.docgen import policy_docs
from tradesense_policies.registry import all_rules


def test_committed_catalogue_is_up_to_date():
    assert policy_docs.DOC.read_text() == policy_docs.render(), "run python -m scripts.docgen.policy_docs"
    for name in all_rules():
        assert f"`{name}`" in policy_docs.DOC.read_text()
