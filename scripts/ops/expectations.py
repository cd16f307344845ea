"""What the live validator expects: the policy pack's own values, plus the few that only a live check needs.

One control, three inputs: the pack (`policies/`) judges the plan and, through the policy report, a
`pulumi stack export`; `scripts.ops.validate_deployment` judges the live account. So that the three
verdicts cannot disagree, every threshold and fixed set the pack enforces is imported from the pack
here, never restated: the floors are `tradesense_policies.floors.FLOORS`, resolved per rule from the
same `--policy-pack-config` file the pack is given (`PackConfig`: read by the report's reader,
resolved as the engine's Configure request resolves it, clamped by the pack's `effective`), and the
sets (managed rule groups, redacted headers, public-access flags, required tags, `rds.force_ssl`) are
the rules' own constants. Where a live resource can be put into the shape a rule judges (the web ACL,
the trail's selectors), `judge` calls the rule function itself.

What stays here is live-specific: the names the program gives its WAF rules and KMS keys (live
resources are found by them), and AWS's prefix for its default parameter groups.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from scripts.cli import UsageError
from scripts.report.analyzer import PACK_DIR, PackError, configure_request

if str(PACK_DIR) not in sys.path:  # the pack's package, exactly as the CLI (and the report) imports it
    sys.path.insert(0, str(PACK_DIR))

from tradesense_policies.floors import FLOORS, effective  # noqa: E402
from tradesense_policies.model import Resource, camel_keys  # noqa: E402
from tradesense_policies.pack import messages, rule_error  # noqa: E402
from tradesense_policies.registry import NotApplicable, Unknown, all_rules  # noqa: E402
from tradesense_policies.rules.edge import CREDENTIAL_HEADERS, DEFAULT_WINDOW, REQUIRED_MANAGED_GROUPS  # noqa: E402
from tradesense_policies.rules.exposure import PUBLIC_ACCESS_FLAGS  # noqa: E402
from tradesense_policies.rules.tagging import REQUIRED_TAG_KEYS  # noqa: E402
from tradesense_policies.rules.transit import FORCE_SSL  # noqa: E402,F401  (re-exported for the live checks)
from tradesense_policies.types import TRAIL as TRAIL_TYPE  # noqa: E402,F401
from tradesense_policies.types import WEB_ACL as WEB_ACL_TYPE  # noqa: E402,F401
from tradesense_policies.types import WEB_ACL_LOGGING as WEB_ACL_LOGGING_TYPE  # noqa: E402,F401

# A live check with no pack rule reports under an id with this prefix, so nobody mistakes it for one.
LIVE_ONLY_PREFIX = "live-only:"


def pack_rule_names() -> frozenset[str]:
    """Names of every rule the pack registers: the ids a live check may report under."""
    return frozenset(all_rules())


def floor(key: str):
    """The value the pack enforces for `key` when no policy config makes it stricter (its secure default)."""
    return effective(None, key)


class PackConfig:
    """A `--policy-pack-config` document as each rule of the pack receives it.

    Checked and resolved by `scripts.report.analyzer.configure_request`, the function that turns the
    same file into the engine's Configure request for the report: an unknown policy name or
    enforcement level is refused the same way. A rule's floors are then `effective(its properties,
    key)`, the pack's own clamp, so a configured floor can only be stricter than the default."""

    def __init__(self, document: Mapping[str, Any] | None = None, source: str = "policy pack config") -> None:
        from google.protobuf.json_format import MessageToDict
        from pulumi.runtime.proto import analyzer_pb2

        rules = all_rules()
        policies = {
            name: {"enforcement": "advisory" if rule.advisory_reason else "mandatory"} for name, rule in rules.items()
        }
        try:
            request = configure_request(analyzer_pb2, policies, dict(document or {}))
        except PackError as exc:
            raise UsageError(f"{source}: {exc}") from None
        self.properties: dict[str, dict[str, Any]] = {
            name: MessageToDict(entry.properties) for name, entry in request.policyConfig.items()
        }
        self.read: set[tuple[str, str]] = set()
        """(rule, floor key) pairs the live checks asked for (a test holds them to the rules' config)."""

    def for_rule(self, rule: str) -> dict[str, Any]:
        """The config properties the pack's rule `rule` receives (all its floor keys count as read)."""
        self.read.update((rule, key) for key in all_rules()[rule].config)
        return dict(self.properties.get(rule, {}))

    def floor(self, rule: str, key: str) -> Any:
        """The value the pack's rule `rule` enforces for floor `key` under this config."""
        if key not in all_rules()[rule].config:
            raise KeyError(f"{rule} reads no floor {key}")
        self.read.add((rule, key))
        return effective(self.properties.get(rule), key)


def judge(rule_name: str, resource_type: str, name: str, props: dict[str, Any], config: Mapping[str, Any]) -> list[str]:
    """The pack's resource rule `rule_name` run on live `props` (in its input shape): its messages,
    empty when it passes. As in the pack, nothing undecidable passes: an unknown value, a rule that
    does not apply to what it was given, or a rule that errors is a failure."""
    rule = all_rules()[rule_name]
    try:
        outcome = rule.check(props, Resource(resource_type, name, name, props, config=dict(config)))
    except Unknown as exc:
        return [f"cannot be judged: {exc.path} is not known"]
    except NotApplicable as exc:
        return [f"cannot be judged: {exc.reason}"]
    except Exception as exc:  # noqa: BLE001 - fail closed, as the pack does
        return [rule_error(exc)]
    return messages(outcome)


# -- the pack's values, under the names the live checks use -----------------------------------------
MANAGED_RULE_GROUPS = REQUIRED_MANAGED_GROUPS
WAF_REDACTED_HEADERS = CREDENTIAL_HEADERS
WAF_DEFAULT_WINDOW_SECONDS = DEFAULT_WINDOW
# The S3 API spells the flags in PascalCase; the pack reads Pulumi's camelCase inputs.
PUBLIC_ACCESS_BLOCK_FLAGS = tuple(flag[:1].upper() + flag[1:] for flag in PUBLIC_ACCESS_FLAGS)
REQUIRED_TAGS = REQUIRED_TAG_KEYS
BUCKET_SSE_ALGORITHMS = ("aws:kms", "aws:kms:dsse")  # what s3-bucket-encrypted-with-cmk accepts
OBJECT_LOCK_MODE = "COMPLIANCE"  # what s3-object-lock-compliance-mode requires

# -- live-specific ------------------------------------------------------------------------------------
DEFAULT_PARAMETER_GROUP_PREFIX = "default."  # AWS default groups cannot carry the settings above

# KMS key purposes (the `Purpose` tag on each customer-managed key)
KEY_PURPOSE_DATA = "data"
KEY_PURPOSE_BACKUPS = "backups"
KEY_PURPOSE_SECRETS = "secrets"
KEY_PURPOSE_LOGS = "logs"
# The backups key PlatformKeys creates in the DR region (snapshot copies are encrypted with it).
KEY_PURPOSE_BACKUPS_DR = "backups-dr"

__all__ = [name for name in dir() if name.isupper()] + [
    "FLOORS",
    "PackConfig",
    "camel_keys",
    "floor",
    "judge",
    "pack_rule_names",
]
