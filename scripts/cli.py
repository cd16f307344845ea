"""Conventions every operational command shares: arguments, output lines, exit codes.

Exit codes (the runbook, docs/operations.md, repeats them):
  0  everything checked or done is fine
  1  the command ran and something failed: a check, a backup, a restore verification, an AWS call
     that still failed after botocore's retries
  2  bad input (unknown stack or service, a malformed date, a value out of range, a backup that
     does not exist); reported as one line naming the value and what is allowed, and nothing has
     been changed

Checks print one line each: status, check name, resource, what was found. `--json` prints the same
records as one JSON document instead. Nothing here prints a secret: connection details carry
passwords only in the environment of a child process, never in a line or an argument.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Optional, Sequence, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from stacks.settings import ConfigError

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

    def print(self, *, as_json: bool, out: Optional[TextIO] = None, extra: Optional[dict] = None) -> None:
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
        out.write(
            f"{len(self.checks) - len(self.failures)} passed{warned}, {len(self.failures)} failed\n"
        )


def progress(message: str, out: Optional[TextIO] = None) -> None:
    """A progress line for long operations (on stderr, so --json output stays parseable)."""
    out = out or sys.stderr
    out.write(f"... {message}\n")
    out.flush()


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def run(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run a command's main and map the error kinds onto the exit codes above."""
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
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


def entrypoint(main: Callable[[Optional[Sequence[str]]], int]) -> None:
    sys.exit(run(main))


def join(items: Iterable[object]) -> str:
    return ", ".join(str(i) for i in items) or "none"
