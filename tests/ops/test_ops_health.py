"""Health: real HTTP endpoints on 127.0.0.1 and alarm states from moto."""

from __future__ import annotations

import json
import threading
import time

import pytest

from scripts.cli import run
from scripts.ops import health
from tests.ops.ops_fixtures import _QuietHandler, serve


class Endpoints:
    """Per-path behaviour: 'ok', 'down' (500), 'flaky' (503 twice, then 200), 'slow' (sleeps)."""

    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()


@pytest.fixture
def endpoints():
    state = Endpoints()

    class Handler(_QuietHandler):
        def do_GET(self):
            service = self.path.strip("/").split("/")[0]
            with state.lock:
                state.hits[service] = state.hits.get(service, 0) + 1
                hits = state.hits[service]
            mode = state.behaviour.get(service, "ok")
            if mode == "slow":
                time.sleep(1.5)
            code = {"ok": 200, "down": 500, "slow": 200}.get(mode, 503 if hits <= 2 else 200)
            body = b'{"status":"ok"}'
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server, url = serve(Handler)
    state.url = url
    yield state
    server.shutdown()


def test_all_healthy_is_exit_0_with_a_row_per_service(shared_deployment, endpoints, capsys):
    assert run(health.main, ["--base-url", endpoints.url, "--backoff", "0"]) == 0
    out = capsys.readouterr().out
    for service in shared_deployment.settings.services:
        assert f"{endpoints.url}/{service}/health" in out
    assert out.rstrip().endswith("all healthy")


def test_flaky_endpoint_is_retried_and_down_or_slow_ones_fail(shared_deployment, endpoints, capsys):
    endpoints.behaviour.update(trading="flaky", billing="down", ai="slow")
    code = run(
        health.main, ["--base-url", endpoints.url, "--timeout", "0.5", "--retries", "2", "--backoff", "0", "--json"]
    )
    document = json.loads(capsys.readouterr().out)
    rows = {r["service"]: r for r in document["services"]}
    assert code == 1 and document["ok"] is False
    assert rows["trading"]["healthy"] and endpoints.hits["trading"] == 3  # two 503s retried, then 200
    assert not rows["billing"]["healthy"] and rows["billing"]["status"] == "HTTP 500"
    assert not rows["ai"]["healthy"] and "timed out" in rows["ai"]["status"]
    assert rows["auth"]["healthy"]


def test_alarm_in_alarm_state_makes_it_unhealthy(shared_deployment, endpoints, capsys):
    cloudwatch = shared_deployment.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName="tradesense-prod-billing-cpu", StateValue="ALARM", StateReason="test")
    try:
        assert run(health.main, ["--base-url", endpoints.url, "--backoff", "0"]) == 1
    finally:
        cloudwatch.set_alarm_state(AlarmName="tradesense-prod-billing-cpu", StateValue="OK", StateReason="test over")
    out = capsys.readouterr().out
    (billing,) = [line for line in out.splitlines() if line.startswith("billing ")]
    assert "1 ALARM (tradesense-prod-billing-cpu)" in billing
    assert "UNHEALTHY: billing" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "0"], "--timeout = 0"),
        (["--retries", "9"], "--retries = 9"),
        (["--base-url", "localhost:8080"], "--base-url = 'localhost:8080'"),
        (["--stack", "dev"], "stack 'dev'"),
    ],
)
def test_bad_input_is_one_line_exit_2(moto_server, capsys, args, message):
    assert run(health.main, args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
