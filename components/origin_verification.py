"""OriginVerification: the shared secret that proves a request reached the gateway through CloudFront.

The gateway's origin is public, so without it a client that calls the origin directly skips the WAF
(rate limits, managed rules) in front of CloudFront. CloudFront adds a custom header with a value
only it and the gateway know to every request it forwards to the origin, and the origin answers only
requests that carry it: AWS's "controlling access to content" use of origin custom headers
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/add-origin-custom-headers.html).
The gateway compares the value (not just the header's presence) and answers 403 to anything else
(docs/edge.md); a client calling the origin directly cannot know it.

Creates the value (pulumi-random, 64 characters), and a Secrets Manager secret under the secrets key
holding it, named tradesense/<stack>/<service>/origin-verify, for the gateway to read at start-up.
The value reaches CloudFront as a secret Output, so previews and state show only "[secret]".
Rotation: change `rotation_keeper`; CloudFront and the secret change in the same `up`, so the gateway
must accept the previous value (AWSPREVIOUS of the secret) until it has reloaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.tagging import for_service, require_tags

ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
VALUE_LENGTH = 64
SECRET_RECOVERY_DAYS = 30
_STACK = re.compile(r"^[A-Za-z0-9_.-]+$")
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")


@dataclass(frozen=True, kw_only=True)
class OriginVerificationArgs:
    """Inputs of OriginVerification; every default is the secure choice."""

    stack: str
    """Stack name, in the secret's name: tradesense/<stack>/<service>/origin-verify."""
    secrets_kms_key_arn: pulumi.Input[str]
    """Customer-managed key the secret is encrypted with."""
    tags: dict[str, str]
    """Required tags (see components.tagging)."""
    service: str = "gateway"
    """The service behind CloudFront, which checks the header; it owns the secret."""
    rotation_keeper: str = "1"
    """Change to generate a new value (see the module docstring for the gateway's side)."""

    def __post_init__(self) -> None:
        require_tags("OriginVerificationArgs.tags", self.tags)
        if not _STACK.match(self.stack):
            raise ValueError(f"OriginVerificationArgs.stack = {self.stack!r}: must be a Pulumi stack name")
        if not _SERVICE.match(self.service):
            raise ValueError(f"OriginVerificationArgs.service = {self.service!r}: must be a service name like gateway")
        if not self.rotation_keeper.strip():
            raise ValueError("OriginVerificationArgs.rotation_keeper = '': must be non-empty")


class OriginVerification(pulumi.ComponentResource):
    """A generated header value for CloudFront to send and the gateway to check, kept in Secrets Manager."""

    header_name: str
    header_value: pulumi.Output[str]
    """Secret; give it to CloudFront (EdgeFirewallArgs.origin_verify_header_value) and nothing else."""
    secret_arn: pulumi.Output[str]
    secret_name: pulumi.Output[str]

    def __init__(self, name: str, args: OriginVerificationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:edge:OriginVerification", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = for_service(args.tags, args.service)

        value = random.RandomPassword(
            f"{name}-value",
            length=VALUE_LENGTH,
            special=False,  # an HTTP header value: letters and digits need no quoting anywhere
            keepers={"rotation": args.rotation_keeper},
            opts=child,
        )
        secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name=f"tradesense/{args.stack}/{args.service}/origin-verify",
            description=f"Value of the {ORIGIN_VERIFY_HEADER} header CloudFront sends to the {args.service} origin",
            kms_key_id=args.secrets_kms_key_arn,
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags=tags,
            opts=child,
        )
        header_value: pulumi.Output[str] = pulumi.Output.secret(value.result)
        aws.secretsmanager.SecretVersion(
            f"{name}-secret-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.json_dumps({"header": ORIGIN_VERIFY_HEADER, "value": header_value})  # type: ignore[arg-type]  # pulumi's Input/Output typing
            ),
            opts=child,
        )

        self.header_name = ORIGIN_VERIFY_HEADER
        self.header_value = header_value
        self.secret_arn = secret.arn
        self.secret_name = secret.name
        self.register_outputs(
            {
                "headerName": self.header_name,
                "secretArn": self.secret_arn,
                "secretName": self.secret_name,
            }
        )
