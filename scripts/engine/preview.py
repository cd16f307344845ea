"""Offline preview: what `pulumi preview` would create for a stack, with no CLI, cloud or network.

Runs the real program (stacks/program.py, with the stack's Pulumi.<stack>.yaml as config) under the
mock engine of scripts/engine/offline.py, prints the resource tree grouped by service and component with
counts per type, and writes DIR/preview.json in the shape of `pulumi preview --json`, secrets masked.

    python -m scripts.engine.preview --stack prod --out build/prod
"""

from __future__ import annotations

import gc
import json
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from scripts.cli import ArgumentParser, UsageError
from scripts.documents.secrets import looks_secret_name
from scripts.engine.offline import (
    STACK_TYPE,
    Capture,
    CapturedResource,
    is_secret,
    mask_secrets,
    run_program,
)
from stacks.settings import REPO_ROOT, ConfigError, project_name, read_stack_config

# Outputs of pulumi-random that are secret under the real engine (the mock monitor does not mark them).
_RANDOM_SECRET_OUTPUTS = {"result", "bcryptHash", "base64", "b64Std", "b64Url", "hex"}
PROVIDER_VERSIONS = {"aws": "7_51_1", "random": "4_21_4"}


def run_stack(stack: str, root: Path = REPO_ROOT, config: Mapping[str, Any] | None = None) -> Capture:
    """Run the platform program for a stack offline. `config` replaces the file's config (tests)."""
    from stacks.program import main

    values = dict(read_stack_config(stack, root) if config is None else config)
    return run_program(main, project=project_name(root), stack=stack, config=values)


def _default_provider_urn(capture: Capture, package: str) -> str:
    version = PROVIDER_VERSIONS.get(package, "latest")
    return f"urn:pulumi:{capture.stack}::{capture.project}::pulumi:providers:{package}::default_{version}"


def _provider_ref(capture: Capture, resource: CapturedResource) -> str:
    """The engine's provider reference (`<urn>::<id>`); default providers get a stable made-up id."""
    if not resource.custom or resource.type.startswith("pulumi:providers:"):
        return ""
    if resource.provider:
        return resource.provider
    package = resource.type.split(":", 1)[0]
    return f"{_default_provider_urn(capture, package)}::{package}-default-provider"


def _masked_outputs(resource: CapturedResource) -> dict[str, Any]:
    outputs = {}
    for key, value in resource.outputs.items():
        secret = is_secret(resource.inputs.get(key)) or (
            resource.type.startswith("random:") and key in _RANDOM_SECRET_OUTPUTS
        )
        outputs[key] = "[secret]" if secret else mask_secrets(value)
    return outputs


def _state(capture: Capture, resource: CapturedResource) -> dict[str, Any]:
    state = {
        "urn": resource.urn,
        "custom": resource.custom,
        "delete": False,
        "id": resource.id if resource.custom else "",
        "type": resource.type,
        "inputs": mask_secrets(resource.inputs),
        "outputs": _masked_outputs(resource),
        "parent": resource.parent,
        "protect": resource.protect,
        "external": False,
        "dependencies": sorted(resource.dependencies),
        "provider": _provider_ref(capture, resource),
        "propertyDependencies": {k: sorted(v) for k, v in sorted(resource.property_dependencies.items())},
    }
    if resource.aliases:  # apitype.ResourceV3 `aliases` (omitempty): the URNs it may have had before
        state["aliases"] = list(resource.aliases)
    return state


def preview_document(capture: Capture, config: Mapping[str, Any] | None = None, duration_ns: int = 0) -> dict[str, Any]:
    """The `pulumi preview --json` document for a capture: every step a create."""
    stack_urn = capture.stack_urn
    steps: list[dict[str, Any]] = [
        {
            "op": "create",
            "urn": stack_urn,
            "provider": "",
            "newState": {
                "urn": stack_urn,
                "custom": False,
                "delete": False,
                "id": "",
                "type": STACK_TYPE,
                "inputs": {},
                "outputs": mask_secrets(capture.outputs),
                "parent": "",
                "protect": False,
                "external": False,
                "dependencies": [],
                "provider": "",
                "propertyDependencies": {},
            },
        }
    ]
    packages = sorted(
        {
            r.type.split(":", 1)[0]
            for r in capture.resources
            if r.custom and not r.provider and not r.type.startswith("pulumi:providers:")
        }
    )
    for package in packages:
        urn = _default_provider_urn(capture, package)
        steps.append(
            {
                "op": "create",
                "urn": urn,
                "provider": "",
                "newState": {
                    "urn": urn,
                    "custom": True,
                    "delete": False,
                    "id": f"{package}-default-provider",
                    "type": f"pulumi:providers:{package}",
                    "inputs": {},
                    "outputs": {},
                    "parent": stack_urn,
                    "protect": False,
                    "external": False,
                    "dependencies": [],
                    "provider": "",
                    "propertyDependencies": {},
                },
            }
        )
    for resource in engine_order(capture.resources):
        steps.append(
            {
                "op": "create",
                "urn": resource.urn,
                "provider": _provider_ref(capture, resource),
                "newState": _state(capture, resource),
            }
        )
    return {
        "config": document_config(config or {}, capture.project),
        "steps": steps,
        "duration": duration_ns,
        "changeSummary": {"create": len(steps)},
        "diagnostics": [],
    }


# Config outside the project's own namespace that preview.json keeps: the region the report and the
# pack read. Provider credentials (`aws:secretKey`) and other tools' keys (`datadog:apiKey`) never
# leave Pulumi.<stack>.yaml.
SHARED_CONFIG_KEYS = ("aws:region",)


def _encrypted(value: Any) -> bool:
    return isinstance(value, dict) and "secure" in value


def document_config(config: Mapping[str, Any], project: str) -> dict[str, Any]:
    """The config preview.json records: the project's namespace and SHARED_CONFIG_KEYS, encrypted
    values as "[secret]" (as `pulumi preview --json` prints them)."""
    return {
        key: "[secret]" if _encrypted(value) else value
        for key, value in config.items()
        if key.split(":", 1)[0] == project or key in SHARED_CONFIG_KEYS
    }


def refuse_plaintext_secrets(config: Mapping[str, Any], stack: str, project: str) -> None:
    """ConfigError for a credential-like key outside the project's namespace held in plain text: it
    belongs in `pulumi config set --secret`. The message names the key, never the value. (The
    project's own keys are validated by stacks/settings.py.)"""
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if namespace != project and looks_secret_name(name) and not _encrypted(value) and value not in (None, ""):
            raise ConfigError(
                f"Pulumi.{stack}.yaml: {key} holds a plain-text value; a credential must be stored "
                f"encrypted: pulumi config set --secret {key}"
            )


def engine_order(resources: list[CapturedResource]) -> list[CapturedResource]:
    """A stable order the engine could have used: parents and dependencies first, ties by URN.

    Registration order depends on asyncio scheduling; a fixed order makes two previews of the
    same program byte-identical, so a diff between them shows only real changes.
    """
    by_urn = {r.urn: r for r in resources}
    done: set[str] = set()
    ordered: list[CapturedResource] = []

    def visit(resource: CapturedResource) -> None:
        if resource.urn in done:
            return
        done.add(resource.urn)
        for urn in sorted({resource.parent, *resource.dependencies}):
            if urn in by_urn:
                visit(by_urn[urn])
        ordered.append(resource)

    for resource in sorted(resources, key=lambda r: r.urn):
        visit(resource)
    return ordered


# ---------------------------------------------------------------------------------------------
# The readable preview


def _service_of(resource: CapturedResource, capture: Capture) -> str:
    """A component's service: its own Service tag, else the one shared by its tagged descendants."""
    tags = resource.inputs.get("tags") or {}
    if "Service" in tags:
        return tags["Service"]
    services = {
        (child.inputs.get("tags") or {}).get("Service")
        for child in capture.descendants(resource.urn)
        if isinstance(child.inputs.get("tags"), dict)
    } - {None}
    return services.pop() if len(services) == 1 else "platform"


def render_tree(capture: Capture, verbose: bool = False) -> Iterable[str]:
    """Top-level components grouped by service; inside each, nested components and type counts."""
    top = capture.children(capture.stack_urn)
    by_service: dict[str, list[CapturedResource]] = defaultdict(list)
    for resource in top:
        by_service[_service_of(resource, capture)].append(resource)
    order = sorted(by_service, key=lambda s: (s != "platform", s))
    for service in order:
        total = sum(1 + len(capture.descendants(r.urn)) for r in by_service[service])
        yield f"{service}  ({total} resources)"
        for resource in by_service[service]:
            yield from _render_node(capture, resource, depth=1, verbose=verbose)


def _render_node(capture: Capture, node: CapturedResource, depth: int, verbose: bool) -> Iterable[str]:
    pad = "    " * depth
    if node.custom:
        yield f"{pad}+ {node.type}  {node.name}"
        return
    yield f"{pad}+ {node.type}  {node.name}  ({len(capture.descendants(node.urn))})"
    children = capture.children(node.urn)
    for child in children:
        if not child.custom:
            yield from _render_node(capture, child, depth + 1, verbose)
    custom = [c for c in children if c.custom]
    if verbose:
        for child in custom:
            yield from _render_node(capture, child, depth + 1, verbose)
    else:
        for type_, count in sorted(Counter(c.type for c in custom).items()):
            yield f"{pad}    {count:>3} x {type_}"


def render_counts(capture: Capture) -> Iterable[str]:
    counts = Counter(r.type for r in capture.resources)
    width = max(len(t) for t in counts) if counts else 0
    yield "Resources by type:"
    for type_, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        yield f"  {type_:<{width}}  {count:>4}"
    yield f"  {'total':<{width}}  {len(capture.resources):>4}"


def write_preview(capture: Capture, out_dir: Path, config: Mapping[str, Any], duration_ns: int) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "preview.json"
    document = preview_document(capture, config, duration_ns)
    path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    return path


def main(argv: list[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    parser = ArgumentParser(prog="python -m scripts.engine.preview", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default="prod", help="stack name: reads Pulumi.<stack>.yaml (default prod)")
    parser.add_argument("--out", type=Path, default=Path("build/prod"), help="directory for preview.json")
    parser.add_argument("--verbose", action="store_true", help="list every resource, not counts per type")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=REPO_ROOT,
        help="directory holding Pulumi.yaml and Pulumi.<stack>.yaml (default: this repo)",
    )
    try:
        args = parser.parse_args(argv)
    except UsageError as error:  # one line and exit 2, as every command (scripts.cli)
        print(f"error: {error}", file=sys.stderr)
        return 2
    import pulumi

    # A short batch process: the cyclic GC's passes over the captured resources cost more than
    # the memory they would free before exit (see scripts/offline.run_program).
    gc.disable()

    try:
        config = read_stack_config(args.stack, args.project_dir)
        refuse_plaintext_secrets(config, args.stack, project_name(args.project_dir))
        started = time.perf_counter_ns()
        capture = run_stack(args.stack, args.project_dir, config=config)
        duration = time.perf_counter_ns() - started
    except (ConfigError, pulumi.RunError) as error:
        # A config mistake is one line and exit 2; nothing is written.
        print(f"error: {error}", file=sys.stderr)
        return 2
    path = write_preview(capture, args.out, config, duration)
    print(
        f"Offline preview of {capture.project}/{capture.stack} ({capture.region}): "
        f"{len(capture.resources)} resources to create, {duration / 1e9:.2f} s",
        file=stdout,
    )
    for line in render_tree(capture, verbose=args.verbose):
        print(line, file=stdout)
    print(file=stdout)
    for line in render_counts(capture):
        print(line, file=stdout)
    print(f"\nWrote {path}", file=stdout)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly, as for any CLI
    sys.exit(main())
