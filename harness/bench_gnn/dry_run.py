"""``bench run --dry-run``: what a sweep would run, what is already done, what cannot run, and how long the rest
may take; read-only (nothing is written: no records folder, no cache, no lock).

Per dataset × model: the jobs, the grid points and the splits or seeds they cover, the jobs with a finished
record (skipped by ``bench run``), the jobs left to run, and an estimate of their time from the wall times of
the finished jobs of the same dataset × model (median × jobs left; unknown where none has finished).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tabulate import tabulate

from bench_gnn.data.context import default_cache_dir, default_data_dir
from bench_gnn.files import inside
from bench_gnn.plugin_manager import Plugins
from bench_gnn.runner import RunOptions, unavailable_reason
from bench_gnn.status import duration, job_state
from bench_gnn.sweep import Sweep


@dataclass
class CellPlan:
    """The jobs of one dataset × model."""

    dataset: str
    model: str
    jobs: int = 0
    grid_points: set[str] = field(default_factory=set)
    runs: set[tuple[int, int]] = field(default_factory=set)
    done: int = 0
    seconds: list[float] = field(default_factory=list)

    @property
    def to_run(self) -> int:
        return self.jobs - self.done

    @property
    def estimate_seconds(self) -> float | None:
        """Jobs left × the median wall time of this cell's finished jobs; None when none has finished."""
        if not self.to_run:
            return 0.0
        return self.to_run * statistics.median(self.seconds) if self.seconds else None


@dataclass
class Plan:
    suite: str
    version: str
    folder: Path
    variants: list[str]
    cells: dict[tuple[str, str], CellPlan]
    unavailable: dict[str, str]

    @property
    def jobs(self) -> int:
        return sum(cell.jobs for cell in self.cells.values())

    @property
    def runnable(self) -> int:
        """Jobs ``bench run`` would train: not finished, on a dataset that can load."""
        return sum(cell.to_run for cell in self.cells.values() if cell.dataset not in self.unavailable)


def plan(sweep: Sweep, plugins: Plugins) -> Plan:
    """The dry run of ``sweep``: every name and setting checked as ``bench run`` checks them, nothing written."""
    suite, jobs = sweep.jobs(plugins)
    folder = inside(sweep.results, suite.name, what="suite name")
    options = RunOptions(device=torch.device("cpu"), data_dir=sweep.data_dir or default_data_dir(),
                         cache_dir=sweep.cache_dir or default_cache_dir(), allow_download=not sweep.offline)
    cells: dict[tuple[str, str], CellPlan] = {}
    for job in jobs:
        cell = cells.setdefault((job.dataset, job.model), CellPlan(job.dataset, job.model))
        cell.jobs += 1
        cell.grid_points.add(job.config_id)
        cell.runs.add((job.split, job.seed))
        state, seconds = job_state(folder, job)
        if state == "done":
            cell.done += 1
            if seconds is not None:
                cell.seconds.append(seconds)
    unavailable = {}
    for name in dict.fromkeys(job.dataset for job in jobs):
        reason = unavailable_reason(plugins, name, options)
        if reason is not None:
            unavailable[name] = reason
    return Plan(suite.name, suite.version, folder, sorted({job.variant for job in jobs}), cells, unavailable)


def render(plan: Plan) -> str:
    """The plan as a table (one row per dataset × model), the totals, the estimate and the unavailable data."""
    rows = []
    for cell in plan.cells.values():
        seconds = cell.estimate_seconds
        if cell.dataset in plan.unavailable:
            left = "unavailable"
        elif seconds is None:
            left = "unknown"
        else:
            left = duration(seconds)
        rows.append([cell.dataset, cell.model, cell.jobs, len(cell.grid_points), len(cell.runs), cell.done,
                     cell.to_run, left])
    table = tabulate(rows, headers=["dataset", "model", "jobs", "grid points", "splits/seeds", "done", "to run",
                                    "estimate"])
    runnable = [c for c in plan.cells.values() if c.dataset not in plan.unavailable and c.to_run]
    timed = [c for c in runnable if c.estimate_seconds is not None]
    untimed = sum(c.to_run for c in runnable if c.estimate_seconds is None)
    parts = []
    if timed:
        total = sum(c.estimate_seconds or 0.0 for c in timed)
        parts.append(f"about {duration(total)} for the {sum(c.to_run for c in timed)} job(s) of cells with "
                     "finished jobs to time")
    if untimed:
        parts.append(f"{untimed} job(s) of cells with no finished job to time (unknown)")
    estimate = "; ".join(parts) or "nothing to run"
    done = sum(c.done for c in plan.cells.values())
    lines = [
        f"dry run of {plan.suite} v{plan.version} ({', '.join(plan.variants) or 'no jobs'}); records in "
        f"{plan.folder}; nothing is written",
        table,
        f"{plan.jobs} job(s): {done} done (skipped by `bench run`), {plan.runnable} to run: {estimate}",
    ]
    if plan.unavailable:
        lines.append(f"unavailable datasets ({len(plan.unavailable)}; their jobs would not run):")
        lines += [f"- {name}: {reason}" for name, reason in plan.unavailable.items()]
    return "\n".join(lines) + "\n"
