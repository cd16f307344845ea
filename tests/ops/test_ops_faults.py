"""Faults: an AWS endpoint that fails or throttles part-way. botocore retries (standard mode),
then the command reports a clear error; nothing is ever deleted and other databases still get
backed up. A proxy on 127.0.0.1 sits between the scripts and moto and injects the failures."""

from __future__ import annotations

import datetime as dt

from scripts.cli import run
from scripts.ops import backup, restore, validate_deployment
from tests.ops.ops_fixtures import faulty_proxy, pg_args


def deletes(calls) -> list:
    return [c for c in calls if c[0] == "DELETE" or str(c[1]).startswith(("Delete", "Remove"))]


def fail_first(action: str, times: int, status: int = 503):
    seen = {"n": 0}

    def should_fail(method, path, info):
        if info["target"] == action:
            seen["n"] += 1
            if seen["n"] <= times:
                return status
        return None

    return should_fail


def test_transient_errors_are_retried_and_the_backup_succeeds(deployment, databases, capsys):
    server, url, calls = faulty_proxy(deployment.endpoint, fail_first("CreateDBSnapshot", 2))
    try:
        code = run(backup.main, ["--service", "auth", "--endpoint-url", url, *pg_args(databases)])
    finally:
        server.shutdown()
    assert code == 0, capsys.readouterr()
    attempts = [c for c in calls if c[1] == "CreateDBSnapshot"]
    assert [c[2] for c in attempts] == [503, 503, "forwarded"]
    assert deletes(calls) == []


def test_persistent_errors_give_a_clear_error_per_database_and_delete_nothing(
    deployment, databases, capsys, monkeypatch
):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    server, url, calls = faulty_proxy(
        deployment.endpoint, lambda m, p, info: 500 if info["target"] == "CreateDBSnapshot" else None
    )
    try:
        code = run(backup.main, ["--endpoint-url", url, *pg_args(databases)])
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("reached max retries: 2") == 5 and "0 backed up, 5 failed" in out
    assert len([c for c in calls if c[1] == "CreateDBSnapshot"]) == 5 * 3
    assert deletes(calls) == []
    assert deployment.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
    assert len(deployment.client("rds").describe_db_instances()["DBInstances"]) == 5


def test_failed_dump_upload_writes_no_manifest_and_the_next_database_still_runs(
    deployment, databases, capsys, monkeypatch
):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")

    def should_fail(method, path, info):
        return 503 if method == "PUT" and "/logical/prod/auth/" in path else None

    server, url, calls = faulty_proxy(deployment.endpoint, should_fail)
    try:
        code = run(backup.main, ["--endpoint-url", url, *pg_args(databases)])
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED  auth" in out and "upload of the dump" in out and "no manifest written" in out
    assert "4 backed up, 1 failed: auth" in out
    keys = [o["Key"] for o in deployment.client("s3").list_objects_v2(Bucket=deployment.bucket).get("Contents", [])]
    assert not any(k.startswith("logical/prod/auth/") for k in keys)
    assert sum(k.endswith("manifest.json") for k in keys) == 4
    assert deletes(calls) == []


# The tests below share one module deployment; keep them after the ones that reset moto.
def test_validation_against_a_failing_endpoint_is_one_clear_line(shared_deployment, capsys, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    server, url, calls = faulty_proxy(
        shared_deployment.endpoint, lambda m, p, info: 503 if info["target"] == "DescribeDBInstances" else None
    )
    try:
        code = run(validate_deployment.main, ["--endpoint-url", url])
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("FAILED: AWS: ") and err.count("\n") == 1
    assert "DescribeDBInstances" in err and "reached max retries: 1" in err
    assert len([c for c in calls if c[1] == "DescribeDBInstances"]) == 2


def test_restore_retries_through_throttling_and_never_touches_the_original(shared_deployment, capsys, monkeypatch):
    server, url, calls = faulty_proxy(
        shared_deployment.endpoint, fail_first("RestoreDBInstanceToPointInTime", 1, status=503)
    )
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%MZ")
    try:
        code = run(
            restore.main,
            ["trading", when, "--target", "trading-drill", "--endpoint-url", url, "--poll-interval", "0.01"],
        )
    finally:
        server.shutdown()
    assert code == 0, capsys.readouterr().err
    assert [c[2] for c in calls if c[1] == "RestoreDBInstanceToPointInTime"] == [503, "forwarded"]
    assert not [c for c in calls if c[1].startswith("Modify")] and deletes(calls) == []
    rds = shared_deployment.client("rds")
    (original,) = rds.describe_db_instances(DBInstanceIdentifier="tradesense-prod-trading")["DBInstances"]
    assert original["DeletionProtection"] and original["DBInstanceStatus"] == "available"
