"""Convert a Pulumi preview into the Terraform plan JSON that checkov's `terraform_plan` framework reads.

checkov has no Pulumi framework, but pulumi-aws is bridged from the Terraform AWS provider, so every
pulumi-aws resource is a Terraform resource under another name. This module renames the type
(`aws:rds/instance:Instance` -> `aws_db_instance`) and the properties (camelCase -> snake_case, and
back from the plurals Pulumi gives list blocks: `rules` -> `rule`), and shapes the result the way
`terraform show -json` prints a plan: `planned_values` for the values, `resource_changes` for the
actions, `configuration` for the references between resources.

References matter: checkov's graph checks join a bucket to its encryption, versioning, public-access
block and logging resources, and a web ACL to its logging configuration, only through references. In a
Terraform plan, an attribute that points at a resource being created is unknown, so its value is
absent and `configuration...expressions.<attr>.references` names the resource instead; checkov then
uses the reference as the value. Pulumi records the same link in `propertyDependencies`, so an input
that points at another resource (the bucket name, the key ARN) becomes a reference here too.

Inputs: the offline `preview.json`, a real `pulumi preview --json` or a `pulumi stack export`.
A pulumi-aws type this module does not know is listed in the result (`unknown`), never dropped
silently; non-AWS types (pulumi-random) are listed as `not_applicable`.

    python -m scripts.checkov_bridge.tfplan INPUT --out plan.json
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.cli import ArgumentParser, entrypoint
from scripts.documents.secrets import SECRET_TEXT, is_secret

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
TERRAFORM_VERSION = "1.9.8"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"

# Pulumi type token -> Terraform resource type. The pulumi-aws names come from its bridge metadata
# (provider/cmd/pulumi-resource-aws/bridge-metadata.json, "renames.resources"); only types listed
# here are converted, so a new type shows up as unknown instead of being guessed.
TERRAFORM_TYPES: dict[str, str] = {
    "aws:acm/certificate:Certificate": "aws_acm_certificate",
    "aws:acm/certificateValidation:CertificateValidation": "aws_acm_certificate_validation",
    "aws:backup/plan:Plan": "aws_backup_plan",
    "aws:backup/selection:Selection": "aws_backup_selection",
    "aws:backup/vault:Vault": "aws_backup_vault",
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": "aws_backup_vault_lock_configuration",
    "aws:backup/vaultNotifications:VaultNotifications": "aws_backup_vault_notifications",
    "aws:backup/vaultPolicy:VaultPolicy": "aws_backup_vault_policy",
    "aws:budgets/budget:Budget": "aws_budgets_budget",
    "aws:cloudfront/distribution:Distribution": "aws_cloudfront_distribution",
    "aws:cloudfront/originAccessControl:OriginAccessControl": "aws_cloudfront_origin_access_control",
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": "aws_cloudfront_response_headers_policy",
    "aws:cloudtrail/trail:Trail": "aws_cloudtrail",
    "aws:cloudwatch/dashboard:Dashboard": "aws_cloudwatch_dashboard",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": "aws_cloudwatch_log_metric_filter",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "aws_cloudwatch_log_resource_policy",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/route:Route": "aws_route",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:elasticache/replicationGroup:ReplicationGroup": "aws_elasticache_replication_group",
    "aws:elasticache/subnetGroup:SubnetGroup": "aws_elasticache_subnet_group",
    "aws:elasticache/user:User": "aws_elasticache_user",
    "aws:elasticache/userGroup:UserGroup": "aws_elasticache_user_group",
    "aws:iam/instanceProfile:InstanceProfile": "aws_iam_instance_profile",
    "aws:iam/policy:Policy": "aws_iam_policy",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:kms/keyPolicy:KeyPolicy": "aws_kms_key_policy",
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:rds/parameterGroup:ParameterGroup": "aws_db_parameter_group",
    "aws:rds/proxy:Proxy": "aws_db_proxy",
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": "aws_db_proxy_default_target_group",
    "aws:rds/proxyTarget:ProxyTarget": "aws_db_proxy_target",
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    "aws:route53/record:Record": "aws_route53_record",
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketV2:BucketV2": "aws_s3_bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "aws_s3_bucket_lifecycle_configuration",
    "aws:s3/bucketLogging:BucketLogging": "aws_s3_bucket_logging",
    "aws:s3/bucketNotification:BucketNotification": "aws_s3_bucket_notification",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "aws_s3_bucket_object_lock_configuration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "aws_s3_bucket_public_access_block",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": "aws_s3_bucket_replication_configuration",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "aws_s3_bucket_server_side_encryption_configuration",
    "aws:s3/bucketVersioning:BucketVersioning": "aws_s3_bucket_versioning",
    "aws:secretsmanager/secret:Secret": "aws_secretsmanager_secret",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "aws_secretsmanager_secret_policy",
    "aws:secretsmanager/secretRotation:SecretRotation": "aws_secretsmanager_secret_rotation",
    "aws:secretsmanager/secretVersion:SecretVersion": "aws_secretsmanager_secret_version",
    "aws:sns/topic:Topic": "aws_sns_topic",
    "aws:sns/topicPolicy:TopicPolicy": "aws_sns_topic_policy",
    "aws:sns/topicSubscription:TopicSubscription": "aws_sns_topic_subscription",
    "aws:ssm/parameter:Parameter": "aws_ssm_parameter",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "aws_vpc_security_group_egress_rule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "aws_vpc_security_group_ingress_rule",
    "aws:wafv2/webAcl:WebAcl": "aws_wafv2_web_acl",
    "aws:wafv2/webAclAssociation:WebAclAssociation": "aws_wafv2_web_acl_association",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": "aws_wafv2_web_acl_logging_configuration",
}

# Packages whose resources are not cloud resources Terraform-AWS checks could apply to.
NOT_APPLICABLE_PACKAGES = ("random", "tls", "command")
# Resources the engine itself owns: never part of a plan.
SKIPPED_PREFIXES = ("pulumi:pulumi:", "pulumi:providers:")

# Properties whose Terraform name is not the snake_case of the Pulumi name. Almost all are list
# blocks: Terraform names a repeatable block in the singular (`rule { }`), pulumi-aws pluralises it
# (`rules`). Keys are Pulumi names, applied at any depth of that type's inputs. The pulumi-aws
# input classes (pulumi_aws/<module>/_inputs.py) list every list-of-blocks property; the test
# tests/checkov/test_tfplan_types.py checks each one used here has a decision below.
_BLOCK_RENAMES: dict[str, dict[str, str]] = {
    "aws_route_table": {"routes": "route"},
    "aws_vpc_endpoint": {"subnetConfigurations": "subnet_configuration"},
    "aws_iam_role": {"inlinePolicies": "inline_policy"},
    "aws_db_parameter_group": {"parameters": "parameter"},
    "aws_db_proxy": {"auths": "auth"},
    "aws_elasticache_replication_group": {
        "logDeliveryConfigurations": "log_delivery_configuration",
        "nodeGroupConfigurations": "node_group_configuration",
    },
    "aws_secretsmanager_secret": {"replicas": "replica"},
    "aws_s3_bucket_server_side_encryption_configuration": {"rules": "rule"},
    "aws_s3_bucket_replication_configuration": {"rules": "rule"},
    "aws_s3_bucket_lifecycle_configuration": {
        "rules": "rule",
        "transitions": "transition",
        "noncurrentVersionTransitions": "noncurrent_version_transition",
    },
    "aws_backup_plan": {
        "rules": "rule",
        "copyActions": "copy_action",
        "scanActions": "scan_action",
        "advancedBackupSettings": "advanced_backup_setting",
        "scanSettings": "scan_setting",
    },
    "aws_backup_selection": {
        "conditions": "condition",
        "selectionTags": "selection_tag",
        "stringLikes": "string_like",
        "stringNotLikes": "string_not_like",
    },
    "aws_cloudtrail": {
        "eventSelectors": "event_selector",
        "dataResources": "data_resource",
        "advancedEventSelectors": "advanced_event_selector",
        "fieldSelectors": "field_selector",
        "insightSelectors": "insight_selector",
    },
    "aws_cloudwatch_metric_alarm": {"metricQueries": "metric_query", "name": "alarm_name"},
    "aws_budgets_budget": {
        "costFilters": "cost_filter",
        "notifications": "notification",
        "plannedLimits": "planned_limit",
        "ands": "and",
        "ors": "or",
    },
    "aws_wafv2_web_acl": {
        "rules": "rule",
        "statements": "statement",
        "textTransformations": "text_transformation",
        "customResponseBodies": "custom_response_body",
        "ruleActionOverrides": "rule_action_override",
        "insertHeaders": "insert_header",
        "responseHeaders": "response_header",
        "customKeys": "custom_key",
        "headerOrders": "header_order",
        "matchPatterns": "match_pattern",
        "requestBodies": "request_body",
        "scopeDownStatements": "scope_down_statement",
    },
    "aws_wafv2_web_acl_logging_configuration": {"filters": "filter", "conditions": "condition"},
    "aws_cloudfront_distribution": {
        "origins": "origin",
        "customHeaders": "custom_header",
        "customErrorResponses": "custom_error_response",
        "orderedCacheBehaviors": "ordered_cache_behavior",
        "functionAssociations": "function_association",
        "lambdaFunctionAssociations": "lambda_function_association",
        "originGroups": "origin_group",
        "members": "member",
    },
    "aws_acm_certificate": {"validationOptions": "validation_option"},
    "aws_route53_record": {
        "aliases": "alias",
        "failoverRoutingPolicies": "failover_routing_policy",
        "geolocationRoutingPolicies": "geolocation_routing_policy",
        "latencyRoutingPolicies": "latency_routing_policy",
        "weightedRoutingPolicies": "weighted_routing_policy",
    },
}

# Properties that are Terraform maps (string -> value), not blocks: they stay JSON objects.
_MAP_PROPERTIES = frozenset(
    {
        "tags",
        "tagsAll",
        "dimensions",
        "backupOptions",
        "variables",
        "attributes",
        "context",
    }
)

# Properties whose value is a JSON document in a string (IAM-style policies). pulumi-aws accepts a
# dict there too; Terraform (and checkov) want the string.
_JSON_DOCUMENT_PROPERTIES = frozenset({"policy", "assumeRolePolicy", "accessPolicies"})

# Output attributes a reference may point at, in the order they are tried.
_REFERENCE_ATTRIBUTES = ("id", "arn", "name", "bucket", "keyId", "endpoint", "address")


def snake(name: str) -> str:
    """camelCase -> snake_case the way the bridge maps names (`kmsKeyId` -> `kms_key_id`)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def terraform_name(tf_type: str, pulumi_name: str) -> str:
    """The Terraform attribute name of a Pulumi property of a resource of `tf_type`."""
    return _BLOCK_RENAMES.get(tf_type, {}).get(pulumi_name) or snake(pulumi_name)


@dataclass
class PulumiResource:
    """One resource of a preview or export, in the engine's own (camelCase) terms."""

    urn: str
    type: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    parent: str = ""
    custom: bool = True

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class Conversion:
    """The plan plus everything a report needs to map checkov's answer back to Pulumi."""

    plan: dict[str, Any]
    address_to_urn: dict[str, str]
    urn_to_type: dict[str, str]
    unknown: list[dict[str, str]]
    """pulumi-aws (or other cloud) resources of a type this converter does not map."""
    not_applicable: list[dict[str, str]]
    """Resources that are not cloud resources (pulumi-random): nothing for checkov to check."""
    references: dict[str, list[str]] = field(default_factory=dict)
    """Terraform address -> the addresses its attributes refer to (the edges checkov joins on)."""
    partial: str = ""
    """Why the input does not list the whole stack (scripts.documents.reader.StackInput.partial)."""

    @property
    def resources(self) -> list[dict[str, Any]]:
        return self.plan["planned_values"]["root_module"]["resources"]


class ConversionError(ValueError):
    """The input is not a Pulumi preview or stack export."""


# ---------------------------------------------------------------------------------------------
# Reading the three input shapes.


def read(document: Mapping[str, Any], source: str = "input") -> Any:
    """The document through the report's reader (scripts.documents.reader), so the plan holds exactly
    the resources the policy report judges: no pending deletions, no read resources, each URN once,
    every secret (and every input the provider marks secret) masked. ConversionError if unusable."""
    from scripts.documents.reader import InputError, parse

    try:
        stack_input = parse(document, source)
    except InputError as exc:
        raise ConversionError(str(exc)) from None
    except RecursionError:
        raise ConversionError(f"{source}: nested too deeply to read") from None
    reason = stack_input.incomplete()
    if reason:
        raise ConversionError(f"{source}: {reason}")
    return stack_input


def load_resources(document: Mapping[str, Any]) -> list[PulumiResource]:
    """The resources of a preview (`steps[].newState`) or a stack export (`deployment.resources`)."""
    return _resources(read(document))


def _resources(stack_input: Any) -> list[PulumiResource]:
    return [
        PulumiResource(
            urn=state.urn,
            type=state.type,
            inputs=dict(state.inputs),
            outputs=dict(state.outputs),
            dependencies=list(state.dependencies),
            property_dependencies={k: list(v) for k, v in state.property_dependencies.items()},
            parent=state.parent,
            custom=state.custom,
        )
        # Derived inline-bucket controls are the report's reading of the bucket's own blocks,
        # which checkov reads on aws_s3_bucket directly.
        for state in stack_input.resources
        if state.judged and not state.derived_from
    ]


# ---------------------------------------------------------------------------------------------
# Conversion.


def _address_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"r_{cleaned}"


class _Converter:
    def __init__(self, resources: list[PulumiResource]) -> None:
        self.resources = resources
        self.by_urn = {r.urn: r for r in resources}
        self.addresses: dict[str, str] = {}
        taken: set[str] = set()
        for r in resources:
            tf_type = TERRAFORM_TYPES.get(r.type)
            if not tf_type or not r.custom:
                continue
            base = f"{tf_type}.{_address_name(r.name)}"
            address, n = base, 2
            while address in taken:
                address, n = f"{base}_{n}", n + 1
            taken.add(address)
            self.addresses[r.urn] = address

    # -- references ------------------------------------------------------------------------
    def reference(self, dep_urn: str, value: Any) -> str | None:
        """`aws_kms_key.data.arn`: the attribute of `dep_urn` whose value `value` is (or `id`)."""
        address = self.addresses.get(dep_urn)
        if address is None:
            return None
        dep = self.by_urn[dep_urn]
        if isinstance(value, str) and value != UNKNOWN:
            for attr in _REFERENCE_ATTRIBUTES:
                if dep.outputs.get(attr) == value:
                    return f"{address}.{snake(attr)}"
            for attr, out in dep.outputs.items():
                if out == value and isinstance(out, str):
                    return f"{address}.{snake(attr)}"
            return None
        return f"{address}.id"

    def _substitute(self, value: Any, deps: list[str], used: list[str]) -> Any:
        """Replace identifiers of `deps` inside `value` by Terraform references to them."""
        if isinstance(value, str):
            if value == UNKNOWN:
                # Unknown until deploy: point at the dependencies in turn (one value per dependency).
                remaining = [d for d in deps if d not in used] or deps
                used.append(remaining[0])
                return self.reference(remaining[0], None)
            if value.lstrip().startswith(("{", "[")):
                return value  # a JSON document: keep it readable for the policy checks
            for dep in deps:
                ref = self.reference(dep, value)
                if ref:
                    used.append(dep)
                    return ref
            return value
        if isinstance(value, list):
            return [self._substitute(v, deps, used) for v in value]
        if isinstance(value, dict):
            return {k: self._substitute(v, deps, used) for k, v in value.items()}
        return value

    # -- values -----------------------------------------------------------------------------
    def _shape(self, tf_type: str, key: str, value: Any) -> Any:
        """Pulumi value -> Terraform plan value: blocks as lists, names renamed, unknowns dropped."""
        if is_secret(value) or value == SECRET_TEXT:
            return SECRET_TEXT
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if key in _MAP_PROPERTIES and isinstance(value, dict):
            return {k: self._shape(tf_type, "", v) for k, v in value.items()}
        if key in _JSON_DOCUMENT_PROPERTIES and isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, dict):
            return [self._block(tf_type, value)]
        if isinstance(value, list):
            shaped = [self._shape(tf_type, key, v) for v in value]
            # a list of blocks: each item became [block]; Terraform lists them flat
            return [s[0] if isinstance(s, list) and len(s) == 1 and isinstance(s[0], dict) else s for s in shaped]
        return value

    def _block(self, tf_type: str, block: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in block.items():
            if value is None or value == UNKNOWN:
                continue
            out[terraform_name(tf_type, key)] = self._shape(tf_type, key, value)
        return out

    def convert(self, r: PulumiResource) -> tuple[dict[str, Any], dict[str, Any]]:
        tf_type = TERRAFORM_TYPES[r.type]
        address = self.addresses[r.urn]
        values: dict[str, Any] = {}
        expressions: dict[str, Any] = {}
        referenced: set[str] = set()
        for key, raw in r.inputs.items():
            if key.startswith("__"):
                continue
            deps = [d for d in r.property_dependencies.get(key, []) if d in self.addresses]
            tf_key = terraform_name(tf_type, key)
            value = raw
            if deps and not is_secret(raw):
                used: list[str] = []
                value = self._substitute(raw, deps, used)
                refs: list[str] = []
                for dep in used or deps:
                    refs += [self._ref_of(dep, raw), self.addresses[dep]]
                expressions[tf_key] = {"references": list(dict.fromkeys(refs))}
                referenced.update(used or deps)
            if value is None or value == UNKNOWN:
                continue
            values[tf_key] = self._shape(tf_type, key, value)
        depends_on = sorted(self.addresses[d] for d in r.dependencies if d in self.addresses and d not in referenced)
        name = address.split(".", 1)[1]
        planned = {
            "address": address,
            "mode": "managed",
            "type": tf_type,
            "name": name,
            "provider_name": AWS_PROVIDER,
            "schema_version": 0,
            "values": values,
            "sensitive_values": {},
        }
        config: dict[str, Any] = {
            "address": address,
            "mode": "managed",
            "type": tf_type,
            "name": name,
            "provider_config_key": "aws",
            "expressions": expressions,
            "schema_version": 0,
        }
        if depends_on:
            config["depends_on"] = depends_on
        return planned, config

    def _ref_of(self, dep: str, raw: Any) -> str:
        """The reference Terraform would print first for `dep`: the attribute the value came from."""
        return (isinstance(raw, str) and self.reference(dep, raw)) or f"{self.addresses[dep]}.id"


def convert(document: Mapping[str, Any], source: str = "input") -> Conversion:
    """Convert a preview or stack export (already parsed) into a Terraform plan document."""
    stack_input = read(document, source)
    resources = _resources(stack_input)
    converter = _Converter(resources)
    planned: list[dict[str, Any]] = []
    configs: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    unknown: list[dict[str, str]] = []
    not_applicable: list[dict[str, str]] = []
    for r in resources:
        if r.type.startswith(SKIPPED_PREFIXES) or not r.custom:
            continue  # the stack, providers and components: the engine's own bookkeeping
        if r.type not in TERRAFORM_TYPES:
            entry = {"urn": r.urn, "type": r.type}
            if r.type.split(":", 1)[0] in NOT_APPLICABLE_PACKAGES:
                not_applicable.append(entry)
            else:
                unknown.append(entry)
            continue
        values, config = converter.convert(r)
        planned.append(values)
        configs.append(config)
        changes.append(
            {
                "address": values["address"],
                "mode": "managed",
                "type": values["type"],
                "name": values["name"],
                "provider_name": AWS_PROVIDER,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": values["values"],
                    "after_unknown": {},
                    "before_sensitive": False,
                    "after_sensitive": {},
                },
            }
        )
    plan = {
        "format_version": "1.2",
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "full_name": AWS_PROVIDER}},
            "root_module": {"resources": configs},
        },
    }
    address_to_urn = {converter.addresses[urn]: urn for urn in converter.addresses}
    addresses = set(address_to_urn)
    references = {
        config["address"]: sorted(
            {ref for expr in config["expressions"].values() for ref in expr["references"] if ref in addresses}
        )
        for config in configs
    }
    return Conversion(
        plan=plan,
        address_to_urn=address_to_urn,
        urn_to_type={r.urn: r.type for r in resources},
        unknown=unknown,
        not_applicable=not_applicable,
        references=references,
        partial=stack_input.partial,
    )


def load_document(path: Path) -> Any:
    """The parsed input file, or ConversionError with one line saying what is wrong with it."""
    from scripts.documents.reader import InputError
    from scripts.documents.reader import load_document as load

    try:
        return load(path)
    except InputError as exc:
        raise ConversionError(str(exc)) from None


def convert_file(path: Path) -> Conversion:
    return convert(load_document(path), str(path))


def main(argv: Iterable[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "input", type=Path, help="preview.json, `pulumi preview --json --show-sames` or `pulumi stack export`"
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the Terraform plan JSON")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.out.exists() and args.input.exists() and args.out.resolve() == args.input.resolve():
        print(f"tfplan: --out {args.out}: is the input file; writing there would destroy it", file=sys.stderr)
        return 2
    try:
        conversion = convert_file(args.input)
    except ConversionError as exc:
        print(f"tfplan: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(conversion.plan, indent=1, sort_keys=True))
    print(f"{len(conversion.resources)} resources -> {args.out}", file=sys.stderr)
    for type_, count in sorted(Counter(e["type"] for e in conversion.not_applicable).items()):
        print(f"not applicable (not a cloud resource): {count} x {type_}", file=sys.stderr)
    for entry in conversion.unknown:
        print(f"UNKNOWN type, not converted: {entry['type']} {entry['urn']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    entrypoint(main)  # bad arguments: one line, exit 2 (scripts.cli)
