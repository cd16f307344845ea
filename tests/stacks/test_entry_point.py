"""The CLI's entry point: what `pulumi up` executes must import cleanly from stacks/ on sys.path."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import yaml

from stacks.settings import REPO_ROOT

STACKS = REPO_ROOT / "stacks"


def test_pulumi_yaml_points_at_the_stacks_entry_point():
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    assert project["main"] == "stacks/" and (STACKS / "__main__.py").is_file()
    assert project["runtime"]["name"] == "python"


def test_no_module_in_stacks_shadows_the_standard_library():
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names = {p.stem for p in stdlib.glob("*.py")} | {p.name for p in stdlib.iterdir() if p.is_dir()}
    names |= set(sys.builtin_module_names)
    clashes = [p.name for p in STACKS.glob("*.py") if p.stem in names and p.stem != "__main__"]
    assert clashes == []


def test_entry_point_runs_from_anywhere_with_only_stacks_dir_on_the_path():
    # As the language host runs it: `python stacks/__main__.py`, program directory first on sys.path,
    # no PYTHONPATH. With no engine config it must get as far as reading settings, and stop there
    # with the one-line RunError a missing key gives, not an ImportError.
    result = subprocess.run(
        [sys.executable, str(STACKS / "__main__.py")],
        cwd="/",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "pulumi.errors.RunError: tradesense:environment is not set: it is required (see Pulumi.prod.yaml)"
    )
