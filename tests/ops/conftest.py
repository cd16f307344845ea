"""Fixtures for the operational scripts: one moto server and one PostgreSQL server per session.

Both run as real servers on 127.0.0.1 free ports; nothing here needs the internet. PostgreSQL
refuses to run as root, so under root the cluster is created and run as the `postgres` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from stacks.settings import load_stack_settings  # noqa: E402  (needs the repo root on sys.path)
from tests.ops.ops_fixtures import (  # noqa: E402
    SOURCE_DBS,
    build_deployment,
    free_port,
    seed,
)

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNSET_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS")


def _wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no answer from {url} within {timeout}s")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The moto server; for the whole session boto3 (here and in child processes) points at it."""
    exe = Path(sys.executable).with_name("moto_server")
    command = [str(exe) if exe.exists() else shutil.which("moto_server") or "moto_server"]
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    proc = subprocess.Popen([*command, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    saved = {name: os.environ.get(name) for name in [*AWS_ENV, *UNSET_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=url)
    for name in UNSET_ENV:
        os.environ.pop(name, None)
    try:
        _wait_http(url + "/moto-api/", 20, proc)
        yield url
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        proc.kill()  # an emulator holds nothing worth a graceful shutdown
        proc.wait(timeout=10)
        log.close()


def reset_moto(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"), timeout=10).read()


@pytest.fixture
def aws(moto_server: str) -> str:
    """A clean moto account for one test."""
    reset_moto(moto_server)
    return moto_server


@pytest.fixture(scope="session")
def settings():
    return load_stack_settings("prod")


@pytest.fixture
def deployment(aws: str, settings):
    """A fresh compliant deployment for one test."""
    return build_deployment(settings, aws)


@pytest.fixture(scope="module")
def shared_deployment(moto_server: str, settings):
    """One compliant deployment for a whole module; tests must undo what they change."""
    reset_moto(moto_server)
    return build_deployment(settings, moto_server)


@dataclass
class Postgres:
    host: str
    port: int
    user: str

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGCONNECT_TIMEOUT": "5",
        }

    def sql(self, database: str, statement: str) -> str:
        result = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", statement],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise AssertionError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()


def _pg_binary(name: str) -> str:
    for candidate in (
        shutil.which(name),
        f"/usr/local/bin/{name}",
        *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True),
    ):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise RuntimeError(f"{name} not found: install the PostgreSQL server package (see docs/operations.md)")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    as_root = os.geteuid() == 0
    runner = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="tradesense-pg-"))
    if as_root:
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data = base / "data"
    port = free_port()
    subprocess.run(
        [
            *runner,
            _pg_binary("initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [
            *runner,
            _pg_binary("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-t",
            "30",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield Postgres(host="127.0.0.1", port=port, user="postgres")
    finally:
        subprocess.run(
            [*runner, _pg_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


# -- source databases for backup and restore -------------------------------------------------


@pytest.fixture(scope="session")
def databases(postgres):
    """A seeded source database per service (the instances' DBName), created once per session.

    Tests never write to them except the one that drops `billing`, which recreates it after.
    """
    for name in SOURCE_DBS.values():
        seed(postgres, name)
    return postgres
