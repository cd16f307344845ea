"""SecureBucket: an S3 bucket with every control our data needs, so no caller can forget one.

Creates the bucket plus its ownership controls (ACLs off), SSE-KMS with a bucket key, versioning,
all four public-access blocks, a bucket policy that denies any request not made over TLS (plus any
statements the caller adds), access logging, a lifecycle, and, where asked, object lock in
compliance mode and replication to a replica SecureBucket in the DR region (so the data survives
the loss of its region). Backup, audit and access-log buckets are all SecureBuckets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document, role_with_policy
from components.tagging import require_tags, with_purpose

OBJECT_LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
# Callers' policy statements may name the bucket before it exists; this string stands for its ARN.
BUCKET_ARN = "${BucketArn}"


@dataclass(frozen=True, kw_only=True)
class BucketReplica:
    """Where a SecureBucket replicates to: everything that must live in the DR region."""

    provider: pulumi.ProviderResource
    """AWS provider for the DR region; the replica bucket and all its parts are created through it."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed key in the DR region (S3 encrypts replicas only with a key in their region);
    its ARN's region is also the region the replication role may use the key through."""
    access_log_bucket: pulumi.Input[str]
    """Access-log bucket in the DR region (S3 delivers server access logs only within a region)."""


@dataclass(frozen=True, kw_only=True)
class SecureBucketArgs:
    """Inputs of a SecureBucket; every default is the secure choice."""

    purpose: str
    """Stable role of the bucket (`database-backups`, `audit-logs`, ...), written to the Purpose tag."""
    tags: dict[str, str]
    """Required tags (see components.tagging)."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Customer-managed key for SSE-KMS. Required unless `sse_s3_for_log_delivery` is set."""
    bucket_key: bool = True
    """S3 Bucket Key for SSE-KMS (one KMS call per bucket key instead of per object). Off where a
    service's key-policy condition must see its own per-request encryption context: with a bucket key,
    S3 calls KMS with the bucket's context instead
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/configuring-bucket-key.html)."""
    sse_s3_for_log_delivery: bool = False
    """INSECURE opt-in: SSE-S3 instead of a customer key. Only for a server-access-log target, which
    S3 log delivery cannot write with SSE-KMS. Flagged by policy `s3-bucket-encrypted-with-cmk`."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Bucket that receives this bucket's server access logs. Required unless this is that bucket."""
    is_access_log_target: bool = False
    """This bucket receives other buckets' access logs (so it does not log to itself)."""
    expire_after_days: int = 30
    """Lifecycle: current objects expire after this many days (noncurrent versions too)."""
    object_lock_days: int | None = None
    """Default object-lock retention in days; `None` leaves object lock off."""
    object_lock_mode: str = "COMPLIANCE"
    """COMPLIANCE: not even the root user can shorten retention. GOVERNANCE allows privileged override."""
    extra_policy_statements: Sequence[pulumi.Input[dict[str, Any]]] = field(default_factory=tuple)
    """Statements appended to the bucket policy after the TLS-only deny (e.g. CloudTrail's writes);
    the string `BUCKET_ARN` anywhere in them is replaced by the bucket's ARN."""
    force_destroy: bool = False
    """Never true for data buckets: destroying the stack must not empty a bucket of backups."""
    replica: BucketReplica | None = None
    """Replicate every object (and delete marker) to a replica bucket in the DR region; `None` keeps
    the data in this region only (flagged by checkov CKV_AWS_144)."""
    region: str | None = None
    """This bucket's region; required with `replica` (the replication role may use the source key
    only through S3 in this region)."""
    account_id: pulumi.Input[str] | None = None
    """This account's id; required with `replica` (only S3 acting for this account may assume the
    replication role)."""

    def __post_init__(self) -> None:
        require_tags("SecureBucketArgs.tags", self.tags)
        if self.replica is not None:
            self._validate_replica()
        if self.kms_key_arn is None and not self.sse_s3_for_log_delivery:
            raise ValueError(
                "SecureBucketArgs.kms_key_arn: required (a customer-managed KMS key); "
                "only an access-log target may set sse_s3_for_log_delivery=True instead"
            )
        if self.sse_s3_for_log_delivery and not self.is_access_log_target:
            raise ValueError("SecureBucketArgs.sse_s3_for_log_delivery: allowed only with is_access_log_target=True")
        if self.access_log_bucket is None and not self.is_access_log_target:
            raise ValueError(
                "SecureBucketArgs.access_log_bucket: required; every bucket logs its access "
                "(set is_access_log_target=True only for the log bucket itself)"
            )
        if self.expire_after_days < 1:
            raise ValueError(f"SecureBucketArgs.expire_after_days = {self.expire_after_days}: must be >= 1")
        if self.object_lock_mode not in OBJECT_LOCK_MODES:
            raise ValueError(
                f"SecureBucketArgs.object_lock_mode = {self.object_lock_mode!r}: must be one of "
                + ", ".join(OBJECT_LOCK_MODES)
            )
        if self.object_lock_days is not None and not 1 <= self.object_lock_days <= self.expire_after_days:
            raise ValueError(
                f"SecureBucketArgs.object_lock_days = {self.object_lock_days}: must be between 1 and "
                f"expire_after_days ({self.expire_after_days}), or objects outlive their lifecycle"
            )

    def _validate_replica(self) -> None:
        if self.kms_key_arn is None or self.sse_s3_for_log_delivery:
            raise ValueError(
                "SecureBucketArgs.replica: requires kms_key_arn (a customer-managed key) on the source; "
                "SSE-S3 (sse_s3_for_log_delivery) buckets are not replicated"
            )
        if self.is_access_log_target:
            raise ValueError(
                "SecureBucketArgs.replica: not allowed with is_access_log_target=True (access logs stay "
                "in their region; each region has its own access-log bucket)"
            )
        if self.region is None:
            raise ValueError("SecureBucketArgs.region = None: required with replica (e.g. us-east-1)")
        if self.account_id is None:
            raise ValueError("SecureBucketArgs.account_id = None: required with replica (the 12-digit account id)")


class SecureBucket(pulumi.ComponentResource):
    """An S3 bucket that is encrypted, private, versioned, TLS-only, logged and expiring."""

    bucket: aws.s3.Bucket
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    policy: aws.s3.BucketPolicy
    """Services that write here (CloudTrail) must depend on the policy that admits them."""
    versioning: aws.s3.BucketVersioning
    """Replication into or out of this bucket must wait for versioning to be enabled."""
    replica_bucket_arn: pulumi.Output[str] | None
    """ARN of the DR-region replica, or None without `replica`."""

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tradesense:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = with_purpose(args.tags, args.purpose)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=f"{args.tags['Project']}-{args.tags['Stack']}-{args.purpose}-"[:37],
            object_lock_enabled=args.object_lock_days is not None,
            force_destroy=args.force_destroy,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=not args.force_destroy),
        )
        bucket_id = self.bucket.id

        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        if args.sse_s3_for_log_delivery:
            sse_default: dict[str, Any] = {"sse_algorithm": "AES256"}
        else:
            sse_default = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[
                {  # type: ignore[list-item]  # pulumi's Input/Output typing
                    "apply_server_side_encryption_by_default": sse_default,
                    "bucket_key_enabled": args.bucket_key and not args.sse_s3_for_log_delivery,
                }
            ],
            opts=child,
        )
        self.versioning = versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        if args.object_lock_days is not None:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket_id,
                object_lock_enabled="Enabled",
                rule={"default_retention": {"mode": args.object_lock_mode, "days": args.object_lock_days}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=[
                {
                    "id": f"expire-after-{args.expire_after_days}-days",
                    "status": "Enabled",
                    "filter": {},
                    "expiration": {"days": args.expire_after_days},
                    "noncurrent_version_expiration": {"noncurrent_days": args.expire_after_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        if not args.is_access_log_target:
            aws.s3.BucketLogging(
                f"{name}-access-logging",
                bucket=bucket_id,
                target_bucket=args.access_log_bucket,
                target_prefix=f"s3/{args.purpose}/",
                opts=child,
            )
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket_id,
            policy=pulumi.Output.all(arn=self.bucket.arn, extra=list(args.extra_policy_statements)).apply(
                lambda v: policy_document(_policy_statements(v["arn"], v["extra"], args.is_access_log_target))  # type: ignore[arg-type, return-value]  # pulumi's Input/Output typing
            ),
            # The public-access block must exist first, or a permissive policy could slip in between.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.replica_bucket_arn = None
        if args.replica is not None:
            self.replica_bucket_arn = self._replicate(name, args, args.replica)
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "replicaBucketArn": self.replica_bucket_arn,
            }
        )

    def _replicate(self, name: str, args: SecureBucketArgs, replica: BucketReplica) -> pulumi.Output[str]:
        """The DR-region replica, the role S3 replicates as, and the rule that copies every object."""
        target = SecureBucket(
            f"{name}-replica",
            SecureBucketArgs(
                purpose=f"{args.purpose}-replica",
                tags=args.tags,
                kms_key_arn=replica.kms_key_arn,
                access_log_bucket=replica.access_log_bucket,
                expire_after_days=args.expire_after_days,
                object_lock_days=args.object_lock_days,
                object_lock_mode=args.object_lock_mode,
                force_destroy=args.force_destroy,
            ),
            # The component's provider is inherited by all its children: the whole replica is in DR.
            opts=pulumi.ResourceOptions(parent=self, provider=replica.provider),
        )
        # The replica key's ARN names its region: the DR region S3 encrypts replicas in.
        dr_region = pulumi.Output.from_input(replica.kms_key_arn).apply(lambda arn: arn.split(":")[3])
        source_objects = pulumi.Output.concat(self.bucket.arn, "/*")
        role, role_policy = role_with_policy(
            f"{name}-replication-role",
            f"{name}-replication",
            description=f"S3 replicates the {args.purpose} bucket to its DR-region replica as this role",
            trust_policy=assume_role_policy(
                {"Service": "s3.amazonaws.com"},
                {"StringEquals": {"aws:SourceAccount": args.account_id}},
            ),
            policy=policy_document(
                [
                    {
                        "Sid": "ReadSourceReplicationConfiguration",
                        "Effect": "Allow",
                        "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                        "Resource": self.bucket.arn,
                    },
                    {
                        "Sid": "ReadSourceObjectVersions",
                        "Effect": "Allow",
                        "Action": [
                            "s3:GetObjectVersionForReplication",
                            "s3:GetObjectVersionAcl",
                            "s3:GetObjectVersionTagging",
                            "s3:GetObjectRetention",
                            "s3:GetObjectLegalHold",
                        ],
                        "Resource": source_objects,
                    },
                    {
                        "Sid": "WriteReplicaObjects",
                        "Effect": "Allow",
                        "Action": [
                            "s3:ReplicateObject",
                            "s3:ReplicateDelete",
                            "s3:ReplicateTags",
                            "s3:ObjectOwnerOverrideToBucketOwner",
                        ],
                        "Resource": pulumi.Output.concat(target.bucket_arn, "/*"),
                    },
                    {
                        "Sid": "DecryptSourceObjectsThroughS3",
                        "Effect": "Allow",
                        "Action": "kms:Decrypt",
                        "Resource": args.kms_key_arn,
                        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}},
                    },
                    {
                        "Sid": "EncryptReplicasThroughS3",
                        "Effect": "Allow",
                        "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                        "Resource": replica.kms_key_arn,
                        "Condition": {
                            "StringEquals": {
                                "kms:ViaService": pulumi.Output.concat("s3.", dr_region, ".amazonaws.com"),
                            }
                        },
                    },
                ]
            ),
            tags=args.tags,
            parent=self,
        )
        aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=self.bucket.id,
            role=role.arn,
            rules=[
                {
                    "id": f"replicate-{args.purpose}-to-dr",
                    "status": "Enabled",
                    "filter": {},
                    "delete_marker_replication": {"status": "Enabled"},
                    "destination": {
                        "bucket": target.bucket_arn,
                        "storage_class": "STANDARD",
                        "encryption_configuration": {"replica_kms_key_id": replica.kms_key_arn},
                    },
                    "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                }
            ],
            # S3 refuses a replication rule until both sides are versioned, and replicates as the
            # role only once its grant exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning, target.versioning, role_policy]),
        )
        return target.bucket_arn


def _policy_statements(bucket_arn: str, extra: list[dict[str, Any]], is_log_target: bool) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if is_log_target:
        statements.append(
            {
                "Sid": "AllowS3ServerAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/s3/*",
            }
        )
    extra = json.loads(json.dumps(list(extra)).replace(BUCKET_ARN, bucket_arn))
    return statements + extra
