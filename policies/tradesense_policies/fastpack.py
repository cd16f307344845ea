"""The SDK's Analyzer servicer, indexed: same protocol, same policies, same results, less work.

pulumi-policy 1.21 converts a resource's properties from protobuf once per policy: for every
resource, every one of our ~60 resource policies pays the conversion although each applies to a few
types only, and `AnalyzeStack` converts the whole stack once per stack policy. On the prod stack
that is ~20,000 conversions and ~2 s. This servicer runs only the resource policies whose declared
types include the resource's type (the others would return at once anyway, see pack.py), and
converts the stack's resources once for all stack policies. Everything else (GetAnalyzerInfo,
Configure, diagnostics, not-applicable reasons, unknown handling) is the SDK's own code, with one
deliberate difference: stack policies see a secret as "[secret]" (as `pulumi preview --json` prints
it), not its plaintext, so no rule can pass by reading a value it was never meant to see; a rule that
needs it reports "can't run policy". It serves only the offline evaluator's raw mode
(TRADESENSE_POLICY_RAW=1: the report and the change review); under the Pulumi CLI the SDK's public
PolicyPack always serves (pack.serve). `TRADESENSE_POLICY_STOCK=1` serves raw mode through the SDK's
PolicyPack instead; a test checks both agree on prod.

It subclasses the SDK's private `_PolicyAnalyzerServicer` and reads its name-mangled fields, which any
pulumi-policy release may change. So it serves only on the release it was written and tested against
(`WRITTEN_FOR`, the pinned one): on any other, `pack.serve` falls back to the SDK's public PolicyPack
and says so on stderr (`version_problem`).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from concurrent import futures
from inspect import isawaitable
from typing import Any, cast

import grpc
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import (
    _GRPC_CHANNEL_OPTIONS,
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    _NotApplicableError,
    _PolicyAnalyzerServicer,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from tradesense_policies.model import SECRET_TEXT

_PRIVATE = "_PolicyAnalyzerServicer__"
WRITTEN_FOR = "1.21.0"
"""The pulumi-policy release whose private servicer internals this module relies on (constraints.txt pins it)."""


def version_problem() -> str:
    """Why the indexed servicer must not serve with the installed pulumi-policy ("" when it may)."""
    try:
        installed = importlib.metadata.version("pulumi-policy")
    except importlib.metadata.PackageNotFoundError:
        installed = "(not installed as a distribution)"
    if installed != WRITTEN_FOR:
        return f"pulumi-policy {installed} is not {WRITTEN_FOR}, the release the indexed servicer was written for"
    return ""


class IndexedServicer(_PolicyAnalyzerServicer):
    def __init__(
        self, name: str, policies: list[Policy], types_by_policy: Mapping[str, Sequence[str]], **kwargs: Any
    ) -> None:
        kwargs = dict(kwargs)
        super().__init__(
            name,
            "0.0.1",
            policies,
            kwargs.pop("enforcement_level"),
            None,
            kwargs.get("description"),
            kwargs.get("display_name"),
            None,
            kwargs.get("provider"),
            kwargs.get("tags"),
            None,
        )
        self._all = policies
        self._by_type: dict[str, list[Policy]] = {}
        for policy in policies:
            if isinstance(policy, ResourceValidationPolicy):
                for type_ in types_by_policy[policy.name]:
                    self._by_type.setdefault(type_, []).append(policy)
        self._lock = threading.Lock()

    # The SDK's servicer methods are unannotated: their results are the protocol's messages.
    def Analyze(self, request: proto.AnalyzeRequest, context: Any) -> proto.AnalyzeResponse:
        # The SDK's Analyze, over the policies that apply to this type only.
        with self._lock:
            setattr(self, _PRIVATE + "policies", self._by_type.get(request.type, []))
            try:
                response: proto.AnalyzeResponse = super().Analyze(request, context)  # type: ignore[no-untyped-call]
                return response
            finally:
                setattr(self, _PRIVATE + "policies", self._all)

    def GetAnalyzerInfo(self, request: Any, context: Any) -> proto.AnalyzerInfo:
        with self._lock:
            info: proto.AnalyzerInfo = super().GetAnalyzerInfo(request, context)  # type: ignore[no-untyped-call]
            return info

    def AnalyzeStack(self, request: proto.AnalyzeStackRequest, _context: Any) -> proto.AnalyzeResponse:
        with self._lock:
            return self._analyze_stack(request)

    def _analyze_stack(self, request: proto.AnalyzeStackRequest) -> proto.AnalyzeResponse:
        """The SDK's AnalyzeStack, with the resources converted once instead of once per policy."""
        self._configure_runtime_settings()  # type: ignore[no-untyped-call]
        response = proto.AnalyzeResponse()
        pack = getattr(self, _PRIVATE + "policy_pack_name")
        version = getattr(self, _PRIVATE + "policy_pack_version")
        resources: list[PolicyResource] = []
        by_urn: dict[str, PolicyResource] = {}
        links: list[tuple[PolicyResource, str, list[str], dict[str, list[str]]]] = []
        for r in request.resources:
            props = unknown_checking_proxy(deserialize_properties(_mask(json_format.MessageToDict(r.properties))))
            resource = PolicyResource(
                r.type,
                props,
                r.urn,
                r.name,
                self._get_resource_options(r),
                self._get_provider_resource(r),
                None,
                [],
                {},
            )
            resources.append(resource)
            by_urn[r.urn] = resource
            links.append(
                (resource, r.parent, list(r.dependencies), {k: list(v.urns) for k, v in r.propertyDependencies.items()})
            )
        for resource, parent, dependencies, property_dependencies in links:
            if parent in by_urn:
                resource.parent = by_urn[parent]
            resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
            for key, urns in property_dependencies.items():
                resource.property_dependencies[key] = [by_urn[d] for d in urns if d in by_urn]

        for policy in self._all:
            level = self._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED or not isinstance(policy, StackValidationPolicy):
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            report = self._create_report_violation(response, policy.name, policy.description, level, policy.severity)
            args = StackValidationArgs(
                resources, self._get_policy_config(policy.name), getattr(self, _PRIVATE + "stack_tags")
            )
            try:
                result = policy.validate(args, report)
                if isawaitable(result):
                    loop = asyncio.new_event_loop()
                    loop.run_until_complete(asyncio.Task(cast(Coroutine[Any, Any, Any], result), loop=loop))
                    loop.close()
            except UnknownValueError as e:
                response.diagnostics.append(
                    proto.AnalyzeDiagnostic(
                        policyName=policy.name,
                        policyPackName=pack,
                        policyPackVersion=version,
                        message=(
                            f"can't run policy '{policy.name}' from policy pack "
                            f"'{pack}@v{version}' during preview: {e.message}"
                        ),
                        urn="",
                        description=policy.description,
                        enforcementLevel=self._map_enforcement_level(EnforcementLevel.ADVISORY),
                    )
                )
            except _NotApplicableError as e:
                response.not_applicable.append(
                    proto.PolicyNotApplicable(policy_name=policy.name, reason=e.reason or "")
                )
        return response


_SECRET_SIG, _SECRET_VALUE = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def _mask(value: Any) -> Any:
    """Every secret envelope as "[secret]" (pulumi/pulumi sdk/go/common/resource/properties.go sig)."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            return SECRET_TEXT
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def serve_indexed(
    name: str, policies: list[Policy], types_by_policy: Mapping[str, Sequence[str]], **kwargs: Any
) -> None:
    """Serve like PolicyPack does: a local port printed on stdout, then block."""
    servicer = IndexedServicer(name, policies, types_by_policy, **kwargs)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, server)
    port = server.add_insecure_port(address="127.0.0.1:0")
    server.start()
    sys.stdout.buffer.write(f"{port}\n".encode())
    sys.stdout.buffer.flush()
    try:
        while True:
            time.sleep(86400)
    except KeyboardInterrupt:
        server.stop(0)
