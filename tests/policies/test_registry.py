"""The registry's promises: enough policies, complete metadata, a taggable set that matches pulumi-aws."""

from __future__ import annotations

import importlib
import inspect

from components.tagging import REQUIRED_TAG_KEYS
from tradesense_policies.registry import FRAMEWORKS, all_rules
from tradesense_policies.rules import tagging

RULES = all_rules()


def test_at_least_forty_policies_of_both_kinds():
    assert len(RULES) >= 40
    assert {r.kind for r in RULES.values()} == {"resource", "stack"}


def test_every_policy_carries_the_metadata_auditors_need():
    for rule in RULES.values():
        assert rule.description and rule.remediation and rule.url.startswith("https://"), rule.name
        assert rule.severity in ("low", "medium", "high", "critical")
        assert rule.enforcement == "mandatory" or rule.advisory_reason, rule.name
        assert rule.compliance and all(fw in FRAMEWORKS for fw, _ in rule.compliance), rule.name


def test_every_framework_is_used():
    used = {fw for r in RULES.values() for fw, _ in r.compliance}
    assert used == set(FRAMEWORKS)


def test_required_tag_keys_mirror_components():
    assert tagging.REQUIRED_TAG_KEYS == REQUIRED_TAG_KEYS


def _takes_tags(token: str) -> bool:
    module, cls = token.split(":")[1].split("/")[0], token.split(":")[2]
    module = {"lambda": "lambda_"}.get(module, module)
    klass = getattr(importlib.import_module(f"pulumi_aws.{module}"), cls)
    return "tags" in inspect.signature(klass._internal_init).parameters


def test_taggable_set_matches_pulumi_aws(prod_input):
    for token in tagging.TAGGABLE_TYPES:
        assert _takes_tags(token), f"{token} takes no tags in pulumi-aws"
    used = {r.type for r in prod_input.resources if r.type.startswith("aws:") and r.custom}
    missing = sorted(t for t in used - tagging.TAGGABLE_TYPES if _takes_tags(t))
    assert not missing, f"taggable types prod creates but the pack does not check: {missing}"


def test_pack_imports_no_pulumi_aws():
    import subprocess
    import sys

    code = (
        "import sys; import tradesense_policies.pack, tradesense_policies.fastpack; print('pulumi_aws' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd="policies", capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_model_and_registry_do_not_import_each_other():
    """The exceptions rules raise live in `outcomes`: the model needs no registry (and so no rules),
    and the old names stay importable from the registry."""
    import subprocess
    import sys

    from tradesense_policies import outcomes, registry

    assert registry.NotApplicable is outcomes.NotApplicable and registry.Unknown is outcomes.Unknown
    code = "import sys; import tradesense_policies.model; print('tradesense_policies.registry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd="policies", capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
