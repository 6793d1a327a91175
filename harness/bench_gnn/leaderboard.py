"""Leaderboards: a pure function of the records of one suite.

Per (dataset, model) cell: among the hyper-parameter configurations tried (the
suite's grid), the one with the best mean validation score is selected, and its
test score is reported as mean ± std (ddof=1) over splits or seeds, with ``n``,
the published number and the difference where the suite carries one, parameter
count and time per step, and the rank among models on that dataset. Missing and
failed cells are shown, never dropped. Records of different protocol variants
(full vs reduced) are rendered in separate tables, never mixed.

A record the leaderboard cannot use (an ``ok`` record without numeric metrics, ...; see
:func:`bench_gnn.record.problem`) never crashes it: it is left out of the cells and
listed in :attr:`Board.skipped` by key (its file is ``<results>/<suite>/<key>.json``).
:func:`bench_gnn.store.read_records` already skips such records with a warning naming the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tabulate import tabulate

from bench_gnn import cell_tables, significance
from bench_gnn.errors import UsageError
from bench_gnn.escaping import escape_text
from bench_gnn.jobs import FULL
from bench_gnn.record import RecordFormatError, config_id, migrate
from bench_gnn.record import problem as record_problem
from bench_gnn.suite import Suite

FORMATS = ("markdown", "csv", "latex", "html", "json")
SIGNIFICANCE_NOTE = (
    f"`≈best`: {significance.TIED} = not distinguishable from the dataset's best model ({significance.BEST}): "
    "two-sided paired t-test over the splits or seeds both ran, Holm-corrected across the dataset's models, "
    f"α = {significance.ALPHA}; {significance.WORSE} = distinguishably worse; blank = fewer than "
    f"{significance.MIN_PAIRS} shared runs. Average rank: 95% CI by bootstrap over datasets "
    f"({significance.RESAMPLES} resamples, fixed seed).\n"
)


@dataclass
class Cell:
    dataset: str
    model: str
    metric: str
    status: str
    mean: float | None = None
    std: float | None = None
    n: int = 0
    expected: int = 0
    failed: int = 0
    val: float | None = None
    published: float | None = None
    published_std: float | None = None
    delta: float | None = None
    agrees: bool | None = None
    selected: str = ""
    config: str = ""  # the chosen configuration's id (bench_gnn.record.config_id)
    configs: int = 0
    params: int | None = None
    seconds_per_step: float | None = None
    step_unit: tuple[str, float] = ("ms/step", 1000.0)
    analyses: dict[str, float | None] = field(default_factory=dict)  # column header -> mean over runs
    rank: float | None = None
    higher_is_better: bool = True
    vs_best: str = ""  # significance.BEST, TIED (not distinguishable from the best), WORSE, or "" (too few runs)
    errors: list[str] = field(default_factory=list)
    scores: list[tuple[int, int, float]] = field(default_factory=list)  # (split, seed, scaled test score)


@dataclass
class Board:
    suite: str
    version: str
    variant: str
    cells: list[Cell]
    average_rank: dict[str, tuple[float | None, int]]
    devices: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    rank_interval: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    tables: list[cell_tables.Table] = field(default_factory=list)
    #: models with records that the suite does not list (a researcher's own), ranked beside its models
    guests: list[str] = field(default_factory=list)


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def build_boards(
    suite: Suite, records: Sequence[dict[str, Any]], only: Sequence[str] | None = None
) -> list[Board]:
    """Group the suite's records by variant (full first) and build one board each (or those in ``only``)."""
    mine, skipped = [], []
    for given in records:
        try:
            record = migrate(given)
        except RecordFormatError as exc:
            skipped.append(f"{given.get('key', '?') if isinstance(given, dict) else '?'}: {exc}")
            continue
        problem = record_problem(record)
        if problem:
            skipped.append(f"{record.get('key', '?')}: {problem}")
        elif record["identity"]["suite"] == suite.name and record["identity"]["suite_version"] == suite.version:
            mine.append(record)
    variants = sorted({r["variant"] for r in mine}, key=lambda v: (v != FULL, v))
    if FULL not in variants:
        variants.insert(0, FULL)
    if only is not None:
        variants = [v for v in variants if v in only]
    boards = [_board(suite, [r for r in mine if r["variant"] == v], v) for v in variants]
    for board in boards:
        board.skipped = skipped
    return boards


def _board(suite: Suite, records: list[dict[str, Any]], variant: str) -> Board:
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_cell[(record["identity"]["dataset"], record["identity"]["model"])].append(record)
    guests = sorted({model for dataset, model in by_cell if dataset in suite.datasets and model not in suite.models})
    shown_guests = [*suite.guests, *guests]
    cells = [
        _cell(suite, dataset, model, by_cell.get((dataset, model), []), len(suite.runs(dataset)), variant)
        for dataset in suite.datasets
        for model in [*suite.models_for(dataset), *(g for g in guests if (dataset, g) in by_cell)]
    ]
    ranks_by_dataset: dict[str, dict[str, float]] = {}
    for dataset in suite.datasets:
        scored = [(c, c.mean) for c in cells if c.dataset == dataset and c.mean is not None]
        higher = _higher_is_better(records, dataset)
        for cell, mean in scored:
            better = sum(1 for _, other in scored if (other > mean if higher else other < mean))
            cell.rank = float(better + 1)
        if scored:
            ranks_by_dataset[dataset] = {c.model: c.rank for c, _ in scored if c.rank is not None}
            best = min((c for c, _ in scored), key=lambda c: c.rank or 0.0)
            runs = {c.model: {(s, seed): v for s, seed, v in c.scores} for c, _ in scored}
            for model, verdict in significance.compare_with_best(runs, best.model).items():
                next(c for c, _ in scored if c.model == model).vs_best = verdict
    average: dict[str, tuple[float | None, int]] = {}
    for model in [*suite.models, *guests]:
        ranks = [c.rank for c in cells if c.model == model and c.rank is not None]
        average[model] = (statistics.fmean(ranks) if ranks else None, len(ranks))
    devices: dict[str, int] = defaultdict(int)
    for record in records:
        devices[record["provenance"]["device"]] += 1
    board = Board(suite.name, suite.version, variant, cells, average, dict(sorted(devices.items())),
                  guests=shown_guests)
    board.tables = cell_tables.build(suite, records, {(c.dataset, c.model): c.config for c in cells if c.config})
    board.rank_interval = significance.rank_intervals(ranks_by_dataset, [*suite.models, *guests])
    return board


def _higher_is_better(records: list[dict[str, Any]], dataset: str) -> bool:
    return next((r["results"]["higher_is_better"] for r in records if r["identity"]["dataset"] == dataset), True)


def _cell(
    suite: Suite, dataset: str, model: str, records: list[dict[str, Any]], expected: int, variant: str
) -> Cell:
    metric = suite.datasets[dataset]["metric"]
    cell = Cell(dataset, model, metric, status="missing", expected=expected)
    protocol = suite.protocol_specs.get(suite.protocol_for(dataset))
    if protocol is not None:
        cell.step_unit = tuple(protocol.step_unit)
    reference = suite.reference_score(model, dataset) if variant == FULL else None  # never beside a variant
    if reference:
        cell.published, cell.published_std = reference
    failed = [r["results"] for r in records if r["results"]["status"] != "ok"]
    cell.failed = len(failed)
    cell.errors = sorted(
        {f"{r['error'].get('type')}: {r['error'].get('message')}"[:200] for r in failed if r.get("error")}
    )
    ok = [r for r in records if r["results"]["status"] == "ok"]
    if not ok:
        cell.status = "failed" if failed else "missing"
        return cell
    higher = cell.higher_is_better = ok[0]["results"]["higher_is_better"]
    scale = float(ok[0]["results"]["metric_scale"])
    configs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in ok:
        configs[config_id(record["identity"])].append(record)
    sign = 1.0 if higher else -1.0

    def mean_val(cid: str) -> float:
        return statistics.fmean(r["results"]["metrics"]["val"] for r in configs[cid])

    chosen_id = min(configs, key=lambda cid: (-sign * mean_val(cid), cid))
    chosen = sorted(configs[chosen_id], key=lambda r: (r["identity"]["split"], r["identity"]["seed"]))
    cell.config = chosen_id
    tests = [r["results"]["metrics"]["test"] * scale for r in chosen]
    cell.configs = len(configs)
    cell.mean, cell.std = _mean_std(tests)
    cell.scores = [(r["identity"]["split"], r["identity"]["seed"], t) for r, t in zip(chosen, tests)]
    cell.val = mean_val(chosen_id) * scale
    cell.n = len(chosen)
    identity = chosen[0]["identity"]
    cell.selected = ", ".join(f"{k}={identity['hparams'][k]}" for k in identity["grid_keys"])
    grid = suite.models[model]["grid"] if model in suite.models else {}  # a guest's grid: what its records tried
    grid_size = math.prod(len(v) for v in grid.values()) if grid else len(configs)
    if cell.selected and len(configs) < grid_size:
        cell.selected += f" (of {len(configs)}/{grid_size} tried)"
    results = [r["results"] for r in chosen]
    cell.params = int(statistics.fmean(r["num_params"] for r in results))
    cell.seconds_per_step = statistics.fmean(r["seconds_per_step"] for r in results)
    for analysis, columns in suite.analysis_columns.items():
        for column in columns:
            values = [v for r in results
                      if (v := (((r.get("cells") or {}).get(analysis) or {}).get("metrics") or {}).get(column.id))
                      is not None]
            cell.analyses[column.header] = statistics.fmean(values) * column.scale if values else None
    cell.status = "ok" if cell.n >= expected and not failed and len(configs) >= grid_size else "partial"
    if cell.published is not None and variant == FULL:
        cell.delta = cell.mean - cell.published
        one_point = 1.0 if scale != 1.0 else 0.01
        cell.agrees = abs(cell.delta) <= max(2 * (cell.published_std or 0.0), one_point)
    return cell


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _score(cell: Cell, digits: int) -> str:
    if cell.mean is None:
        return "FAILED" if cell.status == "failed" else "—"
    text = f"{cell.mean:.{digits}f}" + (f" ± {cell.std:.{digits}f}" if cell.std is not None else "")
    return text


def _digits(cells: Sequence[Cell]) -> int:
    values = [c.mean for c in cells if c.mean is not None] + [c.published for c in cells if c.published is not None]
    return 2 if values and max(abs(v) for v in values) > 1.5 else 4


GUEST_MARK = "†"


def _model_label(board: Board, model: str, fmt: str) -> str:
    """The model's name, marked when the suite does not list it (CSV keeps the bare name: a column of names)."""
    return f"{model} {GUEST_MARK}" if model in board.guests and fmt != "csv" else model


def guest_note(board: Board) -> str:
    """Under a board with guests: what the mark means, and each model's tuning budget (grid points tried)."""
    tried: dict[str, int] = {}
    for cell in board.cells:
        tried[cell.model] = max(tried.get(cell.model, 0), cell.configs)
    budgets = ", ".join(f"{model} {count}" for model, count in tried.items())
    return (f"{GUEST_MARK} not one of the suite's models (no published baseline): run under the same protocol, "
            f"splits and budget and ranked beside them. Tuning budget, grid points tried (the best on validation "
            f"is shown): {budgets}. Give a new model the baselines' budget with a grid of as many points "
            f"(`models.NAME.grid.KEY=[...]`).\n")


def _rows(board: Board, fmt: str = "markdown") -> tuple[list[str], list[list[Any]]]:
    """Table rows; untrusted text is escaped for ``fmt`` (tabulate escapes HTML and LaTeX cells itself).

    The time column's unit is the protocols' (``ProtocolSpec.step_unit``); when the suite's protocols
    differ, each value carries its unit. The analyses' columns follow (``AnalysisSpec.columns``)."""
    cell_fmt = fmt if fmt in ("markdown", "csv") else "plain"
    digits = _digits(board.cells)
    units = {c.step_unit for c in board.cells}
    step = next(iter(units))[0] if len(units) == 1 else "time"
    extra = list(dict.fromkeys(h for c in board.cells for h, v in c.analyses.items() if v is not None))
    headers = ["dataset", "model", "metric", "test", "n", "published", "Δ", "within", "val", "selected", "params",
               step] + extra + ["rank", "≈best", "status"]
    rows = []
    for c in board.cells:
        unit, factor = c.step_unit
        per_step = _fmt(None if c.seconds_per_step is None else c.seconds_per_step * factor,
                        2 if factor >= 1000 else 3)
        if len(units) > 1 and per_step:
            per_step += f" {unit}"
        status = c.status if not c.failed else f"{c.status}, {c.failed} failed"
        rows.append([
            c.dataset, _model_label(board, c.model, fmt), c.metric, _score(c, digits), f"{c.n}/{c.expected}",
            "" if c.published is None else _score(Cell("", "", "", "ok", c.published, c.published_std), digits),
            "" if c.delta is None else f"{c.delta:+.{digits}f}",
            "" if c.agrees is None else ("yes" if c.agrees else "no"),
            _fmt(c.val, digits), escape_text(c.selected, cell_fmt), "" if c.params is None else f"{c.params:,}",
            per_step,
        ] + [_fmt(c.analyses.get(h), 2) for h in extra] + [_fmt(c.rank, 0), c.vs_best, status])
    if board.variant != FULL and fmt != "csv":  # a variant's table has no published numbers to stand beside
        keep = [i for i, h in enumerate(headers) if h not in ("published", "Δ", "within")]
        headers, rows = [headers[i] for i in keep], [[row[i] for i in keep] for row in rows]
    return headers, rows


def _rank_rows(board: Board) -> list[list[Any]]:
    order = sorted(board.average_rank.items(), key=lambda kv: (kv[1][0] is None, kv[1][0] or 0.0, kv[0]))
    rows = []
    for model, (avg, n) in order:
        interval = board.rank_interval.get(model)
        shown = "" if interval is None else f"{interval[0]:.2f}–{interval[1]:.2f}"
        rows.append([_model_label(board, model, "markdown"), _fmt(avg, 2) if avg is not None else "—", shown, n])
    return rows


def focus(board: Board, models: Sequence[str] = (), datasets: Sequence[str] = ()) -> int:
    """Keep only the rows of ``models`` on ``datasets`` (empty: all) in ``board``, its cell tables and its average
    ranks; the ranks and significance stay those of the whole board. Returns the whole board's row count."""
    whole = len(board.cells)

    def wanted(dataset: str, model: str) -> bool:
        return (not models or model in models) and (not datasets or dataset in datasets)

    board.cells = [c for c in board.cells if wanted(c.dataset, c.model)]
    for table in board.tables:
        table.entries = [e for e in table.entries if wanted(e.dataset, e.model)]
    board.tables = [t for t in board.tables if t.entries]
    if models:
        board.average_rank = {m: r for m, r in board.average_rank.items() if m in models}
    return whole


def render(
    suite: Suite, records: Sequence[dict[str, Any]], fmt: str = "markdown", variants: Sequence[str] | None = None,
    models: Sequence[str] = (), datasets: Sequence[str] = (), records_folder: str = "DIR",
) -> str:
    """Render the suite's leaderboard from its records; deterministic for the same records.

    Published numbers are compared (Δ, within) only on the full-protocol board. ``models`` / ``datasets`` show
    only those rows (:func:`focus`: ranks and significance still from the whole board), with a line saying so.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    boards = build_boards(suite, records, variants)
    wholes = [focus(board, models, datasets) for board in boards] if models or datasets else []
    if fmt == "json":
        payload = [
            {"suite": b.suite, "version": b.version, "variant": b.variant,
             "cells": [asdict(c) for c in b.cells],
             "tables": [asdict(t) for t in b.tables],
             "average_rank": {m: {"rank": r, "datasets": n, "ci95": b.rank_interval.get(m)}
                              for m, (r, n) in b.average_rank.items()}}
            for b in boards
        ]
        return json.dumps(payload, indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for i, board in enumerate(boards):
            headers, rows = _rows(board, "csv")
            if i == 0:
                writer.writerow(["variant"] + headers + ["average rank"])
            for row in rows:
                writer.writerow([escape_text(board.variant, "csv")] + row + [_fmt(board.average_rank[row[1]][0], 2)])
        return out.getvalue()
    table_fmt = {"markdown": "github", "latex": "latex_booktabs", "html": "html"}[fmt]
    parts = []
    if fmt == "markdown":
        parts.append(f"# Leaderboard: {suite.name} (suite version {suite.version})\n")
        if suite.description:
            parts.append(suite.description + "\n")
        if suite.reference.get("source"):
            parts.append(f"Published numbers: {suite.reference['source']}. "
                         "`within`: |Δ| ≤ max(2 published std, 1 point).\n")
    for board in boards:
        title = ("Full protocol" if board.variant == FULL
                 else f"Variant — {escape_text(board.variant, fmt)} (not comparable with published numbers)")
        headers, rows = _rows(board, fmt)
        if fmt == "markdown":
            parts.append(f"## {title}\n")
            if wholes:
                shown = ", ".join([*(f"model {m}" for m in models), *(f"dataset {d}" for d in datasets)])
                parts.append(f"Showing the {len(board.cells)} of {wholes[boards.index(board)]} rows asked for "
                             f"({escape_text(shown, fmt)}); ranks and significance are the whole board's. "
                             f"All rows: `bench leaderboard render --suite {escape_text(suite.name, fmt)} "
                             f"--records {escape_text(records_folder, fmt)}`.\n")
            if board.devices:
                devices = ", ".join(f"{escape_text(d, fmt)} ({n})" for d, n in board.devices.items())
                parts.append(f"Records from: {devices}\n")
            parts.append(tabulate(rows, headers=headers, tablefmt=table_fmt, disable_numparse=True) + "\n")
            if board.guests:
                parts.append(guest_note(board))
            parts.append(SIGNIFICANCE_NOTE)
            parts.extend(cell_tables.render(board.tables, fmt, table_fmt, board.variant == FULL))
            parts.append(f"### Average rank ({title.lower()})\n")
            parts.append(tabulate(_rank_rows(board), headers=["model", "average rank", "95% CI", "datasets"],
                                  tablefmt=table_fmt, disable_numparse=True) + "\n")
            errors = sorted({(c.dataset, c.model, e) for c in board.cells for e in c.errors})
            if errors:
                parts.append("### Failures\n")
                parts.extend(f"- {escape_text(d, fmt)} / {escape_text(m, fmt)}: {escape_text(e, fmt)}"
                             for d, m, e in errors)
                parts.append("")
        else:
            parts.append(f"{title}\n" if fmt == "latex" else f"<h2>{title}</h2>")
            parts.append(tabulate(rows, headers=headers, tablefmt=table_fmt, disable_numparse=True))
            parts.extend(cell_tables.render(board.tables, fmt, table_fmt, board.variant == FULL))
    return "\n".join(parts).rstrip() + "\n"
