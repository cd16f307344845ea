"""What a compliant TradeSense deployment looks like, in one place.

The policy pack (`policies/`) enforces these same rules on the planned resources before deploy;
`scripts.ops.validate_deployment` checks the live resources against them after deploy and whenever
someone suspects drift (a change made by hand in the console). Change a value here and both the
gate and the live check move together.

Values that a stack configures (the login rate limit, the statement timeout, the retention the
stack asks for) come from `stacks.settings`; these constants are the floors and fixed names.
"""

from __future__ import annotations

from components.limits import MIN_BACKUP_RETENTION_DAYS
from components.tagging import REQUIRED_TAG_KEYS

# RDS PostgreSQL
# MIN_BACKUP_RETENTION_DAYS (components.limits): automated backups kept at least this long (PITR window)
FORCE_SSL = "1"                           # rds.force_ssl in the instance's custom parameter group
MAX_STATEMENT_TIMEOUT_MS = 30_000         # statement_timeout must be set and at most this (ms)
DEFAULT_PARAMETER_GROUP_PREFIX = "default."  # AWS default groups cannot carry the settings above
PROXY_REQUIRE_TLS = True

# ElastiCache (Redis)
CACHE_AT_REST_ENCRYPTION = True
CACHE_TRANSIT_ENCRYPTION = True

# S3 bucket holding logical dumps
PUBLIC_ACCESS_BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
BUCKET_SSE_ALGORITHM = "aws:kms"

# WAF on the CloudFront distribution
LOGIN_RATE_RULE = "login-rate-limit"
API_RATE_RULE = "api-rate-limit"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
WAF_REDACTED_HEADERS = ("authorization", "cookie")

# KMS key purposes (the `Purpose` tag on each customer-managed key)
KEY_PURPOSE_DATA = "data"
KEY_PURPOSE_BACKUPS = "backups"
KEY_PURPOSE_SECRETS = "secrets"
KEY_PURPOSE_LOGS = "logs"
# The backups key PlatformKeys creates in the DR region (snapshot copies are encrypted with it).
KEY_PURPOSE_BACKUPS_DR = "backups-dr"

# The tags every taggable resource carries: the program's own list.
REQUIRED_TAGS = REQUIRED_TAG_KEYS
