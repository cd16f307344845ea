"""Secrets and IAM: generated secrets only, RDS-managed master passwords, least-privilege policies."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterator
from typing import Any

from tradesense_policies import types as t
from tradesense_policies.model import (
    SECRET_TEXT,
    Document,
    Props,
    Resource,
    Stack,
    Statement,
    account_of,
    as_bool,
    as_list,
    get_path,
    is_unknown,
    names,
    policy_document,
    statements,
)
from tradesense_policies.registry import (
    CIS,
    FSBP,
    GDPR,
    PCI,
    SOC2,
    Finding,
    Unknown,
    Violations,
    resource_rule,
    stack_rule,
)

LEAST_PRIVILEGE = ((PCI, "7.2.1"), (PCI, "7.2.2"), (SOC2, "CC6.3"), (GDPR, "Art. 32(1)(b)"))
SECRETS = ((PCI, "8.3.2"), (PCI, "8.6.2"), (SOC2, "CC6.1"), (GDPR, "Art. 32(1)(a)"))
# Services where `service:*` hands over data, keys or the audit trail.
SENSITIVE_SERVICES = (
    "iam",
    "kms",
    "s3",
    "rds",
    "rds-db",
    "secretsmanager",
    "ssm",
    "sts",
    "ec2",
    "cloudtrail",
    "logs",
    "backup",
    "elasticache",
    "wafv2",
    "dynamodb",
    "organizations",
)
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
def rds_master_password_managed(props: Props, resource: Resource) -> Violations:
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
def secret_values_generated(stack: Stack) -> Iterator[Finding]:
    generators = {r.urn for r in stack.of_type(*t.RANDOM_SECRET_SOURCES)}
    for version in stack.of_type(t.SECRET_VERSION):
        values = [version.props.get(k) for k in ("secretString", "secretBinary") if version.props.get(k) is not None]
        literal = [v for v in values if isinstance(v, str) and v != SECRET_TEXT and not is_unknown(v)]
        if literal or not values or any(not isinstance(v, str) for v in values):
            # A value the plan shows in clear is a literal of the program: a generated one is a secret.
            yield version.urn, f"secret version {version.name}: the secret value is a literal, not a generated secret"
            continue
        if any(is_unknown(v) and v != SECRET_TEXT for v in values):
            raise Unknown(f"{version.name}.secretString")
        sources = set(version.property_dependencies.get("secretString", ())) | set(
            version.property_dependencies.get("secretBinary", ())
        )
        if sources & generators:
            continue
        yield (
            version.urn,
            (
                f"secret version {version.name}: secretString does not come from a generated "
                "value (no RandomPassword/RandomBytes of this stack in its property dependencies)"
            ),
        )


@resource_rule(
    name="elasticache-access-control",
    description="Redis authenticates every client as its own RBAC user (a user group attached, no shared AUTH token).",
    resource_types=(t.REPLICATION_GROUP,),
    severity="high",
    remediation="Attach an aws.elasticache.UserGroup (user_group_ids) and remove auth_token: one shared token "
    "cannot be rotated per service nor tell services apart.",
    url="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html",
    compliance=LEAST_PRIVILEGE + ((FSBP, "ElastiCache.6"),),
    evidence=("userGroupIds",),
)
def elasticache_access_control(props: Props, resource: Resource) -> Violations:
    problems = []
    if props.get("authToken") not in (None, ""):
        problems.append("authToken is set: a shared password instead of (or next to) per-service RBAC users")
    if not as_list(get_path(props, "userGroupIds")):
        problems.append("no userGroupIds: no RBAC user group is attached")
    return problems


@resource_rule(
    name="elasticache-user-authenticates",
    description="Every ElastiCache user authenticates with a password or IAM (no no-password-required, no nopass).",
    resource_types=(t.CACHE_USER,),
    severity="critical",
    remediation="Use authentication_mode type password (generated) or iam; never no-password-required or nopass.",
    url="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html#users-management",
    compliance=LEAST_PRIVILEGE + ((PCI, "8.3.1"),),
    evidence=("userName", "authenticationMode.type", "noPasswordRequired", "accessString"),
)
def elasticache_user_authenticates(props: Props, resource: Resource) -> Violations:
    problems = []
    mode = get_path(props, "authenticationMode.type")
    if as_bool(get_path(props, "noPasswordRequired")):
        problems.append("noPasswordRequired is true")
    if mode is None and not get_path(props, "passwords"):
        problems.append("no authenticationMode: the user needs no password")
    elif mode is not None and str(mode).lower() not in ("password", "iam"):
        problems.append(f"authenticationMode.type = {mode}")
    if "nopass" in str(get_path(props, "accessString") or "").lower().split():
        problems.append("accessString grants nopass")
    return problems


def _access_on(access_string: object) -> bool:
    tokens = str(access_string or "").lower().split()
    return "off" not in tokens or "on" in tokens


@stack_rule(
    name="elasticache-rbac-users",
    description="Each Redis replication group's user groups are of this stack, list only this stack's users, "
    "and keep the default user switched off.",
    resource_types=(t.REPLICATION_GROUP,),
    severity="critical",
    remediation="Attach the RedisCache component's user group; its default user must be `off -@all`.",
    url="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html#rbac-using",
    compliance=LEAST_PRIVILEGE + ((PCI, "8.2.2"),),
    evidence=("userGroupIds",),
)
def elasticache_rbac_users(stack: Stack) -> Iterator[Finding]:
    groups, users = stack.of_type(t.CACHE_USER_GROUP), stack.of_type(t.CACHE_USER)
    for cache in stack.of_type(t.REPLICATION_GROUP):
        ids = cache.props.get("userGroupIds")
        if is_unknown(ids) or any(is_unknown(i) for i in as_list(ids)):
            raise Unknown(f"{cache.name}.userGroupIds")
        for group_id in as_list(ids):
            group = next((g for g in groups if names(group_id, g, "userGroupId", "id")), None)
            if group is None:
                yield cache.urn, f"{cache.name}: user group {group_id} is not a user group of this stack"
                continue
            members = []
            for user_id in as_list(group.props.get("userIds")):
                if is_unknown(user_id):
                    raise Unknown(f"{group.name}.userIds")
                user = next((u for u in users if names(user_id, u, "userId", "id")), None)
                if user is None:
                    yield cache.urn, f"{cache.name}: user group {group.name} lists {user_id}, not a user of this stack"
                else:
                    members.append(user)
            defaults = [u for u in members if str(u.props.get("userName")) == "default"]
            for user in defaults:
                if is_unknown(user.props.get("accessString")):
                    raise Unknown(f"{user.name}.accessString")
                if _access_on(user.props.get("accessString")):
                    yield (
                        cache.urn,
                        (
                            f"{cache.name}: the default user {user.name} is on "
                            f"({user.props.get('accessString')}); anyone who connects is that user"
                        ),
                    )


# A resource ARN that names every resource of its kind: "*", a wildcard service/region/account, or a
# resource type followed only by "*" (role/*, key/*, secret:*, db:*).
_EVERYTHING = re.compile(
    r"^(\*|arn:[^:]*:(\*|[^:]*\*[^:]*):.*|arn:[^:]*:[^:]*:[^:]*:(\*|[^:]*\*[^:]*):.*"
    r"|arn:[^:]*:[^:]*:[^:]*:[^:]*:(\*|[a-z-]+[/:]\*)|arn:aws[^:]*:s3:::\*)$"
)
IDENTITY_TYPES = t.IAM_POLICY_DOCS + (t.IAM_ROLE,)
RESOURCE_POLICY_TYPES = (t.BUCKET_POLICY[0], t.KMS_KEY, t.KEY_POLICY, t.TOPIC_POLICY, t.SECRET_POLICY, t.VAULT_POLICY)


def _is_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _service_principal_only(statement: Statement) -> bool:
    principal = statement.get("Principal")
    return isinstance(principal, dict) and set(principal) == {"Service"}


def _default_key_statement(statement: Statement) -> bool:
    """The key policy statement AWS creates by default: the account root gets kms:* on the key, which
    delegates access to IAM policies (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    principal = statement.get("Principal")
    aws = as_list(principal.get("AWS")) if isinstance(principal, dict) else []
    return (
        len(aws) == 1
        and re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:root", str(aws[0])) is not None
        and [str(a).lower() for a in as_list(statement.get("Action"))] == ["kms:*"]
    )


def sensitive_grants(document: Document, identity: bool, key_policy: bool = False) -> list[str]:
    """What an Allow statement grants too broadly: `*`/`*:*`, a wildcard or partial wildcard (`iam:Put*`,
    `kms:*crypt*`, `s3:Get?bject`) on a sensitive service, NotAction/NotResource, and in identity
    policies a sensitive action on every resource. Service names compare case-insensitively, as IAM does."""
    found = []
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if statement.get("NotAction") is not None:
            found.append("NotAction with Allow")
        if statement.get("NotResource") is not None:
            found.append("NotResource with Allow")
        if key_policy and _default_key_statement(statement):
            continue
        relaxed = not identity and _service_principal_only(statement) and statement.get("Condition")
        everything = identity and any(_EVERYTHING.match(str(r)) for r in as_list(statement.get("Resource")))
        for action in as_list(statement.get("Action")):
            action = str(action)
            service, _, name = action.partition(":")
            service = service.lower()
            if action == "*" or _is_wildcard(service):
                found.append(action)
            elif service in SENSITIVE_SERVICES and _is_wildcard(name) and not relaxed:
                found.append(action)
            elif service in SENSITIVE_SERVICES and everything:
                found.append(f"{action} on {', '.join(map(str, as_list(statement.get('Resource'))))}")
    return found


def wildcard_actions(document: Document) -> list[str]:
    return sensitive_grants(document, identity=True)


def _documents(resource: Resource, props: Props) -> list[Any]:
    """The policy inputs to judge, as given (JSON text, an object, unknown or None)."""
    if resource.type == t.IAM_ROLE:
        return [p.get("policy") for p in as_list(props.get("inlinePolicies")) if isinstance(p, dict)]
    return [get_path(props, "policy")]


@resource_rule(
    name="iam-no-wildcard-sensitive-actions",
    description="IAM and resource policies grant no `*`, no wildcard or partial-wildcard action on a sensitive "
    "service, no NotAction/NotResource, and identity policies no sensitive action on every resource.",
    resource_types=IDENTITY_TYPES + RESOURCE_POLICY_TYPES,
    severity="high",
    remediation="Name the exact actions each principal needs (e.g. kms:Decrypt, s3:GetObject) on the exact ARNs.",
    url="https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
    compliance=LEAST_PRIVILEGE + ((CIS, "1.16"), (FSBP, "IAM.1"), (FSBP, "IAM.21")),
    evidence=("policy", "inlinePolicies.policy"),
)
def iam_no_wildcard_sensitive_actions(props: Props, resource: Resource) -> Violations:
    found = []
    for text in _documents(resource, props):
        if text is None:
            continue
        if is_unknown(text):
            raise Unknown("policy")
        document = policy_document(text)
        if not document and text:
            found.append("policy is not a JSON policy document (cannot be judged)")
        found.extend(
            sensitive_grants(
                document,
                identity=resource.type in IDENTITY_TYPES,
                key_policy=resource.type in (t.KMS_KEY, t.KEY_POLICY),
            )
        )
    return f"too broad: {', '.join(sorted(set(found)))}" if found else None


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
def iam_no_full_access_managed_policies(props: Props, resource: Resource) -> Violations:
    arns = (
        as_list(get_path(props, "managedPolicyArns")) if resource.type == t.IAM_ROLE else [get_path(props, "policyArn")]
    )
    broad = [str(a) for a in arns if isinstance(a, str) and FULL_ACCESS.match(a)]
    return f"broad managed policies attached: {', '.join(broad)}" if broad else None


PRINCIPAL_DOCS = {
    t.IAM_ROLE: "assumeRolePolicy",
    t.BUCKET_POLICY[0]: "policy",
    t.KMS_KEY: "policy",
    t.KEY_POLICY: "policy",
    t.TOPIC_POLICY: "policy",
    t.SECRET_POLICY: "policy",
    t.VAULT_POLICY: "policy",
    t.SNS_TOPIC: "policy",
    t.SECRET: "policy",
}
_OWN_ACCOUNT_KEYS = ("aws:SourceAccount", "aws:PrincipalAccount", "aws:SourceOwner", "aws:ResourceAccount")


def own_accounts(stack: Stack) -> set[str]:
    """This stack's account: the policy config's accountIds, else the account owning the stack's own
    keys and roles (their ARNs), which a change to a policy document cannot move."""
    configured = set(stack.setting("accountIds"))
    if configured:
        return configured
    seen = Counter(
        account_of(r.props.get("arn"))
        for r in stack.of_type(t.KMS_KEY, t.IAM_ROLE)
        if not is_unknown(r.props.get("arn"))
    )
    seen.pop("", None)
    return {seen.most_common(1)[0][0]} if seen else set()


def _pinned_to(statement: Statement, accounts: Collection[str]) -> bool:
    for operator, conditions in (statement.get("Condition") or {}).items():
        if operator not in ("StringEquals", "ArnEquals", "StringLike", "ArnLike") or not isinstance(conditions, dict):
            continue
        for key, values in conditions.items():
            if key in _OWN_ACCOUNT_KEYS and as_list(values) and all(str(v) in accounts for v in as_list(values)):
                return True
    return False


def foreign_principals(document: Document, accounts: Collection[str], allowed: Collection[str]) -> list[str]:
    found = []
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if statement.get("NotPrincipal") is not None:
            found.append("NotPrincipal with Allow (everyone but the named)")
            continue
        principal = statement.get("Principal")
        entries = (
            [("AWS", "*")]
            if principal == "*"
            else [(kind, v) for kind, values in principal.items() for v in as_list(values)]
            if isinstance(principal, dict)
            else []
        )
        for kind, value in entries:
            value = str(value)
            if value in allowed:
                continue
            if kind == "Service" and re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", value):
                continue
            if kind == "AWS" and value == "*":
                if not _pinned_to(statement, accounts):
                    found.append("everyone (*)")
                continue
            account = value if re.fullmatch(r"\d{12}", value) else account_of(value)
            if kind == "AWS" and account and account in accounts:
                continue
            found.append(f"{kind} {value}")
    return found


@stack_rule(
    name="resource-policy-principals",
    description="Every Allow in trust, bucket, key, topic, secret and vault policies names only this account or "
    "AWS services (or principals named in policy config): no *, no other account, no NotPrincipal.",
    resource_types=tuple(PRINCIPAL_DOCS),
    severity="critical",
    remediation="Grant to this account's roles or to named AWS service principals (with an aws:SourceAccount "
    "condition); a partner account must be listed in the allowedPrincipals policy config.",
    url="https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html",
    compliance=LEAST_PRIVILEGE + ((PCI, "1.4.4"), (FSBP, "S3.6"), (FSBP, "KMS.5")),
    evidence=("assumeRolePolicy", "policy"),
    config=("accountIds", "allowedPrincipals"),
)
def resource_policy_principals(stack: Stack) -> Iterator[Finding]:
    accounts, allowed = own_accounts(stack), set(stack.setting("allowedPrincipals"))
    for resource in stack.of_type(*PRINCIPAL_DOCS):
        text = resource.props.get(PRINCIPAL_DOCS[resource.type])
        if text in (None, ""):
            continue
        if is_unknown(text):
            raise Unknown(f"{resource.name}.{PRINCIPAL_DOCS[resource.type]}")
        document = policy_document(text)
        if not document:
            yield resource.urn, f"{resource.name}: the policy is not a JSON policy document (cannot be judged)"
            continue
        found = foreign_principals(document, accounts, allowed)
        if found and not accounts and any(not f.startswith(("everyone", "NotPrincipal")) for f in found):
            raise Unknown(f"{resource.name}: this stack's account (set the accountIds policy config)")
        if found:
            yield resource.urn, f"{resource.name}: grants to {', '.join(sorted(set(found)))}"


def _managed_arns(resource: Resource) -> list[Any]:
    if resource.type == t.IAM_ROLE:
        return as_list(resource.props.get("managedPolicyArns"))
    return [resource.props.get("policyArn")]


@stack_rule(
    name="iam-managed-policies-allow-listed",
    description="Only allow-listed AWS-managed policies (policy config allowedManagedPolicies) or this stack's own "
    "customer-managed policies are attached.",
    resource_types=t.IAM_ATTACHMENTS + (t.IAM_ROLE,),
    severity="high",
    remediation="Attach an inline or customer-managed policy of this stack naming exact actions, or add a narrowly "
    "scoped service-role policy to the allowedManagedPolicies policy config.",
    url="https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html",
    compliance=LEAST_PRIVILEGE + ((CIS, "1.16"), (FSBP, "IAM.1")),
    evidence=("policyArn", "managedPolicyArns"),
    config=("allowedManagedPolicies",),
)
def iam_managed_policies_allow_listed(stack: Stack) -> Iterator[Finding]:
    allowed = set(stack.setting("allowedManagedPolicies"))
    own = stack.of_type(t.IAM_POLICY)
    for resource in stack.of_type(*t.IAM_ATTACHMENTS, t.IAM_ROLE):
        for arn in _managed_arns(resource):
            if arn in (None, ""):
                continue
            if is_unknown(arn):
                if any(resource.depends_through(k, p) for k in ("policyArn", "managedPolicyArns") for p in own):
                    raise Unknown(f"{resource.name}.policyArn")
                raise Unknown(f"{resource.name}.policyArn")
            if arn in allowed or any(names(arn, p, "arn") for p in own):
                continue
            yield resource.urn, f"{resource.name}: {arn} is neither allow-listed nor a policy of this stack"
