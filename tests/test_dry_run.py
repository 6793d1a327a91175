"""`bench run --dry-run`: the jobs a sweep would run per dataset × model, those already done, the datasets that
cannot run and why, and a time estimate from finished jobs; nothing is written."""

from __future__ import annotations

import json
import re

from snapshots import snapshot


def test_the_full_heterophily_suite_is_2450_jobs_and_nothing_is_written(bench_main, data_dir, tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    before = snapshot(tmp_path)
    code, out, err = bench_main("run", "--suite", "heterophily", "--dry-run", "--data-dir", str(data_dir))
    assert code == 0, err
    assert snapshot(tmp_path) == before  # no results folder, no cache, no lock
    assert "2450 job(s): 0 done" in out
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in out.splitlines()
            if line.split()[:1] and line.split()[0] in ("minesweeper", "roman-empire")}
    assert rows[("minesweeper", "GCN")][:5] == ["50", "5", "10", "0", "50"]  # 5 layer counts × 10 splits
    assert rows[("roman-empire", "GCN")][-1] == "unavailable" and rows[("minesweeper", "GCN")][-1] == "unknown"
    unavailable = re.search(r"unavailable datasets \((\d+);", out)
    assert unavailable and int(unavailable.group(1)) == 3
    for name in ("roman-empire", "amazon-ratings", "questions"):
        assert f"- {name}: dataset {name!r}: raw file" in out and "has no sha256" in out
    assert "- minesweeper:" not in out
    runnable = re.search(r"(\d+) to run", out)
    assert runnable and int(runnable.group(1)) == 2450 - 3 * 7 * 50  # the jobs of the three unavailable ones


def test_finished_jobs_are_counted_and_time_the_rest_of_their_cell(bench_main, tmp_path):
    results = tmp_path / "results"
    sweep = ["--suite", "smoke", "--model", "GCN", "--dataset", "csbm-mixed", "--steps", "5", "--results",
             str(results)]
    code, _, err = bench_main("run", *sweep, "--splits", "1", "--no-progress", "--no-leaderboard")
    assert code == 0, err
    (record,) = [json.loads(p.read_text()) for p in (results / "smoke").glob("*.json")]
    before = snapshot(tmp_path)
    code, out, err = bench_main("run", *sweep, "--dry-run")
    assert code == 0, err
    assert snapshot(tmp_path) == before
    (row,) = [line.split() for line in out.splitlines() if line.startswith("csbm-mixed")]
    assert row[:7] == ["csbm-mixed", "GCN", "2", "1", "2", "1", "1"]
    seconds = float(record["results"]["wall_seconds"])
    assert " ".join(row[7:]) == (f"{seconds:.1f} s" if seconds < 10 else f"{round(seconds)} s")
    assert "2 job(s): 1 done (skipped by `bench run`), 1 to run: about" in out
