from scripts.docgen import policy_docs
from tradesense_policies.registry import all_rules


def test_committed_catalogue_is_up_to_date():
    assert policy_docs.DOC.read_text() == policy_docs.render(), "run python -m scripts.docgen.policy_docs"
    for name in all_rules():
        assert f"`{name}`" in policy_docs.DOC.read_text()


def test_the_readme_counts_the_policies_the_pack_has():
    import re

    from stacks.settings import REPO_ROOT

    counts = re.findall(r"\(`policies/`, (\d+) policies\)", (REPO_ROOT / "README.md").read_text())
    assert counts == [str(len(all_rules()))]
