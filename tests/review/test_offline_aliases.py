"""The offline engine records the old URNs a resource may have had, as the real engine resolves
them (pulumi/pulumi pkg/resource/deploy/step_generator.go: collapseAliasToUrn, inheritedChildAlias,
generateAliases): the review matches them against the base."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from scripts.engine.preview import preview_document

PREFIX = "urn:pulumi:test::tradesense::"


class Box(pulumi.ComponentResource):
    def __init__(self, name: str, opts=None, child_opts=None):
        super().__init__("test:index:Box", name, None, opts)
        aws.sns.Topic(f"{name}-topic", opts=pulumi.ResourceOptions(parent=self, **(child_opts or {})))
        aws.sns.Topic("fixed-name", opts=pulumi.ResourceOptions(parent=self))


def _aliases(capture) -> dict[str, list[str]]:
    return {r.urn.rsplit("::", 1)[-1]: r.aliases for r in capture.resources}


def test_a_component_alias_is_inherited_by_its_children_with_the_name_prefix_replaced(run_pulumi):
    capture = run_pulumi(lambda: Box("new", opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old")])))
    aliases = _aliases(capture)
    assert aliases["new"] == [f"{PREFIX}test:index:Box::old"]
    # `{parent}-suffix` children take the old parent's name; others keep theirs under the old parent.
    assert f"{PREFIX}test:index:Box$aws:sns/topic:Topic::old-topic" in aliases["new-topic"]
    assert f"{PREFIX}test:index:Box$aws:sns/topic:Topic::fixed-name" in aliases["fixed-name"]


def test_a_child_alias_to_the_root_and_a_new_name(run_pulumi):
    capture = run_pulumi(
        lambda: Box(
            "box", child_opts={"aliases": [pulumi.Alias(name="legacy-topic", parent=pulumi.ROOT_STACK_RESOURCE)]}
        )
    )
    assert f"{PREFIX}aws:sns/topic:Topic::legacy-topic" in _aliases(capture)["box-topic"]


def test_no_alias_no_field_in_the_preview(run_pulumi):
    capture = run_pulumi(lambda: Box("box"))
    states = [s["newState"] for s in preview_document(capture)["steps"]]
    topic = next(s for s in states if s["urn"].endswith("::box-topic"))
    assert "aliases" not in topic  # apitype.ResourceV3 `aliases` is omitempty
