"""Health of a stack at a glance: every service's health endpoint and the CloudWatch alarm states.

Each service is probed at https://<edge.public_hostname>/<service><health_path> (or under
--base-url), with a connect/read timeout and a bounded number of retries with exponential
backoff (urllib3's Retry, not a hand-written loop) on connection errors and 502/503/504. Alarms
are the stack's CloudWatch alarms (found by Project/Stack tags), grouped by their Service tag.
Exit 0 when every endpoint answers 2xx and no alarm is in ALARM; 1 otherwise; 2 on bad input.

    python -m scripts.ops.health --stack prod [--base-url URL] [--timeout S] [--retries N] [--json]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from scripts.cli import ArgumentParser, UsageError, entrypoint, number, one_line
from scripts.ops.aws import Discovery, add_aws_arguments, aws_from_args, settings_from_args
from stacks.settings import Settings


@dataclass
class ServiceHealth:
    service: str
    url: str
    healthy: bool
    status: str
    latency_ms: int | None
    alarms: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.healthy and not self.alarms.get("ALARM")


def session(retries: int, backoff: float) -> requests.Session:
    http = requests.Session()
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
    )
    http.mount("http://", HTTPAdapter(max_retries=retry))
    http.mount("https://", HTTPAdapter(max_retries=retry))
    return http


def probe(http: requests.Session, url: str, timeout: float) -> tuple[bool, str, int | None]:
    start = time.monotonic()
    try:
        response = http.get(url, timeout=(min(timeout, 5.0), timeout), allow_redirects=False)
    except requests.exceptions.RetryError as exc:
        return False, f"gave up after retries: {one_line(exc.args[0] if exc.args else exc)[:120]}", None
    except requests.exceptions.Timeout:
        return False, f"timed out after {timeout:g}s", None
    except requests.exceptions.ConnectionError as exc:
        if "TimeoutError" in str(exc):  # urllib3 wraps the last timeout once retries are used up
            return False, f"timed out after {timeout:g}s (retried)", None
        return False, f"unreachable: {one_line(exc)[:120]}", None
    latency = int((time.monotonic() - start) * 1000)
    return 200 <= response.status_code < 300, f"HTTP {response.status_code}", latency


def service_url(settings: Settings, base_url: str | None, service: str) -> str:
    base = (base_url or f"https://{settings.edge.public_hostname}").rstrip("/")
    return f"{base}/{service}{settings.services[service].health_path}"


def alarm_states(found: Discovery) -> dict[str, dict[str, list[str]]]:
    """Service -> state -> alarm names."""
    result: dict[str, dict[str, list[str]]] = {}
    for alarm, tags in found.alarms():
        service = tags.get("Service", "platform")
        result.setdefault(service, {}).setdefault(alarm.get("StateValue", "UNKNOWN"), []).append(alarm["AlarmName"])
    return result


def table(rows: list[ServiceHealth], unowned: dict[str, dict[str, list[str]]]) -> str:
    lines = [f"{'SERVICE':<14} {'ENDPOINT':<26} {'LATENCY':>8}  {'ALARMS':<28} URL"]
    for r in rows:
        alarm = ", ".join(f"{len(v)} {k}" for k, v in sorted(r.alarms.items())) or "none"
        firing = r.alarms.get("ALARM")
        if firing:
            alarm += f" ({', '.join(firing)})"
        latency = f"{r.latency_ms}ms" if r.latency_ms is not None else "-"
        lines.append(
            f"{r.service:<14} {('OK ' if r.healthy else 'DOWN ') + r.status:<26} {latency:>8}  {alarm:<28} {r.url}"
        )
    for service, states in sorted(unowned.items()):
        alarm = ", ".join(f"{len(v)} {k}" for k, v in sorted(states.items()))
        lines.append(f"{service:<14} {'-':<26} {'-':>8}  {alarm}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="monitor-health", description="Service health endpoints and CloudWatch alarm states.")
    add_aws_arguments(parser)
    parser.add_argument(
        "--base-url", help="probe <base-url>/<service><health_path> instead of https://<publicHostname>"
    )
    parser.add_argument(
        "--timeout",
        type=number("--timeout", above=0, maximum=60, unit="seconds"),
        default=5.0,
        help="seconds per request (default 5)",
    )
    parser.add_argument(
        "--retries",
        type=number("--retries", minimum=0, maximum=5, whole=True),
        default=2,
        help="retries per endpoint with exponential backoff (default 2, max 5)",
    )
    parser.add_argument(
        "--backoff",
        type=number("--backoff", minimum=0, maximum=10, unit="seconds"),
        default=0.5,
        help="backoff factor in seconds (default 0.5)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = parser.parse_args(argv)
    if args.base_url:
        parsed = urlparse(args.base_url)
        if parsed.username or parsed.password:  # never echoed: it carries a credential
            raise UsageError(
                "--base-url: must not carry a user or password (user:password@host); health endpoints need none"
            )
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UsageError(f"--base-url = {args.base_url!r}: must be an http(s) URL like https://api.example.com")
    settings = settings_from_args(args)
    aws = aws_from_args(args, settings)
    alarms = alarm_states(Discovery(aws, settings.project, settings.stack))
    http = session(args.retries, args.backoff)
    rows = []
    for name in settings.services:
        url = service_url(settings, args.base_url, name)
        healthy, status, latency = probe(http, url, args.timeout)
        rows.append(ServiceHealth(name, url, healthy, status, latency, alarms.pop(name, {})))
    unowned = alarms  # alarms tagged with a service name the settings do not know, or platform
    firing_elsewhere = any(states.get("ALARM") for states in unowned.values())
    ok = all(r.ok for r in rows) and not firing_elsewhere
    if args.json:
        json.dump(
            {
                "ok": ok,
                "stack": settings.stack,
                "services": [{**asdict(r), "ok": r.ok} for r in rows],
                "other_alarms": unowned,
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        print(table(rows, unowned))
        down = [r.service for r in rows if not r.ok]
        print("all healthy" if ok else f"UNHEALTHY: {', '.join(down) or 'alarms outside the services'}")
    return 0 if ok else 1


if __name__ == "__main__":
    entrypoint(main)
