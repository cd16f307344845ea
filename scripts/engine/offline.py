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
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

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

    def one(self, type_: str, name: Optional[str] = None) -> CapturedResource:
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


class RealisticMocks(pulumi_mocks.Mocks):
    """Answers for resources and invokes shaped like AWS's, deterministic per URN.

    Ids and ARNs derive from a hash of the resource's name and type, so previews are stable from
    run to run and diffs between two previews show only real changes.
    """

    def __init__(self, region: str, account_id: str = ACCOUNT_ID) -> None:
        self.region = region
        self.account = account_id
        # Resources created through an explicit provider (the DR region) get ARNs in its region.
        self._provider_regions: dict[str, Optional[str]] = {}

    # -- invokes --------------------------------------------------------------------------
    def call(self, args: pulumi_mocks.MockCallArgs):
        # Data sources answer for the region they are asked about: an explicit `region`, else the
        # invoke's provider's region (the edge or DR provider), else the stack's.
        provider_id = (args.provider or "").rsplit("::", 1)[-1]
        region = args.args.get("region") or self._provider_regions.get(provider_id) or self.region
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account,
                "arn": f"arn:aws:iam::{self.account}:user/offline-preview",
                "userId": "AIDAOFFLINEPREVIEW",
                "id": self.account,
            }, []
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            count = AZ_COUNTS.get(region, DEFAULT_AZ_COUNT)
            names = [f"{region}{letter}" for letter in "abcdef"[:count]]
            zone_ids = [f"{region_code(region)}-az{i}" for i in range(1, count + 1)]
            return {"names": names, "zoneIds": zone_ids, "id": region}, []
        if token == "aws:route53/getZone:getZone":
            # The public zone of that name, shaped as Route 53 returns it: id Z + upper-case
            # alphanumerics, the name fully qualified (trailing dot), four delegation name servers.
            name = str(args.args.get("name", "")).rstrip(".")
            zone_id = "Z" + _digest("route53", name, length=20).upper()
            return {
                "zoneId": zone_id, "id": zone_id, "name": f"{name}.",
                "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
                "privateZone": bool(args.args.get("privateZone", False)),
                "nameServers": [f"ns-{n}.awsdns-{n:02d}.{tld}" for n, tld in
                                ((1, "com"), (2, "net"), (3, "org"), (4, "co.uk"))],
                "resourceRecordSetCount": 2, "comment": "", "callerReference": zone_id, "tags": {},
            }, []
        raise NotImplementedError(
            f"offline preview has no mock answer for invoke {token}; add one to scripts/engine/offline.py"
        )

    # -- resources ------------------------------------------------------------------------
    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        inputs = dict(args.inputs)
        type_ = args.typ
        if type_.startswith("pulumi:providers:"):
            provider_id = _uuid(type_, args.name)
            self._provider_regions[provider_id] = inputs.get("region")
            return provider_id, inputs
        module, _, kind = type_.partition(":")[2].partition("/")
        kind = kind.split(":")[-1]
        physical = inputs.get("name") or f"{args.name}-{_digest(type_, args.name, length=7)}"
        provider_id = (args.provider or "").rsplit("::", 1)[-1]
        region = inputs.get("region") or self._provider_regions.get(provider_id) or self.region
        seed = (type_, args.name)
        outputs: dict[str, Any] = {}
        arn = f"arn:aws:{module}:{region}:{self.account}:{kind.lower()}/{physical}"
        id_ = physical

        if type_ == "aws:kms/key:Key":
            id_ = _uuid(*seed)
            arn = f"arn:aws:kms:{region}:{self.account}:key/{id_}"
            outputs["keyId"] = id_
        elif type_ == "aws:kms/alias:Alias":
            arn = f"arn:aws:kms:{region}:{self.account}:{inputs.get('name', physical)}"
            outputs["targetKeyArn"] = inputs.get("targetKeyId")
        elif type_.startswith("aws:s3/"):
            if kind in ("Bucket", "BucketV2"):
                prefix = inputs.get("bucketPrefix") or f"{args.name}-"
                bucket = inputs.get("bucket") or f"{prefix}{_digest(*seed, length=26)}"[:63]
                id_, arn = bucket, f"arn:aws:s3:::{bucket}"
                outputs.update(bucket=bucket, bucketDomainName=f"{bucket}.s3.amazonaws.com",
                               bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com")
            else:
                id_ = str(inputs.get("bucket") or physical)
        elif type_ == "aws:ec2/vpc:Vpc":
            id_ = f"vpc-{_digest(*seed)}"
            arn = f"arn:aws:ec2:{region}:{self.account}:vpc/{id_}"
            outputs["defaultSecurityGroupId"] = f"sg-{_digest(*seed, 'default')}"
            outputs["mainRouteTableId"] = f"rtb-{_digest(*seed, 'main')}"
        elif module == "ec2":
            prefix = {
                "Subnet": "subnet", "SecurityGroup": "sg", "RouteTable": "rtb", "VpcEndpoint": "vpce",
                "FlowLog": "fl", "InternetGateway": "igw", "NatGateway": "nat", "Eip": "eipalloc",
                "NetworkAcl": "acl", "SecurityGroupRule": "sgr", "DefaultSecurityGroup": "sg",
                "LaunchTemplate": "lt",
            }.get(kind, kind.lower())
            id_ = f"{prefix}-{_digest(*seed)}"
            arn = f"arn:aws:ec2:{region}:{self.account}:{prefix}/{id_}"
            if kind == "VpcEndpoint":
                outputs["dnsEntries"] = [{"dnsName": f"{id_}.{inputs.get('serviceName', '')}", "hostedZoneId": "Z7HUB22UULQXV"}]
                if inputs.get("vpcEndpointType") == "Gateway":
                    # A gateway endpoint reports the AWS-managed prefix list of its service (pl-xxxxxxxx).
                    outputs["prefixListId"] = f"pl-{_digest(str(inputs.get('serviceName', '')), length=8)}"
        elif type_ == "aws:rds/instance:Instance":
            ident = inputs.get("identifier") or physical
            id_ = ident
            arn = f"arn:aws:rds:{region}:{self.account}:db:{ident}"
            address = f"{ident}.c{_digest(*seed, length=12)}.{region}.rds.amazonaws.com"
            outputs.update(address=address, endpoint=f"{address}:5432", port=5432,
                           resourceId=f"db-{_digest(*seed, length=26).upper()}",
                           identifier=ident)
            if inputs.get("manageMasterUserPassword"):
                outputs["masterUserSecrets"] = [{
                    "secretArn": f"arn:aws:secretsmanager:{region}:{self.account}:secret:rds!db-{_uuid(*seed)}-{_digest(*seed, length=6)}",
                    "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                    "secretStatus": "active",
                }]
        elif type_ == "aws:rds/proxy:Proxy":
            id_ = physical
            arn = f"arn:aws:rds:{region}:{self.account}:db-proxy:prx-{_digest(*seed)}"
            outputs["endpoint"] = f"{physical}.proxy-c{_digest(*seed, length=12)}.{region}.rds.amazonaws.com"
        elif type_ == "aws:rds/parameterGroup:ParameterGroup":
            arn = f"arn:aws:rds:{region}:{self.account}:pg:{physical}"
        elif type_ == "aws:rds/subnetGroup:SubnetGroup":
            arn = f"arn:aws:rds:{region}:{self.account}:subgrp:{physical}"
        elif type_.startswith("aws:elasticache/"):
            id_ = inputs.get("replicationGroupId") or inputs.get("userId") or inputs.get("userGroupId") or physical
            arn = f"arn:aws:elasticache:{region}:{self.account}:{kind[0].lower() + kind[1:]}:{id_}"
            if kind == "ReplicationGroup":
                code = region_code(region)
                outputs["primaryEndpointAddress"] = f"master.{id_}.{_digest(*seed, length=6)}.{code}.cache.amazonaws.com"
                outputs["readerEndpointAddress"] = f"replica.{id_}.{_digest(*seed, length=6)}.{code}.cache.amazonaws.com"
        elif type_ == "aws:secretsmanager/secret:Secret":
            arn = f"arn:aws:secretsmanager:{region}:{self.account}:secret:{physical}-{_digest(*seed, length=6)}"
            id_ = arn
        elif type_.startswith("aws:iam/"):
            path = {"Role": "role", "Policy": "policy", "User": "user", "InstanceProfile": "instance-profile"}.get(kind)
            arn = f"arn:aws:iam::{self.account}:{path or kind.lower()}/{physical}"
            if kind in ("RolePolicy", "RolePolicyAttachment"):
                id_ = f"{inputs.get('role', '')}:{physical}"
        elif type_ == "aws:sns/topic:Topic":
            arn = id_ = f"arn:aws:sns:{region}:{self.account}:{physical}"
        elif type_ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{region}:{self.account}:log-group:{physical}"
        elif type_ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            arn = f"arn:aws:cloudwatch:{region}:{self.account}:alarm:{physical}"
        elif type_ == "aws:wafv2/webAcl:WebAcl":
            id_ = _uuid(*seed)
            scope = "global" if inputs.get("scope") == "CLOUDFRONT" else "regional"
            arn = f"arn:aws:wafv2:{region}:{self.account}:{scope}/webacl/{physical}/{id_}"
            outputs["capacity"] = 700
        elif type_ == "aws:cloudfront/distribution:Distribution":
            id_ = "E" + _digest(*seed, length=13).upper()
            arn = f"arn:aws:cloudfront::{self.account}:distribution/{id_}"
            outputs["domainName"] = f"d{_digest(*seed, length=13)}.cloudfront.net"
            outputs["hostedZoneId"] = "Z2FDTNDATAQYW2"
        elif type_.startswith("aws:cloudfront/"):
            id_ = _uuid(*seed)
            arn = f"arn:aws:cloudfront::{self.account}:{kind[0].lower() + kind[1:]}/{id_}"
        elif type_ == "aws:cloudtrail/trail:Trail":
            arn = f"arn:aws:cloudtrail:{region}:{self.account}:trail/{physical}"
        elif type_.startswith("aws:backup/"):
            if kind == "Plan":
                id_ = _uuid(*seed)
                arn = f"arn:aws:backup:{region}:{self.account}:backup-plan:{id_}"
            elif kind == "Vault":
                arn = f"arn:aws:backup:{region}:{self.account}:backup-vault:{physical}"
            elif kind == "Selection":
                id_ = _uuid(*seed)
        elif type_ == "aws:ssm/parameter:Parameter":
            arn = f"arn:aws:ssm:{region}:{self.account}:parameter{physical if str(physical).startswith('/') else '/' + str(physical)}"
        elif type_ == "aws:budgets/budget:Budget":
            arn = f"arn:aws:budgets::{self.account}:budget/{physical}"
        elif type_ == "aws:acm/certificate:Certificate":
            id_ = _uuid(*seed)
            arn = f"arn:aws:acm:{region}:{self.account}:certificate/{id_}"
            # DNS validation: one CNAME per name on the certificate, as ACM returns them.
            domains = [inputs.get("domainName", ""), *inputs.get("subjectAlternativeNames", [])]
            outputs["domainValidationOptions"] = [{
                "domainName": domain,
                "resourceRecordName": f"_{_digest(*seed, domain, length=32)}.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{_digest(*seed, domain, 'value', length=32)}.acm-validations.aws.",
            } for domain in domains]
        elif type_ == "aws:route53/record:Record":
            id_ = f"{inputs.get('zoneId', '')}_{inputs.get('name', '')}_{inputs.get('type', '')}"
            outputs["fqdn"] = str(inputs.get("name", "")).rstrip(".")
        elif type_.startswith("random:"):
            # Generated secrets: a stand-in value of the requested length, never a real secret.
            length = int(inputs.get("length", 32))
            outputs["result"] = ("offline-" + _digest(*seed, length=64))[:length]
            if kind == "RandomBytes":
                raw = hashlib.sha256("/".join(seed).encode()).digest() * (length // 32 + 1)
                outputs["base64"] = base64.b64encode(raw[:length]).decode()
                outputs["hex"] = raw[:length].hex()
            id_ = "none"
        outputs.setdefault("arn", arn)
        if "name" not in inputs and not type_.startswith("random:"):
            outputs["name"] = physical
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
                property_dependencies={
                    key: list(deps.urns) for key, deps in request.propertyDependencies.items()
                },
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
                    name = parent_alias.rsplit("::", 1)[-1] + child_name[len(parent_name):]
                candidate = (f"urn:pulumi:{get_stack()}::{get_project()}::"
                             f"{self._qualified(parent_alias)}${child_type}::{name}")
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
