"""Every command and workflow here asks the CLI for what the report can judge, and gates strictly."""

from __future__ import annotations

import re

from stacks.settings import REPO_ROOT

FILES = [
    "Makefile",
    "README.md",
    ".github/workflows/pull-request.yml",
    *(str(p.relative_to(REPO_ROOT)) for p in [*REPO_ROOT.glob("scripts/*.sh"), *REPO_ROOT.glob("docs/*.md")]),
]


def test_every_pulumi_preview_json_asks_for_the_unchanged_resources_too():
    """pulumi/pulumi pkg/backend/display/json.go: `same` steps are printed only with --show-sames."""
    for name in FILES:
        for line in (REPO_ROOT / name).read_text().splitlines():
            if re.search(r"pulumi preview\b[^`]*--json", line):
                assert "--show-sames" in line, f"{name}: {line.strip()}"


def test_the_deploy_gates_fail_closed_on_undecided_mandatory_checks():
    deploy = (REPO_ROOT / "scripts" / "deploy-production-secure.sh").read_text()
    assert re.search(r"-m scripts\.report\.policy_report .*--strict", deploy)
    make = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^preview:.*\n(\t.*\n)*\t.*policy_report.*--strict", make, re.M)
    workflow = (REPO_ROOT / ".github" / "workflows" / "pull-request.yml").read_text()
    assert workflow.count("--strict") >= 2
