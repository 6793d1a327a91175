"""Leaderboards are a pure function of the records: selection, statistics, ranks, missing and failed cells."""

from __future__ import annotations

import csv
import io
import json
import statistics

import pytest

from bench_gnn import record as bench_record
from bench_gnn.leaderboard import build_boards, render
from bench_gnn.sweep import load_suite


@pytest.fixture
def suite(plugins):
    return load_suite(plugins, "heterophily")[0]


def record(model, dataset, split, val, test, layers=1, status="ok", variant="full", metric="roc_auc", higher=True,
           scale=100.0, suite="heterophily"):
    identity = {
        "suite": suite, "suite_version": "1", "protocol": "node-full-batch", "protocol_args": {},
        "max_params": None, "dataset": dataset, "dataset_files": {}, "dataset_plugin": ["bench-gnn", "0"],
        "model": model, "model_plugin": ["bench-gnn", "0"], "hparams": {"num_layers": layers},
        "grid_keys": ["num_layers"], "metric": metric, "split": split, "seed": split,
    }
    results = {"status": status, "higher_is_better": higher, "metric_scale": scale}
    if status == "ok":
        results.update(metrics={"train": 1.0, "val": val, "test": test}, num_params=1000 * layers,
                       seconds_per_step=0.01, best_step=10, extras={})
    else:
        results["error"] = {"type": "OutOfMemory", "message": "CUDA out of memory", "traceback": ""}
    return bench_record.new(identity, results, variant=variant)


def test_selection_by_mean_validation_and_ddof1_std(suite):
    tests2 = [0.80, 0.82, 0.90]
    records = [record("GCN", "minesweeper", s, val=0.70, test=0.99, layers=1) for s in range(3)]
    records += [record("GCN", "minesweeper", s, val=0.75, test=t, layers=2) for s, t in enumerate(tests2)]
    (board,) = build_boards(suite, records)
    cell = next(c for c in board.cells if c.model == "GCN" and c.dataset == "minesweeper")
    assert cell.selected == "num_layers=2 (of 2/5 tried)" and cell.configs == 2
    assert cell.mean == pytest.approx(100 * statistics.fmean(tests2))
    assert cell.std == pytest.approx(100 * statistics.stdev(tests2))
    assert cell.n == 3 and cell.expected == 10 and cell.status == "partial"
    assert cell.published == 89.75 and cell.delta == pytest.approx(cell.mean - 89.75)
    assert cell.agrees is (abs(cell.delta) <= max(2 * 0.52, 1.0))
    assert cell.params == 2000


def test_ranks_missing_and_failed_cells(suite):
    records = [record("GCN", "tolokers", s, 0.8, 0.83) for s in range(2)]
    records += [record("SAGE", "tolokers", s, 0.8, 0.81) for s in range(2)]
    records += [record("GAT", "tolokers", 0, 0, 0, status="failed")]
    (board,) = build_boards(suite, records)
    cells = {(c.model, c.dataset): c for c in board.cells}
    assert cells[("GCN", "tolokers")].rank == 1 and cells[("SAGE", "tolokers")].rank == 2
    assert cells[("GAT", "tolokers")].status == "failed" and cells[("GAT", "tolokers")].failed == 1
    assert cells[("GT", "tolokers")].status == "missing"
    assert len(board.cells) == len(suite.models) * len(suite.datasets)
    assert board.average_rank["GCN"] == (1.0, 1)
    text = render(suite, records)
    assert "FAILED" in text and "OutOfMemory" in text and "—" in text


def test_lower_is_better_metric_ranks_the_smallest_first(plugins):
    """MAE (higher_is_better=False): the configuration with the lowest validation MAE is chosen, and the model with
    the lowest test MAE ranks first."""
    suite = load_suite(plugins, "gnn-longrange")[0]

    def mae(model, seed, val, test, layers=1):
        return record(model, "peptides-struct", seed, val, test, layers=layers, metric="mae", higher=False,
                      scale=1.0, suite="gnn-longrange")

    records = [mae("GINE", s, val=0.30, test=0.30) for s in range(3)]
    records += [mae("GPS", s, val=0.20, test=0.20 + s / 1000) for s in range(3)]
    records += [mae("GPS", s, val=0.40, test=0.10, layers=2) for s in range(3)]  # worse val: never chosen
    records += [mae("LRGB-GCN", s, val=0.25, test=0.25) for s in range(3)]
    (board,) = build_boards(suite, records)
    cells = {c.model: c for c in board.cells if c.dataset == "peptides-struct"}
    assert cells["GPS"].selected.startswith("num_layers=1") and cells["GPS"].mean == pytest.approx(0.201)
    assert (cells["GPS"].rank, cells["LRGB-GCN"].rank, cells["GINE"].rank) == (1.0, 2.0, 3.0)
    assert cells["GPS"].vs_best == "best" and cells["GINE"].vs_best == "<"
    assert board.average_rank["GPS"] == (1.0, 1) and board.average_rank["GINE"] == (3.0, 1)


# (published mean, published std, test score, within): 2 std = 1.25 > 1 point in the first rows, 2 std = 0.5 < 1
# point in the last ones. Published and test scores are binary fractions, so Δ at the boundary is exact.
WITHIN = [
    (80.0, 0.625, 0.8125, True),   # Δ = 1.25 = 2 std: on the boundary
    (80.0, 0.625, 0.8120, True),   # Δ = 1.20: just inside
    (80.0, 0.625, 0.8130, False),  # Δ = 1.30: just outside
    (80.0, 0.625, 0.7880, True),   # Δ = -1.20
    (80.0, 0.625, 0.7870, False),  # Δ = -1.30
    (80.25, 0.25, 0.8125, True),   # Δ = 1.00 = 1 point: on the boundary
    (80.25, 0.25, 0.8120, True),   # Δ = 0.95
    (80.25, 0.25, 0.8130, False),  # Δ = 1.05, more than 2 std and more than 1 point
    (80.25, 0.25, 0.7930, True),   # Δ = -0.95
    (80.25, 0.25, 0.7920, False),  # Δ = -1.05
]


@pytest.mark.parametrize("published,std,test,within", WITHIN)
def test_within_is_abs_delta_at_most_two_published_std_or_one_point(plugins, published, std, test, within):
    suite = load_suite(plugins, "heterophily", [f"reference.scores.GCN.tolokers=[{published},{std}]"])[0]
    (board,) = build_boards(suite, [record("GCN", "tolokers", 0, 0.8, test)])
    cell = next(c for c in board.cells if c.model == "GCN" and c.dataset == "tolokers")
    assert cell.delta == pytest.approx(100 * test - published, abs=1e-9)
    assert cell.agrees is within
    row = next(r for r in csv.DictReader(io.StringIO(render(suite, [record("GCN", "tolokers", 0, 0.8, test)], "csv")))
               if r["model"] == "GCN" and r["dataset"] == "tolokers")
    assert row["within"] == ("yes" if within else "no")


def test_variants_are_never_mixed(suite):
    records = [record("GCN", "tolokers", 0, 0.8, 0.83)]
    records += [record("GCN", "tolokers", 0, 0.9, 0.50, variant="reduced: steps=10")]
    boards = build_boards(suite, records)
    assert [b.variant for b in boards] == ["full", "reduced: steps=10"]
    full = next(c for c in boards[0].cells if c.model == "GCN" and c.dataset == "tolokers")
    reduced = next(c for c in boards[1].cells if c.model == "GCN" and c.dataset == "tolokers")
    assert full.mean == pytest.approx(83.0) and reduced.mean == pytest.approx(50.0)
    assert "reduced: steps=10 (not comparable with published numbers)" in render(suite, records)


def test_a_variant_table_never_stands_beside_the_published_numbers(suite):
    """The README's promise: reduced runs are rendered in their own table, never beside the published numbers."""
    records = [record("GCN", "tolokers", 0, 0.8, 0.83), record("GCN", "tolokers", 0, 0.9, 0.50, variant="reduced")]
    page = render(suite, records)
    full, variant = page.split("## Variant — reduced")
    assert "| published" in full and "83.64 ± 0.67" in full  # GCN on tolokers, Platonov et al.
    table = [line for line in variant.splitlines() if line.startswith("|")]
    assert table and "published" not in table[0] and "Δ" not in table[0] and "within" not in table[0]
    assert "83.64" not in variant
    (_, reduced_board) = build_boards(suite, records)
    assert all(c.published is None and c.delta is None for c in reduced_board.cells)


def test_all_formats_render_and_are_deterministic(suite):
    records = [record("GCN", "tolokers", s, 0.8, 0.83 + s / 100) for s in range(2)]
    for fmt in ("markdown", "csv", "latex", "html", "json"):
        assert render(suite, records, fmt) == render(suite, list(reversed(records)), fmt)
    rows = list(csv.DictReader(io.StringIO(render(suite, records, "csv"))))
    gcn = next(r for r in rows if r["model"] == "GCN" and r["dataset"] == "tolokers")
    assert gcn["test"] == "83.50 ± 0.71" and gcn["published"] == "83.64 ± 0.67" and gcn["n"] == "2/10"
    payload = json.loads(render(suite, records, "json"))
    assert payload[0]["variant"] == "full"
    assert "\\toprule" in render(suite, records, "latex") and "<table>" in render(suite, records, "html")


def test_update_and_check_through_the_cli(tmp_path, bench_main):
    boards = tmp_path / "boards"
    folder = boards / "records" / "heterophily"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps(record("GCN", "tolokers", 0, 0.8, 0.83)))
    args = ("--suite", "heterophily", "--leaderboards", str(boards))
    code, _, err = bench_main("leaderboard", "check", *args)
    assert code == 7 and "bench leaderboard update --suite heterophily" in err
    assert bench_main("leaderboard", "update", *args)[0] == 0
    assert "83.00" in (boards / "heterophily.md").read_text()
    assert bench_main("leaderboard", "check", *args)[0] == 0
    (folder / "b.json").write_text(json.dumps(record("GCN", "tolokers", 1, 0.8, 0.85)))
    assert bench_main("leaderboard", "check", *args)[0] == 7


def test_committed_leaderboards_match_their_records(bench_main):
    """What a CI job runs: the tables in leaderboards/ are what the committed records render."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "leaderboards"
    suites = sorted(p.name for p in (root / "records").iterdir() if p.is_dir())
    assert "heterophily" in suites
    for suite in suites:
        code, _, err = bench_main("leaderboard", "check", "--suite", suite, "--leaderboards", str(root))
        assert code == 0, err


def test_a_cells_text_by_value_two_grid_keys_failures_small_scores_and_the_formats(suite):
    from bench_gnn.errors import UsageError

    two_keys = [record("GCN", "tolokers", s, 0.8, 0.8) for s in range(2)]
    for r in two_keys:
        r["identity"]["hparams"]["hidden"] = 64
        r["identity"]["grid_keys"] = ["num_layers", "hidden"]
        r["key"] = bench_record.content_hash(r["identity"])
    failing = [record("SAGE", "tolokers", s, 0.8, 0.8) for s in range(2)]
    failing.append(record("SAGE", "tolokers", 2, 0, 0, status="failed"))
    small = [record("GAT", "questions", s, 0.5, 1.5, scale=1.0) for s in range(2)]  # an unscaled score of 1.5
    rows = {(r["dataset"], r["model"]): r for r in csv.DictReader(io.StringIO(render(suite, two_keys + failing,
                                                                                      "csv")))}
    assert rows["tolokers", "GCN"]["selected"] == "num_layers=1, hidden=64 (of 1/5 tried)"
    assert rows["tolokers", "SAGE"]["status"] == "partial, 1 failed"
    assert rows["tolokers", "GAT"]["status"] == "missing"
    reduced = [dict(r, variant="reduced: steps=3") for r in small]  # no published numbers: only 1.5 sets the digits
    rows = list(csv.DictReader(io.StringIO(render(suite, reduced, "csv", variants=["reduced: steps=3"]))))
    assert next(r for r in rows if r["model"] == "GAT" and r["dataset"] == "questions")["test"] == "1.5000 ± 0.0000"
    payload = json.loads(render(suite, two_keys, "json"))
    assert set(payload[0]) == {"suite", "version", "variant", "cells", "average_rank", "tables"}
    assert payload[0]["tables"] == []  # heterophily's protocol declares no per-cell tables
    with pytest.raises(UsageError, match=r"unknown format 'pdf'; choose one of markdown, csv, latex, html, json"):
        render(suite, two_keys, "pdf")


def test_unreadable_records_are_skipped_and_named_by_key_or_a_question_mark(suite):
    good = record("GCN", "tolokers", 0, 0.8, 0.83)
    future = {"schema": 9, "key": "k-future"}
    keyless = {"schema": 9}
    incomplete = {**record("GCN", "tolokers", 1, 0.8, 0.83), "results": {"status": "ok"}}
    (board,) = build_boards(suite, [good, future, keyless, incomplete, ["not", "a", "record"]])
    assert board.skipped[:2] == ["k-future: unknown record schema 9; this bench reads schemas 1 and 2",
                                 "?: unknown record schema 9; this bench reads schemas 1 and 2"]
    assert board.skipped[2].startswith(f"{incomplete['key']}: results")
    assert board.skipped[3] == "?: a record is a JSON object, not list"
    assert next(c for c in board.cells if c.model == "GCN" and c.dataset == "tolokers").n == 1
