"""Run the policy pack the way the Pulumi engine does: as a separate process spoken to over the
Analyzer gRPC protocol (GetAnalyzerInfo, ConfigureStack, Analyze per resource, AnalyzeStack).

The pack is started with TRADESENSE_POLICY_RAW=1 so it reports every violation; waivers are applied
afterwards by the same waiver module the pack uses under the CLI. In that mode the pack answers through
its type-indexed servicer (policies/tradesense_policies/fastpack.py); under the Pulumi CLI it always
serves through the SDK's public PolicyPack, as it does here with TRADESENSE_POLICY_RAW=0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.documents.reader import ResourceState, StackInput

REPO_ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = REPO_ROOT / "policies"
START_TIMEOUT_S = 30
UNKNOWN_PREFIX = "can't run policy"


@dataclass
class Diagnostic:
    policy: str
    urn: str
    message: str
    enforcement: str
    """mandatory, advisory or disabled."""


@dataclass
class AnalysisResult:
    """Everything the pack said, keyed for the report."""

    policies: dict[str, dict[str, Any]]
    """Name -> {enforcement, severity, description, type} from GetAnalyzerInfo."""
    violations: list[Diagnostic] = field(default_factory=list)
    unknown: dict[tuple[str, str], str] = field(default_factory=dict)
    """(policy, urn or "" for a stack policy) -> why it could not run (value unknown until deploy)."""
    not_applicable: dict[tuple[str, str], str] = field(default_factory=dict)
    """(policy, urn or "" for a stack policy) -> reason."""


class PackError(RuntimeError):
    """The pack did not start or did not answer; the message is one line."""


def spawn_pack(pack_dir: Path, env: Mapping[str, str]) -> subprocess.Popen:
    """Start `python <pack>/__main__.py` as the CLI does; `read_port` then waits for its port."""
    # -u: the SDK writes the port without flushing. stderr goes to a file: a pipe nobody reads
    # would block the pack once full.
    errors = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [sys.executable, "-u", "__main__.py"],
        cwd=pack_dir,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    proc.error_file = errors  # type: ignore[attr-defined]
    return proc


def read_port(proc: subprocess.Popen) -> int:
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        proc.wait()
        proc.error_file.seek(0)  # type: ignore[attr-defined]
        error = proc.error_file.read().strip().splitlines()  # type: ignore[attr-defined]
        raise PackError(f"policy pack did not start: {error[-1] if error else line or 'no output'}")
    return int(line)


def _struct(value: Mapping[str, Any]):
    from google.protobuf import struct_pb2

    message = struct_pb2.Struct()
    message.update(value)
    return message


def analyze(
    stack_input: StackInput,
    *,
    pack_dir: Path = PACK_DIR,
    env: Mapping[str, str] | None = None,
    preview: bool = True,
    policy_config: Mapping[str, Any] | None = None,
    proc: subprocess.Popen | None = None,
) -> AnalysisResult:
    """Start the pack, analyse every resource and then the stack, stop the pack. `policy_config` is
    the content of a `--policy-pack-config` file, handed to the pack through Configure as the engine does.

    `proc`: a pack already started with `spawn_pack` (and TRADESENSE_POLICY_RAW=1), so its start-up
    overlaps other work (the change review starts it while the preview runs); it is stopped here too.
    """
    proc = proc or spawn_pack(pack_dir, {"TRADESENSE_POLICY_RAW": "1", **(env or {})})
    try:
        # Imported while the pack starts: the two costs overlap.
        import grpc
        from pulumi.runtime.proto import analyzer_pb2 as pb
        from pulumi.runtime.proto import analyzer_pb2_grpc as pb_grpc

        port = read_port(proc)

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.AnalyzerStub(channel)
            grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
            return _run(stub, pb, stack_input, preview, policy_config)
    except Exception as exc:  # grpc errors carry multi-line details: keep the report's one line
        if isinstance(exc, PackError):
            raise
        raise PackError(
            f"policy pack failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.error_file.close()  # type: ignore[attr-defined]


def _enforcement(pb, level: int) -> str:
    return {pb.ADVISORY: "advisory", pb.MANDATORY: "mandatory", pb.DISABLED: "disabled"}.get(level, "mandatory")


def configure_request(pb, policies: Mapping[str, dict], config: Mapping[str, Any]):
    """A `--policy-pack-config` document ({"all": level, "<policy>": level | {"enforcementLevel": ..,
    property: value}}, https://www.pulumi.com/docs/iac/using-pulumi/crossguard/configuration/) as the
    Configure request the engine sends: every configured policy with its resolved enforcement level."""
    levels = {"advisory": pb.ADVISORY, "mandatory": pb.MANDATORY, "disabled": pb.DISABLED, "remediate": pb.REMEDIATE}
    unknown = sorted(set(config) - set(policies) - {"all"})
    if unknown:
        raise PackError(f"policy pack config names no policy of the pack: {', '.join(unknown)}")
    everything = config.get("all")
    everything = everything.get("enforcementLevel") if isinstance(everything, Mapping) else everything
    request = pb.ConfigureAnalyzerRequest()
    for name, meta in policies.items():
        entry = config.get(name)
        if entry is None and everything is None:
            continue
        level = everything or meta["enforcement"]
        properties: dict[str, Any] = {}
        if isinstance(entry, str):
            level = entry
        elif isinstance(entry, Mapping):
            level = entry.get("enforcementLevel", level)
            properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        if level not in levels:
            raise PackError(
                f"policy pack config: {name}: enforcement level {level!r} is not one of {', '.join(levels)}"
            )
        request.policyConfig[name].CopyFrom(
            pb.PolicyConfig(enforcementLevel=levels[level], properties=_struct(properties))
        )
    return request


def _run(
    stub, pb, stack_input: StackInput, preview: bool, policy_config: Mapping[str, Any] | None = None
) -> AnalysisResult:
    from google.protobuf import empty_pb2

    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    result = AnalysisResult(
        policies={
            p.name: {
                "enforcement": _enforcement(pb, p.enforcementLevel),
                "description": p.description,
                "type": "stack" if p.policy_type == pb.POLICY_TYPE_STACK else "resource",
            }
            for p in info.policies
        }
    )
    if policy_config:
        stub.Configure(configure_request(pb, result.policies, policy_config))
        for name, config in configure_request(pb, result.policies, policy_config).policyConfig.items():
            result.policies[name]["enforcement"] = _enforcement(pb, config.enforcementLevel)
    stub.ConfigureStack(
        pb.AnalyzerStackConfigureRequest(
            stack=stack_input.stack, project=stack_input.project, dry_run=preview, config=stack_input.config
        )
    )

    def collect(response, urn: str) -> None:
        for diag in response.diagnostics:
            if diag.message.startswith(UNKNOWN_PREFIX):
                result.unknown[(diag.policyName, urn)] = diag.message
                continue
            message = diag.message
            if message.startswith(diag.description):
                message = message[len(diag.description) :].lstrip("\n")
            result.violations.append(
                Diagnostic(diag.policyName, diag.urn or urn, message, _enforcement(pb, diag.enforcementLevel))
            )
        for skipped in response.not_applicable:
            result.not_applicable[(skipped.policy_name, urn)] = skipped.reason

    analyzed = [r for r in stack_input.resources if r.analyzed]
    # All requests in flight at once (the engine, too, analyses resources as they register).
    pending = [
        (
            resource.urn,
            stub.Analyze.future(
                pb.AnalyzeRequest(
                    type=resource.type,
                    urn=resource.urn,
                    name=resource.name,
                    properties=_struct(resource.inputs),
                    options=_options(pb, resource),
                )
            ),
        )
        for resource in analyzed
    ]
    stack_future = stub.AnalyzeStack.future(
        pb.AnalyzeStackRequest(
            resources=[
                pb.AnalyzerResource(
                    type=r.type,
                    urn=r.urn,
                    name=r.name,
                    properties=_struct(r.state),
                    options=_options(pb, r),
                    parent=r.parent,
                    dependencies=r.dependencies,
                    propertyDependencies={
                        k: pb.AnalyzerPropertyDependencies(urns=v) for k, v in r.property_dependencies.items()
                    },
                )
                for r in stack_input.resources
            ]
        )
    )
    for urn, future in pending:
        collect(future.result(), urn)
    collect(stack_future.result(), "")
    return result


def _options(pb, resource: ResourceState):
    return pb.AnalyzerResourceOptions(protect=resource.protect, parent=resource.parent)
