"""Secrets and IAM: generated secrets only, RDS-managed master passwords, least-privilege policies."""

from __future__ import annotations

import re

from tradesense_policies import types as t
from tradesense_policies.model import as_bool, as_list, get_path, is_unknown, policy_document, statements
from tradesense_policies.registry import CIS, FSBP, GDPR, PCI, SOC2, Unknown, resource_rule, stack_rule

LEAST_PRIVILEGE = ((PCI, "7.2.1"), (PCI, "7.2.2"), (SOC2, "CC6.3"), (GDPR, "Art. 32(1)(b)"))
SECRETS = ((PCI, "8.3.2"), (PCI, "8.6.2"), (SOC2, "CC6.1"), (GDPR, "Art. 32(1)(a)"))
# Services where `service:*` hands over data, keys or the audit trail.
SENSITIVE_SERVICES = ("iam", "kms", "s3", "rds", "rds-db", "secretsmanager", "ssm", "sts", "ec2",
                      "cloudtrail", "logs", "backup", "elasticache", "wafv2", "dynamodb", "organizations")
FULL_ACCESS = re.compile(r"^arn:aws[\w-]*:iam::aws:policy/(.*FullAccess.*|AdministratorAccess|PowerUserAccess)$")


@resource_rule(
    name="rds-master-password-managed",
    description="RDS master passwords are generated and kept by RDS in Secrets Manager, never passed as input.",
    resource_types=(t.RDS_INSTANCE,),
    severity="critical",
    remediation="Set manage_master_user_password=True with master_user_secret_kms_key_id; remove master_password.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html",
    compliance=SECRETS,
    evidence=("manageMasterUserPassword", "masterUserSecretKmsKeyId"),
)
def rds_master_password_managed(props, resource):
    problems = []
    if props.get("masterPassword") not in (None, ""):
        problems.append("masterPassword is passed as an input")
    if not as_bool(get_path(props, "manageMasterUserPassword")):
        problems.append("manageMasterUserPassword is not true")
    elif not get_path(props, "masterUserSecretKmsKeyId"):
        problems.append("masterUserSecretKmsKeyId is not set (the secret would use the AWS-managed key)")
    return problems


@stack_rule(
    name="secret-values-generated",
    description="Every Secrets Manager secret value is generated (pulumi-random), never a literal in the program.",
    resource_types=(t.SECRET_VERSION,),
    severity="critical",
    remediation="Build secret_string from random.RandomPassword outputs (e.g. Output.json_dumps({...: pw.result})).",
    url="https://www.pulumi.com/registry/packages/random/api-docs/randompassword/",
    compliance=SECRETS + ((CIS, "1.12"),),
    evidence=("secretString", "secretId"),
)
def secret_values_generated(stack):
    generators = {r.urn for r in stack.of_type(*t.RANDOM_SECRET_SOURCES)}
    for version in stack.of_type(t.SECRET_VERSION):
        sources = set(version.property_dependencies.get("secretString", ())) | set(
            version.property_dependencies.get("secretBinary", ()))
        if sources & generators:
            continue
        yield version.urn, (f"secret version {version.name}: secretString does not come from a generated "
                            "value (no RandomPassword/RandomBytes in its property dependencies)")


@resource_rule(
    name="elasticache-access-control",
    description="Redis requires authentication (RBAC user groups or an AUTH token).",
    resource_types=(t.REPLICATION_GROUP,),
    severity="high",
    remediation="Attach an aws.elasticache.UserGroup with a non-default user (user_group_ids).",
    url="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html",
    compliance=LEAST_PRIVILEGE + ((FSBP, "ElastiCache.6"),),
    evidence=("userGroupIds",),
)
def elasticache_access_control(props, resource):
    if as_list(get_path(props, "userGroupIds")) or props.get("authToken"):
        return None
    return "neither userGroupIds nor authToken: any client on the network can read the cache"


def wildcard_actions(document) -> list[str]:
    found = []
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        for action in as_list(statement.get("Action")):
            action = str(action)
            service = action.split(":", 1)[0].lower()
            if action == "*" or (action.endswith(":*") and service in SENSITIVE_SERVICES):
                found.append(action)
        if statement.get("NotAction"):
            found.append("NotAction with Allow")
    return found


@resource_rule(
    name="iam-no-wildcard-sensitive-actions",
    description="IAM policies grant no `*` action and no `service:*` on sensitive services.",
    resource_types=t.IAM_POLICY_DOCS + (t.IAM_ROLE,),
    severity="high",
    remediation="Name the exact actions each principal needs (e.g. kms:Decrypt, s3:GetObject).",
    url="https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
    compliance=LEAST_PRIVILEGE + ((CIS, "1.16"), (FSBP, "IAM.1"), (FSBP, "IAM.21")),
    evidence=("policy", "inlinePolicies.policy"),
)
def iam_no_wildcard_sensitive_actions(props, resource):
    documents = [get_path(props, "policy")] if resource.type != t.IAM_ROLE else [
        p.get("policy") for p in as_list(props.get("inlinePolicies")) if isinstance(p, dict)]
    found = []
    for text in documents:
        if is_unknown(text):
            raise Unknown("policy")
        found.extend(wildcard_actions(policy_document(text)))
    return f"wildcard actions: {', '.join(sorted(set(found)))}" if found else None


@resource_rule(
    name="iam-no-full-access-managed-policies",
    description="No AWS-managed *FullAccess, AdministratorAccess or PowerUserAccess policy is attached.",
    resource_types=t.IAM_ATTACHMENTS + (t.IAM_ROLE,),
    severity="high",
    remediation="Replace the managed policy with an inline policy naming exact actions and resources.",
    url="https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html",
    compliance=LEAST_PRIVILEGE + ((CIS, "1.16"), (FSBP, "IAM.1")),
    evidence=("policyArn", "managedPolicyArns"),
)
def iam_no_full_access_managed_policies(props, resource):
    arns = as_list(get_path(props, "managedPolicyArns")) if resource.type == t.IAM_ROLE else [get_path(props, "policyArn")]
    broad = [str(a) for a in arns if isinstance(a, str) and FULL_ACCESS.match(a)]
    return f"broad managed policies attached: {', '.join(broad)}" if broad else None
