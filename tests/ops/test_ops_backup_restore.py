"""Backup and restore against moto (RDS, S3, KMS) and a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import json
import re

from scripts.cli import run
from scripts.ops import backup, restore
from tests.ops.ops_fixtures import now_iso, pg_args, seed


def table_digest(pg, database: str) -> dict[str, str]:
    """An independent proof of identity: every row of every table, in primary-key order."""
    return {
        table: pg.sql(
            database,
            f"SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t",
        )
        for table in ("accounts", "ledger.entries")
    }


def run_stamp(out: str) -> str:
    """The run's timestamp, from the first dump key printed (logical/prod/<service>/<stamp>/...)."""
    match = re.search(r"/logical/prod/[a-z-]+/([0-9-]+)/", out)
    assert match, out
    return match.group(1)


def read_manifest(d, service: str, stamp: str) -> dict | None:
    s3 = d.client("s3")
    try:
        body = s3.get_object(Bucket=d.bucket, Key=f"logical/prod/{service}/{stamp}/manifest.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def test_backup_then_restore_round_trip_is_identical_and_verified(shared_deployment, databases, capsys):
    pg = databases
    assert run(backup.main, ["--service", "auth", *pg_args(pg)]) == 0
    out = capsys.readouterr()
    assert "OK      auth" in out.out and "1 backed up, 0 failed" in out.out
    assert "... snapshot tradesense-prod-auth-ondemand-" in out.err  # progress is shown

    manifest = read_manifest(shared_deployment, "auth", run_stamp(out.out))
    assert manifest["tables"]["public.accounts"]["rows"] == 1500
    assert manifest["tables"]["ledger.entries"]["rows"] == 3000
    s3, rds = shared_deployment.client("s3"), shared_deployment.client("rds")
    head = s3.head_object(Bucket=shared_deployment.bucket, Key=manifest["dump"]["key"])
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == shared_deployment.keys["backups"]
    assert head["ContentLength"] == manifest["dump"]["bytes"]
    (snap,) = rds.describe_db_snapshots(DBSnapshotIdentifier=manifest["snapshot"]["id"])["DBSnapshots"]
    assert snap["Encrypted"] and {"Key": "Purpose", "Value": "on-demand-backup"} in snap["TagList"]
    (dr,) = shared_deployment.client("rds", "us-west-2").describe_db_snapshots(
        DBSnapshotIdentifier=manifest["dr_snapshot"]["id"]
    )["DBSnapshots"]
    assert dr["Encrypted"] and dr["KmsKeyId"] == shared_deployment.keys["dr-backups"]

    pg.sql("postgres", "DROP DATABASE IF EXISTS auth_copy")
    assert run(restore.main, ["auth", now_iso(), "--from-dump", "--target", "auth_copy", *pg_args(pg)]) == 0
    out = capsys.readouterr().out
    assert "checksums match" in out and "2 tables, 4500 rows" in out
    assert table_digest(pg, "auth_copy") == table_digest(pg, "auth")


def test_corrupted_dump_is_detected_and_nothing_restored(shared_deployment, databases, capsys):
    pg = databases
    assert run(backup.main, ["--service", "trading", *pg_args(pg)]) == 0
    dump = read_manifest(shared_deployment, "trading", run_stamp(capsys.readouterr().out))["dump"]
    s3 = shared_deployment.client("s3")
    body = bytearray(s3.get_object(Bucket=shared_deployment.bucket, Key=dump["key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=shared_deployment.bucket, Key=dump["key"], Body=bytes(body), ServerSideEncryption="aws:kms")
    pg.sql("postgres", "DROP DATABASE IF EXISTS trading_copy")
    assert run(restore.main, ["trading", now_iso(), "--from-dump", "--target", "trading_copy", *pg_args(pg)]) == 1
    err = capsys.readouterr().err
    assert "does not match its manifest" in err and "nothing restored" in err
    assert pg.sql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'trading_copy'") == "0"


def test_restored_data_that_differs_from_the_manifest_fails_verification(
    shared_deployment, databases, capsys, monkeypatch
):
    pg = databases
    assert run(backup.main, ["--service", "billing", *pg_args(pg)]) == 0
    # the archive is intact but its content no longer matches what the manifest recorded
    import scripts.ops.restore as module

    real = module.restore_archive

    def restore_then_lose_a_row(conn, path):
        real(conn, path)
        pg.sql(conn.dbname, "DELETE FROM ledger.entries WHERE id = 42")  # the restored copy, not the source

    monkeypatch.setattr(module, "restore_archive", restore_then_lose_a_row)
    pg.sql("postgres", "DROP DATABASE IF EXISTS billing_copy")
    assert run(restore.main, ["billing", now_iso(), "--from-dump", "--target", "billing_copy", *pg_args(pg)]) == 1
    out = capsys.readouterr().out
    assert "does NOT match the manifest" in out and "ledger.entries" in out and "'rows': 2999" in out


def test_one_failing_database_leaves_the_others_backed_up(shared_deployment, databases, capsys):
    pg = databases
    pg.sql("postgres", "DROP DATABASE billing WITH (FORCE)")
    try:
        assert run(backup.main, pg_args(pg)) == 1
    finally:
        seed(pg, "billing")
    out = capsys.readouterr().out
    assert "FAILED  billing" in out and 'database "billing" does not exist' in out
    assert "4 backed up, 1 failed: billing" in out
    stamp = run_stamp(out)
    for service in ("auth", "trading", "analytics", "market-data"):
        assert f"OK      {service}" in out
        assert read_manifest(shared_deployment, service, stamp)["totals"]["rows"] == 4500
    assert read_manifest(shared_deployment, "billing", stamp) is None
    # the billing snapshot was still taken
    snaps = shared_deployment.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert len([s for s in snaps if s["DBSnapshotIdentifier"].endswith(stamp)]) == 5


def test_point_in_time_restore_creates_a_new_protected_instance(shared_deployment, capsys):
    rds = shared_deployment.client("rds")
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    before = len(rds.describe_db_instances()["DBInstances"])
    assert run(restore.main, ["analytics", when, "--dry-run", "--poll-interval", "0.01"]) == 0
    assert "DRY RUN" in capsys.readouterr().out
    assert len(rds.describe_db_instances()["DBInstances"]) == before  # dry run created nothing

    assert run(restore.main, ["analytics", when, "--target", "analytics-pitr", "--poll-interval", "0.01"]) == 0
    assert "restored tradesense-prod-analytics as analytics-pitr" in capsys.readouterr().out
    (new,) = rds.describe_db_instances(DBInstanceIdentifier="analytics-pitr")["DBInstances"]
    tags = {t["Key"]: t["Value"] for t in new["TagList"]}
    assert tags["RestoredFrom"] == "tradesense-prod-analytics" and tags["Service"] == "analytics"
    assert new["StorageEncrypted"] and new["DeletionProtection"] and not new["PubliclyAccessible"]
    assert new["DBParameterGroups"][0]["DBParameterGroupName"] == "tradesense-prod-analytics-pg16"
    (original,) = rds.describe_db_instances(DBInstanceIdentifier="tradesense-prod-analytics")["DBInstances"]
    assert original["DBInstanceStatus"] == "available" and original["DeletionProtection"]


def test_snapshot_restore_creates_a_new_instance(shared_deployment, capsys):
    rds = shared_deployment.client("rds")
    rds.create_db_snapshot(DBSnapshotIdentifier="auth-before-migration", DBInstanceIdentifier="tradesense-prod-auth")
    assert run(restore.main, ["auth", "--snapshot", "auth-before-migration", "--poll-interval", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "restored tradesense-prod-auth as tradesense-prod-auth-restored-" in out
    name = re.search(r"as (tradesense-prod-auth-restored-[0-9-]+)", out).group(1)
    (restored,) = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    assert (
        restored["DeletionProtection"]
        and {"Key": "RestoredFrom", "Value": "tradesense-prod-auth"} in restored["TagList"]
    )
