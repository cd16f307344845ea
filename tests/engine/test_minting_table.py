"""The offline engine picks what a resource is minted from by its exact type token, then its module,
then its package, then a default; an invoke without an answer fails loudly."""

from __future__ import annotations

import pytest
from pulumi.runtime import mocks as pulumi_mocks

from scripts.engine import offline


@pytest.mark.parametrize(
    "type_, minter",
    [
        ("aws:ec2/vpc:Vpc", offline.mint_vpc),  # the exact token wins over its module
        ("aws:ec2/subnet:Subnet", offline.mint_ec2_resource),
        ("aws:cloudfront/distribution:Distribution", offline.mint_distribution),
        ("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy", offline.mint_cloudfront_resource),
        ("random:index/randomBytes:RandomBytes", offline.mint_random_value),
        ("aws:sqs/queue:Queue", offline.mint_default),
        ("awsx:ec2/vpc:Vpc", offline.mint_default),  # another package's ec2 module is not AWS's
    ],
)
def test_minter_for_prefers_the_exact_token_then_the_module_then_the_package(type_, minter):
    assert offline.minter_for(type_) is minter


def test_a_minted_resource_gets_its_id_arn_and_name():
    mocks = offline.RealisticMocks("eu-west-1")
    id_, state = mocks.new_resource(
        pulumi_mocks.MockResourceArgs(
            typ="aws:ec2/subnet:Subnet", name="a", inputs={}, provider="", resource_id="", custom=True
        )
    )
    assert id_.startswith("subnet-") and state["id"] == id_
    assert state["arn"] == f"arn:aws:ec2:eu-west-1:{offline.ACCOUNT_ID}:subnet/{id_}"
    assert state["name"].startswith("a-")


def test_an_invoke_without_an_answer_fails_naming_it():
    mocks = offline.RealisticMocks("eu-west-1")
    with pytest.raises(NotImplementedError, match="aws:sqs/getQueue:getQueue"):
        mocks.call(pulumi_mocks.MockCallArgs(token="aws:sqs/getQueue:getQueue", args={}, provider=""))
