"""Leaderboard tables of the cells protocols fill (calibrators, detectors, ...), one per ``CellTable``.

Each protocol the suite runs says which tables it contributes (``ProtocolSpec.tables``); a table
selects the cells of one kind and shows, per (dataset, model, cell), over the runs of the
configuration the main table chose for that (dataset, model), the mean ± std of
each of its columns, the number of runs (``n``, failed runs counted apart), and, for columns
the suite gives reference numbers for (``reference.cells``), the reference and Δ with ``✓`` when
|Δ| ≤ max(2 reference std, 1 point) and ``✗`` otherwise (compared on the full protocol only).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from bench_gnn.escaping import escape_text
from bench_gnn.record import config_id
from bench_gnn.suite import Suite


@dataclass
class Entry:
    dataset: str
    model: str
    cell: str
    n: int = 0
    failed: int = 0
    values: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    reference: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class Table:
    title: str
    note: str
    columns: list[dict[str, Any]]
    entries: list[Entry]


def _stats(values: Sequence[float], ddof: int) -> tuple[float, float | None]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    return mean, (statistics.stdev(values) if ddof == 1 else statistics.pstdev(values))


def build(suite: Suite, records: Sequence[dict[str, Any]], chosen: Mapping[tuple[str, str], str]) -> list[Table]:
    """The tables of every protocol the suite runs, from the ``ok`` records of the configuration the main table
    chose for each (dataset, model) (``chosen``: its config id; see :func:`bench_gnn.record.config_id`)."""
    tables = []
    for protocol, spec in suite.protocol_specs.items():
        datasets = [d for d in suite.datasets if suite.protocol_for(d) == protocol]
        for table in spec.tables:
            entries = [
                entry
                for dataset in datasets
                for model in suite.models_for(dataset)
                for entry in _entries(suite, table, dataset, model, [
                    r for r in records if config_id(r["identity"]) == chosen.get((dataset, model))])
            ]
            if entries:
                columns = [{"id": c.id, "header": c.header, "scale": c.scale, "digits": c.digits}
                           for c in table.columns]
                tables.append(Table(table.title, table.note, columns, entries))
    return tables


def _entries(suite: Suite, table: Any, dataset: str, model: str, records: Sequence[dict[str, Any]]) -> list[Entry]:
    mine = sorted(
        (r for r in records if r["identity"]["dataset"] == dataset and r["identity"]["model"] == model
         and r["results"]["status"] == "ok"),
        key=lambda r: (r["identity"]["split"], r["identity"]["seed"], r["key"]),
    )
    order: dict[str, None] = {}
    for record in mine:
        for cell_id, cell in (record["results"].get("cells") or {}).items():
            if cell.get("kind") == table.kind:
                order.setdefault(cell_id, None)
    entries = []
    for cell_id in order:
        cells = [c for r in mine if (c := (r["results"].get("cells") or {}).get(cell_id)) is not None]
        entry = Entry(dataset, model, cell_id)
        ok = [c for c in cells if c["status"] == "ok"]
        entry.n, entry.failed = len(ok), len(cells) - len(ok)
        entry.errors = sorted({f"{c['error']['type']}: {c['error']['message']}"[:200]
                               for c in cells if c["status"] != "ok" and c.get("error")})
        for column in table.columns:
            values = [c["metrics"][column.id] * column.scale for c in ok if c["metrics"].get(column.id) is not None]
            if values:
                entry.values[column.id] = _stats(values, table.ddof)
            reference = suite.reference_cell(dataset, model, cell_id, column.id)
            if reference is not None:
                entry.reference[column.id] = reference
        entries.append(entry)
    return entries


def _pair(value: tuple[float, float | None] | None, digits: int) -> str:
    if value is None:
        return "—"
    mean, std = value
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _delta(entry: Entry, column: dict[str, Any], compare: bool) -> str:
    ours, reference = entry.values.get(column["id"]), entry.reference.get(column["id"])
    if not compare or ours is None or reference is None:
        return ""
    delta = ours[0] - reference[0]
    one_point = 1.0 if column["scale"] != 1.0 else 0.01
    within = abs(delta) <= max(2 * (reference[1] or 0.0), one_point)
    return f"{delta:+.{column['digits']}f} {'✓' if within else '✗'}"


def rows(table: Table, compare: bool) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of one table; ``compare``: show reference numbers and Δ (the full protocol only)."""
    referenced = [c for c in table.columns if compare and any(c["id"] in e.reference for e in table.entries)]
    headers = ["dataset", "model", "cell", "n"]
    for column in table.columns:
        headers.append(column["header"])
        if column in referenced:
            headers += [f"ref {column['header']}", f"Δ {column['header']}"]
    out = []
    for entry in table.entries:
        row = [entry.dataset, entry.model, entry.cell, f"{entry.n}" + (f" ({entry.failed} failed)" if entry.failed
                                                                          else "")]
        for column in table.columns:
            row.append(_pair(entry.values.get(column["id"]), column["digits"]))
            if column in referenced:
                row += [_pair(entry.reference.get(column["id"]), column["digits"]) if column["id"] in entry.reference
                        else "", _delta(entry, column, compare)]
        out.append(row)
    return headers, out


def render(tables: Sequence[Table], fmt: str, table_fmt: str, compare: bool) -> list[str]:
    """The tables as text parts of a leaderboard page (markdown, html or latex); record text is escaped."""
    parts = []
    for table in tables:
        headers, body = rows(table, compare)
        cell_fmt = fmt if fmt == "markdown" else "plain"
        body = [[escape_text(v, cell_fmt) for v in row] for row in body]
        if fmt == "markdown":
            parts.append(f"### {escape_text(table.title, fmt)}\n")
            if table.note:
                parts.append(escape_text(table.note, fmt) + "\n")
        else:
            parts.append(f"{table.title}\n" if fmt == "latex" else f"<h3>{escape_text(table.title, 'html')}</h3>")
        parts.append(tabulate(body, headers=headers, tablefmt=table_fmt, disable_numparse=True) + "\n")
        errors = sorted({(e.dataset, e.model, e.cell, err) for e in table.entries for err in e.errors})
        if errors and fmt == "markdown":
            parts.append(f"Failed cells ({escape_text(table.title, fmt)}):\n")
            parts.extend(f"- {escape_text(d, fmt)} / {escape_text(m, fmt)} / {escape_text(c, fmt)}: "
                         f"{escape_text(err, fmt)}" for d, m, c, err in errors)
            parts.append("")
    return parts
