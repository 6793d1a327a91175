"""A filtered run prints only the rows it was asked about, says how many the whole board has and how to see them,
and keeps the whole board's ranks."""

from __future__ import annotations

from bench_gnn.leaderboard import build_boards, focus, render
from bench_gnn.store import read_records
from bench_gnn.sweep import load_suite


def _rows(out: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| csbm")]


def test_a_filtered_run_prints_its_rows_and_points_at_the_whole_board(bench_main, tmp_path, plugins):
    results = tmp_path / "results"
    code, _, err = bench_main("run", "--suite", "smoke", "--steps", "3", "--splits", "1", "--dataset", "csbm-mixed",
                              "--results", str(results), "--no-progress", "--no-leaderboard")
    assert code == 0, err
    code, out, err = bench_main("run", "--suite", "smoke", "--steps", "3", "--splits", "1", "--model", "GCN",
                                "--dataset", "csbm-mixed", "--results", str(results), "--no-progress")
    assert code == 0, err
    assert [row[:2] for row in _rows(out)] == [["csbm-mixed", "GCN"]]
    assert (f"Showing the 1 of 9 rows asked for (model GCN, dataset csbm-mixed); ranks and significance are the "
            f"whole board's. All rows: `bench leaderboard render --suite smoke --records {results}`.") in out
    suite, _ = load_suite(plugins, "smoke", steps=3)
    records = read_records(results / "smoke")
    (board,) = build_boards(suite, records, ["reduced: steps=3"])
    ranked = {c.model: c.rank for c in board.cells if c.dataset == "csbm-mixed"}
    assert sorted(ranked.values()) == [1.0, 2.0, 3.0]  # three models ran on csbm-mixed
    assert _rows(out)[0][-3] == str(int(ranked["GCN"]))  # its rank among all three, not among the rows shown
    whole = render(suite, records, variants=["reduced: steps=3"])
    assert len(_rows(whole)) == 9 and "Showing the" not in whole
    assert focus(board, models=["SAGE"]) == 9 and {c.model for c in board.cells} == {"SAGE"}
    assert set(board.average_rank) == {"SAGE"}
