"""Conventions every operational command shares: arguments, output lines, exit codes.

Exit codes (the runbook, docs/operations.md, repeats them):
  0  everything checked or done is fine
  1  the command ran and something failed: a check, a backup, a restore verification, an AWS call
     that still failed after botocore's retries
  2  bad input (unknown stack or service, a malformed date, a value out of range, a backup that
     does not exist); reported as one line naming the value and what is allowed, and nothing has
     been changed

Every entry point (ops commands, preview, reports, converters, docs) parses its arguments with
ArgumentParser below, so a bad argument is one `error:` line and exit 2, never argparse's usage
block. Numbers go through `number`/`port`: finite (no nan or inf) and inside their range, checked
while parsing, before config is read or AWS is called.

Checks print one line each: status, check name, resource, what was found. `--json` prints the same
records as one JSON document instead. Nothing here prints a secret: connection details carry
passwords only in the environment of a child process, never in a line or an argument.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input: one line naming the value and what is allowed. Exit 2, nothing changed."""


class OpsError(Exception):
    """The operation itself failed (exit 1). The message says what and, if known, what to do."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one UsageError line instead of usage + exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


def number(
    option: str,
    *,
    above: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    whole: bool = False,
    unit: str = "",
) -> Callable[[str], float]:
    """An argparse `type` for a number option: finite (no nan, no inf) and inside its range, else a
    UsageError naming the option, the value and the range. Raised while parsing, so a bad number
    stops the command before it reads config or calls AWS."""
    bounds = []
    if above is not None:
        bounds.append(f"more than {above:g}")
    if minimum is not None:
        bounds.append(f"at least {minimum:g}")
    if maximum is not None:
        bounds.append(f"at most {maximum:g}")
    allowed = (
        f"must be a {'whole ' if whole else ''}number"
        + (f" of {unit}" if unit else "")
        + (", " + " and ".join(bounds) if bounds else "")
    )

    def parse(text: str) -> float:
        try:
            value = int(text, 10) if whole else float(text)
        except (TypeError, ValueError):
            raise UsageError(f"{option} = {text!r}: {allowed}") from None
        if (
            not math.isfinite(value)
            or (above is not None and value <= above)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            raise UsageError(f"{option} = {text}: {allowed}")
        return value

    return parse


def port(option: str) -> Callable[[str], float]:
    """A TCP port: a whole number from 1 to 65535."""
    return number(option, minimum=1, maximum=65535, whole=True)


@dataclass
class Check:
    """One finding: a named rule, the resource it was checked on, and what was found."""

    check: str
    resource: str
    ok: bool
    found: str
    # Passed, but a human should look: a value assumed rather than read, a check that could not run.
    warn: bool = False

    @property
    def status(self) -> str:
        if not self.ok:
            return "FAIL"
        return "WARN" if self.warn else "PASS"

    def line(self) -> str:
        return f"{self.status}  {self.check:<36} {self.resource:<42} {self.found}"


class Report:
    """Collects checks, prints them as lines or JSON, and turns them into an exit code."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def add(self, check: str, resource: str, ok: bool, found: str, *, warn: bool = False) -> Check:
        item = Check(check=check, resource=resource, ok=bool(ok), found=found, warn=bool(warn))
        self.checks.append(item)
        return item

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.ok and c.warn]

    def exit_code(self) -> int:
        return EXIT_FAILED if self.failures else EXIT_OK

    def print(self, *, as_json: bool, out: TextIO | None = None, extra: dict | None = None) -> None:
        out = out or sys.stdout
        if as_json:
            document = {
                "ok": not self.failures,
                "passed": len(self.checks) - len(self.failures),
                "failed": len(self.failures),
                "warned": len(self.warnings),
                "checks": [{**asdict(c), "status": c.status} for c in self.checks],
                **(extra or {}),
            }
            json.dump(document, out, indent=2, sort_keys=False, default=str)
            out.write("\n")
            return
        for c in self.checks:
            out.write(c.line() + "\n")
        warned = f", {len(self.warnings)} warned" if self.warnings else ""
        out.write(f"{len(self.checks) - len(self.failures)} passed{warned}, {len(self.failures)} failed\n")


def progress(message: str, out: TextIO | None = None) -> None:
    """A progress line for long operations (on stderr, so --json output stays parseable)."""
    out = out or sys.stderr
    out.write(f"... {message}\n")
    out.flush()


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command's main and map the error kinds onto the exit codes above."""
    # Imported here so that commands without AWS or stack config (tfplan, the docs) stay light.
    from botocore.exceptions import BotoCoreError, ClientError

    from stacks.settings import ConfigError

    try:
        return main(argv)
    except (UsageError, ConfigError) as exc:
        sys.stderr.write(f"error: {one_line(exc)}\n")
        return EXIT_USAGE
    except OpsError as exc:
        sys.stderr.write(f"FAILED: {one_line(exc)}\n")
        return EXIT_FAILED
    except (ClientError, BotoCoreError) as exc:
        sys.stderr.write(f"FAILED: AWS: {one_line(exc)}\n")
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        # A command interrupted after it created something says what exists (see scripts.ops.restore).
        sys.stderr.write(f"interrupted: {one_line(exc)}\n" if exc.args else "interrupted\n")
        return 130


def entrypoint(main: Callable[[Sequence[str] | None], int]) -> None:
    sys.exit(run(main))


def join(items: Iterable[object]) -> str:
    return ", ".join(str(i) for i in items) or "none"
