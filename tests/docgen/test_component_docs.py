"""docs/components.md is generated from the source; a stale copy fails here, not in review."""

from scripts.docgen import component_docs


def test_committed_reference_matches_the_source():
    assert component_docs.DOC.read_text() == component_docs.render(), (
        "docs/components.md is out of date: run python -m scripts.docgen.component_docs"
    )


def test_reference_lists_every_component_with_its_args(tmp_path):
    text = component_docs.render()
    for token in (
        "tradesense:database:PostgresDatabase",
        "tradesense:cache:RedisCache",
        "tradesense:edge:EdgeFirewall",
        "tradesense:storage:SecureBucket",
    ):
        assert f"(`{token}`)" in text
    assert "| `publicly_accessible_insecure` | `bool` | `False` | INSECURE" in text


def test_field_docstrings_and_defaults_are_read_from_the_ast(tmp_path):
    (tmp_path / "thing.py").write_text(
        '"""Thing: why it exists."""\n'
        "from dataclasses import dataclass, field\n"
        "import pulumi\n"
        "@dataclass(frozen=True, kw_only=True)\n"
        "class ThingArgs:\n"
        "    size: int = 3\n"
        '    """How big, because reasons."""\n'
        "    names: tuple = field(default_factory=tuple)\n"
        "class Thing(pulumi.ComponentResource):\n"
        "    arn: pulumi.Output[str]\n"
        "    def __init__(self, name, args, opts=None):\n"
        '        super().__init__("tradesense:test:Thing", name, None, opts)\n'
    )
    text = component_docs.render(tmp_path)
    assert "### Thing (`tradesense:test:Thing`)" in text
    assert "| `size` | `int` | `3` | How big, because reasons. |" in text
    assert "| `names` | `tuple` | `()` |  |" in text
    assert "Outputs: `arn`" in text
