"""Read the three input shapes into one list of resource states: the one reader.

* `pulumi preview --json` (and the offline preview, which writes the same document): `steps[].newState`;
* `pulumi stack export`: `deployment.resources[]`;
* the offline engine's plain `resources[]` list, if given directly.

The policy report, the checkov bridge (`scripts.checkov_bridge.tfplan`) and the change review all read through
`read_input(path) -> StackInput` (or `parse(document, source)`), so they judge the same resources.
That API is stable: fields may be added to `StackInput` / `ResourceState`, none removed or renamed.

What the real CLI prints, and what this reader does with it (pulumi/pulumi
`pkg/backend/display/json.go` `ShowPreviewDigest`/`shouldShow`, `sdk/go/common/apitype` `ResourceV3`,
`sdk/go/common/display` `PreviewDigest`):

* A plain `pulumi preview --json` lists only the steps that change something (`same` steps only with
  `--show-sames`), while `changeSummary` counts every resource. Such a document is `partial`: rules
  that join resources (stack rules, checkov's graph checks) cannot judge it, and it says to run
  `pulumi preview --json --show-sames`.
* `same`/`update`/`replace` steps carry no `id` and no `outputs` in `newState` (`omitempty`); a
  `same` step's `oldState` holds the deployed outputs, which then fill inputs the program left empty;
  an `update` keeps only the outputs that name the resource (ARN, id), which other resources refer to.
* `--show-replacement-steps` lists a replaced URN up to three times (`replace`, `create-replacement`,
  `delete-replaced`): each URN is read once.
* Error diagnostics mean the preview failed and its steps are partial: `errors` lists them.
* A backend checkpoint file is refused with the command that produces an export.
* In an export, `delete: true` marks a resource pending deletion after a replace: the engine does not
  analyse it, nor does this reader (listed in `skipped`). `external: true` marks a read resource: it
  is in the stack (other resources refer to it) but not judged (`ResourceState.judged`).
* An export's outputs are the deployed values: they fill inputs the program left empty (older
  providers keep bucket encryption and versioning only there).

Secrets: every secret becomes "[secret]" (the report never carries a secret value), as `preview
--json` prints them; so does an input whose output the provider marks secret (`password` given in
plain text to pulumi-aws is stored plain in `inputs`, secret in `outputs`), and one named in
`additionalSecretOutputs`. `--show-secrets` exports carry `plaintext` inside the same envelope, and
are masked alike. Values the engine does not know yet stay the unknown sentinel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.documents.secrets import SECRET_TEXT, is_secret, mask_secrets, redact

SKIPPED_TYPES = ("pulumi:pulumi:Stack",)
# pulumi/pulumi sdk/go/common/resource/plugin/rpc.go UnknownStringValue: what `preview --json`
# prints for a value known only after deploy.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# Steps whose resource will not exist after the operation (or is the old copy of a replacement):
# nothing to judge. pulumi/pulumi pkg/resource/deploy/step.go names every op.
GONE_OPS = frozenset(
    {"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace", "read-discard"}
)
# Steps whose oldState outputs are the resource as deployed and still true after the operation.
UNCHANGED_OPS = frozenset({"same", "refresh"})
# In-place updates, and the outputs that name a resource and survive one (a change to them replaces it).
UPDATE_OPS = frozenset({"update"})
REPLACE_OPS = frozenset({"replace", "create-replacement"})
IDENTITY_OUTPUTS = frozenset(
    {"id", "arn", "name", "bucket", "keyId", "identifier", "resourceId", "endpoint", "address", "urn"}
)
# Nesting deeper than this is no resource any provider accepts; refusing it keeps the gRPC Struct
# conversion (protobuf's limit is 100) and every recursive walk inside their limits.
MAX_DEPTH = 64
SHOW_SAMES = "pulumi preview --json --show-sames"


class InputError(ValueError):
    """The input cannot be used; the message is one line and echoes no value."""


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
    external: bool = False
    """Read (`pulumi.get`/`.get()`), not managed by this stack: never judged."""
    op: str = ""
    """The preview step's op (create, same, update, ...); "" for an export."""
    derived_from: str = ""
    """For a control read from a bucket's inline settings: the bucket's URN (see inline_controls)."""

    @property
    def state(self) -> dict[str, Any]:
        """What the engine gives stack policies: the resource's outputs over its inputs."""
        return {**self.inputs, **self.outputs}

    @property
    def analyzed(self) -> bool:
        """Custom resources, not providers, not read ones: what per-resource analysis judges."""
        return self.custom and not self.type.startswith("pulumi:providers:") and not self.external

    @property
    def judged(self) -> bool:
        """Whether any rule judges this resource (read resources are only context for joins)."""
        return not self.external


@dataclass
class StackInput:
    kind: str
    """preview, export or resources."""
    resources: list[ResourceState]
    config: dict[str, str] = field(default_factory=dict)
    """The stack's config as the engine hands it to analyzers (ConfigureStack): text values."""
    partial: str = ""
    """Why the document does not list the whole stack ("" when it does)."""
    errors: list[str] = field(default_factory=list)
    """Error diagnostics of a failed preview (already one line each, secrets redacted)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(urn, reason) of resources in the document that are not judged (pending deletion)."""

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

    @property
    def judged(self) -> list[ResourceState]:
        return [r for r in self.resources if r.judged]

    def incomplete(self) -> str:
        """Why no verdict can be given on this document at all ("" when one can): a failed preview."""
        if self.errors:
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            return (
                f"the preview failed, so its steps are incomplete: {self.errors[0]}{more}; "
                "fix the error and run the preview again"
            )
        return ""


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _expect(value: Any, expected: type | tuple, where: str, what: str) -> Any:
    if not isinstance(value, expected):
        raise InputError(f"{where}: must be {what}, found {_kind(value)}")
    return value


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _properties(raw: dict, key: str, where: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    _expect(value, dict, f"{where}.{key}", "an object of property values")
    if _too_deep(value):
        raise InputError(f"{where}.{key}: nested deeper than {MAX_DEPTH} levels; no provider takes such a value")
    return value


def _secret_inputs(inputs: dict[str, Any], outputs: list[dict[str, Any]], additional: list) -> dict[str, Any]:
    """Mask an input the provider marks secret on the output side: pulumi-aws stores a plain-text
    `password` input as given and the same output encrypted (an envelope in an export, "[secret]" in
    `preview --json`, whose inputs it prints as stored); `additionalSecretOutputs` names more."""
    secret_keys = {k for side in outputs for k, v in side.items() if is_secret(v) or v == SECRET_TEXT}
    secret_keys |= {k for k in additional if isinstance(k, str)}
    # The engine marks a whole output property secret when any part of its input was (CloudFront
    # `origins` with one secret header value): an input that already shows which part is secret
    # keeps the rest readable, so rules can still judge the origins' protocols.
    return {
        k: SECRET_TEXT if k in secret_keys and v is not None and not _holds_secret(v) else v for k, v in inputs.items()
    }


def _holds_secret(value: Any) -> bool:
    if is_secret(value) or value == SECRET_TEXT:
        return True
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def _state(raw: Any, where: str, op: str = "", old: dict | None = None) -> ResourceState:
    _expect(raw, dict, where, "a resource object")
    urn, type_ = raw.get("urn"), raw.get("type")
    if not isinstance(urn, str) or not isinstance(type_, str) or not urn or not type_:
        raise InputError(f"{where}: a resource needs `type` and `urn` as strings")
    raw_inputs = _properties(raw, "inputs", where)
    raw_outputs = _properties(raw, "outputs", where)
    previous = _properties(old, "outputs", where.replace("newState", "oldState")) if old is not None else {}
    if not raw_outputs and op in UNCHANGED_OPS:
        raw_outputs = previous
    elif not raw_outputs and op in UPDATE_OPS:
        # An in-place update keeps the resource's identity: other resources still name it by its
        # ARN or id. Only those outputs carry over; anything else may be what the update changes.
        raw_outputs = {k: v for k, v in previous.items() if k in IDENTITY_OUTPUTS and k not in raw_inputs}
    elif not raw_outputs and op in REPLACE_OPS:
        # A replacement is a new resource: what the provider names it (id, ARN, a prefix-generated
        # bucket name) is not known until deploy, so rules that join on it are undecided, never
        # judged on the old resource's identity.
        raw_outputs = {k: UNKNOWN for k in previous if k in IDENTITY_OUTPUTS and k not in raw_inputs}
    additional = _expect(
        raw.get("additionalSecretOutputs") or [], list, f"{where}.additionalSecretOutputs", "a list of property names"
    )
    previous_additional = (old or {}).get("additionalSecretOutputs") or []
    additional = [*additional, *(previous_additional if isinstance(previous_additional, list) else [])]
    inputs = mask_secrets(_secret_inputs(raw_inputs, [raw_outputs, previous], additional))
    outputs = mask_secrets(raw_outputs)
    # An output the engine masked whole because part of its input was secret is the same value as
    # that input, which shows the secret part itself: rules read the input instead of "[secret]".
    outputs = {k: inputs[k] if v == SECRET_TEXT and _holds_secret(inputs.get(k)) else v for k, v in outputs.items()}
    if op in UNCHANGED_OPS or not op:
        # Deployed values fill what the program left empty: defaults the provider chose, and
        # settings older providers keep only in outputs (inline bucket encryption, versioning).
        for key, value in outputs.items():
            if not key.startswith("__") and inputs.get(key) in (None, "", [], {}) and value not in (None, ""):
                inputs[key] = value
    dependencies = raw.get("dependencies") or []
    _expect(dependencies, list, f"{where}.dependencies", "a list of URNs")
    property_dependencies = raw.get("propertyDependencies") or {}
    _expect(property_dependencies, dict, f"{where}.propertyDependencies", "an object of property -> URNs")
    for key, urns in property_dependencies.items():
        _expect(urns if urns is not None else [], list, f"{where}.propertyDependencies.{key}", "a list of URNs")
    parent = raw.get("parent") or ""
    _expect(parent, str, f"{where}.parent", "a URN string")
    return ResourceState(
        type=type_,
        urn=urn,
        name=raw.get("name") if isinstance(raw.get("name"), str) and raw.get("name") else urn.rsplit("::", 1)[-1],
        custom=bool(raw.get("custom", True)),
        inputs=inputs,
        outputs=outputs,
        parent=parent,
        dependencies=[d for d in dependencies if isinstance(d, str)],
        property_dependencies={
            k: [u for u in (v or []) if isinstance(u, str)] for k, v in property_dependencies.items()
        },
        protect=bool(raw.get("protect", False)),
        external=bool(raw.get("external", False)),
        op=op,
    )


def _preview(document: dict, source: str) -> StackInput:
    steps = _expect(document["steps"], list, f"{source}: steps", "a list of step objects")
    states: list[ResourceState] = []
    seen: set[str] = set()
    listed: set[str] = set()
    for index, step in enumerate(steps):
        where = f"{source}: steps[{index}]"
        _expect(step, dict, where, "a step object")
        op = step.get("op", "")
        _expect(op, str, f"{where}.op", "a string (create, same, update, ...)")
        new, old = step.get("newState"), step.get("oldState")
        if old is not None:
            _expect(old, dict, f"{where}.oldState", "a resource object")
        urn = step.get("urn")
        if not isinstance(urn, str) and isinstance(new, dict):
            urn = new.get("urn")
        if isinstance(urn, str):
            listed.add(urn)
        if op in GONE_OPS or not new:
            continue
        state = _state(new, f"{where}.newState", op, old)
        listed.add(state.urn)
        if state.urn in seen:  # --show-replacement-steps: replace + create-replacement of one URN
            continue
        seen.add(state.urn)
        states.append(state)
    config_raw = document.get("config") or {}
    _expect(config_raw, dict, f"{source}: config", "an object of key -> text")
    config = {key: value if isinstance(value, str) else json.dumps(value) for key, value in config_raw.items()}
    diagnostics = document.get("diagnostics") or []
    _expect(diagnostics, list, f"{source}: diagnostics", "a list of diagnostic objects")
    errors = [
        _one_line(d.get("message", "")) for d in diagnostics if isinstance(d, dict) and d.get("severity") == "error"
    ]
    if document.get("maybeCorrupt"):
        errors.append("the engine reports that one or more resources may be corrupt (maybeCorrupt)")
    summary = document.get("changeSummary") or {}
    _expect(summary, dict, f"{source}: changeSummary", "an object of op -> count")
    counted = sum(int(v) for v in summary.values() if isinstance(v, (int, float)) and not isinstance(v, bool))
    partial = ""
    if counted > len(listed):
        partial = (
            f"the document lists {len(listed)} of the {counted} resources its changeSummary counts "
            f"(a plain `pulumi preview --json` omits unchanged resources); rules that join resources "
            f"cannot judge it: run `{SHOW_SAMES}` and report on that"
        )
    return StackInput("preview", states, config, partial=partial, errors=errors)


def _one_line(text: Any) -> str:
    line = " ".join(str(text).split())
    return redact(line if len(line) <= 300 else line[:297] + "...")


BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SSE_TYPE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING_TYPE = "aws:s3/bucketVersioning:BucketVersioning"
POLICY_TYPE = "aws:s3/bucketPolicy:BucketPolicy"


def _one(value: Any) -> Any:
    """A nested block as pulumi-aws v5/v7 `Bucket` gives it (an object) or v6 `BucketV2` (a one-item list)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def inline_controls(bucket: ResourceState) -> list[ResourceState]:
    """A bucket's inline encryption, policy and versioning settings as the stand-alone resources the rules
    judge. pulumi-aws `Bucket` still takes `serverSideEncryptionConfiguration {rule {...}}` and
    `versioning {enabled}` (deprecated, "Use the resource s3.BucketServerSideEncryptionConfiguration
    instead": pulumi_aws/s3/bucket.py), v6 `BucketV2` took them as lists, and a v5 stack export keeps
    them in outputs. A bucket configured that way is judged on those settings: its encryption rule
    by the encryption rules, and versioning counts as a control only when enabled. Each derived
    resource is named after the bucket ("<bucket> (inline encryption)") and is never converted for
    checkov, which reads the inline blocks on `aws_s3_bucket` itself."""
    if bucket.type not in BUCKET_TYPES:
        return []
    props = bucket.inputs
    ref = props.get("bucket") or props.get("id") or bucket.name
    qualified = bucket.urn.split("::")[2] if bucket.urn.count("::") >= 3 else bucket.type
    prefix = bucket.urn.rsplit("::", 2)[0] if bucket.urn.count("::") >= 3 else bucket.urn

    def derived(type_: str, label: str, inputs: dict) -> ResourceState:
        return ResourceState(
            type=type_,
            urn=f"{prefix}::{qualified}${type_}::{bucket.name} (inline {label})",
            name=f"{bucket.name} (inline {label})",
            custom=True,
            inputs={"bucket": ref, **inputs},
            parent=bucket.urn,
            dependencies=[bucket.urn],
            property_dependencies={"bucket": [bucket.urn]},
            external=bucket.external,
            op=bucket.op,
            derived_from=bucket.urn,
        )

    found = []
    sse = _one(props.get("serverSideEncryptionConfiguration") or props.get("serverSideEncryptionConfigurations"))
    if isinstance(sse, dict):
        rules = sse.get("rule", sse.get("rules"))
        rules = rules if isinstance(rules, list) else [rules] if rules else []
        shaped = []
        for rule in rules:
            if not isinstance(rule, dict):
                continue
            default = _one(
                rule.get("applyServerSideEncryptionByDefault", rule.get("applyServerSideEncryptionByDefaults"))
            )
            shaped.append(
                {
                    **({"applyServerSideEncryptionByDefault": default} if isinstance(default, dict) else {}),
                    **({"bucketKeyEnabled": rule["bucketKeyEnabled"]} if "bucketKeyEnabled" in rule else {}),
                }
            )
        found.append(derived(SSE_TYPE, "encryption", {"rules": shaped}))
    policy = props.get("policy")
    if isinstance(policy, (str, dict)) and policy not in ("", {}):
        # The inline bucket policy (`Bucket.policy`, "Use the resource s3.BucketPolicy instead"):
        # judged by the bucket-policy rules (TLS only) as the stand-alone resource would be.
        found.append(derived(POLICY_TYPE, "policy", {"policy": policy}))
    versioning = _one(props.get("versioning") or props.get("versionings"))
    if isinstance(versioning, dict) and versioning.get("enabled") is True:
        found.append(
            derived(
                VERSIONING_TYPE,
                "versioning",
                {
                    "versioningConfiguration": {
                        "status": "Enabled",
                        **(
                            {"mfaDelete": "Enabled" if versioning["mfaDelete"] else "Disabled"}
                            if isinstance(versioning.get("mfaDelete"), bool)
                            else {}
                        ),
                    }
                },
            )
        )
    return found


def parse(document: Any, source: str = "input") -> StackInput:
    """The resources of a parsed document; InputError (one line) when it is none of the three shapes."""
    skipped: list[tuple[str, str]] = []
    if isinstance(document, dict) and "steps" in document:
        stack_input = _preview(document, source)
    elif isinstance(document, dict) and "deployment" in document:
        deployment = _expect(document["deployment"], dict, f"{source}: deployment", "an object")
        raw = deployment.get("resources") or []
        _expect(raw, list, f"{source}: deployment.resources", "a list of resource objects")
        states = []
        for i, r in enumerate(raw):
            state = _state(r, f"{source}: deployment.resources[{i}]")
            if r.get("delete"):
                # Pending deletion after a replace: the engine leaves it out of policy analysis.
                skipped.append((state.urn, "pending deletion (delete: true): not judged, as the engine does not"))
                continue
            states.append(state)
        stack_input = StackInput("export", states)
    elif isinstance(document, dict) and "checkpoint" in document:
        raise InputError(
            f"{source}: a backend checkpoint file, not an export; run `pulumi stack export "
            "--file export.json` and report on that file"
        )
    elif isinstance(document, dict) and "resources" in document:
        raw = _expect(document["resources"], list, f"{source}: resources", "a list of resource objects")
        stack_input = StackInput("resources", [_state(r, f"{source}: resources[{i}]") for i, r in enumerate(raw)])
    else:
        raise InputError(
            f"{source}: not a `pulumi preview --json` document (steps), a `pulumi stack export` "
            "(deployment.resources) or an offline preview"
        )
    stack_input.resources = [s for s in stack_input.resources if s.type not in SKIPPED_TYPES]
    stack_input.resources += [c for s in list(stack_input.resources) for c in inline_controls(s)]
    stack_input.skipped += skipped
    return stack_input


def load_document(path: str | Path) -> Any:
    """The parsed JSON of `path`, or InputError with one line saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not JSON (not UTF-8 text)") from None
    except RecursionError:
        raise InputError(
            f"{path}: nested too deeply to read (more than {MAX_DEPTH} levels is no Pulumi document)"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None


def read_input(path: str | Path) -> StackInput:
    """Read a preview, `pulumi preview --json` or `pulumi stack export` file (the stable entry point)."""
    try:
        return parse(load_document(path), str(path))
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to read") from None


load = read_input  # the original name, kept for callers
