"""AWS access for the operational commands: clients with botocore retries, and tag discovery.

Clients are built in one place so every call gets the same behaviour: botocore's `standard` retry
mode by default (or `adaptive`, which also rate-limits the client when AWS throttles), a bounded
number of attempts, and connect/read timeouts. No command retries by hand; a call that still fails
after botocore's attempts surfaces as one error line and exit 1.

Resources are found by their tags, never by guessed names: everything the Pulumi program creates
carries `Project=<project>` and `Stack=<stack>`, plus `Service` and sometimes `Purpose`. Restored
copies made by `scripts.ops.restore` carry a `RestoredFrom` tag and are never mistaken for originals.

`python -m scripts.ops.aws identity` prints who the credentials belong to (the deploy preflight).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from scripts.cli import ArgumentParser, OpsError, UsageError, entrypoint, progress
from stacks.settings import Settings, load_stack_settings

RETRY_MODES = ("standard", "adaptive")
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 5
MAX_ATTEMPTS_LIMIT = 10
# CloudFront-scoped WAF web ACLs (and their logging configuration) live in us-east-1 only.
CLOUDFRONT_REGION = "us-east-1"
RESTORED_FROM_TAG = "RestoredFrom"
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


def tags_of(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """AWS tag lists come as Key/Value (most services) or TagKey/TagValue (KMS)."""
    result: dict[str, str] = {}
    for item in items or ():
        key = item.get("Key", item.get("TagKey"))
        value = item.get("Value", item.get("TagValue", ""))
        if key is not None:
            result[key] = value
    return result


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@dataclass
class Aws:
    """A boto3 session plus the retry, timeout and endpoint policy every client shares."""

    region: str
    endpoint_url: str | None = None
    retry_mode: str = DEFAULT_RETRY_MODE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    session: Any = None
    _clients: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.session is None:
            self.session = boto3.session.Session()

    def config(self, region: str) -> Config:
        return Config(
            region_name=region,
            # total_max_attempts counts the first call too (botocore's `max_attempts` key counts only
            # retries); it is what AWS_MAX_ATTEMPTS means everywhere else.
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            connect_timeout=5,
            read_timeout=60,
            user_agent_extra="tradesense-ops",
        )

    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.region
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=self.config(region)
            )
        return self._clients[key]


def add_aws_arguments(parser: ArgumentParser) -> None:
    """--stack, --region, --endpoint-url: the options every command that talks to AWS takes."""
    parser.add_argument("--stack", default="prod", help="stack name; its Pulumi.<stack>.yaml is read (default: prod)")
    parser.add_argument("--region", help="AWS region (default: the stack's aws:region)")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="AWS API endpoint override, e.g. a local emulator (default: $AWS_ENDPOINT_URL or AWS)",
    )


def _env_retry_policy() -> tuple[str, int]:
    """AWS_RETRY_MODE / AWS_MAX_ATTEMPTS, the standard botocore variables, checked for sense."""
    mode = os.environ.get("AWS_RETRY_MODE", DEFAULT_RETRY_MODE)
    if mode not in RETRY_MODES:
        raise UsageError(f"AWS_RETRY_MODE = {mode!r}: must be one of {', '.join(RETRY_MODES)}")
    raw = os.environ.get("AWS_MAX_ATTEMPTS", str(DEFAULT_MAX_ATTEMPTS))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ATTEMPTS_LIMIT:
        raise UsageError(f"AWS_MAX_ATTEMPTS = {raw!r}: must be a whole number from 1 to {MAX_ATTEMPTS_LIMIT}")
    return mode, int(raw)


def check_region(name: str, value: str) -> str:
    if not _REGION.match(value or ""):
        raise UsageError(f"{name} = {value!r}: must be an AWS region like us-east-1")
    return value


def check_endpoint(value: str | None) -> str | None:
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.username or parsed.password:  # never echoed: it carries a credential
        raise UsageError(
            "--endpoint-url: must not carry a user or password (user:password@host); "
            "AWS credentials come from the environment or the profile"
        )
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"--endpoint-url = {value!r}: must be an http(s) URL like http://127.0.0.1:5000")
    return value


def aws_from_args(args: Any, settings: Settings | None = None) -> Aws:
    region = args.region or (settings.region if settings else None) or os.environ.get("AWS_REGION", "")
    check_region("--region", region)
    mode, attempts = _env_retry_policy()
    return Aws(region=region, endpoint_url=check_endpoint(args.endpoint_url), retry_mode=mode, max_attempts=attempts)


def settings_from_args(args: Any) -> Settings:
    """The stack's validated settings; a bad stack or value raises ConfigError (exit 2)."""
    return load_stack_settings(args.stack)


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class Discovery:
    """Finds one stack's resources by their Project and Stack tags."""

    def __init__(self, aws: Aws, project: str, stack: str) -> None:
        self.aws = aws
        self.project = project
        self.stack = stack
        self._kms_tags: dict[str, dict[str, dict[str, str]]] = {}

    def matches(self, tags: Mapping[str, str], **wanted: str) -> bool:
        want = {"Project": self.project, "Stack": self.stack, **wanted}
        return all(tags.get(k) == v for k, v in want.items()) and RESTORED_FROM_TAG not in tags

    # -- RDS ---------------------------------------------------------------------------------
    def db_instances(self) -> dict[str, dict]:
        """Service name -> the stack's original RDS instance for it (restored copies excluded)."""
        found: dict[str, dict] = {}
        pages = self.aws.client("rds").get_paginator("describe_db_instances").paginate()
        for page in pages:
            for db in page["DBInstances"]:
                tags = tags_of(db.get("TagList"))
                if self.matches(tags) and tags.get("Service"):
                    found[tags["Service"]] = db
        return found

    def db_proxies(self) -> dict[str, dict]:
        rds = self.aws.client("rds")
        found: dict[str, dict] = {}
        for page in rds.get_paginator("describe_db_proxies").paginate():
            for proxy in page["DBProxies"]:
                tags = tags_of(rds.list_tags_for_resource(ResourceName=proxy["DBProxyArn"]).get("TagList"))
                if self.matches(tags) and tags.get("Service"):
                    found[tags["Service"]] = proxy
        return found

    # -- ElastiCache -------------------------------------------------------------------------
    def replication_groups(self, purpose: str = "cache") -> list[dict]:
        ec = self.aws.client("elasticache")
        found = []
        for page in ec.get_paginator("describe_replication_groups").paginate():
            for group in page["ReplicationGroups"]:
                tags = tags_of(ec.list_tags_for_resource(ResourceName=group["ARN"]).get("TagList"))
                if self.matches(tags, Purpose=purpose):
                    found.append(group)
        return found

    # -- S3 ----------------------------------------------------------------------------------
    def buckets(self, purpose: str) -> list[str]:
        s3 = self.aws.client("s3")
        found = []
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            try:
                tags = tags_of(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
            except ClientError as exc:
                if error_code(exc) in ("NoSuchTagSet", "NoSuchBucket", "AccessDenied"):
                    continue
                raise
            if self.matches(tags, Purpose=purpose):
                found.append(name)
        return found

    def backup_bucket(self) -> str:
        buckets = self.buckets("database-backups")
        if len(buckets) != 1:
            raise OpsError(
                f"expected one S3 bucket tagged Project={self.project} Stack={self.stack} "
                f"Purpose=database-backups, found {len(buckets)}: {', '.join(buckets) or 'none'}"
            )
        return buckets[0]

    # -- WAF, CloudTrail, CloudWatch, Secrets Manager, KMS -----------------------------------
    def web_acls(self, purpose: str = "edge-firewall") -> list[dict]:
        waf = self.aws.client("wafv2", CLOUDFRONT_REGION)
        found = []
        kwargs: dict[str, Any] = {"Scope": "CLOUDFRONT"}
        while True:
            page = waf.list_web_acls(**kwargs)
            for summary in page.get("WebACLs", []):
                tags = tags_of(
                    waf.list_tags_for_resource(ResourceARN=summary["ARN"]).get("TagInfoForResource", {}).get("TagList")
                )
                if self.matches(tags, Purpose=purpose):
                    found.append(summary)
            if not page.get("NextMarker"):
                return found
            kwargs["NextMarker"] = page["NextMarker"]

    def trails(self) -> list[dict]:
        ct = self.aws.client("cloudtrail")
        found = []
        for trail in ct.describe_trails(includeShadowTrails=False).get("trailList", []):
            listing = ct.list_tags(ResourceIdList=[trail["TrailARN"]]).get("ResourceTagList", [])
            tags = tags_of(listing[0].get("TagsList") if listing else [])
            if self.matches(tags):
                found.append(trail)
        return found

    def alarms(self) -> list[tuple[dict, dict[str, str]]]:
        cw = self.aws.client("cloudwatch")
        found = []
        for page in cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                tags = tags_of(cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags"))
                if self.matches(tags):
                    found.append((alarm, tags))
        return found

    def secrets(self) -> list[dict]:
        sm = self.aws.client("secretsmanager")
        found = []
        for page in sm.get_paginator("list_secrets").paginate():
            for secret in page.get("SecretList", []):
                if self.matches(tags_of(secret.get("Tags"))):
                    found.append(secret)
        return found

    def kms_key(self, purpose: str, region: str | None = None) -> dict | None:
        """The stack's customer-managed key tagged Purpose=<purpose> in a region, if any."""
        region = region or self.aws.region
        if region not in self._kms_tags:
            kms = self.aws.client("kms", region)
            found: dict[str, dict[str, str]] = {}
            for page in kms.get_paginator("list_keys").paginate():
                for key in page.get("Keys", []):
                    try:
                        found[key["KeyId"]] = tags_of(kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags"))
                    except ClientError as exc:
                        if error_code(exc) != "AccessDeniedException":
                            raise
            self._kms_tags[region] = found
        for key_id, tags in self._kms_tags[region].items():
            if self.matches(tags, Purpose=purpose):
                return self.aws.client("kms", region).describe_key(KeyId=key_id)["KeyMetadata"]
        return None


def wait_for(
    poll: Callable[[], tuple[bool, str]],
    what: str,
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Poll a long operation, printing its state each time, until `poll` says it is done.

    This is progress reporting, not retrying: each poll is one AWS call with botocore's retries,
    and `poll` raises OpsError if the operation itself has failed.
    """
    start = clock()
    while True:
        done, state = poll()
        elapsed = clock() - start
        progress(f"{what}: {state} ({elapsed:.0f}s)")
        if done:
            return
        if elapsed >= timeout:
            raise OpsError(
                f"{what}: still {state} after {timeout:.0f}s; AWS continues it, "
                "check its status in the console before retrying"
            )
        sleep(interval)


def _identity(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m scripts.ops.aws", description="Print the AWS identity in use.")
    parser.add_argument("command", choices=["identity"])
    add_aws_arguments(parser)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    aws = aws_from_args(args, settings)
    ident = aws.client("sts").get_caller_identity()
    print(f"AWS account {ident['Account']} as {ident['Arn']} in {aws.region}")
    return 0


if __name__ == "__main__":
    entrypoint(_identity)
