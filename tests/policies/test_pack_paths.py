"""Which servicer answers: under the Pulumi CLI always the SDK's public PolicyPack; in raw mode (the
offline report and review) the indexed one (fastpack.py, built on pulumi-policy's private servicer)
only on the pulumi-policy release it was written for, on any other the SDK's public PolicyPack."""

from __future__ import annotations

import importlib.metadata
import os
import textwrap
from pathlib import Path

from tradesense_policies import fastpack, pack

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def _record_servers(monkeypatch, raw: bool = True) -> dict[str, list]:
    served: dict[str, list] = {"stock": [], "indexed": []}
    if raw:
        monkeypatch.setenv("TRADESENSE_POLICY_RAW", "1")
    else:
        monkeypatch.delenv("TRADESENSE_POLICY_RAW", raising=False)
    monkeypatch.setattr(pack, "PolicyPack", lambda **kwargs: served["stock"].append(kwargs))
    monkeypatch.setattr(fastpack, "serve_indexed", lambda *args, **kwargs: served["indexed"].append(args))
    monkeypatch.delenv("TRADESENSE_POLICY_STOCK", raising=False)
    monkeypatch.delenv("TRADESENSE_WAIVERS", raising=False)
    return served


def _installed_as(monkeypatch, version: str) -> None:
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version if name == "pulumi-policy" else real(name))


def test_the_indexed_servicer_is_written_for_the_pinned_and_installed_release():
    assert f"pulumi-policy=={fastpack.WRITTEN_FOR}" in REQUIREMENTS.read_text().split()
    assert importlib.metadata.version("pulumi-policy") == fastpack.WRITTEN_FOR
    assert fastpack.version_problem() == ""


def test_on_the_release_it_was_written_for_the_indexed_servicer_serves_raw_mode(monkeypatch, capsys):
    served = _record_servers(monkeypatch)
    pack.serve()
    assert len(served["indexed"]) == 1 and served["stock"] == []
    assert capsys.readouterr().err == ""


def test_under_the_cli_the_sdk_policy_pack_serves_even_on_the_release_the_indexed_one_was_written_for(
    monkeypatch, capsys
):
    """The deploy gate depends on pulumi-policy's public API only: no private servicer, no note."""
    served = _record_servers(monkeypatch, raw=False)
    assert fastpack.version_problem() == ""
    pack.serve()
    assert served["indexed"] == []
    (stock,) = served["stock"]
    assert stock["name"] == pack.PACK_NAME and len(stock["policies"]) == len(pack.all_rules())
    assert capsys.readouterr().err == ""


def test_on_another_release_the_sdk_policy_pack_serves_and_says_why(monkeypatch, capsys):
    served = _record_servers(monkeypatch)
    _installed_as(monkeypatch, "1.22.0")
    pack.serve()
    assert served["indexed"] == []
    (stock,) = served["stock"]
    assert stock["name"] == pack.PACK_NAME and len(stock["policies"]) == len(pack.all_rules())
    (line,) = capsys.readouterr().err.splitlines()
    assert "pulumi-policy 1.22.0 is not 1.21.0" in line and "SDK's PolicyPack" in line


def test_the_fallback_answers_over_grpc_like_the_indexed_servicer(prod_input, tmp_path):
    """The whole fallback, as the engine runs it: a pack process that sees another pulumi-policy
    release serves through PolicyPack, says so once on stderr, and judges prod the same way."""
    from scripts.report import analyzer
    from scripts.report.evaluate import policy_findings

    (tmp_path / "sitecustomize.py").write_text(
        textwrap.dedent("""
        import importlib.metadata
        _real = importlib.metadata.version
        importlib.metadata.version = lambda name: "1.22.0" if name == "pulumi-policy" else _real(name)
    """)
    )
    env = {"TRADESENSE_POLICY_RAW": "1", "PYTHONPATH": str(tmp_path)}
    proc = analyzer.spawn_pack(analyzer.PACK_DIR, env)
    stderr = os.fdopen(os.dup(proc.error_file.fileno()))  # analyze() closes the pack's own handle
    fallback = analyzer.analyze(prod_input, proc=proc)
    stderr.seek(0)
    (line,) = stderr.read().splitlines()
    stderr.close()
    assert "pulumi-policy 1.22.0 is not 1.21.0" in line and "SDK's PolicyPack" in line
    indexed = analyzer.analyze(prod_input)
    assert sorted(repr(f.to_dict()) for f in policy_findings(prod_input, fallback)) == sorted(
        repr(f.to_dict()) for f in policy_findings(prod_input, indexed)
    )


def test_the_packs_own_venv_lists_every_third_party_package_it_imports_at_the_main_pin():
    """The Pulumi CLI builds the pack's venv from policies/requirements.txt alone: a package the pack
    imports but that file does not list (pydantic, for the waiver models) would fail only there."""
    import ast
    import sys

    pack_requirements = REQUIREMENTS.parent / "policies" / "requirements.txt"
    package = pack_requirements.parent / "tradesense_policies"
    imported = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"tradesense_policies", "__future__"}
    distributions = importlib.metadata.packages_distributions()
    needed = {distributions[name][0].lower().replace("_", "-") for name in third_party}
    assert {"pydantic", "pulumi-policy", "pyyaml"} <= needed

    def pins(path: Path) -> dict[str, str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return {n.lower().replace("_", "-"): v for n, _, v in (line.partition("==") for line in lines if "==" in line)}

    listed, constrained = pins(pack_requirements), pins(REQUIREMENTS.parent / "constraints.txt")
    assert needed <= set(listed), sorted(needed - set(listed))
    assert {name: listed[name] for name in listed} == {name: constrained[name] for name in listed}
