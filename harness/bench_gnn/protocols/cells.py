"""Cells: the results of the evaluators that run on a trained model, one per evaluator.

A protocol trains a model once, then hands it to calibrators, OOD detectors or analyses. Each
of them fills its own *cell* of the record (``results["cells"][cell_id]``)::

    {"kind": "calibrator", "name": "TS", "status": "ok", "metrics": {"ece": 0.041, ...},
     "extras": {...} or None, "error": None}

:func:`run_cell` is the one isolation boundary: an evaluator that raises, or returns a metric
that is not a finite number, fails its own cell with the reason, and the job's other cells
keep their numbers.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from bench_gnn.errors import JobError


def run_cell(kind: str, name: str, evaluate: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    """Run ``evaluate() -> {"metrics": {id: float}, "extras": {...}}`` as one cell of kind ``kind``.

    A metric may be None when it does not apply (an edge metric on a subset without edges) but
    never NaN or infinite: those fail the cell, as does any exception (KeyboardInterrupt aside).
    """
    cell: dict[str, Any] = {"kind": kind, "name": name, "status": "ok", "metrics": {}, "extras": None, "error": None}
    try:
        out = evaluate()
        metrics = dict(out.get("metrics") or {})
        for key, value in metrics.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise JobError(f"{kind} {name!r}: metric {key!r} is {value!r}, not a number")
            if value is not None and not math.isfinite(value):
                raise JobError(f"{kind} {name!r}: metric {key!r} is {value}; the {kind} produced non-finite output")
        cell["metrics"] = {key: None if value is None else float(value) for key, value in metrics.items()}
        cell["extras"] = out.get("extras")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - an evaluator's failure is its own cell's, never the job's
        cell.update(status="failed", metrics={}, error={
            "type": type(exc).__name__, "message": str(exc) or type(exc).__name__,
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
        })
    return cell
