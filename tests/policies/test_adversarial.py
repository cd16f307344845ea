"""Weak changes shaped the way a careless or hostile change would be made, each blocked by the pack alone.

Every case takes the real prod plan (built once per session), weakens one thing in a shape the
obvious deny-list would miss (split CIDRs, partial-wildcard actions, a rule moved after an allow
rule, a control removed rather than misconfigured, an empty value that still "depends on" the right
resource, ...) and names the mandatory policy that must block it. checkov is a second line; none of
these cases relies on it. The whole table runs in-process (the pack's own rule functions, with the
pack's default config); a sample per domain also runs through the pack served over gRPC, exactly as
the engine runs it.
"""

from __future__ import annotations

import collections
import copy
import json

import pytest

from tests.policies.evaluate import violations
from tests.policies.mutations import DELETE, first, param, setkey
from tradesense_policies import types as t
from tradesense_policies import waivers
from tradesense_policies.registry import all_rules

RULES = all_rules()
WAIVERS = waivers.load()
TODAY = __import__("datetime").date(2026, 1, 15)
FOREIGN = "999999999999"
ACCOUNT = "123456789012"


# -- mutation helpers (each returns a function over prod's resources) ------------------------------
def named(name):
    return lambda r: r.name == name


def edit(type_, change, where=lambda r: True, every=False):
    """`change(props)` on the inputs and outputs of the first (or every) resource of `type_`."""

    def mutate(resources):
        targets = [r for r in resources if r.type == type_ and where(r)]
        assert targets, f"prod has no {type_} to weaken"
        for target in targets if every else targets[:1]:
            change(target.inputs)
            if target.outputs:
                change(target.outputs)
        return resources

    return mutate


def remove(type_, where=lambda r: True, every=False):
    def mutate(resources):
        victims = [r for r in resources if r.type == type_ and where(r)]
        assert victims, f"prod has no {type_} to remove"
        victims = victims if every else victims[:1]
        return [r for r in resources if not any(r is v for v in victims)]

    return mutate


def chain(*mutations):
    def mutate(resources):
        for mutation in mutations:
            resources = mutation(resources)
        return resources

    return mutate


def add(type_, name, inputs, like=None, property_dependencies=None):
    """A new resource of `type_` (URN and parent copied from the first `like` resource)."""

    def mutate(resources):
        from scripts.documents.reader import ResourceState

        model = first(resources, like or type_) if like else resources[-1]
        urn = model.urn.rsplit("::", 1)[0].rsplit("$", 1)[0] + f"${type_}::{name}"
        resources.append(
            ResourceState(
                type=type_,
                urn=urn,
                name=name,
                custom=True,
                inputs=copy.deepcopy(inputs),
                outputs={},
                parent=model.parent,
                property_dependencies=dict(property_dependencies or {}),
            )
        )
        return resources

    return mutate


def policy_doc(props, key="policy"):
    return json.loads(props[key]) if isinstance(props[key], str) else props[key]


def add_statement(statement, key="policy"):
    def change(props):
        doc = policy_doc(props, key)
        doc["Statement"].append(statement)
        props[key] = json.dumps(doc)

    return change


def set_policy(document, key="policy"):
    return lambda props: props.__setitem__(key, json.dumps(document))


def waf_rule(name):
    def pick(props):
        return next(r for r in props["rules"] if r["name"] == name)

    return pick


def on_waf_rule(name, change):
    return edit(t.WEB_ACL, lambda p: change(waf_rule(name)(p)))


def login_scope(change):
    """Change the login rate rule's scope-down byte-match statements."""

    def apply(rule):
        for statement in rule["statement"]["rateBasedStatement"]["scopeDownStatement"]["orStatement"]["statements"]:
            change(statement["byteMatchStatement"])

    return on_waf_rule("login-rate-limit", apply)


def allow_rule(priority, name="allow-partners"):
    return {
        "name": name,
        "priority": priority,
        "action": {"allow": {}},
        "statement": {
            "byteMatchStatement": {
                "searchString": "/",
                "positionalConstraint": "STARTS_WITH",
                "fieldToMatch": {"uriPath": {}},
                "textTransformations": [{"priority": 0, "type": "NONE"}],
            }
        },
        "visibilityConfig": {"metricName": name, "sampledRequestsEnabled": True, "cloudwatchMetricsEnabled": True},
    }


def ingress(
    cidr=None,
    port=5432,
    target="analytics-db-db-sg",
    v6=False,
    prefix_list=None,
    protocol="tcp",
    referenced=None,
    from_port=None,
    to_port=None,
):
    """A standalone ingress rule on one of prod's data-store groups."""

    def mutate(resources):
        sg = first(resources, t.SG, lambda r: r.name == target)
        inputs = {
            "ipProtocol": protocol,
            "fromPort": from_port if from_port is not None else port,
            "toPort": to_port if to_port is not None else port,
            "securityGroupId": sg.outputs["id"],
            "description": "temporary",
        }
        if cidr:
            inputs["cidrIpv6" if v6 else "cidrIpv4"] = cidr
        if prefix_list:
            inputs["prefixListId"] = prefix_list
        if referenced:
            inputs["referencedSecurityGroupId"] = referenced
        return add(
            t.SG_INGRESS_RULE,
            f"debug-{abs(hash((cidr, port, target, prefix_list, referenced)))}",
            inputs,
            like=t.SG_INGRESS_RULE,
            property_dependencies={"securityGroupId": [sg.urn]},
        )(resources)

    return mutate


def value_only(type_, prop, value, where=lambda r: True):
    """Set a reference to `value` but keep the recorded dependency (the value must win)."""
    return edit(type_, setkey(prop, value), where)


def role_policy(document, where=lambda r: True):
    return edit(t.IAM_POLICY_DOCS[0], set_policy(document), where)


def allow(action, resource="*", **extra):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}],
    }


def trust(principal):
    return edit(
        t.IAM_ROLE,
        set_policy(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
            },
            key="assumeRolePolicy",
        ),
        named("backups-role"),
    )


def ca(value):
    return edit(t.RDS_INSTANCE, setkey("caCertIdentifier", value))


def drop_param(name):
    return lambda props: props.__setitem__("parameters", [p for p in props["parameters"] if p["name"] != name])


def add_param(name, value):
    return lambda props: props["parameters"].append({"name": name, "value": value, "applyMethod": "immediate"})


def proxy_auth(key, value, index=0):
    return edit(t.RDS_PROXY, lambda p: p["auths"][index].__setitem__(key, value))


def copy_action(change):
    return edit(t.BACKUP_PLAN, lambda p: change(p["rules"][0]["copyActions"][0]))


def lock(change, bucket="backups-dumps-object-lock"):
    return edit(t.BUCKET_OBJECT_LOCK[0], change, named(bucket))


def lifecycle(change, bucket="backups-dumps-lifecycle"):
    return edit(t.BUCKET_LIFECYCLE, lambda p: change(p["rules"][0]), named(bucket))


def tls_policy(change, bucket="backups-dumps-policy"):
    def apply(props):
        doc = policy_doc(props)
        change(doc["Statement"][0])
        props["policy"] = json.dumps(doc)

    return edit(t.BUCKET_POLICY[0], apply, named(bucket))


def vault_policy(change, vault="backups-vault-policy"):
    def apply(props):
        doc = policy_doc(props)
        change(doc["Statement"][0])
        props["policy"] = json.dumps(doc)

    return edit(t.VAULT_POLICY, apply, named(vault))


def cache_user(change, user="cache-user-trading"):
    return edit(t.CACHE_USER, change, named(user))


def trail(change):
    return edit(t.TRAIL, change)


def selectors(change):
    return trail(lambda p: [change(s) for s in p["eventSelectors"]])


def alarms_point_elsewhere(resources):
    """Every alarm on the trading database now names a database that is not in the stack; the
    recorded dependency on the real instance is kept."""
    for r in resources:
        if (
            r.type == t.METRIC_ALARM
            and (r.inputs.get("dimensions") or {}).get("DBInstanceIdentifier") == "tradesense-prod-trading"
        ):
            for props in (r.inputs, r.outputs):
                if props.get("dimensions"):
                    props["dimensions"] = {"DBInstanceIdentifier": "tradesense-prod-trading-old"}
    return resources


def filter_on_other_group(resources):
    for r in resources:
        if r.type == t.METRIC_FILTER and r.name == "audit-cis-4-3-filter":
            r.inputs["logGroupName"] = r.outputs["logGroupName"] = "/tradesense/prod/scratch"
    return resources


def secret_without_generator(resources):
    version = first(resources, t.SECRET_VERSION)
    version.inputs["secretString"] = "[secret]"
    version.property_dependencies.pop("secretString", None)
    return resources


def managed_group(name, change):
    return on_waf_rule(name, change)


def waf_logging_filter(document):
    return edit(t.WEB_ACL_LOGGING, setkey("loggingFilter", document))


# -- the table: (domain, what is tried, mutation, the policy that must block it) ---------------------
CASES = [
    # ---- audit -----------------------------------------------------------------------------------
    ("audit", "trail stops logging", trail(setkey("enableLogging", False)), "cloudtrail-logging-management-events"),
    (
        "audit",
        "trail records read-only management events",
        selectors(lambda s: s.update(readWriteType="ReadOnly")),
        "cloudtrail-logging-management-events",
    ),
    (
        "audit",
        "trail records write-only management events",
        selectors(lambda s: s.update(readWriteType="WriteOnly")),
        "cloudtrail-logging-management-events",
    ),
    (
        "audit",
        "trail excludes management events",
        selectors(lambda s: s.update(includeManagementEvents=False)),
        "cloudtrail-logging-management-events",
    ),
    ("audit", "trail becomes single-region", trail(setkey("isMultiRegionTrail", "false")), "cloudtrail-multi-region"),
    (
        "audit",
        "trail drops global service events",
        trail(setkey("includeGlobalServiceEvents", False)),
        "cloudtrail-multi-region",
    ),
    (
        "audit",
        "log file validation off",
        trail(setkey("enableLogFileValidation", False)),
        "cloudtrail-log-file-validation",
    ),
    (
        "audit",
        "trail encrypted with the AWS-managed key",
        trail(setkey("kmsKeyId", "alias/aws/cloudtrail")),
        "cloudtrail-encrypted-cmk",
    ),
    ("audit", "trail removed from the stack", remove(t.TRAIL), "audit-trail-present"),
    (
        "audit",
        "root-usage metric filter removed",
        remove(t.METRIC_FILTER, named("audit-cis-4-3-filter")),
        "audit-security-metric-filters",
    ),
    (
        "audit",
        "root-usage filter moved to a log group the trail does not write",
        filter_on_other_group,
        "audit-security-metric-filters",
    ),
    (
        "audit",
        "alarm of a security metric removed",
        remove(t.METRIC_ALARM, named("audit-cis-4-1-alarm")),
        "audit-metric-filters-alarmed",
    ),
    (
        "audit",
        "KMS events excluded from the trail",
        selectors(lambda s: s.update(excludeManagementEventSources=["kms.amazonaws.com"])),
        "cloudtrail-logging-management-events",
    ),
    (
        "audit",
        "trail delivers to a bucket outside the stack",
        trail(setkey("s3BucketName", "someone-elses-unlocked-bucket")),
        "audit-trail-present",
    ),
    (
        "audit",
        "alarm actions disabled as text",
        edit(t.METRIC_ALARM, setkey("actionsEnabled", "false"), named("audit-cis-4-3-alarm")),
        "alarms-notify-alert-topic",
    ),
    (
        "audit",
        "trail no longer delivers to CloudWatch Logs",
        trail(setkey("cloudWatchLogsRoleArn", "")),
        "cloudtrail-cloudwatch-delivery",
    ),
    # ---- network ---------------------------------------------------------------------------------
    (
        "network",
        "PostgreSQL from 0.0.0.0/1 + 128.0.0.0/1",
        chain(ingress("0.0.0.0/1"), ingress("128.0.0.0/1")),
        "no-public-ingress-to-data-ports",
    ),
    ("network", "Redis from ::/0", ingress("::/0", 6379, "cache-sg", v6=True), "no-public-ingress-to-data-ports"),
    (
        "network",
        "Redis from 2000::/3 (all global unicast IPv6)",
        ingress("2000::/3", 6379, "cache-sg", v6=True),
        "no-public-ingress-to-data-ports",
    ),
    ("network", "PostgreSQL from one public /24", ingress("203.0.113.0/24"), "no-public-ingress-to-data-ports"),
    (
        "network",
        "PostgreSQL from 0.0.0.0/0 as an IPv4-mapped IPv6 range",
        ingress("::ffff:0:0/96", v6=True),
        "no-public-ingress-to-data-ports",
    ),
    (
        "network",
        "PostgreSQL from a prefix list",
        ingress(prefix_list="pl-0123456789abcdef0"),
        "no-public-ingress-to-data-ports",
    ),
    (
        "network",
        "all protocols from 64.0.0.0/2",
        ingress("64.0.0.0/2", protocol="-1", from_port=-1, to_port=-1),
        "no-public-ingress-to-data-ports",
    ),
    (
        "network",
        "a port range 5000-7000 from a public /8",
        ingress("11.0.0.0/8", from_port=5000, to_port=7000, target="cache-sg"),
        "no-public-ingress-to-data-ports",
    ),
    ("network", "database from the whole private 10/8", ingress("10.0.0.0/8"), "data-store-ingress-from-own-groups"),
    (
        "network",
        "proxy from a security group of another stack",
        ingress(referenced="sg-0fedcba9876543210", target="trading-db-proxy-sg"),
        "data-store-ingress-from-own-groups",
    ),
    (
        "network",
        "database attached to a group not in the stack",
        edit(t.RDS_INSTANCE, setkey("vpcSecurityGroupIds", ["sg-0aaaaaaaaaaaaaaaa"])),
        "data-store-ingress-from-own-groups",
    ),
    (
        "network",
        "inline ingress on the cache group",
        edit(
            t.SG,
            setkey(
                "ingress",
                [{"protocol": "tcp", "fromPort": 6379, "toPort": 6379, "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"]}],
            ),
            named("cache-sg"),
        ),
        "no-public-ingress-to-data-ports",
    ),
    (
        "network",
        "legacy SecurityGroupRule ingress to the cache",
        add(
            t.SG_RULE,
            "cache-debug",
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 6379,
                "toPort": 6379,
                "cidrBlocks": ["0.0.0.0/0"],
                "securityGroupId": "sg-e7a2bf82abc1321d8",
            },
            like=t.SG_INGRESS_RULE,
        ),
        "no-public-ingress-to-data-ports",
    ),
    (
        "network",
        "HTTPS from the internet on the endpoints group",
        ingress("0.0.0.0/0", 443, "network-endpoints-sg"),
        "no-public-ingress",
    ),
    ("network", "VPC flow log removed", remove(t.FLOW_LOG), "vpc-flow-logs-enabled"),
    (
        "network",
        "flow log records accepted traffic only",
        edit(t.FLOW_LOG, setkey("trafficType", "ACCEPT")),
        "vpc-flow-logs-enabled",
    ),
    (
        "network",
        "flow log on an empty VPC id that still depends on the VPC",
        value_only(t.FLOW_LOG, "vpcId", ""),
        "vpc-flow-logs-enabled",
    ),
    # ---- iam and resource policies -----------------------------------------------------------------
    ("iam", "*:* in a role policy", role_policy(allow("*:*")), "iam-no-wildcard-sensitive-actions"),
    ("iam", "iam:Put* (partial wildcard)", role_policy(allow("iam:Put*")), "iam-no-wildcard-sensitive-actions"),
    ("iam", "kms:*crypt* (infix wildcard)", role_policy(allow("kms:*crypt*")), "iam-no-wildcard-sensitive-actions"),
    (
        "iam",
        "s3:Get?bject (single-character wildcard)",
        role_policy(allow("s3:Get?bject", "arn:aws:s3:::tradesense-prod-audit-logs-e7a824f3d30f994d88bd6545c0/*")),
        "iam-no-wildcard-sensitive-actions",
    ),
    (
        "iam",
        "Allow with NotAction",
        role_policy(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
        ),
        "iam-no-wildcard-sensitive-actions",
    ),
    (
        "iam",
        "exact sensitive action on Resource *",
        role_policy(allow("secretsmanager:GetSecretValue")),
        "iam-no-wildcard-sensitive-actions",
    ),
    (
        "iam",
        "iam:PassRole on every role ARN",
        role_policy(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*")),
        "iam-no-wildcard-sensitive-actions",
    ),
    (
        "iam",
        "mixed-case service prefix KMS:Decrypt on *",
        role_policy(allow("KMS:Decrypt")),
        "iam-no-wildcard-sensitive-actions",
    ),
    (
        "iam",
        "wildcard in a role's inline policy",
        edit(
            t.IAM_ROLE,
            setkey("inlinePolicies", [{"name": "x", "policy": json.dumps(allow("s3:*"))}]),
            named("backups-role"),
        ),
        "iam-no-wildcard-sensitive-actions",
    ),
    ("iam", "trust policy for {AWS: *}", trust({"AWS": "*"}), "resource-policy-principals"),
    ("iam", "trust policy for Principal *", trust("*"), "resource-policy-principals"),
    (
        "iam",
        "trust policy for a foreign account",
        trust({"AWS": f"arn:aws:iam::{FOREIGN}:root"}),
        "resource-policy-principals",
    ),
    ("iam", "trust policy for a bare foreign account id", trust({"AWS": FOREIGN}), "resource-policy-principals"),
    (
        "iam",
        "bucket policy: public read without condition",
        edit(
            t.BUCKET_POLICY[0],
            add_statement(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::tradesense-prod-audit-logs-e7a824f3d30f994d88bd6545c0/*",
                }
            ),
            named("audit-logs-policy"),
        ),
        "resource-policy-principals",
    ),
    (
        "iam",
        "bucket policy: Allow with NotPrincipal",
        edit(
            t.BUCKET_POLICY[0],
            add_statement(
                {
                    "Effect": "Allow",
                    "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::tradesense-prod-audit-logs-e7a824f3d30f994d88bd6545c0/*",
                }
            ),
            named("audit-logs-policy"),
        ),
        "resource-policy-principals",
    ),
    (
        "iam",
        "key policy: decrypt for {AWS: *}",
        edit(
            t.KMS_KEY,
            add_statement({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}),
            named("keys-data"),
        ),
        "resource-policy-principals",
    ),
    (
        "iam",
        "key policy: kms:* for a foreign account",
        edit(
            t.KMS_KEY,
            add_statement(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{FOREIGN}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ),
            named("keys-backups"),
        ),
        "resource-policy-principals",
    ),
    (
        "iam",
        "topic policy: anyone may publish",
        edit(
            t.TOPIC_POLICY,
            add_statement({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "*"}),
        ),
        "resource-policy-principals",
    ),
    (
        "iam",
        "vault policy: foreign account may copy in",
        edit(
            t.VAULT_POLICY,
            add_statement(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{FOREIGN}:root"},
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                }
            ),
        ),
        "resource-policy-principals",
    ),
    (
        "iam",
        "AWS-managed ReadOnlyAccess attached (not *FullAccess)",
        edit(t.IAM_ATTACHMENTS[0], setkey("policyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess")),
        "iam-managed-policies-allow-listed",
    ),
    (
        "iam",
        "AWS-managed SecretsManagerReadWrite on a role",
        edit(
            t.IAM_ROLE,
            setkey("managedPolicyArns", ["arn:aws:iam::aws:policy/SecretsManagerReadWrite"]),
            named("trading-secrets-role"),
        ),
        "iam-managed-policies-allow-listed",
    ),
    (
        "iam",
        "a policy of a foreign account attached",
        edit(t.IAM_ATTACHMENTS[0], setkey("policyArn", f"arn:aws:iam::{FOREIGN}:policy/Helper")),
        "iam-managed-policies-allow-listed",
    ),
    # ---- cache -----------------------------------------------------------------------------------
    (
        "cache",
        "a user with no-password-required",
        cache_user(setkey("authenticationMode", {"type": "no-password-required"})),
        "elasticache-user-authenticates",
    ),
    (
        "cache",
        "a user with noPasswordRequired",
        cache_user(setkey("noPasswordRequired", True)),
        "elasticache-user-authenticates",
    ),
    (
        "cache",
        "nopass in an access string",
        cache_user(setkey("accessString", "on nopass ~trading:* +@all")),
        "elasticache-user-authenticates",
    ),
    (
        "cache",
        "the default user switched on",
        cache_user(setkey("accessString", "on ~* +@all"), "cache-user-default"),
        "elasticache-rbac-users",
    ),
    (
        "cache",
        "shared AUTH token instead of RBAC",
        edit(t.REPLICATION_GROUP, lambda p: (p.update(authToken="[secret]"), p.pop("userGroupIds"))),
        "elasticache-access-control",
    ),
    (
        "cache",
        "AUTH token next to the user group",
        edit(t.REPLICATION_GROUP, setkey("authToken", "[secret]")),
        "elasticache-access-control",
    ),
    (
        "cache",
        "user group not in the stack",
        value_only(t.REPLICATION_GROUP, "userGroupIds", ["legacy-open-group"]),
        "elasticache-rbac-users",
    ),
    (
        "cache",
        "user group lists a user not in the stack",
        edit(t.CACHE_USER_GROUP, lambda p: p["userIds"].append("legacy-admin")),
        "elasticache-rbac-users",
    ),
    # ---- edge ------------------------------------------------------------------------------------
    (
        "edge",
        "distribution's web ACL id emptied, dependency kept",
        value_only(t.DISTRIBUTION, "webAclId", ""),
        "edge-web-acl-attached",
    ),
    (
        "edge",
        "distribution points at a web ACL of another stack",
        value_only(t.DISTRIBUTION, "webAclId", f"arn:aws:wafv2:us-east-1:{FOREIGN}:global/webacl/open/1"),
        "edge-web-acl-attached",
    ),
    ("edge", "web ACL removed", remove(t.WEB_ACL), "edge-web-acl-attached"),
    (
        "edge",
        "login rate rule only counts",
        on_waf_rule("login-rate-limit", lambda r: r.__setitem__("action", {"count": {}})),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "API rate rule only counts",
        on_waf_rule("api-rate-limit", lambda r: r.__setitem__("action", {"count": {}})),
        "waf-api-rate-limit",
    ),
    (
        "edge",
        "an allow-everything rule before the rate rules",
        edit(t.WEB_ACL, lambda p: p["rules"].insert(0, allow_rule(-1))),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "login rule moved after an allow rule",
        edit(
            t.WEB_ACL,
            lambda p: (p["rules"].append(allow_rule(6)), waf_rule("login-rate-limit")(p).__setitem__("priority", 7)),
        ),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "login limit as a string, 100x looser",
        on_waf_rule("login-rate-limit", lambda r: r["statement"]["rateBasedStatement"].__setitem__("limit", "1000")),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "API limit 4x looser",
        on_waf_rule(
            "api-rate-limit", lambda r: r["statement"]["rateBasedStatement"].update(limit=400, evaluationWindowSec=60)
        ),
        "waf-api-rate-limit",
    ),
    (
        "edge",
        "login limit kept, window shortened 120 s -> 60 s (2x looser)",
        on_waf_rule("login-rate-limit", lambda r: r["statement"]["rateBasedStatement"].update(evaluationWindowSec=60)),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "login rule aggregates on X-Forwarded-For",
        on_waf_rule(
            "login-rate-limit",
            lambda r: r["statement"]["rateBasedStatement"].update(
                aggregateKeyType="FORWARDED_IP",
                forwardedIpConfig={"headerName": "X-Forwarded-For", "fallbackBehavior": "NO_MATCH"},
            ),
        ),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "API rule aggregates on a custom header key",
        on_waf_rule(
            "api-rate-limit",
            lambda r: r["statement"]["rateBasedStatement"].update(
                aggregateKeyType="CUSTOM_KEYS",
                customKeys=[
                    {"header": {"name": "x-client-id", "textTransformations": [{"priority": 0, "type": "NONE"}]}}
                ],
            ),
        ),
        "waf-api-rate-limit",
    ),
    (
        "edge",
        "login search string upper-cased after a LOWERCASE transform",
        login_scope(lambda b: b.update(searchString=b["searchString"].upper())),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "login match loses its LOWERCASE transform",
        login_scope(lambda b: b.update(textTransformations=[{"priority": 0, "type": "NONE"}])),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "login match demands an exact trailing slash",
        login_scope(lambda b: b.update(positionalConstraint="EXACTLY", searchString=b["searchString"] + "/")),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "token path dropped from the login rule",
        on_waf_rule(
            "login-rate-limit",
            lambda r: r["statement"]["rateBasedStatement"].__setitem__(
                "scopeDownStatement",
                r["statement"]["rateBasedStatement"]["scopeDownStatement"]["orStatement"]["statements"][0],
            ),
        ),
        "waf-login-rate-limit",
    ),
    (
        "edge",
        "SQLi group only counts",
        managed_group("AWSManagedRulesSQLiRuleSet", lambda r: r.__setitem__("overrideAction", {"count": {}})),
        "waf-managed-rule-groups",
    ),
    (
        "edge",
        "common rules overridden to count one by one",
        managed_group(
            "AWSManagedRulesCommonRuleSet",
            lambda r: r["statement"]["managedRuleGroupStatement"].__setitem__(
                "ruleActionOverrides",
                [
                    {"name": n, "actionToUse": {"count": {}}}
                    for n in ("SizeRestrictions_BODY", "GenericRFI_BODY", "CrossSiteScripting_BODY")
                ],
            ),
        ),
        "waf-managed-rule-groups",
    ),
    (
        "edge",
        "known-bad-inputs scoped down to a path that never occurs",
        managed_group(
            "AWSManagedRulesKnownBadInputsRuleSet",
            lambda r: r["statement"]["managedRuleGroupStatement"].__setitem__(
                "scopeDownStatement",
                {
                    "byteMatchStatement": {
                        "searchString": "/never",
                        "positionalConstraint": "EXACTLY",
                        "fieldToMatch": {"uriPath": {}},
                        "textTransformations": [{"priority": 0, "type": "NONE"}],
                    }
                },
            ),
        ),
        "waf-managed-rule-groups",
    ),
    (
        "edge",
        "managed groups placed after an allow rule",
        edit(t.WEB_ACL, lambda p: p["rules"].append(allow_rule(1.5, "allow-internal"))),
        "waf-managed-rule-groups",
    ),
    (
        "edge",
        "WAF logging drops everything but counted requests",
        waf_logging_filter(
            {
                "defaultBehavior": "DROP",
                "filters": [
                    {
                        "behavior": "KEEP",
                        "requirement": "MEETS_ANY",
                        "conditions": [{"actionCondition": {"action": "COUNT"}}],
                    }
                ],
            }
        ),
        "waf-logging-keeps-blocked",
    ),
    (
        "edge",
        "WAF logging drops blocked requests",
        waf_logging_filter(
            {
                "defaultBehavior": "KEEP",
                "filters": [
                    {
                        "behavior": "DROP",
                        "requirement": "MEETS_ANY",
                        "conditions": [{"actionCondition": {"action": "BLOCK"}}],
                    }
                ],
            }
        ),
        "waf-logging-keeps-blocked",
    ),
    (
        "edge",
        "origin reached over plain HTTP",
        edit(t.DISTRIBUTION, lambda p: p["origins"][0]["customOriginConfig"].update(originProtocolPolicy="http-only")),
        "cloudfront-origin-https-only",
    ),
    (
        "edge",
        "origin protocol follows the viewer",
        edit(
            t.DISTRIBUTION, lambda p: p["origins"][0]["customOriginConfig"].update(originProtocolPolicy="match-viewer")
        ),
        "cloudfront-origin-https-only",
    ),
    (
        "edge",
        "origin accepts TLSv1",
        edit(
            t.DISTRIBUTION,
            lambda p: p["origins"][0]["customOriginConfig"].update(originSslProtocols=["TLSv1", "TLSv1.2"]),
        ),
        "cloudfront-origin-https-only",
    ),
    # ---- backups and immutability ------------------------------------------------------------------
    ("backup", "DR vault's lock removed", remove(t.VAULT_LOCK, named("backups-dr-vault-lock")), "backup-vault-lock"),
    (
        "backup",
        "vault lock minimum retention 1 day",
        edit(t.VAULT_LOCK, setkey("minRetentionDays", 1)),
        "backup-vault-lock",
    ),
    (
        "backup",
        "vault lock in governance mode (no changeableForDays)",
        edit(t.VAULT_LOCK, setkey("changeableForDays", DELETE)),
        "backup-vault-lock",
    ),
    (
        "backup",
        "vault lock names an empty vault, dependency kept",
        value_only(t.VAULT_LOCK, "backupVaultName", ""),
        "backup-vault-lock",
    ),
    (
        "backup",
        "deny-deletion vault policy removed",
        remove(t.VAULT_POLICY, named("backups-vault-policy")),
        "backup-vault-deny-deletion",
    ),
    (
        "backup",
        "vault policy no longer denies DeleteRecoveryPoint",
        vault_policy(lambda s: s.update(Action=["backup:PutBackupVaultAccessPolicy"])),
        "backup-vault-deny-deletion",
    ),
    (
        "backup",
        "vault policy deny exempts one role",
        vault_policy(
            lambda s: s.update(Condition={"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/ops"}})
        ),
        "backup-vault-deny-deletion",
    ),
    (
        "backup",
        "copy to the DR region removed",
        edit(t.BACKUP_PLAN, lambda p: p["rules"][0].pop("copyActions")),
        "backup-plan-dr-copy",
    ),
    (
        "backup",
        "copy goes to a vault in the same region",
        copy_action(
            lambda c: c.update(
                destinationVaultArn=f"arn:aws:backup:us-east-1:{ACCOUNT}:backup-vault:backups-vault-5c1c2df"
            )
        ),
        "backup-plan-dr-copy",
    ),
    (
        "backup",
        "copy goes to a vault of another account",
        copy_action(lambda c: c.update(destinationVaultArn=f"arn:aws:backup:us-west-2:{FOREIGN}:backup-vault:x")),
        "backup-plan-dr-copy",
    ),
    (
        "backup",
        "DR copies kept 7 days",
        copy_action(lambda c: c["lifecycle"].update(deleteAfter=7)),
        "backup-plan-retention",
    ),
    (
        "backup",
        "recovery points kept 29 days (just under the floor)",
        edit(t.BACKUP_PLAN, lambda p: p["rules"][0]["lifecycle"].update(deleteAfter=29)),
        "backup-plan-retention",
    ),
    (
        "backup",
        "object lock configuration removed from the dumps bucket",
        remove(t.BUCKET_OBJECT_LOCK[0], named("backups-dumps-object-lock")),
        "s3-object-lock-retention",
    ),
    (
        "backup",
        "dumps locked 1 day",
        lock(lambda p: p["rule"]["defaultRetention"].update(days=1)),
        "s3-object-lock-retention",
    ),
    (
        "backup",
        "audit logs locked 30 days (under the audit floor)",
        lock(lambda p: p["rule"]["defaultRetention"].update(days=30), "audit-logs-object-lock"),
        "s3-object-lock-retention",
    ),
    (
        "backup",
        "object lock off and the Purpose tag removed",
        edit(
            t.BUCKET,
            lambda p: (p.update(objectLockEnabled=False), p.get("tags", {}).pop("Purpose", None)),
            named("backups-dumps-bucket"),
        ),
        "s3-object-lock-retention",
    ),
    (
        "backup",
        "object lock in governance mode",
        lock(lambda p: p["rule"]["defaultRetention"].update(mode="GOVERNANCE")),
        "s3-object-lock-compliance-mode",
    ),
    (
        "backup",
        "versioning suspended",
        edit(t.BUCKET_VERSIONING[0], setkey("versioningConfiguration.status", "Suspended")),
        "s3-versioning-enabled",
    ),
    (
        "backup",
        "TLS-only bucket policy removed",
        remove(t.BUCKET_POLICY[0], named("backups-dumps-policy")),
        "s3-bucket-has-controls",
    ),
    (
        "backup",
        "TLS deny covers the bucket but not its objects",
        tls_policy(lambda s: s.update(Resource=s["Resource"][0])),
        "s3-bucket-tls-only",
    ),
    (
        "backup",
        "TLS deny only for one principal",
        tls_policy(lambda s: s.update(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})),
        "s3-bucket-tls-only",
    ),
    (
        "backup",
        "dumps expire after 7 days (before their lock)",
        lifecycle(lambda r: r["expiration"].update(days=7)),
        "s3-lifecycle-not-shorter-than-retention",
    ),
    (
        "backup",
        "old audit log versions expire after 1 day",
        lifecycle(lambda r: r["noncurrentVersionExpiration"].update(noncurrentDays=1), "audit-logs-lifecycle"),
        "s3-lifecycle-not-shorter-than-retention",
    ),
    (
        "backup",
        "backup selection attached to a plan of another stack",
        value_only(t.BACKUP_SELECTION, "planId", "00000000-0000-0000-0000-000000000000"),
        "rds-covered-by-backup-plan",
    ),
    (
        "backup",
        "backup selection takes one database back out with notResources",
        edit(t.BACKUP_SELECTION, setkey("notResources", ["arn:aws:rds:*:*:db:tradesense-prod-trading"])),
        "rds-covered-by-backup-plan",
    ),
    (
        "backup",
        "backup selection lists the databases by a stale ARN, dependency kept",
        edit(t.BACKUP_SELECTION, lambda p: p.__setitem__("resources", [r + "-old" for r in p["resources"]])),
        "rds-covered-by-backup-plan",
    ),
    # ---- databases and proxies ---------------------------------------------------------------------
    ("database", "single-AZ database", edit(t.RDS_INSTANCE, setkey("multiAz", False)), "rds-multi-az"),
    ("database", "Multi-AZ left to the default", edit(t.RDS_INSTANCE, setkey("multiAz", DELETE)), "rds-multi-az"),
    (
        "database",
        "automated backups deleted with the instance",
        edit(t.RDS_INSTANCE, setkey("deleteAutomatedBackups", True)),
        "rds-keep-automated-backups",
    ),
    (
        "database",
        "backup retention 7 as text",
        edit(t.RDS_INSTANCE, setkey("backupRetentionPeriod", "7")),
        "rds-backup-retention",
    ),
    ("database", "proxy without TLS", edit(t.RDS_PROXY, setkey("requireTls", "false")), "rds-proxy-require-tls"),
    ("database", "proxy IAM auth disabled", proxy_auth("iamAuth", "DISABLED"), "rds-proxy-iam-auth"),
    (
        "database",
        "proxy IAM auth disabled on the second login only",
        proxy_auth("iamAuth", "DISABLED", 1),
        "rds-proxy-iam-auth",
    ),
    (
        "database",
        "proxy debug logging on (logs SQL text)",
        edit(t.RDS_PROXY, setkey("debugLogging", True)),
        "rds-proxy-debug-logging-off",
    ),
    (
        "database",
        "password_encryption md5",
        edit(t.RDS_PARAMETER_GROUP, param("password_encryption", "md5")),
        "rds-password-encryption-scram",
    ),
    (
        "database",
        "password_encryption left to the default",
        edit(t.RDS_PARAMETER_GROUP, drop_param("password_encryption")),
        "rds-password-encryption-scram",
    ),
    (
        "database",
        "log_statement all",
        edit(t.RDS_PARAMETER_GROUP, add_param("log_statement", "all")),
        "rds-log-statement-no-secrets",
    ),
    (
        "database",
        "log_statement mod",
        edit(t.RDS_PARAMETER_GROUP, add_param("log_statement", "mod")),
        "rds-log-statement-no-secrets",
    ),
    (
        "database",
        "log_statement ddl (logs ALTER ROLE ... PASSWORD)",
        edit(t.RDS_PARAMETER_GROUP, add_param("log_statement", "DDL")),
        "rds-log-statement-no-secrets",
    ),
    ("database", "retired CA rds-ca-2019", ca("rds-ca-2019"), "rds-current-ca"),
    (
        "database",
        "proxy target points at a database not in the stack, dependency kept",
        value_only(t.RDS_PROXY_TARGET, "dbInstanceIdentifier", "tradesense-prod-scratch"),
        "rds-reached-through-proxy",
    ),
    (
        "database",
        "proxy target on a proxy not in the stack",
        value_only(t.RDS_PROXY_TARGET, "dbProxyName", "tradesense-prod-legacy"),
        "rds-reached-through-proxy",
    ),
    (
        "database",
        "every alarm of a database watches a database that does not exist",
        alarms_point_elsewhere,
        "data-stores-have-alarms",
    ),
    (
        "database",
        "database publicly accessible as text",
        edit(t.RDS_INSTANCE, setkey("publiclyAccessible", "true")),
        "rds-not-publicly-accessible",
    ),
    # ---- keys and secrets --------------------------------------------------------------------------
    (
        "keys",
        "key rotation off (as text)",
        edit(t.KMS_KEY, setkey("enableKeyRotation", "false")),
        "kms-key-rotation-enabled",
    ),
    (
        "keys",
        "key rotated every 2560 days",
        edit(t.KMS_KEY, setkey("rotationPeriodInDays", 2560)),
        "kms-key-enabled-and-protected",
    ),
    (
        "keys",
        "key deletion window 7 days",
        edit(t.KMS_KEY, setkey("deletionWindowInDays", 7)),
        "kms-key-enabled-and-protected",
    ),
    ("keys", "key disabled", edit(t.KMS_KEY, setkey("isEnabled", False)), "kms-key-enabled-and-protected"),
    (
        "keys",
        "literal secret string that still depends on the generator",
        edit(t.SECRET_VERSION, setkey("secretString", "hunter2-literal")),
        "secret-values-generated",
    ),
    (
        "keys",
        "secret from Output.secret(literal): masked, no generator behind it",
        secret_without_generator,
        "secret-values-generated",
    ),
    (
        "keys",
        "secret policy open to everyone",
        add(
            t.SECRET_POLICY,
            "auth-secrets-jwt-policy",
            {
                "secretArn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:tradesense/prod/auth/JWT_SECRET_KEY-a27f2d",
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "*"},
                                "Action": "secretsmanager:GetSecretValue",
                                "Resource": "*",
                            }
                        ],
                    }
                ),
            },
            like=t.SECRET,
        ),
        "resource-policy-principals",
    ),
    (
        "keys",
        "secret deleted without a recovery window",
        edit(t.SECRET, setkey("recoveryWindowInDays", 0)),
        "secret-recovery-window",
    ),
]

assert len(CASES) >= 80


def _id(case):
    return f"{case[0]}: {case[1]}"


def _unwaived(name, found):
    return [(urn, m) for urn, m in found if not waivers.match(WAIVERS, name, urn, TODAY)[0]]


def test_prod_passes_every_policy_the_cases_rely_on(prod_resources):
    for name in sorted({case[3] for case in CASES}):
        rule = RULES[name]
        assert rule.enforcement == "mandatory", f"{name} must block, not advise"
        assert _unwaived(name, violations(rule, prod_resources)) == [], f"prod fails {name}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_weakening_is_blocked_by_the_pack(case, prod_resources):
    domain, what, mutate, policy = case
    found = _unwaived(policy, violations(RULES[policy], mutate(prod_resources)))
    assert found, f"[{domain}] {what}: passed {policy}"


def test_blocked_per_domain_summary(prod_resources, capsys):
    """Counts per domain for the record (each case is also its own test above)."""
    counts = collections.Counter(case[0] for case in CASES)
    assert set(counts) == {"audit", "network", "iam", "cache", "edge", "backup", "database", "keys"}
    print(dict(counts))


# -- the same weakenings through the pack as the engine runs it (one pack process, a sample per domain) --
GRPC_SAMPLE = [case for domain in sorted({c[0] for c in CASES}) for case in [c for c in CASES if c[0] == domain][:2]]


@pytest.fixture(scope="module")
def served_pack():
    import grpc
    from pulumi.runtime.proto import analyzer_pb2 as pb
    from pulumi.runtime.proto import analyzer_pb2_grpc as pb_grpc

    from scripts.report import analyzer

    proc = analyzer.spawn_pack(analyzer.PACK_DIR, {"TRADESENSE_POLICY_RAW": "1"})
    try:
        port = analyzer.read_port(proc)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=analyzer.START_TIMEOUT_S)
            yield lambda stack_input: analyzer._run(pb_grpc.AnalyzerStub(channel), pb, stack_input, True)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.error_file.close()


@pytest.mark.parametrize("case", GRPC_SAMPLE, ids=_id)
def test_weakening_is_blocked_through_grpc(case, prod_input, served_pack):
    from scripts.documents.reader import StackInput

    domain, what, mutate, policy = case
    mutated = StackInput(prod_input.kind, mutate(copy.deepcopy(prod_input.resources)), prod_input.config)
    result = served_pack(mutated)
    blocking = [v for v in result.violations if v.policy == policy and v.enforcement == "mandatory"]
    assert blocking, f"[{domain}] {what}: the served pack did not block it ({policy})"


def test_prod_is_clean_through_grpc(prod_input, served_pack):
    result = served_pack(prod_input)
    unwaived = [v for v in result.violations if not waivers.match(WAIVERS, v.policy, v.urn, TODAY)[0]]
    assert unwaived == [] and result.unknown == {}


# -- fail closed: undecidable is never a pass, an empty plan is not clean, a crashing rule blocks ---------
@pytest.mark.parametrize(
    "policy, mutate",
    [
        ("cloudtrail-logging-management-events", edit(t.TRAIL, setkey("enableLogging", "[secret]"))),
        ("edge-web-acl-attached", edit(t.DISTRIBUTION, setkey("webAclId", "04da6b54-80e4-46f7-96ec-b56ff0331ba9"))),
        (
            "data-store-ingress-from-own-groups",
            edit(t.RDS_INSTANCE, setkey("vpcSecurityGroupIds", "04da6b54-80e4-46f7-96ec-b56ff0331ba9")),
        ),
        (
            "waf-login-rate-limit",
            on_waf_rule(
                "login-rate-limit",
                lambda r: r["statement"]["rateBasedStatement"].__setitem__(
                    "limit", "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
                ),
            ),
        ),
    ],
)
def test_an_unknown_or_secret_value_a_rule_needs_is_undecided(policy, mutate, prod_resources):
    """The pack turns Unknown into the SDK's "can't run policy" diagnostic: neither pass nor fail."""
    from tradesense_policies.registry import Unknown

    with pytest.raises(Unknown):
        violations(RULES[policy], mutate(prod_resources))


def test_a_plan_with_nothing_to_judge_is_not_clean():
    from tradesense_policies.model import Stack

    assert list(RULES["audit-trail-present"].check(Stack([])))


def test_a_rule_that_errors_blocks():
    from tradesense_policies.pack import Gate, _resource_validate, _stack_validate
    from tradesense_policies.registry import Rule

    def crash(*_):
        raise KeyError("boom")

    base = RULES["rds-multi-az"]
    reported = []
    gate = Gate([], TODAY, suppress=False)

    class Args:
        resource_type, urn, name, props, resources = t.RDS_INSTANCE, "urn:x", "x", {}, []

        @staticmethod
        def get_config():
            return {}

    for kind, wrap in (("resource", _resource_validate), ("stack", _stack_validate)):
        rule = Rule(**{**base.__dict__, "kind": kind, "check": crash})
        wrap(rule, gate)(Args(), lambda message, urn: reported.append(message))
    assert len(reported) == 2 and all("fails closed" in m and "boom" in m for m in reported)


def test_an_empty_plan_never_passes(tmp_path, capsys, prod_input):
    """Nothing to judge is never a pass: the report refuses it (exit 2, one line, like checkov), and
    the pack itself, as the CLI runs it, blocks on the controls every stack must have."""
    from scripts.documents.reader import StackInput
    from scripts.report import analyzer, policy_report

    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"steps": [], "config": {}}))
    assert policy_report.main([str(path), "--format", "json", "--out", str(tmp_path / "r.json")]) == 2
    assert "nothing to judge" in capsys.readouterr().err
    empty = StackInput(kind="preview", resources=[], config=prod_input.config)
    result = analyzer.analyze(empty, env={"TRADESENSE_POLICY_RAW": "0"})
    assert "audit-trail-present" in {v.policy for v in result.violations if v.enforcement == "mandatory"}
