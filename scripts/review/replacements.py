"""Which input changes make the engine replace a resource, and which resources hold data.

pulumi-aws is bridged from terraform-provider-aws: an attribute the Terraform schema marks
`ForceNew: true` becomes a replace-on-change input of the Pulumi resource, so a change to it makes
`pulumi preview` show a replace (delete the old resource, create a new one). The table below is read
from the provider's own schema source, one file per type, with the Terraform attribute mapped to the
Pulumi input name (camelCase; pulumi-aws renames none of these, checked against the pulumi_aws
docstrings). Nested ForceNew attributes (inside a block that is itself updatable) are left out: the
engine reports the top-level input, and none of them is set by this repo.

Keep it data: `FORCE_NEW[type][input] = citation`. tests/review/test_replacements.py checks that
every stateful type the prod stack declares has an entry, and that the names are real inputs.
"""

from __future__ import annotations

TF_AWS = "hashicorp/terraform-provider-aws"


def _cite(path: str, commit: str, attribute: str) -> str:
    return f"{TF_AWS}@{commit[:12]}/{path}: `{attribute}` ForceNew"


def _table(path: str, commit: str, attributes: dict[str, str]) -> dict[str, str]:
    """{pulumi input: citation} for the Terraform attributes of one schema file."""
    return {pulumi: _cite(path, commit, tf) for pulumi, tf in attributes.items()}


_RDS_INSTANCE = _table(
    "internal/service/rds/instance.go",
    "552c04685ba292dfddee527549fd43a1fd5db195",
    {
        # Read from the start of the schema in this version; the rest from a newer one below.
        "availabilityZone": "availability_zone",
    },
) | _table(
    "internal/service/rds/instance.go",
    "00e4b23838859616dd0ebc9d1fd9364c0f6bff22",
    {
        "characterSetName": "character_set_name",
        "customIamInstanceProfile": "custom_iam_instance_profile",
        "dbName": "db_name",
        "engine": "engine",
        "identifier": "identifier",
        "identifierPrefix": "identifier_prefix",
        "kmsKeyId": "kms_key_id",
        "ncharCharacterSetName": "nchar_character_set_name",
        "restoreToPointInTime": "restore_to_point_in_time",
        "snapshotIdentifier": "snapshot_identifier",
        "storageEncrypted": "storage_encrypted",
        "timezone": "timezone",
        "username": "username",
    },
)
_ELASTICACHE_REPLICATION_GROUP = _table(
    "internal/service/elasticache/replication_group.go",
    "001b6364c1a3b3045e152f655440a6d47eb44a70",
    {
        "atRestEncryptionEnabled": "at_rest_encryption_enabled",
        "dataTieringEnabled": "data_tiering_enabled",
        "globalReplicationGroupId": "global_replication_group_id",
        "kmsKeyId": "kms_key_id",
        "networkType": "network_type",
        "port": "port",
        "replicationGroupId": "replication_group_id",
        "securityGroupNames": "security_group_names",
        "snapshotArns": "snapshot_arns",
        "snapshotName": "snapshot_name",
        "subnetGroupName": "subnet_group_name",
    },
)
_S3_BUCKET = _table(
    "internal/service/s3/bucket.go",
    "0070bcd12c952f14c5434a6f351ef7b6fa791226",
    {
        "bucket": "bucket",
        "bucketPrefix": "bucket_prefix",
        "objectLockEnabled": "object_lock_enabled",
    },
)
_BACKUP_VAULT = _table(
    "internal/service/backup/vault.go",
    "050ac11163cab8cdae5936a7f40b0e528ff780df",
    {
        "kmsKeyArn": "kms_key_arn",
        "name": "name",
    },
)
_KMS_KEY = _table(
    "internal/service/kms/key.go",
    "00a35305dc1b297a6fcdecdfbba33f1e63c3da39",
    {
        "customKeyStoreId": "custom_key_store_id",
        "customerMasterKeySpec": "customer_master_key_spec",
        "keyUsage": "key_usage",
        "multiRegion": "multi_region",
        "xksKeyId": "xks_key_id",
    },
)
_SECRET = _table(
    "internal/service/secretsmanager/secret.go",
    "00c21cedec069dd27093b175baf15bac6d4b30fe",
    {
        "name": "name",
        "namePrefix": "name_prefix",
    },
)
_LOG_GROUP = _table(
    "internal/service/logs/group.go",
    "0073593e7d6993ba482409f4dc35438daaa79bb3",
    {
        "logGroupClass": "log_group_class",
        "name": "name",
        "namePrefix": "name_prefix",
    },
)
_TRAIL = _table(
    "internal/service/cloudtrail/cloudtrail.go",
    "050ac11163cab8cdae5936a7f40b0e528ff780df",
    {
        "name": "name",
    },
)
# Not stateful, but in front of every database: a replaced proxy changes the endpoint services use.
# (`name` is updatable: ModifyDBProxy takes NewDBProxyName.)
_RDS_PROXY = _table(
    "internal/service/rds/proxy.go",
    "013f1736b90439e5a19567a87d3e5cd11858c420",
    {
        "endpointNetworkType": "endpoint_network_type",
        "engineFamily": "engine_family",
        "targetConnectionNetworkType": "target_connection_network_type",
        "vpcSubnetIds": "vpc_subnet_ids",
    },
)

FORCE_NEW: dict[str, dict[str, str]] = {
    "aws:rds/instance:Instance": _RDS_INSTANCE,
    "aws:elasticache/replicationGroup:ReplicationGroup": _ELASTICACHE_REPLICATION_GROUP,
    "aws:s3/bucket:Bucket": _S3_BUCKET,
    "aws:s3/bucketV2:BucketV2": _S3_BUCKET,  # the same Terraform resource under its pre-v7 token
    "aws:backup/vault:Vault": _BACKUP_VAULT,
    "aws:kms/key:Key": _KMS_KEY,
    "aws:secretsmanager/secret:Secret": _SECRET,
    "aws:cloudwatch/logGroup:LogGroup": _LOG_GROUP,
    "aws:cloudtrail/trail:Trail": _TRAIL,
    "aws:rds/proxy:Proxy": _RDS_PROXY,
}

# Replacements decided by a CustomizeDiff function, not by ForceNew: reported as "may replace".
CONDITIONAL_FORCE_NEW: dict[str, dict[str, str]] = {
    "aws:elasticache/replicationGroup:ReplicationGroup": {
        "transitEncryptionEnabled": "replaced when the engine version is older than 7.0.5 "
        f"({TF_AWS} internal/service/elasticache/replication_group.go: "
        'customdiff.ForceNewIf("transit_encryption_enabled"))',
        "engineVersion": "replaced on a downgrade (customizeDiffEngineVersionForceNewOnDowngrade)",
        "engine": "replaced when changing engine back from valkey (customizeDiffEngineForceNewOnDowngrade)",
    },
}

# What a delete or a replacement of these destroys. The guard (scripts.review.guard) blocks both
# unless a change waiver names the URN.
STATEFUL: dict[str, str] = {
    "aws:rds/instance:Instance": "database",
    "aws:elasticache/replicationGroup:ReplicationGroup": "cache",
    "aws:s3/bucket:Bucket": "bucket (data or logs)",
    "aws:s3/bucketV2:BucketV2": "bucket (data or logs)",
    "aws:backup/vault:Vault": "backup vault",
    "aws:kms/key:Key": "KMS key",
    "aws:secretsmanager/secret:Secret": "secret",
    "aws:cloudwatch/logGroup:LogGroup": "log group",
    "aws:cloudtrail/trail:Trail": "audit trail",
}


def replace_reasons(type_: str, changed: list[str]) -> dict[str, str]:
    """{input: citation} of the changed top-level inputs that force a replacement of `type_`."""
    table = FORCE_NEW.get(type_, {})
    return {key: table[key] for key in changed if key in table}


def conditional_reasons(type_: str, changed: list[str]) -> dict[str, str]:
    table = CONDITIONAL_FORCE_NEW.get(type_, {})
    return {key: table[key] for key in changed if key in table}
