"""The stack's own settings, for rules that compare resources with config (WAF rate limits).

The pack lives in `policies/` and the settings parser in `stacks/settings.py` at the repo root; this
is the one place that puts the repo root on sys.path, so the pack and the program read
`Pulumi.<stack>.yaml` with the same validated parser. When the file or the parser is not there
(the pack published on its own), rules fall back to AWS WAF's strictest sane limit and say so.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# AWS WAF's floor: 10 requests, over its default 300 s window.
FALLBACK_LIMIT, FALLBACK_WINDOW = 10, 300


@dataclass(frozen=True)
class Limit:
    limit: int
    window_seconds: int
    source: str

    @property
    def per_minute(self) -> float:
        return self.limit * 60 / self.window_seconds

    def describe(self) -> str:
        return f"{self.limit} per {self.window_seconds} s ({self.source})"


# Config the engine sent in ConfigureStack, by stack name: (project, {key: text value}).
_ENGINE_CONFIG: dict[str, tuple[str, dict[str, str]]] = {}


def remember(stack: str, project: str, config: dict[str, str]) -> None:
    """Keep the engine's config for `stack`; it wins over Pulumi.<stack>.yaml (it is what deploys)."""
    if config:
        _ENGINE_CONFIG[stack] = (project, config)
        _edge_settings.cache_clear()


@lru_cache(maxsize=None)
def _edge_settings(stack: str):
    """The stack's EdgeSettings, or the exception that made them unavailable."""
    try:
        if str(REPO_ROOT) not in sys.path:
            sys.path.append(str(REPO_ROOT))
        from stacks.settings import load_stack_settings, parse_settings

        if stack in _ENGINE_CONFIG:
            project, config = _ENGINE_CONFIG[stack]
            return parse_settings(config, project=project, stack=stack).edge
        return load_stack_settings(stack, REPO_ROOT).edge
    except Exception as exc:  # noqa: BLE001 - any failure means "config unavailable": say why
        return exc


def rate_limits(stack: str) -> tuple[Limit, Limit]:
    """(login, api) limits of `stack`, from Pulumi.<stack>.yaml or the fallback."""
    edge = _edge_settings(stack)
    if isinstance(edge, Exception):
        reason = str(edge).splitlines()[0] if str(edge) else type(edge).__name__
        fallback = Limit(FALLBACK_LIMIT, FALLBACK_WINDOW,
                         f"fallback: AWS WAF minimum {FALLBACK_LIMIT} per {FALLBACK_WINDOW} s, because "
                         f"Pulumi.{stack or '?'}.yaml could not be read: {reason}")
        return fallback, fallback
    source = "engine config" if stack in _ENGINE_CONFIG else f"Pulumi.{stack}.yaml"
    return (Limit(edge.login_rate_limit.limit, edge.login_rate_limit.window_seconds, source + " edge.loginRateLimit"),
            Limit(edge.api_rate_limit.limit, edge.api_rate_limit.window_seconds, source + " edge.apiRateLimit"))


def login_paths(stack: str) -> tuple[str, ...]:
    """The stack's login paths (the seed application's when config is unavailable)."""
    edge = _edge_settings(stack)
    return ("/api/auth/login", "/api/auth/token") if isinstance(edge, Exception) else edge.login_paths
