"""Bad stack files and values a component would reject: one line from settings, exit 2, nothing written.

Each case is a Pulumi.<stack>.yaml in a temp project directory. The parser must refuse it with one
line naming the file or key; `python -m scripts.engine.preview` must exit 2 with that line on stderr, no
traceback, and no output file.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.settings import (
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_NODES,
    ConfigError,
    load_stack_settings,
    parse_settings,
    read_stack_config,
)

REPO = Path(__file__).resolve().parents[2]
PROD_TEXT = (REPO / "Pulumi.prod.yaml").read_text()
PROD = read_stack_config("prod")


def _billion_laughs(levels: int = 9) -> str:
    """Each level refers to the one below ten times: 10**levels strings from a few hundred bytes."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        below = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{below}]")
    lines.append(f"config:\n  tradesense:owner: *a{levels}")
    return "\n".join(lines) + "\n"


def _replace(old: str, new: str) -> str:
    assert old in PROD_TEXT, old
    return PROD_TEXT.replace(old, new, 1)


# stack name -> (file content, start of the one-line message)
FILE_CASES: dict[str, tuple[str | bytes, str]] = {
    "list": ("- tradesense:owner\n- platform\n", "Pulumi.list.yaml: must be a map with a `config:` key, found a list"),
    "string": ("config is here\n", "Pulumi.string.yaml: must be a map with a `config:` key, found a string"),
    "config-list": (
        "config:\n  - tradesense:owner\n",
        "Pulumi.config-list.yaml: `config` must be a map of key to value, found a list",
    ),
    "number-key": ("config:\n  42: answer\n", "Pulumi.number-key.yaml: config key 42 must be text"),
    "latin1": (
        PROD_TEXT.replace("platform-engineering", "plateforme-ing\u00e9nierie").encode("latin-1"),
        "Pulumi.latin1.yaml: not UTF-8 text (byte 0xe9 at offset",
    ),
    "duplicate": (
        _replace(
            "  tradesense:owner: platform-engineering\n",
            "  tradesense:owner: platform-engineering\n  tradesense:owner: someone-else\n",
        ),
        "Pulumi.duplicate.yaml: not valid YAML (duplicate key 'tradesense:owner' (first at line 6) at line 7",
    ),
    "duplicate-nested": (
        _replace("    azCount: 3\n", "    azCount: 3\n    azCount: 2\n"),
        "Pulumi.duplicate-nested.yaml: not valid YAML (duplicate key 'azCount'",
    ),
    "alias-bomb": (_billion_laughs(), f"Pulumi.alias-bomb.yaml: expands to more than {MAX_CONFIG_NODES} values"),
    "alias-loop": (
        "config: &loop\n  tradesense:owner: [*loop]\n",
        "Pulumi.alias-loop.yaml: a YAML alias refers to itself",
    ),
    "deep": (
        "config: " + "[" * 5000 + "]" * 5000 + "\n",
        f"Pulumi.deep.yaml: not valid YAML (nested deeper than {MAX_CONFIG_DEPTH} levels at line 1",
    ),
    "unclosed": ("config: [unclosed\n", "Pulumi.unclosed.yaml: not valid YAML ("),
    "python-tag": ("config: !!python/object/apply:os.system ['true']\n", "Pulumi.python-tag.yaml: not valid YAML ("),
    # Values each component refuses in its Args: settings must refuse them first, naming the key.
    "az-count": (_replace("azCount: 3", "azCount: 5"), "tradesense:network.azCount = 5: must be at most 4"),
    "cidr-public": (
        _replace("10.40.0.0/16", "172.32.0.0/16"),
        'tradesense:network.cidr = "172.32.0.0/16": must be inside an RFC 1918 private range',
    ),
    "cidr-cgnat": (
        _replace("10.40.0.0/16", "100.64.0.0/16"),
        'tradesense:network.cidr = "100.64.0.0/16": must be inside an RFC 1918 private range',
    ),
    "cidr-benchmark": (
        _replace("10.40.0.0/16", "198.18.0.0/16"),
        'tradesense:network.cidr = "198.18.0.0/16": must be inside an RFC 1918 private range',
    ),
    "cidr-malformed": (
        _replace("10.40.0.0/16", "10.40.0.0/33"),
        'tradesense:network.cidr = "10.40.0.0/33": not a network address',
    ),
    "cidr-host-bits": (
        _replace("10.40.0.0/16", "10.40.0.1/16"),
        'tradesense:network.cidr = "10.40.0.1/16": not a network address',
    ),
    "cidr-too-small": (
        _replace("10.40.0.0/16", "10.40.0.0/24"),
        'tradesense:network.cidr = "10.40.0.0/24": must be a /16 to /22 block',
    ),
    "origin-loop": (
        _replace("origin.tradesense.io", "api.tradesense.io"),
        'tradesense:edge.originDomain = "api.tradesense.io": must differ from publicHostname',
    ),
    "owner-comma": (
        _replace("platform-engineering", "platform, engineering"),
        'tradesense:owner = "platform, engineering": must be up to 256 letters',
    ),
    "service-default": (
        _replace("    ai:\n", "    default:\n"),
        'tradesense:services.default = "default": is reserved',
    ),
    "region-newline": (
        _replace("aws:region: us-east-1", 'aws:region: "us-east-1\\n"'),
        'aws:region = "us-east-1\\n": must be a commercial AWS region like eu-central-1',
    ),
    # Stack names Pulumi accepts but AWS would refuse in the names derived from them.
    "Prod": (
        PROD_TEXT,
        "stack = \"Prod\": it names the ElastiCache replication group 'tradesense-Prod', which must start",
    ),
    "prod_eu": (PROD_TEXT, 'stack = "prod_eu": it names the ElastiCache replication group'),
    "prod--eu": (
        PROD_TEXT,
        "stack = \"prod--eu\": it names the ElastiCache replication group 'tradesense-prod--eu', which must not contain '--'",
    ),
    "prod-": (
        PROD_TEXT,
        "stack = \"prod-\": it names the ElastiCache replication group 'tradesense-prod-', which must not contain '--' nor end",
    ),
    "production-eu-central-1-blue-green": (
        PROD_TEXT,
        'stack = "production-eu-central-1-blue-green": it names the '
        "ElastiCache replication group 'tradesense-production-eu-central-1-blue-green', "
        "which is 45 characters; AWS allows 1 to 40",
    ),
    # 37 characters fit ElastiCache's 40, but with a long service name the RDS identifier exceeds 63.
    "eu-central-production-blue": (
        _replace(
            "    ai:\n      database: false\n",
            "    ai:\n      database: false\n    risk-and-settlement-reporting:\n      database: true\n",
        ),
        'tradesense:services.risk-and-settlement-reporting = "risk-and-settlement-reporting": it names the RDS instance '
        "'tradesense-eu-central-production-blue-risk-and-settlement-reporting', which is 67 characters; AWS allows 1 to 63",
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-stacks")
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    for stack, (content, _) in FILE_CASES.items():
        path = root / f"Pulumi.{stack}.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


@pytest.mark.parametrize("stack", sorted(FILE_CASES))
def test_bad_stack_file_is_one_line_naming_what_is_wrong(project, stack):
    with pytest.raises(ConfigError) as error:
        load_stack_settings(stack, project)
    message = str(error.value)
    assert message.startswith(FILE_CASES[stack][1]), message
    assert "\n" not in message and len(message) < 400


def test_the_alias_bomb_is_refused_quickly(project):
    import time

    started = time.perf_counter()
    with pytest.raises(ConfigError):
        load_stack_settings("alias-bomb", project)
    assert time.perf_counter() - started < 2.0


def test_duplicate_keys_in_the_committed_stack_files_would_be_caught():
    # The strict loader reads every committed stack file unchanged (no false duplicate).
    for path in REPO.glob("Pulumi.*.yaml"):
        read_stack_config(path.name[len("Pulumi.") : -len(".yaml")], REPO)


# --------------------------------------------------------------------------------------------
# Values that look like secrets are never echoed.


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("tradesense:dbPassword", "hunter2", "tradesense:dbPassword = [secret]: unknown setting"),
        ("tradesense:owner", {"secure": "v1:AAAAEXAMPLECIPHERTEXT"}, "tradesense:owner = [secret]: must be"),
        (
            "tradesense:monthlyBudgetUsd",
            "AKIAIOSFODNN7EXAMPLE",
            "tradesense:monthlyBudgetUsd = [secret]: must be a whole number",
        ),
        ("tradesense:alertEmail", "q8Zr5XwT2pLm9NvB4kYc7HdJ3sGf", "tradesense:alertEmail = [secret]: must be an email"),
        (
            "tradesense:datadog",
            {"enabled": True, "externalId": 12345},
            "tradesense:datadog.externalId = [secret]: must be",
        ),
    ],
)
def test_a_value_that_looks_like_a_secret_is_not_echoed(key, value, expected):
    config = copy.deepcopy(PROD)
    config[key] = value
    with pytest.raises(ConfigError) as error:
        parse_settings(config, project="tradesense", stack="prod")
    message = str(error.value)
    assert message.startswith(expected), message
    for secret in ("hunter2", "CIPHERTEXT", "AKIAIOSFODNN7EXAMPLE", "q8Zr5XwT2pLm9NvB4kYc7HdJ3sGf", "12345"):
        assert secret not in message


def test_an_ordinary_value_is_still_shown():
    config = copy.deepcopy(PROD)
    config["tradesense:owner"] = "a" * 300
    with pytest.raises(ConfigError, match=r'^tradesense:owner = "aaaa.*\.\.\.: must be up to 256'):
        parse_settings(config, project="tradesense", stack="prod")


# --------------------------------------------------------------------------------------------
# The command: exit 2, one line, no traceback, nothing written.

PREVIEW_CASES = ("list", "latin1", "alias-bomb", "az-count", "Prod")


@pytest.fixture(scope="module")
def preview_runs(project) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """`python -m scripts.engine.preview` on each bad stack, started together (each is mostly imports)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    running = {}
    for stack in PREVIEW_CASES:
        out = project / f"out-{stack}"
        running[stack] = (
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scripts.engine.preview",
                    "--stack",
                    stack,
                    "--project-dir",
                    str(project),
                    "--out",
                    str(out),
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            out,
        )
    results = {}
    for stack, (proc, out) in running.items():
        stdout, stderr = proc.communicate(timeout=120)
        results[stack] = (subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), out)
    return results


@pytest.mark.parametrize("stack", PREVIEW_CASES)
def test_preview_of_a_bad_stack_exits_2_with_one_line_and_writes_nothing(preview_runs, stack):
    result, out = preview_runs[stack]
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert FILE_CASES[stack][1] in result.stderr
    assert "Traceback" not in result.stderr and "ValueError" not in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_a_project_name_kms_reserves_is_refused(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: aws-trading\n")
    (tmp_path / "Pulumi.prod.yaml").write_text(PROD_TEXT)
    with pytest.raises(ConfigError, match=r'^project = "aws-trading": it starts the KMS alias names'):
        load_stack_settings("prod", tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("- tradesense\n", "Pulumi.yaml: name = null: must be a project name"),
        ("name: trade sense\n", 'Pulumi.yaml: name = "trade sense": must be a project name'),
        ("name: [a, a\n", "Pulumi.yaml: not valid YAML"),
    ],
)
def test_a_bad_project_file_is_one_line(tmp_path, content, message):
    (tmp_path / "Pulumi.yaml").write_text(content)
    (tmp_path / "Pulumi.prod.yaml").write_text(PROD_TEXT)
    with pytest.raises(ConfigError) as error:
        load_stack_settings("prod", tmp_path)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_an_uppercase_project_is_named_not_the_stack(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: TradeSense\n")
    (tmp_path / "Pulumi.prod.yaml").write_text(PROD_TEXT)
    with pytest.raises(ConfigError, match=r'^project = "TradeSense": it starts the ElastiCache replication group id'):
        load_stack_settings("prod", tmp_path)
