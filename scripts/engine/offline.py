"""Run a Pulumi program offline: the real program under the Pulumi SDK's mocks.

There is no CLI, no provider plugin and no cloud here, so the SDK's mock monitor plays the engine.
It is subclassed to see each `RegisterResource` request whole (parent, dependencies, property
dependencies, the serialized inputs exactly as the engine receives them) and to mint URNs the way
the engine does (the full chain of parent types). The mocks answer with realistic ids, ARNs and
endpoints, so a reference between resources (which key encrypts this database) shows the value it
points to. Everything runs in a fresh `contextvars.Context`, so two runs never share state.
"""

from __future__ import annotations

import base64
import contextvars
import gc
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks

from scripts.documents.secrets import SECRET_SIG, SECRET_VALUE, is_secret, mask_secrets, unwrap_secrets  # noqa: F401  (re-exported)

ACCOUNT_ID = "123456789012"
STACK_TYPE = "pulumi:pulumi:Stack"
# "Each Region has at least three Availability Zones"; the few with more are listed
# (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html).
AZ_COUNTS = {"us-east-1": 6, "us-west-2": 4}
DEFAULT_AZ_COUNT = 3
_DIRECTIONS = {"southeast": "se", "northeast": "ne", "southwest": "sw", "northwest": "nw"}


def region_code(region: str) -> str:
    """The short code AWS uses in AZ ids and cache endpoints: us-east-1 -> use1, ap-southeast-2 -> apse2."""
    area, direction, number = region.rsplit("-", 2) if region.count("-") >= 2 else (region, "", "")
    area = area.replace("-gov", "gov")
    return f"{area}{_DIRECTIONS.get(direction, direction[:1])}{number}"


@dataclass
class CapturedResource:
    """One registered resource as the engine would record it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    protect: bool = False
    aliases: list[str] = field(default_factory=list)
    """Every old URN this resource may have had (its `aliases` and those inherited from its
    parents), as the engine computes them; a review matches them against the base's URNs."""


@dataclass
class Capture:
    """Everything one offline run registered, in registration order."""

    project: str
    stack: str
    region: str
    resources: list[CapturedResource]
    outputs: dict[str, Any]
    stack_urn: str = ""

    def of_type(self, type_: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> CapturedResource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise LookupError(f"expected one {type_} named {name!r}, found {len(found)} among {names}")
        return found[0]

    def by_urn(self, urn: str) -> CapturedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(urn)

    def children(self, parent_urn: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.parent == parent_urn]

    def descendants(self, parent_urn: str) -> list[CapturedResource]:
        result, frontier = [], [parent_urn]
        while frontier:
            kids = self.children(frontier.pop())
            result.extend(kids)
            frontier.extend(k.urn for k in kids)
        return result


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _uuid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


@dataclass(frozen=True)
class InvokeContext:
    """What a data-source answer is minted from: the invoke's arguments and the region it asks about."""

    args: Mapping[str, Any]
    region: str
    account: str


def answer_caller_identity(ctx: InvokeContext) -> dict[str, Any]:
    return {
        "accountId": ctx.account,
        "arn": f"arn:aws:iam::{ctx.account}:user/offline-preview",
        "userId": "AIDAOFFLINEPREVIEW",
        "id": ctx.account,
    }


def answer_region(ctx: InvokeContext) -> dict[str, Any]:
    region = ctx.region
    return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}


def answer_partition(ctx: InvokeContext) -> dict[str, Any]:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}


def answer_availability_zones(ctx: InvokeContext) -> dict[str, Any]:
    region = ctx.region
    count = AZ_COUNTS.get(region, DEFAULT_AZ_COUNT)
    names = [f"{region}{letter}" for letter in "abcdef"[:count]]
    zone_ids = [f"{region_code(region)}-az{i}" for i in range(1, count + 1)]
    return {"names": names, "zoneIds": zone_ids, "id": region}


def answer_hosted_zone(ctx: InvokeContext) -> dict[str, Any]:
    # The public zone of that name, shaped as Route 53 returns it: id Z + upper-case
    # alphanumerics, the name fully qualified (trailing dot), four delegation name servers.
    name = str(ctx.args.get("name", "")).rstrip(".")
    zone_id = "Z" + _digest("route53", name, length=20).upper()
    return {
        "zoneId": zone_id,
        "id": zone_id,
        "name": f"{name}.",
        "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
        "privateZone": bool(ctx.args.get("privateZone", False)),
        "nameServers": [
            f"ns-{n}.awsdns-{n:02d}.{tld}" for n, tld in ((1, "com"), (2, "net"), (3, "org"), (4, "co.uk"))
        ],
        "resourceRecordSetCount": 2,
        "comment": "",
        "callerReference": zone_id,
        "tags": {},
    }


INVOKE_ANSWERS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": answer_caller_identity,
    "aws:index/getRegion:getRegion": answer_region,
    "aws:index/getPartition:getPartition": answer_partition,
    "aws:index/getAvailabilityZones:getAvailabilityZones": answer_availability_zones,
    "aws:route53/getZone:getZone": answer_hosted_zone,
}
"""Data-source answers by invoke token; an invoke missing here fails the run loudly."""


@dataclass(frozen=True)
class MintContext:
    """What a resource's id, ARN and outputs are minted from."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    region: str
    account: str
    module: str
    """`kms` in `aws:kms/key:Key`."""
    kind: str
    """`Key` in `aws:kms/key:Key`."""
    physical: str
    """The `name` input, else the logical name plus a stable suffix (as auto-naming does)."""

    @property
    def seed(self) -> tuple[str, str]:
        return (self.type, self.name)

    @property
    def default_arn(self) -> str:
        return f"arn:aws:{self.module}:{self.region}:{self.account}:{self.kind.lower()}/{self.physical}"


Minted = tuple[Any, str, dict[str, Any]]
"""(id, arn, outputs): `arn` becomes the `arn` output unless `outputs` has one."""


def _lower_first(kind: str) -> str:
    return kind[0].lower() + kind[1:]


def mint_default(ctx: MintContext) -> Minted:
    return ctx.physical, ctx.default_arn, {}


def mint_kms_key(ctx: MintContext) -> Minted:
    id_ = _uuid(*ctx.seed)
    return id_, f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{id_}", {"keyId": id_}


def mint_kms_alias(ctx: MintContext) -> Minted:
    arn = f"arn:aws:kms:{ctx.region}:{ctx.account}:{ctx.inputs.get('name', ctx.physical)}"
    return ctx.physical, arn, {"targetKeyArn": ctx.inputs.get("targetKeyId")}


def mint_s3_resource(ctx: MintContext) -> Minted:
    """A bucket gets a globally unique name and its endpoints; its settings resources take its name as id."""
    if ctx.kind not in ("Bucket", "BucketV2"):
        return str(ctx.inputs.get("bucket") or ctx.physical), ctx.default_arn, {}
    prefix = ctx.inputs.get("bucketPrefix") or f"{ctx.name}-"
    bucket = ctx.inputs.get("bucket") or f"{prefix}{_digest(*ctx.seed, length=26)}"[:63]
    return (
        bucket,
        f"arn:aws:s3:::{bucket}",
        {
            "bucket": bucket,
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{ctx.region}.amazonaws.com",
        },
    )


def mint_vpc(ctx: MintContext) -> Minted:
    id_ = f"vpc-{_digest(*ctx.seed)}"
    return (
        id_,
        f"arn:aws:ec2:{ctx.region}:{ctx.account}:vpc/{id_}",
        {
            "defaultSecurityGroupId": f"sg-{_digest(*ctx.seed, 'default')}",
            "mainRouteTableId": f"rtb-{_digest(*ctx.seed, 'main')}",
        },
    )


EC2_ID_PREFIXES = {
    "Subnet": "subnet",
    "SecurityGroup": "sg",
    "RouteTable": "rtb",
    "VpcEndpoint": "vpce",
    "FlowLog": "fl",
    "InternetGateway": "igw",
    "NatGateway": "nat",
    "Eip": "eipalloc",
    "NetworkAcl": "acl",
    "SecurityGroupRule": "sgr",
    "DefaultSecurityGroup": "sg",
    "LaunchTemplate": "lt",
}


def mint_ec2_resource(ctx: MintContext) -> Minted:
    prefix = EC2_ID_PREFIXES.get(ctx.kind, ctx.kind.lower())
    id_ = f"{prefix}-{_digest(*ctx.seed)}"
    outputs: dict[str, Any] = {}
    if ctx.kind == "VpcEndpoint":
        outputs["dnsEntries"] = [
            {"dnsName": f"{id_}.{ctx.inputs.get('serviceName', '')}", "hostedZoneId": "Z7HUB22UULQXV"}
        ]
        if ctx.inputs.get("vpcEndpointType") == "Gateway":
            # A gateway endpoint reports the AWS-managed prefix list of its service (pl-xxxxxxxx).
            outputs["prefixListId"] = f"pl-{_digest(str(ctx.inputs.get('serviceName', '')), length=8)}"
    return id_, f"arn:aws:ec2:{ctx.region}:{ctx.account}:{prefix}/{id_}", outputs


def mint_rds_instance(ctx: MintContext) -> Minted:
    region, seed = ctx.region, ctx.seed
    ident = ctx.inputs.get("identifier") or ctx.physical
    address = f"{ident}.c{_digest(*seed, length=12)}.{region}.rds.amazonaws.com"
    outputs: dict[str, Any] = dict(
        address=address,
        endpoint=f"{address}:5432",
        port=5432,
        resourceId=f"db-{_digest(*seed, length=26).upper()}",
        identifier=ident,
    )
    if ctx.inputs.get("manageMasterUserPassword"):
        outputs["masterUserSecrets"] = [
            {
                "secretArn": f"arn:aws:secretsmanager:{region}:{ctx.account}:secret:rds!db-{_uuid(*seed)}-{_digest(*seed, length=6)}",
                "kmsKeyId": ctx.inputs.get("masterUserSecretKmsKeyId", ""),
                "secretStatus": "active",
            }
        ]
    return ident, f"arn:aws:rds:{region}:{ctx.account}:db:{ident}", outputs


def mint_rds_proxy(ctx: MintContext) -> Minted:
    arn = f"arn:aws:rds:{ctx.region}:{ctx.account}:db-proxy:prx-{_digest(*ctx.seed)}"
    endpoint = f"{ctx.physical}.proxy-c{_digest(*ctx.seed, length=12)}.{ctx.region}.rds.amazonaws.com"
    return ctx.physical, arn, {"endpoint": endpoint}


def mint_rds_parameter_group(ctx: MintContext) -> Minted:
    return ctx.physical, f"arn:aws:rds:{ctx.region}:{ctx.account}:pg:{ctx.physical}", {}


def mint_rds_subnet_group(ctx: MintContext) -> Minted:
    return ctx.physical, f"arn:aws:rds:{ctx.region}:{ctx.account}:subgrp:{ctx.physical}", {}


def mint_elasticache_resource(ctx: MintContext) -> Minted:
    inputs = ctx.inputs
    id_ = inputs.get("replicationGroupId") or inputs.get("userId") or inputs.get("userGroupId") or ctx.physical
    outputs: dict[str, Any] = {}
    if ctx.kind == "ReplicationGroup":
        code, suffix = region_code(ctx.region), _digest(*ctx.seed, length=6)
        outputs["primaryEndpointAddress"] = f"master.{id_}.{suffix}.{code}.cache.amazonaws.com"
        outputs["readerEndpointAddress"] = f"replica.{id_}.{suffix}.{code}.cache.amazonaws.com"
    return id_, f"arn:aws:elasticache:{ctx.region}:{ctx.account}:{_lower_first(ctx.kind)}:{id_}", outputs


def mint_secret(ctx: MintContext) -> Minted:
    arn = f"arn:aws:secretsmanager:{ctx.region}:{ctx.account}:secret:{ctx.physical}-{_digest(*ctx.seed, length=6)}"
    return arn, arn, {}


IAM_ARN_PATHS = {"Role": "role", "Policy": "policy", "User": "user", "InstanceProfile": "instance-profile"}


def mint_iam_resource(ctx: MintContext) -> Minted:
    arn = f"arn:aws:iam::{ctx.account}:{IAM_ARN_PATHS.get(ctx.kind) or ctx.kind.lower()}/{ctx.physical}"
    id_ = ctx.physical
    if ctx.kind in ("RolePolicy", "RolePolicyAttachment"):
        id_ = f"{ctx.inputs.get('role', '')}:{ctx.physical}"
    return id_, arn, {}


def mint_sns_topic(ctx: MintContext) -> Minted:
    arn = f"arn:aws:sns:{ctx.region}:{ctx.account}:{ctx.physical}"
    return arn, arn, {}


def mint_log_group(ctx: MintContext) -> Minted:
    return ctx.physical, f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{ctx.physical}", {}


def mint_metric_alarm(ctx: MintContext) -> Minted:
    return ctx.physical, f"arn:aws:cloudwatch:{ctx.region}:{ctx.account}:alarm:{ctx.physical}", {}


def mint_web_acl(ctx: MintContext) -> Minted:
    id_ = _uuid(*ctx.seed)
    scope = "global" if ctx.inputs.get("scope") == "CLOUDFRONT" else "regional"
    return id_, f"arn:aws:wafv2:{ctx.region}:{ctx.account}:{scope}/webacl/{ctx.physical}/{id_}", {"capacity": 700}


def mint_distribution(ctx: MintContext) -> Minted:
    id_ = "E" + _digest(*ctx.seed, length=13).upper()
    return (
        id_,
        f"arn:aws:cloudfront::{ctx.account}:distribution/{id_}",
        {
            "domainName": f"d{_digest(*ctx.seed, length=13)}.cloudfront.net",
            "hostedZoneId": "Z2FDTNDATAQYW2",
        },
    )


def mint_cloudfront_resource(ctx: MintContext) -> Minted:
    id_ = _uuid(*ctx.seed)
    return id_, f"arn:aws:cloudfront::{ctx.account}:{_lower_first(ctx.kind)}/{id_}", {}


def mint_trail(ctx: MintContext) -> Minted:
    return ctx.physical, f"arn:aws:cloudtrail:{ctx.region}:{ctx.account}:trail/{ctx.physical}", {}


def mint_backup_resource(ctx: MintContext) -> Minted:
    if ctx.kind == "Plan":
        id_ = _uuid(*ctx.seed)
        return id_, f"arn:aws:backup:{ctx.region}:{ctx.account}:backup-plan:{id_}", {}
    if ctx.kind == "Vault":
        return ctx.physical, f"arn:aws:backup:{ctx.region}:{ctx.account}:backup-vault:{ctx.physical}", {}
    if ctx.kind == "Selection":
        return _uuid(*ctx.seed), ctx.default_arn, {}
    return mint_default(ctx)


def mint_ssm_parameter(ctx: MintContext) -> Minted:
    physical = str(ctx.physical)
    path = physical if physical.startswith("/") else "/" + physical
    return ctx.physical, f"arn:aws:ssm:{ctx.region}:{ctx.account}:parameter{path}", {}


def mint_budget(ctx: MintContext) -> Minted:
    return ctx.physical, f"arn:aws:budgets::{ctx.account}:budget/{ctx.physical}", {}


def mint_certificate(ctx: MintContext) -> Minted:
    id_ = _uuid(*ctx.seed)
    # DNS validation: one CNAME per name on the certificate, as ACM returns them.
    domains = [ctx.inputs.get("domainName", ""), *ctx.inputs.get("subjectAlternativeNames", [])]
    return (
        id_,
        f"arn:aws:acm:{ctx.region}:{ctx.account}:certificate/{id_}",
        {
            "domainValidationOptions": [
                {
                    "domainName": domain,
                    "resourceRecordName": f"_{_digest(*ctx.seed, domain, length=32)}.{domain}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": f"_{_digest(*ctx.seed, domain, 'value', length=32)}.acm-validations.aws.",
                }
                for domain in domains
            ]
        },
    )


def mint_dns_record(ctx: MintContext) -> Minted:
    inputs = ctx.inputs
    id_ = f"{inputs.get('zoneId', '')}_{inputs.get('name', '')}_{inputs.get('type', '')}"
    return id_, ctx.default_arn, {"fqdn": str(inputs.get("name", "")).rstrip(".")}


def mint_random_value(ctx: MintContext) -> Minted:
    """Generated secrets: a stand-in value of the requested length, never a real secret."""
    length = int(ctx.inputs.get("length", 32))
    outputs: dict[str, Any] = {"result": ("offline-" + _digest(*ctx.seed, length=64))[:length]}
    if ctx.kind == "RandomBytes":
        raw = hashlib.sha256("/".join(ctx.seed).encode()).digest() * (length // 32 + 1)
        outputs["base64"] = base64.b64encode(raw[:length]).decode()
        outputs["hex"] = raw[:length].hex()
    return "none", ctx.default_arn, outputs


MINTERS: dict[str, Callable[[MintContext], Minted]] = {
    # exact type tokens
    "aws:kms/key:Key": mint_kms_key,
    "aws:kms/alias:Alias": mint_kms_alias,
    "aws:ec2/vpc:Vpc": mint_vpc,
    "aws:rds/instance:Instance": mint_rds_instance,
    "aws:rds/proxy:Proxy": mint_rds_proxy,
    "aws:rds/parameterGroup:ParameterGroup": mint_rds_parameter_group,
    "aws:rds/subnetGroup:SubnetGroup": mint_rds_subnet_group,
    "aws:secretsmanager/secret:Secret": mint_secret,
    "aws:sns/topic:Topic": mint_sns_topic,
    "aws:cloudwatch/logGroup:LogGroup": mint_log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": mint_metric_alarm,
    "aws:wafv2/webAcl:WebAcl": mint_web_acl,
    "aws:cloudfront/distribution:Distribution": mint_distribution,
    "aws:cloudtrail/trail:Trail": mint_trail,
    "aws:ssm/parameter:Parameter": mint_ssm_parameter,
    "aws:budgets/budget:Budget": mint_budget,
    "aws:acm/certificate:Certificate": mint_certificate,
    "aws:route53/record:Record": mint_dns_record,
    # whole modules (`package:module/`) and packages (`package:`)
    "aws:s3/": mint_s3_resource,
    "aws:ec2/": mint_ec2_resource,
    "aws:elasticache/": mint_elasticache_resource,
    "aws:iam/": mint_iam_resource,
    "aws:cloudfront/": mint_cloudfront_resource,
    "aws:backup/": mint_backup_resource,
    "random:": mint_random_value,
}
"""How each resource type is minted: its exact token first, then its module, then its package;
anything else gets `mint_default` (the name as id, an ARN of the usual shape)."""


def minter_for(type_: str) -> Callable[[MintContext], Minted]:
    package, _, rest = type_.partition(":")
    module = rest.partition("/")[0]
    return MINTERS.get(type_) or MINTERS.get(f"{package}:{module}/") or MINTERS.get(f"{package}:") or mint_default


class RealisticMocks(pulumi_mocks.Mocks):
    """Answers for resources and invokes shaped like AWS's, deterministic per URN.

    Ids and ARNs derive from a hash of the resource's name and type, so previews are stable from
    run to run and diffs between two previews show only real changes. What each type gets is in
    `MINTERS` and `INVOKE_ANSWERS`.
    """

    def __init__(self, region: str, account_id: str = ACCOUNT_ID) -> None:
        self.region = region
        self.account = account_id
        # Resources created through an explicit provider (the DR region) get ARNs in its region.
        self._provider_regions: dict[str, str | None] = {}

    # -- invokes --------------------------------------------------------------------------
    def call(self, args: pulumi_mocks.MockCallArgs):
        # Data sources answer for the region they are asked about: an explicit `region`, else the
        # invoke's provider's region (the edge or DR provider), else the stack's.
        provider_id = (args.provider or "").rsplit("::", 1)[-1]
        region = args.args.get("region") or self._provider_regions.get(provider_id) or self.region
        answer = INVOKE_ANSWERS.get(args.token)
        if answer is None:
            raise NotImplementedError(
                f"offline preview has no mock answer for invoke {args.token}; add one to scripts/engine/offline.py"
            )
        return answer(InvokeContext(args.args, region, self.account)), []

    # -- resources ------------------------------------------------------------------------
    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        inputs = dict(args.inputs)
        type_ = args.typ
        if type_.startswith("pulumi:providers:"):
            provider_id = _uuid(type_, args.name)
            self._provider_regions[provider_id] = inputs.get("region")
            return provider_id, inputs
        module, _, kind = type_.partition(":")[2].partition("/")
        provider_id = (args.provider or "").rsplit("::", 1)[-1]
        ctx = MintContext(
            type=type_,
            name=args.name,
            inputs=inputs,
            region=inputs.get("region") or self._provider_regions.get(provider_id) or self.region,
            account=self.account,
            module=module,
            kind=kind.split(":")[-1],
            physical=inputs.get("name") or f"{args.name}-{_digest(type_, args.name, length=7)}",
        )
        id_, arn, outputs = minter_for(type_)(ctx)
        outputs.setdefault("arn", arn)
        if "name" not in inputs and not type_.startswith("random:"):
            outputs["name"] = ctx.physical
        return id_, {**inputs, **outputs, "id": id_}


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, plus engine-shaped URNs and a record of every request."""

    def __init__(self, mocks: RealisticMocks) -> None:
        super().__init__(mocks)
        self.captured: list[CapturedResource] = []
        self._qualified_types: dict[str, str] = {}
        self._aliases: dict[str, list[str]] = {}
        self.stack_urn = ""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        from pulumi.runtime.settings import get_project, get_stack

        qualified = type_
        if parent and parent != self.stack_urn:
            qualified = f"{self._qualified_types[parent]}${type_}"
        urn = f"urn:pulumi:{get_stack()}::{get_project()}::{qualified}::{name}"
        self._qualified_types[urn] = qualified
        if type_ == STACK_TYPE:
            self.stack_urn = urn
        return urn

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            return response
        outputs = json_format.MessageToDict(response.object) if response.object else {}
        self.captured.append(
            CapturedResource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                custom=bool(request.custom),
                inputs=json_format.MessageToDict(request.object),
                outputs=outputs,
                id=response.id,
                dependencies=list(request.dependencies),
                property_dependencies={key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
                provider=request.provider,
                protect=bool(request.protect) if request.HasField("protect") else False,
                aliases=self._alias_urns(request, response.urn),
            )
        )
        return response

    def _alias_urns(self, request, urn: str) -> list[str]:
        """The URNs the engine would look for in the old state, besides `urn` (pulumi/pulumi
        pkg/resource/deploy/step_generator.go: collapseAliasToUrn, inheritedChildAlias,
        generateAliases). Without an old state, a parent's candidate aliases all count."""
        from pulumi.runtime.settings import get_project, get_stack

        def make(parent: str, type_: str, name: str) -> str:
            if parent and parent != self.stack_urn:
                type_ = f"{self._qualified(parent)}${type_}"
            return f"urn:pulumi:{get_stack()}::{get_project()}::{type_}::{name}"

        own: list[str] = []
        for alias in request.aliases:
            if alias.WhichOneof("alias") == "urn":
                own.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            own.append(make(parent, spec.type or request.type, spec.name or request.name))
        own += list(request.aliasURNs)
        result = list(dict.fromkeys(own))
        parent_name = request.parent.rsplit("::", 1)[-1] if request.parent else ""
        for parent_alias in self._aliases.get(request.parent, []):
            for child_type, child_name in [(request.type, request.name)] + [
                (a.split("::")[2].split("$")[-1], a.rsplit("::", 1)[-1]) for a in own
            ]:
                name = child_name
                if parent_name and child_name.startswith(parent_name):
                    name = parent_alias.rsplit("::", 1)[-1] + child_name[len(parent_name) :]
                candidate = (
                    f"urn:pulumi:{get_stack()}::{get_project()}::{self._qualified(parent_alias)}${child_type}::{name}"
                )
                if candidate not in result:
                    result.append(candidate)
        self._aliases[urn] = result
        return result

    def _qualified(self, urn: str) -> str:
        """The qualified type (parent types joined by `$`) of a URN, known or parsed."""
        return self._qualified_types.get(urn) or urn.split("::")[2]


def engine_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Config values as the CLI hands them to a program: structured values as JSON text."""
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
        if not (isinstance(value, dict) and "secure" in value)
    }


def run_program(
    program: Callable[[], Any],
    *,
    project: str,
    stack: str,
    config: Mapping[str, Any] | None = None,
    region: str | None = None,
) -> Capture:
    """Run `program` as `pulumi up` would, against mocks; returns what it registered.

    Raises whatever the program raises (a ConfigError from settings, for instance), after the
    SDK has finished its own clean-up.
    """
    config = dict(config or {})
    region = region or str(config.get("aws:region", "us-east-1"))

    def run() -> Capture:
        from pulumi.runtime import config as runtime_config
        from pulumi.runtime.settings import SETTINGS
        from pulumi.runtime.stack import run_pulumi_func
        from pulumi.runtime.sync_await import _sync_await

        runtime_config.set_all_config(engine_config(config), secret_keys=[])
        monitor = CapturingMonitor(RealisticMocks(region))
        pulumi_mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        _sync_await(run_pulumi_func(program))
        from pulumi.runtime.settings import get_root_resource

        root = get_root_resource()
        outputs = _resolve_outputs(getattr(root, "outputs", {}) or {})
        return Capture(project, stack, region, monitor.captured, outputs, monitor.stack_urn)

    # The run allocates hundreds of thousands of short-lived Outputs and futures; the cyclic GC's
    # full passes over them took two thirds of the run time. One program run is bounded, so the
    # collector waits until it is over.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return contextvars.Context().run(run)
    finally:
        if gc_was_enabled:
            gc.enable()


def _resolve_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Stack exports as plain values; secret exports stay masked."""
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    resolved = {}
    for key, value in outputs.items():
        output = pulumi.Output.from_input(value)
        plain = _sync_await(output.future())
        secret = _sync_await(output.is_secret())
        resolved[key] = "[secret]" if secret else plain
    return resolved


def iter_types(capture: Capture) -> Iterable[str]:
    return (r.type for r in capture.resources)
