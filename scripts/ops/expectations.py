"""What the live validator expects: the policy pack's own values, plus the few that only a live check needs.

One control, three inputs: the pack (`policies/`) judges the plan and, through the policy report, a
`pulumi stack export`; `scripts.ops.validate_deployment` judges the live account. So that the three
verdicts cannot disagree, every threshold and fixed set the pack enforces is imported from the pack
here, never restated: the floors are `tradesense_policies.floors.FLOORS` defaults (the values the
pack enforces when no `--policy-pack-config` makes it stricter), and the sets (managed rule groups,
redacted headers, public-access flags, required tags, `rds.force_ssl`) are the rules' own constants.

What stays here is live-specific: the names the program gives its WAF rules and KMS keys (live
resources are found by them), and AWS's prefix for its default parameter groups.
"""

from __future__ import annotations

import sys

from scripts.report.analyzer import PACK_DIR

if str(PACK_DIR) not in sys.path:  # the pack's package, exactly as the CLI (and the report) imports it
    sys.path.insert(0, str(PACK_DIR))

from tradesense_policies.floors import FLOORS, effective  # noqa: E402
from tradesense_policies.model import Resource  # noqa: E402,F401  (live checks that call a rule itself)
from tradesense_policies.registry import all_rules  # noqa: E402
from tradesense_policies.rules.edge import CREDENTIAL_HEADERS, DEFAULT_WINDOW, REQUIRED_MANAGED_GROUPS  # noqa: E402
from tradesense_policies.rules.exposure import PUBLIC_ACCESS_FLAGS  # noqa: E402
from tradesense_policies.rules.tagging import REQUIRED_TAG_KEYS  # noqa: E402
from tradesense_policies.rules.transit import FORCE_SSL  # noqa: E402,F401  (re-exported for the live checks)
from tradesense_policies.types import TRAIL as TRAIL_TYPE  # noqa: E402,F401

# A live check with no pack rule reports under an id with this prefix, so nobody mistakes it for one.
LIVE_ONLY_PREFIX = "live-only:"


def pack_rule_names() -> frozenset[str]:
    """Names of every rule the pack registers: the ids a live check may report under."""
    return frozenset(all_rules())


def floor(key: str):
    """The value the pack enforces for `key` (its secure default; a live account has no policy config)."""
    return effective(None, key)


# -- the pack's values, under the names the live checks use -----------------------------------------
MIN_BACKUP_RETENTION_DAYS = floor("minBackupRetentionDays")
MAX_STATEMENT_TIMEOUT_MS = floor("maxStatementTimeoutMs")
LOGIN_MAX_PER_MINUTE = floor("loginMaxRequestsPerMinute")
API_MAX_PER_MINUTE = floor("apiMaxRequestsPerMinute")
LOGIN_PATHS = floor("loginPaths")
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
# The names components/edge.py gives the rate rules; the live check reads each rule by name.
LOGIN_RATE_RULE = "login-rate-limit"
API_RATE_RULE = "api-rate-limit"

# KMS key purposes (the `Purpose` tag on each customer-managed key)
KEY_PURPOSE_DATA = "data"
KEY_PURPOSE_BACKUPS = "backups"
KEY_PURPOSE_SECRETS = "secrets"
KEY_PURPOSE_LOGS = "logs"
# The backups key PlatformKeys creates in the DR region (snapshot copies are encrypted with it).
KEY_PURPOSE_BACKUPS_DR = "backups-dr"

__all__ = [name for name in dir() if name.isupper()] + ["FLOORS", "floor", "pack_rule_names"]
