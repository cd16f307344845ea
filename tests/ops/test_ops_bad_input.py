"""Bad input to backup and restore: one line, exit 2, and nothing changed in AWS or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest

from scripts.cli import run
from scripts.ops import aws as aws_module
from scripts.ops import backup, health, restore, validate_deployment
from tests.ops.ops_fixtures import faulty_proxy, now_iso, pg_args


def _state(d, pg) -> tuple:
    rds = d.client("rds")
    return (
        sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]),
        sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"]),
        d.client("s3").list_objects_v2(Bucket=d.bucket).get("KeyCount", 0),
        pg.sql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"),
    )


def _old(days: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).strftime("%Y-%m-%d")


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
        (
            restore,
            ["auth", "__NOW__", "--from-dump", "--target", "auth", "--db-user", "postgres", "--sslmode", "require"],
            "is the original database",
        ),
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
def test_bad_input_is_one_line_exit_2_and_nothing_changes(
    shared_deployment, databases, capsys, monkeypatch, command, args, message
):
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


# -- every argument is checked before the first AWS call ------------------------------------------

# (command, args, what the one line says). Dates are inside the window unless the case is the date.
BEFORE_ANY_CALL = [
    (
        restore,
        ["auth", "__NOW__", "--wait-timeout", "nan"],
        "--wait-timeout = nan: must be a number of seconds, more than 0",
    ),
    (restore, ["auth", "__NOW__", "--wait-timeout", "inf"], "--wait-timeout = inf: must be a number of seconds"),
    (restore, ["auth", "__NOW__", "--wait-timeout", "1e999"], "--wait-timeout = 1e999: must be a number of seconds"),
    (
        restore,
        ["auth", "__NOW__", "--wait-timeout", "0"],
        "--wait-timeout = 0: must be a number of seconds, more than 0",
    ),
    (restore, ["auth", "__NOW__", "--wait-timeout", "-5"], "--wait-timeout = -5:"),
    (restore, ["auth", "__NOW__", "--wait-timeout", "999999"], "at most 172800"),
    (
        restore,
        ["auth", "__NOW__", "--poll-interval", "0"],
        "--poll-interval = 0: must be a number of seconds, more than 0",
    ),
    (restore, ["auth", "__NOW__", "--poll-interval", "-1"], "--poll-interval = -1:"),
    (restore, ["auth", "__NOW__", "--poll-interval", "NaN"], "--poll-interval = NaN:"),
    (restore, ["auth", "__NOW__", "--poll-interval", "1e300"], "at most 3600"),
    (restore, ["auth", "__NOW__", "--poll-interval", "soon"], "--poll-interval = 'soon': must be a number"),
    (
        restore,
        ["auth", "__NOW__", "--from-dump", "--db-port", "0"],
        "--db-port = 0: must be a whole number, at least 1 and at most 65535",
    ),
    (restore, ["auth", "__NOW__", "--from-dump", "--db-port", "65536"], "--db-port = 65536:"),
    (restore, ["auth", "__NOW__", "--from-dump", "--db-port", "-1"], "--db-port = -1:"),
    (
        restore,
        ["auth", "__NOW__", "--from-dump", "--db-port", "5432.5"],
        "--db-port = '5432.5': must be a whole number",
    ),
    (
        restore,
        ["auth", "__NOW__", "--from-dump", "--db-host", "db host", "--sslmode", "require"],
        "--db-host = 'db host': must be a host name",
    ),
    (
        restore,
        ["auth", "__NOW__", "--from-dump", "--db-host", "/var/run/postgresql", "--sslmode", "require"],
        "--db-host = '/var/run/postgresql'",
    ),
    (
        restore,
        ["auth", "__NOW__", "--from-dump", "--db-user", "x'; DROP", "--sslmode", "require"],
        '--db-user = "x\'; DROP": must be a PostgreSQL role',
    ),
    (
        restore,
        ["auth", "__NOW__", "--from-dump", "--sslmode", "disable", "--db-host", "10.0.0.5"],
        "allowed only to a loopback address",
    ),
    (
        restore,
        ["auth", "__NOW__", "--from-dump", "--sslmode", "verify-full", "--ssl-root-cert", "/nonexistent.pem"],
        "--ssl-root-cert = '/nonexistent.pem': no such file",
    ),
    (
        restore,
        ["auth", "__NOW__", "--from-dump", "--target", "Bad-Name", "--sslmode", "require"],
        "--target = 'Bad-Name': must be a PostgreSQL name",
    ),
    (restore, ["auth", "__NOW__", "--target", "Bad_Name"], "--target = 'Bad_Name': an RDS identifier"),
    (restore, ["auth", "__NOW__", "--target", "auth--copy"], "--target = 'auth--copy': an RDS identifier"),
    (
        restore,
        ["auth", "--snapshot", "bad snapshot!"],
        "--snapshot = 'bad snapshot!': must be a DB snapshot identifier",
    ),
    (restore, ["auth", "--snapshot", ""], "--snapshot = '': must be a DB snapshot identifier"),
    (restore, ["auth", "__NOW__", "--snapshot", "auth-snap"], "date and --snapshot exclude each other"),
    (restore, ["auth", "2026-02-30"], "date = '2026-02-30': must be an ISO date"),
    (restore, ["auth", "2026-01-01\n"], "date = '2026-01-01\\n': must be an ISO date"),
    (restore, ["auth", "__OLD__"], "outside the retention window"),
    (restore, ["auth"], "date is required"),
    (restore, ["auth", "__NOW__", "--region", "mars-north-1"], "--region = 'mars-north-1': must be an AWS region"),
    (
        restore,
        ["auth", "__NOW__", "--endpoint-url", "ftp://127.0.0.1"],
        "--endpoint-url = 'ftp://127.0.0.1': must be an http(s) URL",
    ),
    (restore, ["auth", "__NOW__", "--bogus"], "restore: unrecognized arguments: --bogus"),
    (backup, ["--wait-timeout", "nan"], "--wait-timeout = nan:"),
    (backup, ["--poll-interval", "-1"], "--poll-interval = -1:"),
    (backup, ["--db-port", "70000"], "--db-port = 70000:"),
    (
        backup,
        ["--db-host=-oProxyCommand=x", "--sslmode", "require"],
        "--db-host = '-oProxyCommand=x': must be a host name",
    ),
    (backup, ["--sslmode", "prefer", "--db-host", "127.0.0.1"], "--sslmode = 'prefer'"),
    (health, ["--timeout", "nan"], "--timeout = nan: must be a number of seconds, more than 0 and at most 60"),
    (health, ["--timeout", "inf"], "--timeout = inf:"),
    (health, ["--retries", "1.5"], "--retries = '1.5': must be a whole number, at least 0 and at most 5"),
    (health, ["--retries", "-1"], "--retries = -1:"),
    (health, ["--backoff", "-0.5"], "--backoff = -0.5: must be a number of seconds, at least 0 and at most 10"),
    (health, ["--backoff", "nan"], "--backoff = nan:"),
    (health, ["--base-url", "javascript:alert(1)"], "--base-url = 'javascript:alert(1)'"),
    (validate_deployment, ["--region", "us_east_1"], "--region = 'us_east_1': must be an AWS region"),
    (validate_deployment, ["--endpoint-url", "localhost:5000"], "--endpoint-url = 'localhost:5000'"),
    (validate_deployment, ["--stack", "../prod"], "stack '../prod': must be a Pulumi stack name"),
    (
        validate_deployment,
        ["--endpoint-url", "http://admin:hunter2@127.0.0.1:5000"],
        "--endpoint-url: must not carry a user or password",
    ),
    (health, ["--base-url", "https://ops:hunter2@api.example.com"], "--base-url: must not carry a user or password"),
    (aws_module, ["identity", "--region", "nowhere"], "--region = 'nowhere'"),
]


@pytest.fixture
def unreachable_aws(monkeypatch):
    """No moto: AWS is a closed local port, one attempt. Any AWS call would end in exit 1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name in ("AWS_PROFILE", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("command", "args", "message"),
    BEFORE_ANY_CALL,
    ids=[f"{c.__name__.split('.')[-1]}-{i}" for i, (c, _, _) in enumerate(BEFORE_ANY_CALL)],
)
def test_bad_arguments_exit_2_before_any_aws_call(unreachable_aws, capsys, command, args, message):
    expanded = [{"__OLD__": _old(45), "__NOW__": now_iso()}.get(arg, arg) for arg in args]
    main = command._identity if command is aws_module else command.main
    assert run(main, expanded) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert "hunter2" not in err


def test_the_unreachable_endpoint_does_fail_a_real_call(unreachable_aws, capsys):
    # The control for the test above: with good arguments the same setup reaches AWS and exits 1.
    assert run(restore.main, ["auth", now_iso(), "--dry-run"]) == 1
    assert capsys.readouterr().err.startswith("FAILED: AWS: ")


# -- nothing crashes once a restore has started: one line that says what exists ---------------------


def test_a_failure_after_the_restore_started_says_what_was_created(deployment, capsys, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    seen = {"started": False}

    def fail_after_start(method, path, info):
        if info["target"] == "RestoreDBInstanceToPointInTime":
            seen["started"] = True
        return 500 if seen["started"] and info["target"] == "DescribeDBInstances" else None

    server, url, calls = faulty_proxy(deployment.endpoint, fail_after_start)
    try:
        code = run(
            restore.main,
            ["billing", now_iso(), "--target", "billing-drill", "--endpoint-url", url, "--poll-interval", "0.01"],
        )
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    *progress_lines, err = err.splitlines()  # progress ("... restore ...") precedes the one result line
    assert code == 1 and all(line.startswith("... ") for line in progress_lines), progress_lines
    assert err.startswith("FAILED: AWS: ") and "DescribeDBInstances" in err
    assert "the restore had started: NEW instance billing-drill (restore of tradesense-prod-billing as of" in err
    assert "exists and is kept" in err
    rds = deployment.client("rds")
    assert rds.describe_db_instances(DBInstanceIdentifier="billing-drill")["DBInstances"]
    assert not [c for c in calls if c[1].startswith(("Delete", "Modify"))]


def test_an_interrupt_after_the_restore_started_says_what_exists(deployment, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(restore, "wait_for", interrupted)
    code = run(restore.main, ["auth", now_iso(), "--target", "auth-drill", "--poll-interval", "0.01"])
    *progress_lines, err = capsys.readouterr().err.splitlines()
    assert code == 130 and all(line.startswith("... ") for line in progress_lines), progress_lines
    assert err.startswith("interrupted: NEW instance auth-drill (restore of tradesense-prod-auth as of ")
    assert err.endswith(") exists and is kept; check it before retrying")
    assert deployment.client("rds").describe_db_instances(DBInstanceIdentifier="auth-drill")["DBInstances"]


def test_a_malformed_manifest_is_refused_before_anything_is_created(deployment, databases, capsys):
    # A manifest without the table checksums cannot verify a restore: refused before the download.
    s3 = deployment.client("s3")
    stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y%m%d-%H%M%S-000")
    key = f"logical/prod/market-data/{stamp}/manifest.json"
    s3.put_object(
        Bucket=deployment.bucket,
        Key=key,
        Body=json.dumps(
            {
                "version": 1,
                "service": "market-data",
                "created_at": stamp,
                "dump": {"key": "../../etc/passwd", "bytes": 1},
            }
        ).encode(),
    )
    before = databases.sql("postgres", "SELECT count(*) FROM pg_database")
    code = run(
        restore.main, ["market-data", now_iso(), "--from-dump", "--target", "market_data_drill", *pg_args(databases)]
    )
    *progress_lines, err = capsys.readouterr().err.splitlines()
    assert code == 1 and all(line.startswith("... ") for line in progress_lines), progress_lines
    assert (
        err.startswith("FAILED: ")
        and f"s3://{deployment.bucket}/{key} is not a version-1 manifest for market-data" in err
        and "nothing restored" in err
    )
    assert databases.sql("postgres", "SELECT count(*) FROM pg_database") == before
