"""Bad input to backup and restore: one line, exit 2, and nothing changed in AWS or PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from scripts.ops import backup, restore
from scripts.cli import run
from tests.ops.conftest import now_iso, pg_args


def _state(d, pg) -> tuple:
    rds = d.client("rds")
    return (
        sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]),
        sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"]),
        d.client("s3").list_objects_v2(Bucket=d.bucket).get("KeyCount", 0),
        pg.sql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"),
    )


def _old(days: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).strftime("%Y-%m-%d")


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        (restore, ["payments", "2026-01-01"], "service = 'payments': not a service of stack prod"),
        (restore, ["gateway", "2026-01-01"], "service = 'gateway': has no database"),
        (restore, ["auth", "yesterday"], "date = 'yesterday': must be an ISO date"),
        (restore, ["auth", "__OLD__"], "outside the retention window"),
        (restore, ["auth"], "date is required"),
        (restore, ["auth", "--snapshot", "no-such-snapshot"], "--snapshot = 'no-such-snapshot': no such snapshot"),
        (restore, ["auth", "__NOW__", "--snapshot", "x"], "date and --snapshot exclude each other"),
        (restore, ["auth", "__NOW__", "--target", "tradesense-prod-auth"], "is the original instance"),
        (restore, ["auth", "__NOW__", "--from-dump", "--target", "auth", "--db-user", "postgres", "--sslmode", "require"], "is the original database"),
        (restore, ["auth", "__NOW__", "--from-dump", "--target", "auth_x", "__PG__"], "no logical dump of auth"),
        (restore, ["auth", "__NOW__", "--from-dump", "--target", "Bad-Name", "__PG__"], "--target = 'Bad-Name'"),
        (backup, ["--service", "payments"], "service = 'payments': not a service"),
        (backup, ["--service", "gateway"], "has no database"),
        (backup, ["--db-host", "10.0.0.5", "--sslmode", "disable"], "allowed only to a loopback address"),
        (backup, ["--sslmode", "verify-full"], "needs --ssl-root-cert"),
        (backup, ["--sslmode", "prefer", "--db-host", "127.0.0.1"], "--sslmode = 'prefer'"),
        (backup, ["--stack", "qa"], "stack 'qa'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_changes(shared_deployment, databases, capsys, monkeypatch, command, args, message):
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    pg = databases
    expanded: list[str] = []
    for arg in args:
        if arg == "__PG__":
            expanded += pg_args(pg)
        else:
            expanded.append({"__OLD__": _old(45), "__NOW__": now_iso()}.get(arg, arg))
    before = _state(shared_deployment, pg)
    assert run(command.main, expanded) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert _state(shared_deployment, pg) == before


def test_a_date_outside_the_stack_window_is_refused_before_any_aws_call(capsys, monkeypatch):
    # No endpoint, no credentials: any AWS call would fail with exit 1, so exit 2 proves none was made.
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert run(restore.main, ["trading", _old(45)]) == 2
    assert "outside the retention window" in capsys.readouterr().err
