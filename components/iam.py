"""IAM policy documents shared by components, built from Outputs without an invoke.

Rule 6 forbids `aws.iam.get_policy_document` (the offline engine cannot answer it), and every
component that creates a role needs the same two document shapes, so they live here once.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pulumi


def policy_document(
    statements: Sequence[Mapping[str, Any]], policy_id: Optional[str] = None
) -> pulumi.Output[str]:
    """A policy JSON; statements may hold Outputs anywhere (ARNs not known until deploy).
    `policy_id` sets the optional top-level Id (KMS key policies name their purpose with it)."""
    document: dict[str, Any] = {"Version": "2012-10-17"}
    if policy_id is not None:
        document["Id"] = policy_id
    document["Statement"] = list(statements)
    return pulumi.Output.json_dumps(document)


def assume_role_policy(
    principal: Mapping[str, Any], condition: Optional[Mapping[str, Any]] = None
) -> pulumi.Output[str]:
    """Trust policy letting exactly `principal` assume the role, under `condition` when given
    (aws:SourceArn, sts:ExternalId: the confused-deputy guards)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": dict(principal), "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = dict(condition)
    return policy_document([statement])
