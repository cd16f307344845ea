"""Read the three input shapes into one list of resource states.

* `pulumi preview --json` (and the offline preview, which writes the same document): `steps[].newState`;
* `pulumi stack export`: `deployment.resources[]`;
* the offline engine's plain `resources[]` list, if given directly.
Secrets become "[secret]" (the report never carries a secret value), as `preview --json` prints them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.documents.secrets import mask_secrets

SKIPPED_TYPES = ("pulumi:pulumi:Stack",)


class InputError(ValueError):
    """The input cannot be used; the message is one line."""


@dataclass
class ResourceState:
    type: str
    urn: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False

    @property
    def state(self) -> dict[str, Any]:
        """What the engine gives stack policies: the resource's outputs over its inputs."""
        return {**self.inputs, **self.outputs}

    @property
    def analyzed(self) -> bool:
        """Custom resources, not providers: what the engine sends to per-resource analysis."""
        return self.custom and not self.type.startswith("pulumi:providers:")


@dataclass
class StackInput:
    kind: str
    """preview, export or resources."""
    resources: list[ResourceState]
    config: dict[str, str] = field(default_factory=dict)
    """The stack's config as the engine hands it to analyzers (ConfigureStack): text values."""

    @property
    def stack(self) -> str:
        for r in self.resources:
            if r.urn.startswith("urn:pulumi:"):
                return r.urn.split(":", 2)[2].split("::", 1)[0]
        return ""

    @property
    def project(self) -> str:
        for r in self.resources:
            parts = r.urn.split("::")
            if len(parts) >= 2:
                return parts[1]
        return ""


def _state(raw: Any, where: str) -> ResourceState:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or not isinstance(raw.get("urn"), str):
        raise InputError(f"{where}: a resource needs `type` and `urn`")
    urn = raw["urn"]
    return ResourceState(
        type=raw["type"],
        urn=urn,
        name=raw.get("name") or urn.rsplit("::", 1)[-1],
        custom=bool(raw.get("custom", True)),
        inputs=mask_secrets(raw.get("inputs") or {}),
        outputs=mask_secrets(raw.get("outputs") or {}),
        parent=raw.get("parent") or "",
        dependencies=list(raw.get("dependencies") or []),
        property_dependencies={k: list(v or []) for k, v in (raw.get("propertyDependencies") or {}).items()},
        protect=bool(raw.get("protect", False)),
    )


def parse(document: Any, source: str = "input") -> StackInput:
    if isinstance(document, dict) and isinstance(document.get("steps"), list):
        states = []
        for index, step in enumerate(document["steps"]):
            if not isinstance(step, dict):
                raise InputError(f"{source}: steps[{index}] is not an object")
            new = step.get("newState")
            if step.get("op") in ("delete", "discard", "remove-pending-replace") or not new:
                continue
            states.append(_state(new, f"{source}: steps[{index}].newState"))
        kind = "preview"
        config = {key: value if isinstance(value, str) else json.dumps(value)
                  for key, value in (document.get("config") or {}).items()}
    elif isinstance(document, dict) and isinstance(document.get("deployment"), dict):
        raw = document["deployment"].get("resources") or []
        states = [_state(r, f"{source}: deployment.resources[{i}]") for i, r in enumerate(raw)]
        kind = "export"
    elif isinstance(document, dict) and isinstance(document.get("resources"), list):
        states = [_state(r, f"{source}: resources[{i}]") for i, r in enumerate(document["resources"])]
        kind = "resources"
    else:
        raise InputError(
            f"{source}: not a `pulumi preview --json` document (steps), a `pulumi stack export` "
            "(deployment.resources) or an offline preview"
        )
    return StackInput(kind, [s for s in states if s.type not in SKIPPED_TYPES],
                      config if kind == "preview" else {})


def load(path: str | Path) -> StackInput:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not JSON ({exc})") from None
    return parse(document, str(path))
