from scripts.docgen import live_coverage
from scripts.ops.validate_deployment import LIVE_CHECKS
from tradesense_policies.registry import all_rules


def test_committed_coverage_section_is_up_to_date():
    text = live_coverage.DOC.read_text()
    assert live_coverage.updated(text) == text, "run python -m scripts.docgen.live_coverage"
    section = text[text.index(live_coverage.BEGIN) : text.index(live_coverage.END)]
    # every pack rule and every live check is named once: judged live, or listed as plan/state only
    for name in [*all_rules(), *LIVE_CHECKS]:
        assert section.count(f"`{name}`") == 1, name


def test_check_mode_fails_when_stale(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "operations.md"
    stale.write_text(f"intro\n{live_coverage.BEGIN}\nold\n{live_coverage.END}\noutro\n")
    monkeypatch.setattr(live_coverage, "DOC", stale)
    monkeypatch.setattr(live_coverage, "REPO_ROOT", tmp_path)
    assert live_coverage.main(["--check"]) == 1
    assert live_coverage.main([]) == 0
    assert live_coverage.main(["--check"]) == 0
    assert stale.read_text().startswith("intro\n") and stale.read_text().endswith("\noutro\n")
