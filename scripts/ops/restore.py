"""Restore one service's database, always as something new, and verify what was restored.

Three sources, one rule: the original instance and the original database are never written to.
  <service> <time>                  point-in-time restore of the service's instance to a NEW instance
  <service> --snapshot ID           a NEW instance from one of that instance's snapshots
  <service> <time> --from-dump      the newest logical dump taken at or before <time> (from
                                    scripts.ops.backup), restored into a NEW database on a PostgreSQL
                                    server; the dump's sha256 is checked before anything is created
                                    and every table's row count and checksum after
<time> is an ISO date or UTC date-time (2026-11-20, 2026-11-20T14:30Z); a date alone means the end
of that day (or the latest restorable time, if earlier). It must be inside the stack's retention
window. `--dry-run` prints the plan and changes nothing. Restored instances get the original's
tags plus RestoredFrom, deletion protection, no public access, and the original's parameter group,
subnet group and security groups. Nothing is ever re-pointed: switching the service over is a
separate, deliberate step (docs/operations.md).

Run it inside the VPC (bastion or SSM session), like backup: the databases are private.

    python -m scripts.ops.restore <service> [<time>] [--snapshot ID | --from-dump] [--target NAME] [--dry-run]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from scripts.cli import ArgumentParser, OpsError, UsageError, entrypoint, one_line, progress
from scripts.ops.aws import (
    RESTORED_FROM_TAG,
    Aws,
    Discovery,
    add_aws_arguments,
    aws_from_args,
    error_code,
    settings_from_args,
    tag_list,
    tags_of,
    wait_for,
)
from scripts.ops.backup import MANIFEST_VERSION, add_wait_arguments, dump_prefix, select_services
from scripts.ops.pg import (
    add_connection_arguments,
    check_archive,
    check_connection_arguments,
    check_db_name,
    check_tls,
    connection_for,
    create_database,
    database_exists,
    database_fingerprints,
    restore_archive,
    tool,
)
from stacks.settings import Settings

_INSTANCE_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# A DB snapshot identifier (1-255 letters, digits, hyphens; `rds:` for automated ones) or its ARN:
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBInstanceFromDBSnapshot.html
_SNAPSHOT_ID = re.compile(r"^(arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:snapshot:)?(rds:)?[A-Za-z][A-Za-z0-9-]{0,254}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _failure(exc: BaseException) -> str:
    if isinstance(exc, (ClientError, BotoCoreError)):
        return f"AWS: {one_line(exc)}"
    if isinstance(exc, OpsError):
        return one_line(exc)
    return f"{type(exc).__name__}: {one_line(exc)}"


@contextmanager
def started(created: str) -> Iterator[None]:
    """What follows a started restore: whatever fails, the one line says what exists and keeps it.

    From here on, something new exists in AWS or PostgreSQL; a crash would leave the operator
    guessing what. Nothing is ever deleted: the new instance or database is kept for inspection.
    """
    try:
        yield
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"{created} exists and is kept; check it before retrying") from None
    except Exception as exc:  # noqa: BLE001 - every failure after the start gets the same report
        raise OpsError(
            f"{_failure(exc)}; the restore had started: {created} exists and is kept "
            "(nothing was deleted); check it before retrying"
        ) from None


def check_manifest(manifest: Any, service: str, where: str, prefix: str) -> dict:
    """A manifest scripts.ops.backup wrote for this service, with every field restore relies on."""
    dump = manifest.get("dump") if isinstance(manifest, dict) else None
    totals = manifest.get("totals") if isinstance(manifest, dict) else None
    tables = manifest.get("tables") if isinstance(manifest, dict) else None
    ok = (
        isinstance(manifest, dict)
        and manifest.get("version") == MANIFEST_VERSION
        and manifest.get("service") == service
        and isinstance(manifest.get("created_at"), str)
        and isinstance(dump, dict)
        and isinstance(dump.get("key"), str)
        and dump["key"].startswith(prefix)
        and isinstance(dump.get("bytes"), int)
        and not isinstance(dump.get("bytes"), bool)
        and dump["bytes"] >= 0
        and isinstance(dump.get("sha256"), str)
        and bool(_SHA256.match(dump["sha256"]))
        and isinstance(totals, dict)
        and all(isinstance(totals.get(k), int) for k in ("tables", "rows"))
        and isinstance(tables, dict)
        and all(
            isinstance(v, dict) and isinstance(v.get("rows"), int) and isinstance(v.get("checksum"), str)
            for v in tables.values()
        )
    )
    if not ok:
        raise OpsError(
            f"{where} is not a version-{MANIFEST_VERSION} manifest for {service} written by scripts.ops.backup "
            f"(its dump under {prefix}, sha256, size and table checksums); nothing restored"
        )
    return manifest


def parse_time(value: str, now: dt.datetime) -> tuple[dt.datetime, bool]:
    """(UTC time, whether only a date was given)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC), True
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"date = {value!r}: must be an ISO date or UTC date-time, e.g. 2026-11-20 or 2026-11-20T14:30Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC), False


class Restore:
    def __init__(self, aws: Aws, settings: Settings, args: Any) -> None:
        self.aws = aws
        self.settings = settings
        self.args = args
        self.now = dt.datetime.now(dt.UTC)
        self.found = Discovery(aws, settings.project, settings.stack)
        self.rds = aws.client("rds")

    # -- shared checks ------------------------------------------------------------------------
    def original(self, service: str) -> dict:
        instance = self.found.db_instances().get(service)
        if instance is None:
            raise UsageError(
                f"service {service!r}: no RDS instance tagged Project={self.settings.project} Stack={self.settings.stack} Service={service}"
            )
        return instance

    def window(self, instance: dict | None) -> tuple[dt.datetime, dt.datetime]:
        days = self.settings.backup_retention_days
        if instance is not None:
            days = min(days, int(instance.get("BackupRetentionPeriod") or days))
        earliest = self.now - dt.timedelta(days=days)
        latest = (instance or {}).get("LatestRestorableTime") or self.now
        return earliest, latest

    def restore_time(self, instance: dict | None) -> dt.datetime:
        if not self.args.date:
            raise UsageError(
                "date is required for a point-in-time or dump restore (e.g. 2026-11-20T14:30Z); use --snapshot ID for a snapshot"
            )
        when, date_only = parse_time(self.args.date, self.now)
        earliest, latest = self.window(instance)
        if date_only and when > latest and when.date() == latest.date():
            when = latest
        if not earliest <= when <= latest:
            raise UsageError(
                f"date = {self.args.date!r}: outside the retention window {earliest:%Y-%m-%dT%H:%MZ} .. {latest:%Y-%m-%dT%H:%MZ} "
                f"({self.settings.backup_retention_days} days)"
            )
        return when

    def target_instance(self, original: dict, when: dt.datetime) -> str:
        name = self.args.target or f"{original['DBInstanceIdentifier']}-restored-{when:%Y%m%d-%H%M}"
        if not _INSTANCE_ID.match(name) or name.endswith("-") or "--" in name:
            raise UsageError(
                f"--target = {name!r}: an RDS identifier is lowercase letters, digits and single hyphens, max 63"
            )
        if name == original["DBInstanceIdentifier"]:
            raise UsageError(
                f"--target = {name!r} is the original instance: restore always creates a new instance, never overwrites"
            )
        try:
            self.rds.describe_db_instances(DBInstanceIdentifier=name)
        except ClientError as exc:
            if error_code(exc) == "DBInstanceNotFound":
                return name
            raise
        raise UsageError(f"--target = {name!r}: an instance with that name already exists; choose another --target")

    def _instance_settings(self, original: dict, restored_from: str) -> dict:
        tags = {k: v for k, v in tags_of(original.get("TagList")).items() if not k.startswith("aws:")}
        tags.update({RESTORED_FROM_TAG: original["DBInstanceIdentifier"], "RestoreSource": restored_from[:255]})
        kwargs: dict[str, Any] = {
            "DBInstanceClass": original.get("DBInstanceClass"),
            "PubliclyAccessible": False,
            "DeletionProtection": True,
            "CopyTagsToSnapshot": True,
            "MultiAZ": bool(original.get("MultiAZ")),
            "Tags": tag_list(tags),
        }
        groups = original.get("DBParameterGroups") or []
        if groups:
            kwargs["DBParameterGroupName"] = groups[0]["DBParameterGroupName"]
        subnet_group = (original.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
        if subnet_group:
            kwargs["DBSubnetGroupName"] = subnet_group
        security_groups = [g["VpcSecurityGroupId"] for g in original.get("VpcSecurityGroups") or []]
        if security_groups:
            kwargs["VpcSecurityGroupIds"] = security_groups
        return {k: v for k, v in kwargs.items() if v is not None}

    def _wait_instance(self, name: str) -> dict:
        state: dict = {}

        def poll() -> tuple[bool, str]:
            db = self.rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
            state["db"] = db
            status = db.get("DBInstanceStatus", "?")
            if status in ("failed", "incompatible-restore", "incompatible-parameters", "restore-error", "storage-full"):
                raise OpsError(f"restored instance {name} is {status}; it is kept for investigation")
            return status == "available", status

        wait_for(poll, f"restored instance {name}", timeout=self.args.wait_timeout, interval=self.args.poll_interval)
        return state["db"]

    # -- checks that need no AWS call: every argument, before the first one ----------------------
    def check_arguments(self) -> None:
        args = self.args
        if args.snapshot is not None:
            if args.date:
                raise UsageError("date and --snapshot exclude each other: a snapshot has its own time")
            if not _SNAPSHOT_ID.match(args.snapshot):
                raise UsageError(
                    f"--snapshot = {args.snapshot!r}: must be a DB snapshot identifier (letters, digits, "
                    "hyphens; rds:... for automated ones) or its ARN"
                )
        else:
            # The stack's window: a date that can never be valid is refused before any AWS call.
            self.restore_time(None)
        if args.from_dump:
            if args.target is not None:
                check_db_name("--target", args.target)
            check_connection_arguments(args)
            check_tls(args.db_host or "the-instance-endpoint", args.sslmode, args.ssl_root_cert)
        elif args.target is not None and (
            not _INSTANCE_ID.match(args.target) or args.target.endswith("-") or "--" in args.target
        ):
            raise UsageError(
                f"--target = {args.target!r}: an RDS identifier is lowercase letters, digits and single hyphens, max 63"
            )

    def _report_instance(self, db: dict, original: dict) -> int:
        problems = []
        if not db.get("StorageEncrypted"):
            problems.append("storage NOT encrypted")
        if db.get("PubliclyAccessible"):
            problems.append("publicly accessible")
        if not db.get("DeletionProtection"):
            problems.append("deletion protection off")
        endpoint = (db.get("Endpoint") or {}).get("Address", "?")
        if problems:
            print(f"FAILED  {db['DBInstanceIdentifier']} restored but {', '.join(problems)}")
            return 1
        print(
            f"OK      restored {original['DBInstanceIdentifier']} as {db['DBInstanceIdentifier']} ({endpoint}); encrypted, private, deletion protection on"
        )
        print(
            "        the service still uses the original; re-point it only after checking the copy (docs/operations.md)"
        )
        return 0

    # -- point in time ------------------------------------------------------------------------
    def point_in_time(self, service: str) -> int:
        original = self.original(service)
        when = self.restore_time(original)
        target = self.target_instance(original, when)
        kwargs = self._instance_settings(original, f"pitr {when:%Y-%m-%dT%H:%M:%SZ}")
        plan = f"restore {original['DBInstanceIdentifier']} as of {when:%Y-%m-%dT%H:%M:%SZ} to NEW instance {target}"
        if self.args.dry_run:
            print(
                f"DRY RUN  would {plan} (parameter group {kwargs.get('DBParameterGroupName', 'default')}); nothing changed"
            )
            return 0
        progress(plan)
        self.rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier=original["DBInstanceIdentifier"],
            TargetDBInstanceIdentifier=target,
            RestoreTime=when,
            **kwargs,
        )
        with started(
            f"NEW instance {target} (restore of {original['DBInstanceIdentifier']} as of {when:%Y-%m-%dT%H:%M:%SZ})"
        ):
            return self._report_instance(self._wait_instance(target), original)

    # -- snapshot -----------------------------------------------------------------------------
    def from_snapshot(self, service: str) -> int:
        original = self.original(service)
        snapshot_id = self.args.snapshot
        try:
            snap = self.rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0]
        except ClientError as exc:
            if error_code(exc) in ("DBSnapshotNotFound", "InvalidParameterValue"):
                raise UsageError(f"--snapshot = {snapshot_id!r}: no such snapshot in {self.aws.region}") from None
            raise
        if snap.get("DBInstanceIdentifier") != original["DBInstanceIdentifier"]:
            raise UsageError(
                f"--snapshot = {snapshot_id!r}: taken from {snap.get('DBInstanceIdentifier')}, not from {service}'s instance {original['DBInstanceIdentifier']}"
            )
        if snap.get("Status") != "available":
            raise UsageError(f"--snapshot = {snapshot_id!r}: is {snap.get('Status')}, not available")
        created = snap.get("SnapshotCreateTime") or self.now
        target = self.target_instance(original, created)
        kwargs = self._instance_settings(original, f"snapshot {snapshot_id}")
        plan = f"restore snapshot {snapshot_id} of {original['DBInstanceIdentifier']} to NEW instance {target}"
        if self.args.dry_run:
            print(f"DRY RUN  would {plan}; nothing changed")
            return 0
        progress(plan)
        self.rds.restore_db_instance_from_db_snapshot(
            DBSnapshotIdentifier=snapshot_id, DBInstanceIdentifier=target, **kwargs
        )
        with started(f"NEW instance {target} (restore of snapshot {snapshot_id})"):
            return self._report_instance(self._wait_instance(target), original)

    # -- logical dump -------------------------------------------------------------------------
    def find_manifest(self, service: str, when: dt.datetime) -> tuple[str, str, dict]:
        s3 = self.aws.client("s3")
        bucket = self.found.backup_bucket()
        prefix = dump_prefix(self.settings.stack, service)
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("/manifest.json")]
        earliest, _ = self.window(None)
        candidates = []
        for key in keys:
            stamp = key[len(prefix) :].split("/", 1)[0]
            try:
                taken = dt.datetime.strptime(stamp[:15], "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
            except ValueError:
                continue
            if earliest <= taken <= when:
                candidates.append((taken, key))
        if not candidates:
            raise UsageError(
                f"no logical dump of {service} taken between {earliest:%Y-%m-%dT%H:%MZ} and {when:%Y-%m-%dT%H:%MZ} "
                f"in s3://{bucket}/{prefix} ({len(keys)} dumps in total); run scripts/backup.sh first"
            )
        _, key = max(candidates)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            manifest = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or not UTF-8
            manifest = None
        return bucket, key, check_manifest(manifest, service, f"s3://{bucket}/{key}", prefix)

    def download_verified(self, bucket: str, manifest: dict, directory: str) -> str:
        s3 = self.aws.client("s3")
        key = manifest["dump"]["key"]
        path = os.path.join(directory, os.path.basename(key))
        progress(f"downloading s3://{bucket}/{key} ({manifest['dump']['bytes']} bytes)")
        try:
            s3.download_file(bucket, key, path)
        except (ClientError, BotoCoreError, Boto3Error, OSError) as exc:
            raise OpsError(f"download of s3://{bucket}/{key} failed: {_failure(exc)}; nothing restored") from None
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != manifest["dump"]["sha256"] or size != manifest["dump"]["bytes"]:
            raise OpsError(
                f"dump s3://{bucket}/{key} does not match its manifest (sha256 {digest.hexdigest()[:12]}... vs "
                f"{manifest['dump']['sha256'][:12]}..., {size} vs {manifest['dump']['bytes']} bytes): corrupted or replaced; nothing restored"
            )
        check_archive(path)
        return path

    def from_dump(self, service: str) -> int:
        tool("pg_restore")
        tool("psql")
        when = self.restore_time(None)
        original = self.original(service)
        source_db = original.get("DBName") or "postgres"
        target_db = check_db_name("--target", self.args.target or f"{source_db}_restored_{self.now:%Y%m%d_%H%M%S}")
        conn = connection_for(self.aws, original, self.args, target_db)
        original_host = (original.get("Endpoint") or {}).get("Address")
        if target_db == source_db and (self.args.db_host in (None, original_host)):
            raise UsageError(
                f"--target = {target_db!r} is the original database on the original instance: restore always creates a new database"
            )
        bucket, manifest_key, manifest = self.find_manifest(service, when)
        if database_exists(conn, target_db):
            raise UsageError(
                f"--target = {target_db!r}: database already exists on {conn.host}; choose another --target"
            )
        plan = (
            f"restore dump of {service} taken {manifest['created_at']} (s3://{bucket}/{manifest['dump']['key']}, "
            f"{manifest['totals']['tables']} tables, {manifest['totals']['rows']} rows) into NEW database {conn}"
        )
        if self.args.dry_run:
            print(f"DRY RUN  would {plan}; nothing changed")
            return 0
        with tempfile.TemporaryDirectory(prefix="tradesense-restore-") as directory:
            path = self.download_verified(bucket, manifest, directory)
            progress(plan)
            create_database(conn, target_db)  # one statement: it either exists afterwards or failed whole
            # pg_restore runs in one transaction: on failure the new database is left empty.
            with started(f"NEW database {target_db} on {conn.host}:{conn.port} (empty if pg_restore failed)"):
                restore_archive(conn, path)
        with started(f"NEW database {target_db} on {conn.host}:{conn.port} (restored, not yet verified)"):
            got = database_fingerprints(conn)
        want = manifest["tables"]
        wrong = sorted(name for name in set(want) | set(got) if want.get(name) != got.get(name))
        if wrong:
            details = "; ".join(f"{n}: manifest {want.get(n)}, restored {got.get(n)}" for n in wrong[:5])
            print(
                f"FAILED  {conn} restored but does NOT match the manifest ({len(wrong)} tables): {details}; kept for investigation"
            )
            return 1
        rows = sum(t["rows"] for t in got.values())
        print(
            f"OK      restored {service} dump {manifest['created_at']} into {conn}; verified against {manifest_key}: {len(got)} tables, {rows} rows, checksums match"
        )
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="restore", description="Restore a service's database as a new instance or database, verified."
    )
    parser.add_argument("service", help="the service whose database to restore")
    parser.add_argument("date", nargs="?", help="ISO date or UTC date-time to restore to (not with --snapshot)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--snapshot", help="restore this RDS snapshot of the service's instance")
    source.add_argument(
        "--from-dump",
        action="store_true",
        help="restore the newest logical dump at or before <date> into a new database",
    )
    parser.add_argument("--target", help="name of the new instance (or database with --from-dump); never the original")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done and change nothing")
    add_aws_arguments(parser)
    add_connection_arguments(parser)
    add_wait_arguments(parser, timeout=7200, interval=30, what="the new instance")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    (service,) = select_services(settings, args.service)
    aws = aws_from_args(args, settings)
    restore = Restore(aws, settings, args)
    restore.check_arguments()  # no AWS call has been made yet
    if args.from_dump:
        return restore.from_dump(service.name)
    if args.snapshot:
        return restore.from_snapshot(service.name)
    return restore.point_in_time(service.name)


if __name__ == "__main__":
    entrypoint(main)
