"""The repo's stacks: one Pulumi.<stack>.yaml each, so adding a file adds it to every test."""

from __future__ import annotations

from stacks.settings import REPO_ROOT

STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in REPO_ROOT.glob("Pulumi.*.yaml"))
