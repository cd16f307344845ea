"""PostgreSQL through its own client binaries (pg_dump, pg_restore, psql): no driver dependency.

Connection details travel to the child processes in PG* environment variables; the password is
only ever in `PGPASSWORD` of a child's environment, never in an argument (visible in `ps`) nor in
output. TLS is verified by default (`verify-full` with the RDS CA bundle); plain connections are
accepted only to a loopback address (a local test server or an SSM port forward).

Table fingerprints are taken inside the same exported snapshot pg_dump reads, so the row counts
and checksums in a backup manifest describe exactly the data in the dump. A table's checksum is
the sum over its rows of the first 64 bits of md5(row as text), under fixed output settings
(UTC, ISO dates, full float precision): independent of row order and constant in memory.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from scripts.cli import OpsError, UsageError, port

SSL_MODES = ("verify-full", "verify-ca", "require", "disable")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Fixed output settings, so a row renders the same text on the source and on the restored copy.
SESSION_SETTINGS = (
    "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
    "SET extra_float_digits = 3; SET bytea_output = 'hex'; SET statement_timeout = 0;"
)
TABLES_SQL = (
    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1;"
)
FINGERPRINT_SQL = (
    "SELECT count(*) || ' ' || coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0) "
    "FROM {table} t;"
)


class PgError(OpsError):
    """A PostgreSQL client command failed; the message carries its last error line."""


def check_db_name(option: str, name: str) -> str:
    if not _DB_NAME.match(name or ""):
        raise UsageError(f"{option} = {name!r}: must be a PostgreSQL name of lowercase letters, digits and _ (max 63)")
    return name


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise OpsError(f"{name} not found on PATH: install the PostgreSQL client (Debian: postgresql-client)")
    return path


@dataclass(frozen=True)
class Conn:
    host: str
    port: int
    user: str
    dbname: str
    sslmode: str = "verify-full"
    sslrootcert: str | None = None
    password: str | None = field(default=None, repr=False)

    def with_db(self, dbname: str) -> Conn:
        return Conn(self.host, self.port, self.user, dbname, self.sslmode, self.sslrootcert, self.password)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGDATABASE=self.dbname,
            PGSSLMODE=self.sslmode,
            PGCONNECT_TIMEOUT="10",
            PGAPPNAME="tradesense-ops",
        )
        if self.sslrootcert:
            env["PGSSLROOTCERT"] = self.sslrootcert
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_connection_arguments(parser: Any, *, prefix: str = "db") -> None:
    parser.add_argument(
        f"--{prefix}-host",
        help="connect here instead of the instance endpoint (e.g. 127.0.0.1 through an SSM port forward)",
    )
    parser.add_argument(
        f"--{prefix}-port", type=port(f"--{prefix}-port"), help="port, 1-65535 (default: the instance's)"
    )
    parser.add_argument(
        f"--{prefix}-user", help="user (default: the instance's master user; password from its RDS-managed secret)"
    )
    parser.add_argument(
        "--sslmode",
        default="verify-full",
        help=f"libpq sslmode: {', '.join(SSL_MODES)} (default verify-full; disable only to loopback)",
    )
    parser.add_argument(
        "--ssl-root-cert",
        default=os.environ.get("PGSSLROOTCERT"),
        help="CA bundle for verify-* (the RDS global bundle); default $PGSSLROOTCERT",
    )


# A host name or an IPv4/IPv6 address; nothing libpq would read as a socket path or an option.
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_-]{0,252}$")
# A role name as the PostgreSQL client passes it: no spaces, quotes or control characters.
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$")


def check_connection_arguments(args: Any, *, prefix: str = "db") -> None:
    """--db-host and --db-user as text libpq takes literally; --db-port is checked while parsing."""
    host = getattr(args, f"{prefix}_host")
    if host is not None and not _HOST.match(host):
        raise UsageError(f"--{prefix}-host = {host!r}: must be a host name or an IP address")
    user = getattr(args, f"{prefix}_user")
    if user is not None and not _USER.match(user):
        raise UsageError(
            f"--{prefix}-user = {user!r}: must be a PostgreSQL role name (letters, digits, _ $ . -; max 63)"
        )


def check_tls(host: str, sslmode: str, rootcert: str | None) -> None:
    if sslmode not in SSL_MODES:
        raise UsageError(f"--sslmode = {sslmode!r}: must be one of {', '.join(SSL_MODES)}")
    if sslmode.startswith("verify") and not rootcert:
        raise UsageError(f"--sslmode = {sslmode!r} needs --ssl-root-cert (the RDS CA bundle) or $PGSSLROOTCERT")
    if rootcert and sslmode.startswith("verify") and not os.path.isfile(rootcert):
        raise UsageError(f"--ssl-root-cert = {rootcert!r}: no such file")
    if sslmode == "disable" and not _is_loopback(host):
        raise UsageError(
            f"--sslmode = 'disable' with host {host!r}: unencrypted connections are allowed only to a loopback address"
        )


def master_password(aws: Any, instance: dict) -> str | None:
    """The RDS-managed master password from Secrets Manager (never printed)."""
    arn = (instance.get("MasterUserSecret") or {}).get("SecretArn")
    if not arn:
        return None
    value = aws.client("secretsmanager").get_secret_value(SecretId=arn).get("SecretString") or "{}"
    try:
        return json.loads(value).get("password")
    except (json.JSONDecodeError, AttributeError):
        raise OpsError(f"secret {arn} is not the JSON RDS writes (username/password)") from None


def connection_for(aws: Any, instance: dict, args: Any, dbname: str, *, prefix: str = "db") -> Conn:
    endpoint = instance.get("Endpoint") or {}
    host = getattr(args, f"{prefix}_host") or endpoint.get("Address")
    port = getattr(args, f"{prefix}_port") or endpoint.get("Port") or 5432
    if not host:
        raise OpsError(f"{instance['DBInstanceIdentifier']} has no endpoint yet ({instance.get('DBInstanceStatus')})")
    check_tls(host, args.sslmode, args.ssl_root_cert)
    return Conn(
        host=host,
        port=int(port),
        user=getattr(args, f"{prefix}_user") or instance.get("MasterUsername", "postgres"),
        dbname=dbname,
        sslmode=args.sslmode,
        sslrootcert=args.ssl_root_cert,
        password=master_password(aws, instance),
    )


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


class Session:
    """One psql process kept open, so several queries share a transaction (and a snapshot)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=conn.env(),
        )
        self._marker = f"__end_{secrets.token_hex(8)}__"

    def query(self, sql: str) -> list[str]:
        assert self._proc.stdin and self._proc.stdout
        try:
            self._proc.stdin.write(f"{sql}\n\\echo {self._marker}\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass
        lines = []
        while True:
            line = self._proc.stdout.readline()
            if not line:
                self._proc.wait()
                self._stderr.seek(0)
                raise PgError(f"psql {self.conn}: {_last_error(self._stderr.read())}")
            if line.rstrip("\n") == self._marker:
                return lines
            lines.append(line.rstrip("\n"))

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write("\\q\n")  # type: ignore[union-attr]
                self._proc.stdin.close()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._stderr.close()


@contextmanager
def exported_snapshot(conn: Conn) -> Iterator[tuple[Session, str]]:
    """A read-only repeatable-read transaction and its exported snapshot id, for pg_dump --snapshot."""
    session = Session(conn)
    try:
        session.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;")
        session.query(SESSION_SETTINGS)
        (snapshot,) = session.query("SELECT pg_export_snapshot();")
        yield session, snapshot
        session.query("COMMIT;")
    finally:
        session.close()


def fingerprints(session: Session) -> dict[str, dict[str, Any]]:
    """Table -> {rows, checksum}, for every user table, read in the session's transaction."""
    result = {}
    for table in session.query(TABLES_SQL):
        (line,) = session.query(FINGERPRINT_SQL.format(table=table))
        rows, checksum = line.split(" ", 1)
        result[table] = {"rows": int(rows), "checksum": checksum}
    return result


def database_fingerprints(conn: Conn) -> dict[str, dict[str, Any]]:
    session = Session(conn)
    try:
        session.query(SESSION_SETTINGS)
        return fingerprints(session)
    finally:
        session.close()


def server_version(session: Session) -> str:
    (version,) = session.query("SHOW server_version;")
    return version


def dump_process(conn: Conn, snapshot: str) -> tuple[subprocess.Popen, Any]:
    """pg_dump in custom format to stdout, reading the given exported snapshot; and its stderr file."""
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [tool("pg_dump"), "--format=custom", "--no-password", f"--snapshot={snapshot}"],
        stdout=subprocess.PIPE,
        stderr=errors,
        env=conn.env(),
    )
    return proc, errors


def client_version(name: str = "pg_dump") -> str:
    return subprocess.run([tool(name), "--version"], capture_output=True, text=True).stdout.strip()


def database_exists(conn: Conn, name: str) -> bool:
    session = Session(conn.with_db("postgres"))
    try:
        return session.query(f"SELECT 1 FROM pg_database WHERE datname = '{check_db_name('database', name)}';") == ["1"]
    finally:
        session.close()


def create_database(conn: Conn, name: str) -> None:
    session = Session(conn.with_db("postgres"))
    try:
        session.query(f'CREATE DATABASE "{check_db_name("database", name)}";')
    finally:
        session.close()


def check_archive(path: str) -> int:
    """pg_restore --list must read the archive's table of contents; returns its entry count."""
    result = subprocess.run([tool("pg_restore"), "--list", path], capture_output=True, text=True)
    if result.returncode != 0:
        raise PgError(f"pg_restore cannot read {os.path.basename(path)}: {_last_error(result.stderr)}")
    return sum(1 for line in result.stdout.splitlines() if line and not line.startswith(";"))


def restore_archive(conn: Conn, path: str) -> None:
    result = subprocess.run(
        [
            tool("pg_restore"),
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-acl",
            "--no-password",
            f"--dbname={conn.dbname}",
            path,
        ],
        capture_output=True,
        text=True,
        env=conn.env(),
    )
    if result.returncode != 0:
        raise PgError(f"pg_restore into {conn}: {_last_error(result.stderr)}")
