"""README "Set up and run": a wheel carries the built-in plugins, suites and dataset cards.

The wheel is built from the committed and untracked-but-not-ignored files (what a clean checkout holds), in a
scratch copy, without network (the `test` extra brings a setuptools that reads this pyproject.toml).
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
# source folder -> the folder it has in the wheel (each holds one import package)
FOLDERS = {"harness/bench_gnn": "bench_gnn", **{f"plugins/{f}/bench_gnn_{f}": f"bench_gnn_{f}"
                                               for f in ("node", "longrange", "ood", "launchers", "smoke")}}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    scratch = tmp_path_factory.mktemp("wheel")
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                           check=True, capture_output=True, text=True, timeout=60).stdout.split()
    source = scratch / "source"
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(scratch / "dist"), str(source)], check=True,
                   capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    (built,) = (scratch / "dist").glob("bench_gnn-*.whl")
    return zipfile.ZipFile(built)


def _shipped(folder: str, pattern: str) -> set[str]:
    return {f"{FOLDERS[folder]}/{p.relative_to(ROOT / folder).as_posix()}" for p in (ROOT / folder).glob(pattern)
            if "__pycache__" not in p.parts}


def test_the_wheel_holds_every_module_suite_card_and_schema_of_the_checkout(wheel):
    names = set(wheel.namelist())
    expected = set()
    for folder in FOLDERS:
        expected |= _shipped(folder, "**/*.py")
    for folder in FOLDERS:
        expected |= _shipped(folder, "suites/*.yaml") | _shipped(folder, "cards/*.yaml")
    expected |= _shipped("harness/bench_gnn", "schemas/*.json")
    assert len(expected) > 80 and {"bench_gnn_smoke/suites/smoke.yaml", "bench_gnn_node/cards/minesweeper.yaml",
                                   "bench_gnn/schemas/record-2.schema.json"} <= expected
    assert sorted(expected - names) == []
    assert not [n for n in names if n.startswith(("tests/", "leaderboards/", "benchmarks/"))]


def test_the_wheel_declares_the_console_script_and_the_built_in_plugins(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names keep their case
    parser.read_string(wheel.read(entry_points).decode())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert dict(parser["console_scripts"]) == project["scripts"] == {"bench": "bench_gnn.cli:main"}
    assert dict(parser["bench"]) == project["entry-points"]["bench"] and len(project["entry-points"]["bench"]) == 5
