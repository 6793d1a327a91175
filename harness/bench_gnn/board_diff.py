"""What a change of records does to a leaderboard: cells added, improved, regressed or removed.

Both sides are built with :func:`bench_gnn.leaderboard.build_boards` from the installed suite,
so the comparison is between the cells a reader sees (selected configuration, mean over
splits or seeds), per variant. The markdown fits a pull-request comment; record text is
escaped as in the leaderboard itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from bench_gnn.escaping import escape_text
from bench_gnn.leaderboard import Cell, build_boards
from bench_gnn.suite import Suite

KINDS = ("added", "improved", "regressed", "removed", "changed")


@dataclass(frozen=True)
class CellChange:
    kind: str
    variant: str
    dataset: str
    model: str
    before: Cell | None
    after: Cell | None


def diff(suite: Suite, before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]) -> list[CellChange]:
    """The cells whose score appears, disappears or moves, in board and cell order."""
    old, new = _cells(suite, before), _cells(suite, after)
    changes = []
    for where in list(new) + [w for w in old if w not in new]:
        a, b = old.get(where), new.get(where)
        changes.append(CellChange(_kind(a, b), *where, a, b))
    return [c for c in changes if c.kind]


def _kind(a: Cell | None, b: Cell | None) -> str:
    """``""`` when nothing a reader sees moved."""
    if a is None or a.mean is None:
        return "added"
    if b is None or b.mean is None:
        return "removed"
    if (a.mean, a.n) == (b.mean, b.n):
        return ""
    if a.mean == b.mean:
        return "changed"
    better = b.mean > a.mean if b.higher_is_better else b.mean < a.mean
    return "improved" if better else "regressed"



def _cells(suite: Suite, records: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], Cell]:
    return {
        (board.variant, cell.dataset, cell.model): cell
        for board in build_boards(suite, records)
        for cell in board.cells
        if cell.mean is not None
    }


def render_markdown(suite: Suite, changes: Sequence[CellChange], base: str) -> str:
    """A pull-request comment: a count per kind and one table row per changed cell."""
    counts = {kind: sum(c.kind == kind for c in changes) for kind in KINDS}
    head = f"## Leaderboard changes: {suite.name} v{suite.version} (against {escape_text(base, 'markdown')})\n"
    if not changes:
        return head + "\nNo cell changes.\n"
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    rows = [
        [c.kind, escape_text(c.variant, "markdown"), c.dataset, c.model, _score(c.before), _score(c.after),
         _delta(c)]
        for c in changes
    ]
    table = tabulate(rows, headers=["change", "variant", "dataset", "model", "before", "after", "Δ"],
                     tablefmt="github", disable_numparse=True)
    return f"{head}\n{summary}.\n\n{table}\n"


def _score(cell: Cell | None) -> str:
    if cell is None or cell.mean is None:
        return ""
    std = f" ± {cell.std:.2f}" if cell.std is not None else ""
    return f"{cell.mean:.2f}{std} (n={cell.n})"


def _delta(change: CellChange) -> str:
    if change.before is None or change.after is None or change.before.mean is None or change.after.mean is None:
        return ""
    return f"{change.after.mean - change.before.mean:+.2f}"
