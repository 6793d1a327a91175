"""CLI paths that other tests only reach through the Python API: leaderboard render, --fail-fast, --threads."""

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import failing_plugin
import numpy as np
import record_builders
from scipy import stats

BENCH = Path(sys.executable).parent / "bench"

GCN_TESTS = [0.80, 0.84, 0.82]
SAGE_TESTS = [0.70, 0.72, 0.74]


def _write_records(folder: Path, model: str, tests: list[float]) -> None:
    (folder / "smoke").mkdir(parents=True)
    for split, test in enumerate(tests):
        record = record_builders.make(record_builders.ok_results(val=0.6, test=test), model=model, split=split,
                                      seed=split)
        (folder / "smoke" / f"{model}-{split}.json").write_text(json.dumps(record))


def test_leaderboard_render_merges_record_folders_in_every_format(bench_main, tmp_path):
    _write_records(tmp_path / "a", "GCN", GCN_TESTS)
    _write_records(tmp_path / "b", "SAGE", SAGE_TESTS)
    base = ["leaderboard", "render", "--suite", "smoke", "--records", str(tmp_path / "a"),
            "--records", str(tmp_path / "b")]
    expected = {m: (100 * np.mean(t), 100 * np.std(t, ddof=1)) for m, t in (("GCN", GCN_TESTS), ("SAGE", SAGE_TESTS))}
    p = stats.ttest_rel(GCN_TESTS, SAGE_TESTS).pvalue  # one comparison against the best: Holm leaves it as is
    assert p < 0.05

    code, out, err = bench_main(*base, "--format", "json")
    assert code == 0, err
    cells = {(c["dataset"], c["model"]): c for c in json.loads(out)[0]["cells"]}
    for model, (mean, std) in expected.items():
        cell = cells["csbm-mixed", model]
        assert cell["status"] == "ok" and cell["n"] == 3
        assert abs(cell["mean"] - mean) < 1e-9 and abs(cell["std"] - std) < 1e-9
    assert cells["csbm-mixed", "GCN"]["rank"] == 1 and cells["csbm-mixed", "SAGE"]["rank"] == 2
    assert cells["csbm-mixed", "SAGE"]["vs_best"] == "<"
    assert cells["csbm-mixed", "ResNet"]["status"] == "missing" and cells["csbm-homophilous", "GCN"]["n"] == 0

    code, out, err = bench_main(*base, "--format", "csv")
    assert code == 0, err
    rows = {(r["dataset"], r["model"]): r for r in csv.DictReader(io.StringIO(out))}
    for model, (mean, std) in expected.items():
        assert rows["csbm-mixed", model]["test"] == f"{mean:.2f} ± {std:.2f}"
    assert rows["csbm-mixed", "ResNet"]["status"] == "missing"

    code, out, err = bench_main(*base, "--format", "markdown")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("| csbm-mixed")]
    by_model = {line.split("|")[2].strip(): line for line in lines}
    for model, (mean, std) in expected.items():
        assert f"| {mean:.2f} ± {std:.2f} |" in by_model[model]

    code, out, err = bench_main(*base, "--format", "latex")
    assert code == 0, err
    assert "\\begin{tabular}" in out and "\\end{tabular}" in out
    for model, (mean, std) in expected.items():
        (row,) = [line for line in out.splitlines() if line.strip().startswith("csbm-mixed") and f"& {model} " in line]
        assert f"& {mean:.2f} ± {std:.2f} &" in row, row

    code, out, err = bench_main(*base, "--format", "html")
    assert code == 0, err
    assert "<table>" in out and "</table>" in out
    rows = [re.sub(r"\s+</td>", "</td>", line) for line in out.splitlines() if "<td>csbm-mixed" in line]
    for model, (mean, std) in expected.items():
        (row,) = [line for line in rows if f"<td>{model}</td>" in line]
        assert f"<td>{mean:.2f} ± {std:.2f}</td>" in row, row


def test_fail_fast_stops_after_the_first_failed_job(tmp_path):
    site, suite = failing_plugin.install(tmp_path, splits=3)
    r = subprocess.run([str(BENCH), "run", "--suite", str(suite), "--results", str(tmp_path / "r"), "--fail-fast",
                        "--no-leaderboard"], capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(site)})
    assert r.returncode == 1, r.stderr
    assert "stopping after the first failure (--fail-fast)" in r.stderr
    records = list((tmp_path / "r").rglob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["results"]["status"] == "failed"
    assert "0 ok, 1 failed" in r.stderr and "2 not run" in r.stderr


def test_threads_sets_torch_intra_op_threads(bench_main, tmp_path):
    import torch

    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    try:
        code, out, err = bench_main("run", "--suite", "smoke", "--steps", "1", "--splits", "1", "--model", "GCN",
                                    "--dataset", "csbm-homophilous", "--threads", str(wanted), "--no-leaderboard",
                                    "--no-progress", "--results", str(tmp_path / "r"))
        seen = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert code == 0, err
    assert seen == wanted
    (record,) = (json.loads(p.read_text()) for p in (tmp_path / "r").rglob("*.json"))
    assert f"{wanted} threads)" in json.dumps(record)
