"""The mock engine itself: URNs, references, regions and isolation behave as the real engine's."""

import pulumi
import pulumi_aws as aws
import pytest

from scripts.engine.offline import is_secret, mask_secrets, run_program


class Pair(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("tradesense:test:Pair", name, None, opts)
        inner = pulumi.ComponentResource(
            "tradesense:test:Inner", f"{name}-inner", None, pulumi.ResourceOptions(parent=self)
        )
        self.key = aws.kms.Key(f"{name}-key", opts=pulumi.ResourceOptions(parent=inner))
        aws.secretsmanager.Secret(f"{name}-secret", kms_key_id=self.key.arn, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def program():
    Pair("p")
    dr = aws.Provider("dr", region="us-west-2")
    aws.kms.Key("dr-key", opts=pulumi.ResourceOptions(provider=dr))
    pulumi.export("secret", pulumi.Output.secret("hidden"))


def run():
    return run_program(program, project="proj", stack="dev", config={"aws:region": "us-east-1"})


def test_urns_carry_the_full_parent_type_chain():
    capture = run()
    key = capture.one("aws:kms/key:Key", "p-key")
    assert key.urn == "urn:pulumi:dev::proj::tradesense:test:Pair$tradesense:test:Inner$aws:kms/key:Key::p-key"
    assert capture.one("tradesense:test:Pair").parent == capture.stack_urn
    assert capture.stack_urn == "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"


def test_references_resolve_to_the_mocked_value_and_record_dependencies():
    capture = run()
    key, secret = capture.one("aws:kms/key:Key", "p-key"), capture.one("aws:secretsmanager/secret:Secret")
    assert secret.inputs["kmsKeyId"] == key.outputs["arn"]
    assert secret.property_dependencies == {"kmsKeyId": [key.urn]}
    assert key.urn in secret.dependencies


def test_resources_of_an_explicit_provider_live_in_its_region():
    capture = run()
    assert capture.one("aws:kms/key:Key", "dr-key").outputs["arn"].startswith("arn:aws:kms:us-west-2:")
    assert capture.one("aws:kms/key:Key", "p-key").outputs["arn"].startswith("arn:aws:kms:us-east-1:")


def test_runs_are_deterministic_and_isolated():
    first, second = run(), run()
    # Registration order is up to asyncio, as under the real engine; the set and values are not.
    assert sorted((r.urn, r.outputs.get("arn")) for r in first.resources) == sorted(
        (r.urn, r.outputs.get("arn")) for r in second.resources
    )
    assert len(first.resources) == 6


def test_secret_exports_stay_masked():
    assert run().outputs == {"secret": "[secret]"}


def test_mask_secrets_replaces_wrapped_values_at_any_depth():
    wrapped = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "x"}
    assert is_secret(wrapped)
    assert mask_secrets({"a": [wrapped, {"b": wrapped}], "c": 1}) == {"a": ["[secret]", {"b": "[secret]"}], "c": 1}


def test_an_invoke_without_a_mock_answer_fails_loudly():
    def uses_unknown_invoke():
        aws.ec2.get_ami(most_recent=True, owners=["amazon"])

    with pytest.raises(Exception, match="no mock answer for invoke aws:ec2/getAmi:getAmi"):
        run_program(uses_unknown_invoke, project="proj", stack="dev", config={"aws:region": "us-east-1"})


def test_data_sources_answer_for_the_region_they_are_asked_about():
    """An invoke through an explicit provider answers for that provider's region, any region."""
    seen = {}

    def program():
        frankfurt = aws.Provider("frankfurt", region="eu-central-1")
        zones = aws.get_availability_zones(state="available")
        seen["default"] = (zones.names, zones.zone_ids)
        there = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(provider=frankfurt))
        seen["frankfurt"] = (there.names, there.zone_ids)
        seen["region"] = aws.get_region(opts=pulumi.InvokeOptions(provider=frankfurt)).region

    run_program(program, project="proj", stack="dev", config={"aws:region": "ap-southeast-2"})
    assert seen["default"] == (
        ["ap-southeast-2a", "ap-southeast-2b", "ap-southeast-2c"],
        ["apse2-az1", "apse2-az2", "apse2-az3"],
    )
    # eu-central-1 has three AZs (euc1-az1..3):
    # https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html
    assert seen["frankfurt"] == (
        ["eu-central-1a", "eu-central-1b", "eu-central-1c"],
        ["euc1-az1", "euc1-az2", "euc1-az3"],
    )
    assert seen["region"] == "eu-central-1"
