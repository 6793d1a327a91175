"""Where a sweep stands: done / failed / running / pending jobs per dataset × model, and an ETA.

Read-only, so it is safe while workers run: records are read, never written, and whether a
job runs is asked of its lock with :func:`bench_gnn.store.lock_held` (taken and dropped at
once, no file created). A job is *done* with a usable ``ok`` record; *running* while a process
holds its lock (a failed job being retried included); *failed* with a failed record; *pending*
otherwise (an unusable ``ok`` record included: its job reruns).

ETA: pending jobs × the median wall time of the sweep's finished jobs ÷ the number of jobs
running (at least 1); unknown until a job has finished.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tabulate import tabulate

from bench_gnn.jobs import Job
from bench_gnn.record import problem as record_problem
from bench_gnn.store import lock_held, read_record

FORMATS = ("table", "json")
STATES = ("done", "failed", "running", "pending")


@dataclass
class Counts:
    done: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.done + self.failed + self.running + self.pending

    def add(self, other: Counts) -> None:
        for state in STATES:
            setattr(self, state, getattr(self, state) + getattr(other, state))


@dataclass
class SweepStatus:
    suite: str
    version: str
    folder: Path
    variants: list[str]
    cells: dict[tuple[str, str], Counts] = field(default_factory=dict)
    job_seconds: list[float] = field(default_factory=list)

    @property
    def totals(self) -> Counts:
        totals = Counts()
        for counts in self.cells.values():
            totals.add(counts)
        return totals

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.job_seconds) if self.job_seconds else None

    @property
    def eta_seconds(self) -> float | None:
        totals, median = self.totals, self.median_seconds
        if not totals.pending:
            return 0.0
        if median is None:
            return None
        return totals.pending * median / max(totals.running, 1)


def job_state(folder: Path, job: Job) -> tuple[str, float | None]:
    """The job's state (one of :data:`STATES`) and, when done, its wall time in seconds."""
    record = read_record(folder, job.key)
    usable = record is not None and record_problem(record) is None
    if usable and record is not None and record["results"]["status"] == "ok":
        seconds = record["results"].get("wall_seconds")
        return "done", float(seconds) if seconds is not None else None
    if lock_held(folder, job.key):
        return "running", None
    if usable and record is not None and record["results"]["status"] == "failed":
        return "failed", None
    return "pending", None


def sweep_status(suite: str, version: str, jobs: Sequence[Job], folder: Path) -> SweepStatus:
    """Count the states of ``jobs`` (as :func:`bench_gnn.jobs.expand` gives them) in suite folder ``folder``."""
    status = SweepStatus(suite, version, folder, sorted({job.variant for job in jobs}))
    for job in jobs:
        state, seconds = job_state(folder, job)
        counts = status.cells.setdefault((job.dataset, job.model), Counts())
        setattr(counts, state, getattr(counts, state) + 1)
        if seconds is not None:
            status.job_seconds.append(seconds)
    return status


def duration(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``7 min 05 s``, ``3 h 20 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def eta_line(status: SweepStatus) -> str:
    totals, eta, median = status.totals, status.eta_seconds, status.median_seconds
    if not totals.pending:
        return "ETA: nothing pending" + (f"; {totals.running} job(s) still running" if totals.running else "")
    if eta is None or median is None:
        return "ETA: unknown (no finished job to time yet)"
    return (f"ETA: {duration(eta)} ({totals.pending} pending × median {duration(median)} per job ÷ "
            f"{max(totals.running, 1)} running)")


def render(status: SweepStatus, fmt: str = "table") -> str:
    """The status as a table (one row per dataset × model, then the totals and the ETA) or as JSON."""
    totals = status.totals
    if fmt == "json":
        payload = {
            "suite": status.suite, "version": status.version, "folder": str(status.folder),
            "variants": status.variants,
            "cells": [{"dataset": d, "model": m, **asdict(c), "total": c.total} for (d, m), c in status.cells.items()],
            "totals": {**asdict(totals), "total": totals.total},
            "median_job_seconds": status.median_seconds,
            "eta_seconds": status.eta_seconds,
        }
        return json.dumps(payload, indent=2) + "\n"
    rows = [[d, m, c.done, c.failed, c.running, c.pending, c.total] for (d, m), c in status.cells.items()]
    rows.append(["all", "", totals.done, totals.failed, totals.running, totals.pending, totals.total])
    table = tabulate(rows, headers=["dataset", "model", *STATES, "total"])
    where = "" if status.folder.is_dir() else " (no records yet)"
    header = (f"{status.suite} v{status.version} ({', '.join(status.variants) or 'no jobs'}): "
              f"records in {status.folder}{where}")
    return f"{header}\n{table}\n{eta_line(status)}\n"
