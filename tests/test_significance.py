"""Significance marks and average-rank intervals, against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_gnn import significance
from bench_gnn.leaderboard import build_boards
from bench_gnn.store import read_records
from bench_gnn.sweep import load_suite

ROOT = Path(__file__).resolve().parents[1]


def test_holm_adjusts_step_down_and_stays_monotone():
    adjusted = significance.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    # sorted: a 0.01·3 = 0.03; c 0.03·2 = 0.06; b 0.04·1 = 0.04 -> raised to 0.06 (monotone)
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})


def test_compare_with_best_tells_tied_from_worse_and_needs_three_pairs():
    best = {(s, s): 90.0 + s for s in range(5)}
    worse = {k: v - 5.0 + 0.1 * (k[0] % 2) for k, v in best.items()}  # 5 points lower on every split
    tied = {k: v + (0.3 if k[0] % 2 else -0.3) for k, v in best.items()}  # noise around the best
    two_runs = {k: best[k] - 10 for k in [(0, 0), (1, 1)]}
    verdicts = significance.compare_with_best({"B": best, "W": worse, "T": tied, "S": two_runs}, "B")
    assert verdicts == {"B": "best", "W": "<", "T": "≈", "S": ""}


def test_identical_scores_are_not_distinguishable():
    runs = {(s, s): 50.0 for s in range(4)}
    assert significance.compare_with_best({"A": runs, "B": dict(runs)}, "A") == {"A": "best", "B": "≈"}


def test_rank_interval_is_a_bootstrap_over_datasets():
    ranks = {"d1": {"A": 1.0, "B": 1.0}, "d2": {"A": 1.0, "B": 3.0}, "d3": {"C": 1.0}}
    intervals = significance.rank_intervals(ranks, ["A", "B", "C"])
    assert intervals["A"] == (1.0, 1.0)
    # B's mean over a resample of its two datasets is 1, 2 or 3 with probability 1/4, 1/2, 1/4
    assert intervals["B"] == (1.0, 3.0)
    assert intervals["C"] is None  # ranked on one dataset only
    assert significance.rank_intervals(ranks, ["B"]) == significance.rank_intervals(ranks, ["B"])  # fixed seed


def test_committed_heterophily_board_marks_the_best_and_withholds_a_verdict_on_two_splits(plugins):
    suite, _ = load_suite(plugins, "heterophily")
    (board,) = build_boards(suite, read_records(ROOT / "leaderboards" / "records" / "heterophily"))
    cells = {(c.dataset, c.model): c for c in board.cells}
    assert cells[("minesweeper", "GCN")].vs_best == "best" and cells[("minesweeper", "GCN")].n == 10
    assert cells[("minesweeper", "SAGE")].vs_best == "" and cells[("minesweeper", "SAGE")].n == 2
