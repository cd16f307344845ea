"""cloudfront-origin-verification-header: every custom origin gets a generated secret header.

AWS's way to stop clients bypassing CloudFront (and so the WAF) to a public origin is a custom header
CloudFront adds and the origin checks
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/add-origin-custom-headers.html).
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.policies.evaluate import violations
from tradesense_policies.model import UNKNOWN
from tradesense_policies.registry import Unknown, rule

RULE = rule("cloudfront-origin-verification-header")
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
GOOD_VALUE = "Q2x1ZmZ5IHRoZSBjbG91ZGZyb250IGhlYWRlciB2YWx1ZSwgNjQgY2hhcnM3Nzc3"


def distribution(prod_resources):
    return next(r for r in prod_resources if r.type == DISTRIBUTION)


def origin(prod_resources):
    return distribution(prod_resources).inputs["origins"][0]


def test_the_rule_is_documented_like_every_other():
    assert RULE is not None and RULE.severity == "high" and RULE.url.startswith("https://docs.aws.amazon.com/")
    assert RULE.remediation and RULE.compliance


def test_prod_passes_and_its_value_is_masked_in_the_preview(prod_resources, prod_preview):
    assert violations(RULE, prod_resources) == []
    assert origin(prod_resources)["customHeaders"] == [{"name": "X-Origin-Verify", "value": "[secret]"}]
    # The generated value never appears in the preview document in plaintext.
    text = json.dumps(prod_preview)
    assert "offline-" not in text


def test_prod_passes_in_the_pack_run_as_the_engine_runs_it(prod_report):
    results = [f for f in prod_report.findings if f.rule_id == RULE.name]
    assert results and all(r.status == "pass" for r in results), results


def test_the_value_the_engine_hands_the_pack_passes_when_generated(prod_resources):
    origin(prod_resources)["customHeaders"][0]["value"] = GOOD_VALUE
    assert violations(RULE, prod_resources) == []


@pytest.mark.parametrize(
    "headers, expected",
    [
        (None, "no X-Origin-Verify header"),
        ([], "no X-Origin-Verify header"),
        ([{"name": "X-Forwarded-Host", "value": GOOD_VALUE}], "no X-Origin-Verify header"),
        ([{"name": "X-Origin-Verify", "value": ""}], "fewer than 32"),
        ([{"name": "X-Origin-Verify", "value": "letmein"}], "fewer than 32"),
        ([{"name": "x-origin-verify", "value": "a" * 40}], "not random"),
    ],
)
def test_a_missing_or_weak_header_fails(prod_resources, headers, expected):
    target = origin(prod_resources)
    if headers is None:
        target.pop("customHeaders")
    else:
        target["customHeaders"] = headers
    found = violations(RULE, prod_resources)
    assert len(found) == 1 and expected in found[0][1], found
    assert found[0][0] == distribution(prod_resources).urn


def test_the_header_name_is_judged_without_regard_to_case(prod_resources):
    origin(prod_resources)["customHeaders"] = [{"name": "x-ORIGIN-verify", "value": GOOD_VALUE}]
    assert violations(RULE, prod_resources) == []


def test_a_second_custom_origin_without_the_header_fails_even_if_the_first_has_it(prod_resources):
    second = copy.deepcopy(origin(prod_resources))
    second.update(originId="reports-origin", domainName="reports.example.com", customHeaders=[])
    distribution(prod_resources).inputs["origins"].append(second)
    found = violations(RULE, prod_resources)
    assert len(found) == 1 and "reports-origin" in found[0][1]


def test_an_s3_origin_with_origin_access_control_needs_no_header(prod_resources):
    distribution(prod_resources).inputs["origins"].append(
        {
            "originId": "static",
            "domainName": "static.s3.us-east-1.amazonaws.com",
            "originAccessControlId": "E2QWRUHAPOMQZL",
            "s3OriginConfig": {"originAccessIdentity": ""},
        }
    )
    assert violations(RULE, prod_resources) == []


def test_no_origin_at_all_fails(prod_resources):
    distribution(prod_resources).inputs["origins"] = []
    assert "no origin" in violations(RULE, prod_resources)[0][1]


def test_an_unknown_value_is_not_judged_during_preview(prod_resources):
    origin(prod_resources)["customHeaders"][0]["value"] = UNKNOWN
    with pytest.raises(Unknown):
        violations(RULE, prod_resources)


GENERATED = rule("cloudfront-origin-verification-generated")


def test_prod_value_is_generated(prod_resources):
    assert violations(GENERATED, prod_resources) == []


@pytest.mark.parametrize("value", [GOOD_VALUE, "[secret]"])
def test_a_literal_in_the_program_is_not_a_generated_secret(prod_resources, value):
    """Even a long random-looking literal, or the text a preview prints for secrets, fails when the
    engine records no generator (RandomPassword/RandomBytes) behind the origins."""
    target = distribution(prod_resources)
    target.inputs["origins"][0]["customHeaders"][0]["value"] = value
    target.property_dependencies["origins"] = []
    assert violations(RULE, prod_resources) == []  # the shape alone looks fine...
    found = violations(GENERATED, prod_resources)  # ...but nothing generated it
    assert len(found) == 1 and "does not come from a generated secret" in found[0][1], found


def test_an_s3_only_distribution_needs_no_generated_header(prod_resources):
    target = distribution(prod_resources)
    target.inputs["origins"] = [
        {
            "originId": "static",
            "domainName": "static.s3.us-east-1.amazonaws.com",
            "originAccessControlId": "E2QWRUHAPOMQZL",
        }
    ]
    target.outputs.pop("origins", None)
    target.property_dependencies["origins"] = []
    assert violations(GENERATED, prod_resources) == []
    assert violations(RULE, prod_resources) == []
