"""README "Benchmark your model", run as written: the model file, the smoke suite's baselines, the model under the
same protocol, its place in the full-protocol table; then the heterophily commands as dry runs (what they would
run, and as which variant)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Benchmark your model"):text.index("## Running the real suites")]


def _blocks(section: str) -> list[str]:
    return re.findall(r"```(?:python)?\n(.*?)```", section, flags=re.S)


@pytest.mark.slow
def test_the_walkthrough_runs_as_written(bench_main, tmp_path, monkeypatch, data_dir):
    model_file, smoke, real = _blocks(_section())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_gnn.py").write_text(model_file)
    outputs = []
    for line in smoke.splitlines():
        argv = shlex.split(line)
        assert argv[0] == "bench"
        code, out, err = bench_main(*argv[1:], "--no-progress") if argv[1] == "run" else bench_main(*argv[1:])
        assert code == 0, (line, err)
        outputs.append(out)
    board = outputs[-1].split("## Full protocol")[1].split("### Average rank")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in board.splitlines() if line.startswith("| csbm")]
    mine = [row for row in rows if row[1] == "MyGNN †"]
    assert len(mine) == 3 and all(row[-3].isdigit() and row[4] == "2/2" for row in mine)  # ranked, both splits
    assert len(rows) == 12
    reduced, dry_run, _full = real.splitlines()
    code, out, err = bench_main(*shlex.split(reduced)[1:], "--dry-run", "--data-dir", str(data_dir))
    assert code == 0 and "(reduced: steps=200)" in out and "2 job(s): 0 done" in out, err  # trains nothing here
    code, out, err = bench_main(*shlex.split(dry_run.split("#")[0])[1:], "--data-dir", str(data_dir))
    assert code == 0, err
    assert "70 job(s): 0 done" in out and "(full)" in out  # 7 datasets × 10 splits, its defaults (no grid)
