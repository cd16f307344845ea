"""The AWS facts components/limits.py encodes, pinned against what AWS documents (links beside each)."""

from __future__ import annotations

import pytest

from components.limits import (
    RDS_IDENTIFIER_MAX,
    REPLICATION_GROUP_ID_MAX,
    WAF_MIN_LIMIT,
    WAF_WINDOWS,
    aws_identifier_problem,
    private_vpc_cidr_problem,
)


# RFC 1918 section 3 (https://www.rfc-editor.org/rfc/rfc1918): 10/8, 172.16/12, 192.168/16, judged as
# address ranges. The edges matter: 172.16/12 ends at 172.31.255.255; Python's `is_private` also
# admits 100.64/10 (shared CGN space, RFC 6598) and 198.18/15 (benchmarking), which are not RFC 1918.
@pytest.mark.parametrize(
    "cidr, private",
    [
        ("10.0.0.0/16", True),
        ("10.255.252.0/22", True),
        ("172.16.0.0/16", True),
        ("172.31.252.0/22", True),
        ("172.15.0.0/16", False),
        ("172.32.0.0/16", False),
        ("192.168.0.0/16", True),
        ("192.169.0.0/16", False),
        ("192.167.0.0/16", False),
        ("100.64.0.0/16", False),
        ("198.18.0.0/16", False),
        ("169.254.0.0/16", False),
        ("127.0.0.0/16", False),
        ("8.8.0.0/16", False),
    ],
)
def test_rfc1918_by_address_range(cidr, private):
    problem = private_vpc_cidr_problem(cidr)
    if private:
        assert problem is None, problem
    else:
        assert problem is not None and "RFC 1918" in problem, problem


def test_vpc_block_sizes_and_malformed_blocks():
    # A VPC's IPv4 block is /16 to /28 (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html);
    # the network cuts it into 8 subnets, so the platform asks for /16 to /22.
    assert "a /16 to /22 block" in private_vpc_cidr_problem("10.0.0.0/8")
    assert "a /16 to /22 block" in private_vpc_cidr_problem("10.40.0.0/23")
    assert "not a network address" in private_vpc_cidr_problem("10.40.0.1/16")
    assert "not a network address" in private_vpc_cidr_problem("10.40.0.0/33")
    assert "not a network address" in private_vpc_cidr_problem("ten.forty/16")
    assert "RFC 1918" in private_vpc_cidr_problem("fd00::/16")


# RDS: 1-63 letters, digits or hyphens, first a letter, no trailing hyphen, no two in a row
# (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html); ElastiCache
# replication groups: the same, 1-40 (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html).
@pytest.mark.parametrize(
    "name, maximum, ok",
    [
        ("a" * 63, RDS_IDENTIFIER_MAX, True),
        ("a" * 64, RDS_IDENTIFIER_MAX, False),
        ("a" * 40, REPLICATION_GROUP_ID_MAX, True),
        ("a" * 41, REPLICATION_GROUP_ID_MAX, False),
        ("tradesense-prod", REPLICATION_GROUP_ID_MAX, True),
        ("1prod", RDS_IDENTIFIER_MAX, False),
        ("prod-", RDS_IDENTIFIER_MAX, False),
        ("pr--od", RDS_IDENTIFIER_MAX, False),
        ("pr_od", RDS_IDENTIFIER_MAX, False),
        ("Prod", RDS_IDENTIFIER_MAX, False),
        ("", RDS_IDENTIFIER_MAX, False),
    ],
)
def test_aws_identifier_rules(name, maximum, ok):
    assert (aws_identifier_problem(name, maximum) is None) is ok


def test_waf_rate_limit_floor_and_windows():
    # https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-high-level-settings.html:
    # "The lowest limit setting allowed is 10"; windows 60, 120, 300 and 600 s.
    assert WAF_MIN_LIMIT == 10 and WAF_WINDOWS == (60, 120, 300, 600)
