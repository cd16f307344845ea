"""Documents shaped exactly as the Pulumi CLI prints them, built from the offline preview of prod.

The offline preview is a first `pulumi up`'s preview with everything known (every step a create,
ids and outputs filled in by the mocks). The real CLI prints other shapes, and these builders make
them the way its source does:

* `pulumi preview --json` is `display.PreviewDigest` (pulumi/pulumi `sdk/go/common/display`), written
  by `ShowPreviewDigest` in `pkg/backend/display/json.go`: `config` (map of strings, secrets blinded),
  `steps`, `diagnostics`, `duration`, `changeSummary` (every resource, by op), `maybeCorrupt`.
* A step is shown when `shouldShow` says so: `same` only with `--show-sames` (or when `protect`
  changed), the root stack always, `create-replacement`/`delete-replaced` only with
  `--show-replacement-steps`.
* Resource states are `apitype.ResourceV3` through `encoding/json`: `id`, `inputs`, `outputs`,
  `parent`, `delete`, `protect`, `external`, `dependencies`, `provider` and `propertyDependencies` are
  `omitempty`. A `same`/`update`/`replace` step's `newState` comes from the program's registration,
  which has no id and no outputs yet; only `oldState` (from the checkpoint) has them.
* `massagePropertyValue` prints every secret as "[secret]"; a value not known until deploy is
  `plugin.UnknownStringValue` ("04da6b54-80e4-46f7-96ec-b56ff0331ba9").
* `pulumi stack export` is `apitype.UntypedDeployment` {version: 3, deployment: DeploymentV3}: the same
  ResourceV3 with ids and outputs, secrets as `{sig, ciphertext}` (`{sig, plaintext}` with
  `--show-secrets`, apitype.SecretV1).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from scripts.documents.secrets import SECRET_SIG, SECRET_TEXT, SECRET_VALUE

# The public sample documents (their source is in tests/fixtures/cli/README.md).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cli"

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
STACK_TYPE = "pulumi:pulumi:Stack"
_OMITEMPTY = ("parent", "protect", "external", "dependencies", "provider", "propertyDependencies")


def resource_v3(state: Mapping[str, Any], *, deployed: bool) -> dict[str, Any]:
    """A ResourceV3 as encoding/json writes it; `deployed=False`: a registration (no id, no outputs)."""
    out: dict[str, Any] = {"urn": state["urn"], "custom": state["custom"]}
    if state.get("delete"):
        out["delete"] = True
    if deployed and state.get("id"):
        out["id"] = state["id"]
    out["type"] = state["type"]
    if state.get("inputs"):
        out["inputs"] = copy.deepcopy(state["inputs"])
    if deployed and state.get("outputs"):
        out["outputs"] = copy.deepcopy(state["outputs"])
    for key in _OMITEMPTY:
        if state.get(key):
            out[key] = copy.deepcopy(state[key])
    return out


def cli_config(config: Mapping[str, Any]) -> dict[str, str]:
    """`config` as the prelude event carries it: text values, secrets blinded."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


def deployed_preview(
    offline: Mapping[str, Any],
    *,
    show_sames: bool = True,
    updates: Mapping[str, Callable[[dict], None]] | None = None,
    replacements: Iterable[str] = (),
    show_replacement_steps: bool = False,
    diagnostics: Iterable[dict] = (),
) -> dict[str, Any]:
    """`pulumi preview --json [--show-sames] [--show-replacement-steps]` of prod once deployed as the
    offline preview says: each resource `same`, but `updates` (urn -> edit of its inputs) and
    `replacements` (urns)."""
    updates = updates or {}
    replacements = set(replacements)
    steps: list[dict[str, Any]] = []
    summary: Counter = Counter()
    for step in offline["steps"]:
        state = step["newState"]
        urn = state["urn"]
        new = copy.deepcopy(state)
        op = "update" if urn in updates else "replace" if urn in replacements else "same"
        if urn in updates:
            updates[urn](new["inputs"])
        summary[op] += 1
        if op == "same" and not show_sames and state["type"] != STACK_TYPE:
            continue
        base = {"urn": urn, "provider": step.get("provider", "")}
        old_v3, new_v3 = resource_v3(state, deployed=True), resource_v3(new, deployed=False)
        if op == "replace" and show_replacement_steps:
            steps += [
                {"op": "replace", **base, "oldState": old_v3, "newState": new_v3},
                {"op": "create-replacement", **base, "oldState": old_v3, "newState": new_v3},
                {"op": "delete-replaced", **base, "oldState": old_v3},
            ]
            continue
        entry = {"op": op, **base, "oldState": old_v3, "newState": new_v3}
        if op == "update":
            entry["diffReasons"] = sorted(k for k in new["inputs"] if new["inputs"][k] != state["inputs"].get(k))
        steps.append(entry)
    document: dict[str, Any] = {
        "config": cli_config(offline.get("config") or {}),
        "steps": steps,
        "duration": 1_200_000_000,
        "changeSummary": dict(summary),
    }
    diagnostics = list(diagnostics)
    if diagnostics:
        document["diagnostics"] = diagnostics
    return document


def first_preview(offline: Mapping[str, Any]) -> dict[str, Any]:
    """`pulumi preview --json` before the first `up`: every step a create, no ids or outputs, and every
    input computed from another resource's output unknown (its propertyDependencies name it)."""
    steps = []
    for step in offline["steps"]:
        state = copy.deepcopy(step["newState"])
        for key, deps in (state.get("propertyDependencies") or {}).items():
            if any("::pulumi:providers:" not in d for d in deps) and key in state["inputs"]:
                state["inputs"][key] = UNKNOWN
        steps.append(
            {
                "op": "create",
                "urn": state["urn"],
                "provider": step.get("provider", ""),
                "newState": resource_v3(state, deployed=False),
            }
        )
    return {
        "config": cli_config(offline.get("config") or {}),
        "steps": steps,
        "duration": 900_000_000,
        "changeSummary": {"create": len(steps)},
    }


def _envelope(value: Any, show_secrets: bool, plaintext: str) -> Any:
    if value == SECRET_TEXT:
        if show_secrets:
            return {SECRET_SIG: SECRET_VALUE, "plaintext": json.dumps(plaintext)}
        return {SECRET_SIG: SECRET_VALUE, "ciphertext": "v1:c2VjcmV0:AAAAexampleciphertextAAAA"}
    if isinstance(value, dict):
        return {k: _envelope(v, show_secrets, plaintext) for k, v in value.items()}
    if isinstance(value, list):
        return [_envelope(v, show_secrets, plaintext) for v in value]
    return value


def stack_export(
    offline: Mapping[str, Any], *, show_secrets: bool = False, plaintext: str = "", extra: Iterable[dict] = ()
) -> dict[str, Any]:
    """`pulumi stack export [--show-secrets]` of prod once deployed; `plaintext` is what every secret
    holds in a --show-secrets export; `extra` resources (ResourceV3 dicts) are appended."""
    resources = [
        _envelope(resource_v3(step["newState"], deployed=True), show_secrets, plaintext) for step in offline["steps"]
    ]
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2026-11-30T10:00:00Z", "magic": "0" * 64, "version": "v3.272.0"},
            "secrets_providers": {"type": "service", "state": {}},
            "resources": resources + list(extra),
        },
    }


def state_of(document: Mapping[str, Any], type_: str, n: int = 0) -> dict[str, Any]:
    """The n-th offline step's newState of a type (to pick URNs and inputs)."""
    return [s["newState"] for s in document["steps"] if s["newState"]["type"] == type_][n]
