"""IAM policy documents and roles shared by components, built from Outputs without an invoke.

Rule 6 forbids `aws.iam.get_policy_document` (the offline engine cannot answer it), and every
component that creates a role needs the same two document shapes, so they live here once; so does
the role-plus-inline-policy pair that most of those roles are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws


def policy_document(statements: Sequence[Mapping[str, Any]], policy_id: str | None = None) -> pulumi.Output[str]:
    """A policy JSON; statements may hold Outputs anywhere (ARNs not known until deploy).
    `policy_id` sets the optional top-level Id (KMS key policies name their purpose with it)."""
    document: dict[str, Any] = {"Version": "2012-10-17"}
    if policy_id is not None:
        document["Id"] = policy_id
    document["Statement"] = list(statements)
    return pulumi.Output.json_dumps(document)


def assume_role_policy(principal: Mapping[str, Any], condition: Mapping[str, Any] | None = None) -> pulumi.Output[str]:
    """Trust policy letting exactly `principal` assume the role, under `condition` when given
    (aws:SourceArn, sts:ExternalId: the confused-deputy guards)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": dict(principal), "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = dict(condition)
    return policy_document([statement])


def role_with_policy(
    role_resource_name: str,
    policy_resource_name: str,
    *,
    description: str,
    trust_policy: pulumi.Input[str],
    policy: pulumi.Input[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """A role and its one inline policy. Resources that act as the role must depend on the returned
    policy, not just the role, or their first calls fail before the grant exists."""
    role = aws.iam.Role(
        role_resource_name,
        description=description,
        assume_role_policy=trust_policy,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    role_policy = aws.iam.RolePolicy(
        policy_resource_name, role=role.id, policy=policy, opts=pulumi.ResourceOptions(parent=parent)
    )
    return role, role_policy
