"""On-demand backup of every database of a stack: an RDS snapshot and a logical dump per service.

For each service with a database:
  1. an encrypted RDS snapshot of its instance, tagged like the instance plus Purpose and
     CreatedBy; copied to the DR region (re-encrypted with the DR backups key) when the stack
     sets drRegion;
  2. a logical dump (pg_dump custom format) streamed straight into the backup bucket with SSE-KMS,
     and next to it a manifest: the dump's size and sha256, and every table's row count and
     checksum, all read from the same snapshot of the database.
One database failing does not stop the others; each result is printed and the exit code is 1 if
any failed. Nothing is ever deleted, including a partial upload (it has no manifest, so restore
never uses it).

Run it where the databases are reachable: they are private, so from inside the VPC (a bastion or
an SSM session on an instance in the private subnets), or through an SSM port forward with
--db-host 127.0.0.1. See docs/operations.md.

    python -m scripts.ops.backup --stack prod [--service S] [--db-host H --db-port P --db-user U]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from scripts.cli import ArgumentParser, OpsError, UsageError, entrypoint, join, number, one_line, progress
from scripts.ops import expectations as expect
from scripts.ops.aws import (
    Aws,
    Discovery,
    add_aws_arguments,
    aws_from_args,
    settings_from_args,
    tag_list,
    tags_of,
    wait_for,
)
from scripts.ops.pg import (
    add_connection_arguments,
    check_connection_arguments,
    check_tls,
    client_version,
    connection_for,
    dump_process,
    exported_snapshot,
    fingerprints,
    server_version,
    tool,
)
from stacks.settings import ServiceSettings, Settings

MANIFEST_VERSION = 1
DUMP_PREFIX = "logical"


# Longest wait and poll interval a command accepts: two days, one hour (time.sleep refuses more).
MAX_WAIT_SECONDS = 2 * 24 * 3600
MAX_POLL_SECONDS = 3600


def add_wait_arguments(parser: ArgumentParser, *, timeout: float, interval: float, what: str) -> None:
    """--wait-timeout and --poll-interval: finite, positive seconds, checked while parsing."""
    parser.add_argument(
        "--wait-timeout",
        type=number("--wait-timeout", above=0, maximum=MAX_WAIT_SECONDS, unit="seconds"),
        default=timeout,
        help=f"seconds to wait for {what} (default {timeout:g})",
    )
    parser.add_argument(
        "--poll-interval",
        type=number("--poll-interval", above=0, maximum=MAX_POLL_SECONDS, unit="seconds"),
        default=interval,
        help=f"seconds between progress checks (default {interval:g})",
    )


def dump_prefix(stack: str, service: str) -> str:
    return f"{DUMP_PREFIX}/{stack}/{service}/"


def select_services(settings: Settings, wanted: str | None) -> list[ServiceSettings]:
    """The services to act on; a name that is not a database service is a usage error."""
    with_db = [s.name for s in settings.database_services]
    if wanted is None:
        return list(settings.database_services)
    if wanted not in settings.services:
        raise UsageError(
            f"service = {wanted!r}: not a service of stack {settings.stack}; services with a database: {', '.join(with_db)}"
        )
    if wanted not in with_db:
        raise UsageError(f"service = {wanted!r}: has no database; services with a database: {', '.join(with_db)}")
    return [settings.services[wanted]]


def safe_tag_value(value: str) -> str:
    """S3 object tags allow only letters, digits, spaces and + - = . _ : / @ (a comma is refused)."""
    return re.sub(r"[^\w .:/=+\-@]", " ", value)


class HashingReader:
    """Wraps a stream: counts bytes and computes sha256 while S3 reads it."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


@dataclass
class Result:
    service: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'OK    ' if self.ok else 'FAILED'}  {self.service:<12} {self.detail}"


class Backup:
    def __init__(self, aws: Aws, settings: Settings, args: Any) -> None:
        self.aws = aws
        self.settings = settings
        self.args = args
        self.found = Discovery(aws, settings.project, settings.stack)
        self.now = dt.datetime.now(dt.UTC)
        # Milliseconds too, so two runs in the same second never collide on a snapshot name.
        self.stamp = self.now.strftime("%Y%m%d-%H%M%S-") + f"{self.now.microsecond // 1000:03d}"

    # -- preflight: everything shared by all databases, checked before anything is created ----
    def preflight(self) -> None:
        tool("pg_dump")
        tool("psql")
        self.bucket = self.found.backup_bucket()
        self.bucket_key = self._bucket_key()
        self.instances = self.found.db_instances()
        self.dr_key: str | None = None
        if self.settings.dr_region:
            key = self.found.kms_key(expect.KEY_PURPOSE_BACKUPS_DR, self.settings.dr_region)
            if key is None:
                raise OpsError(
                    f"no KMS key tagged Purpose={expect.KEY_PURPOSE_BACKUPS_DR} for stack {self.settings.stack} in DR region "
                    f"{self.settings.dr_region}; an encrypted snapshot cannot be copied there without one"
                )
            self.dr_key = key["Arn"]

    def _bucket_key(self) -> str:
        s3 = self.aws.client("s3")
        try:
            rules = s3.get_bucket_encryption(Bucket=self.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
            key = rules[0]["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID")
        except (ClientError, KeyError, IndexError):
            key = None
        if not key:
            backups = self.found.kms_key(expect.KEY_PURPOSE_BACKUPS)
            key = backups["Arn"] if backups else None
        if not key:
            raise OpsError(
                f"bucket {self.bucket} has no KMS default key and no key is tagged Purpose=backups; refusing to write unencrypted dumps"
            )
        return key

    # -- one database -------------------------------------------------------------------------
    def run_one(self, service: ServiceSettings) -> Result:
        instance = self.instances.get(service.name)
        if instance is None:
            raise OpsError(
                f"no RDS instance tagged Project={self.settings.project} Stack={self.settings.stack} Service={service.name}"
            )
        snapshot = self.snapshot(instance)
        dr_snapshot = self.copy_to_dr(snapshot, instance) if self.dr_key else None
        manifest = self.dump(service, instance, snapshot, dr_snapshot)
        totals = manifest["totals"]
        dr = f", copied to {self.settings.dr_region} as {dr_snapshot['DBSnapshotIdentifier']}" if dr_snapshot else ""
        return Result(
            service.name,
            True,
            f"snapshot {snapshot['DBSnapshotIdentifier']} (encrypted{dr}); dump s3://{self.bucket}/{manifest['dump']['key']} "
            f"({manifest['dump']['bytes']} bytes, sha256 {manifest['dump']['sha256'][:12]}..., {totals['tables']} tables, {totals['rows']} rows)",
        )

    def _tags(self, instance: dict) -> dict[str, str]:
        tags = {k: v for k, v in tags_of(instance.get("TagList")).items() if not k.startswith("aws:")}
        tags.update(
            Purpose="on-demand-backup", CreatedBy="scripts.ops.backup", SourceInstance=instance["DBInstanceIdentifier"]
        )
        return tags

    def _wait_snapshot(self, rds: Any, ident: str, what: str) -> dict:
        state: dict = {}

        def poll() -> tuple[bool, str]:
            snap = rds.describe_db_snapshots(DBSnapshotIdentifier=ident)["DBSnapshots"][0]
            state["snapshot"] = snap
            status = snap.get("Status", "?")
            if status in ("failed", "incompatible-restore", "deleted"):
                raise OpsError(f"{what} {ident} ended {status}")
            return status == "available", f"{status}, {snap.get('PercentProgress', 0)}%"

        wait_for(poll, f"{what} {ident}", timeout=self.args.wait_timeout, interval=self.args.poll_interval)
        return state["snapshot"]

    def snapshot(self, instance: dict) -> dict:
        rds = self.aws.client("rds")
        ident = f"{instance['DBInstanceIdentifier']}-ondemand-{self.stamp}"
        progress(f"creating snapshot {ident}")
        rds.create_db_snapshot(
            DBSnapshotIdentifier=ident,
            DBInstanceIdentifier=instance["DBInstanceIdentifier"],
            Tags=tag_list(self._tags(instance)),
        )
        snap = self._wait_snapshot(rds, ident, "snapshot")
        if not snap.get("Encrypted"):
            raise OpsError(
                f"snapshot {ident} is NOT encrypted: the instance {instance['DBInstanceIdentifier']} stores data unencrypted; kept, but fix the instance"
            )
        return snap

    def copy_to_dr(self, snapshot: dict, instance: dict) -> dict:
        region = self.settings.dr_region
        rds = self.aws.client("rds", region)
        ident = snapshot["DBSnapshotIdentifier"]
        progress(f"copying snapshot {ident} to {region}")
        rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=snapshot["DBSnapshotArn"],
            TargetDBSnapshotIdentifier=ident,
            KmsKeyId=self.dr_key,
            SourceRegion=self.aws.region,
            CopyTags=False,
            Tags=tag_list(self._tags(instance)),
        )
        copied = self._wait_snapshot(rds, ident, f"DR copy in {region} of")
        if not copied.get("Encrypted"):
            raise OpsError(f"DR copy {ident} in {region} is not encrypted")
        return copied

    def dump(self, service: ServiceSettings, instance: dict, snapshot: dict, dr_snapshot: dict | None) -> dict:
        dbname = instance.get("DBName") or "postgres"
        conn = connection_for(self.aws, instance, self.args, dbname)
        s3 = self.aws.client("s3")
        prefix = f"{dump_prefix(self.settings.stack, service.name)}{self.stamp}/"
        key = f"{prefix}{dbname}.dump"
        tagging = "&".join(f"{quote(k)}={quote(safe_tag_value(v))}" for k, v in self._tags(instance).items())
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.bucket_key, "Tagging": tagging}
        progress(f"dumping {conn} to s3://{self.bucket}/{key}")
        with exported_snapshot(conn) as (session, snap_id):
            version = server_version(session)
            tables = fingerprints(session)
            proc, errors = dump_process(conn, snap_id)
            reader = HashingReader(proc.stdout)
            upload_error: BaseException | None = None
            try:
                s3.upload_fileobj(
                    reader, self.bucket, key, ExtraArgs={**extra, "ContentType": "application/octet-stream"}
                )
            except (ClientError, BotoCoreError, Boto3Error) as exc:  # boto3's transfer wraps some S3 errors
                upload_error = exc
            finally:
                proc.stdout.close()  # type: ignore[union-attr]
                code = proc.wait()
                errors.seek(0)
                stderr = errors.read().decode(errors="replace")
                errors.close()
        if code != 0:
            raise OpsError(
                f"pg_dump of {conn} failed: {one_line(stderr.strip().splitlines()[-1] if stderr.strip() else code)}; no manifest written"
            )
        if upload_error is not None:
            raise OpsError(
                f"upload of the dump to s3://{self.bucket}/{key} failed: {one_line(upload_error)}; no manifest written"
            )
        manifest = {
            "version": MANIFEST_VERSION,
            "project": self.settings.project,
            "stack": self.settings.stack,
            "service": service.name,
            "created_at": self.now.isoformat(),
            "source": {"instance": instance["DBInstanceIdentifier"], "database": dbname, "server_version": version},
            "snapshot": {
                "id": snapshot["DBSnapshotIdentifier"],
                "arn": snapshot.get("DBSnapshotArn"),
                "encrypted": bool(snapshot.get("Encrypted")),
                "kms_key": snapshot.get("KmsKeyId"),
            },
            "dr_snapshot": None
            if dr_snapshot is None
            else {
                "region": self.settings.dr_region,
                "id": dr_snapshot["DBSnapshotIdentifier"],
                "arn": dr_snapshot.get("DBSnapshotArn"),
                "kms_key": dr_snapshot.get("KmsKeyId"),
            },
            "dump": {
                "key": key,
                "format": "pg_dump custom",
                "bytes": reader.size,
                "sha256": reader.sha256.hexdigest(),
                "pg_dump": client_version(),
            },
            "tables": tables,
            "totals": {"tables": len(tables), "rows": sum(t["rows"] for t in tables.values())},
        }
        s3.put_object(
            Bucket=self.bucket,
            Key=f"{prefix}manifest.json",
            Body=json.dumps(manifest, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
            **extra,
        )
        return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="backup", description="On-demand snapshot and logical dump of every database of a stack."
    )
    add_aws_arguments(parser)
    parser.add_argument("--service", help="back up only this service's database")
    add_connection_arguments(parser)
    add_wait_arguments(parser, timeout=3600, interval=15, what="each snapshot")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    services = select_services(settings, args.service)
    # Connection and TLS options are checked before anything is created; instance endpoints are never loopback.
    check_connection_arguments(args)
    check_tls(args.db_host or "the-instance-endpoint", args.sslmode, args.ssl_root_cert)
    aws = aws_from_args(args, settings)
    backup = Backup(aws, settings, args)
    backup.preflight()
    results = []
    for service in services:
        try:
            result = backup.run_one(service)
        except (OpsError, ClientError, BotoCoreError) as exc:
            result = Result(service.name, False, one_line(exc))
        except (Boto3Error, OSError) as exc:  # one database's failure never stops the others
            result = Result(service.name, False, f"{type(exc).__name__}: {one_line(exc)}")
        print(result.line(), flush=True)
        results.append(result)
    failed = [r.service for r in results if not r.ok]
    print(f"{len(results) - len(failed)} backed up, {len(failed)} failed" + (f": {join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    entrypoint(main)
