"""The Python API: run a :class:`~bench_gnn.sweep.Sweep` (``from bench_gnn.api import Sweep, run``).

Library functions return values and print nothing; they tell a person what they do through a ``report``
callback (:mod:`bench_gnn.report`). The commands of the CLI, which print, are in :mod:`bench_gnn.commands`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_gnn.data.context import default_cache_dir, default_data_dir
from bench_gnn.errors import UsageError
from bench_gnn.plugin_manager import Plugins
from bench_gnn.report import Report, load_plugins_reporting, quiet
from bench_gnn.shards import Shard, Worker, launcher_from_env
from bench_gnn.store import Store
from bench_gnn.suite import Suite
from bench_gnn.sweep import Sweep

if TYPE_CHECKING:
    from bench_gnn.runner import RunSummary

__all__ = ["Sweep", "run"]


def run(
    sweep: Sweep,
    *,
    force: bool = False,
    fail_fast: bool = False,
    progress: bool = True,
    strict: bool = False,
    plugins: Plugins | None = None,
    shard: Shard | str | None = None,
    leftovers: bool = True,
    worker_id: str | None = None,
    launcher: str | None = None,
    report: Report = quiet,
) -> tuple[RunSummary, Suite]:
    """Run ``sweep``; every name and setting is validated before any training starts.

    ``shard`` (``Shard(0, 4)`` or ``"0/4"``) makes this process worker 0 of 4 (see
    :mod:`bench_gnn.shards`); ``worker_id`` (default ``host:pid``) and ``launcher`` (default
    ``$BENCH_LAUNCHER``) are recorded in each record's ``scheduling``. ``report`` receives one line
    per event worth telling a person (the CLI prints them; the default says nothing).
    """
    from bench_gnn.environment import resolve_device
    from bench_gnn.runner import RunOptions, run_jobs

    part = Shard.parse(shard) if isinstance(shard, str) else shard
    if not leftovers and part is None:
        raise UsageError("--no-leftovers needs --shard I/N: without shards every job is this worker's own")
    worker = Worker(part, worker_id or "", launcher if launcher is not None else launcher_from_env())

    plugins = plugins or load_plugins_reporting(strict, report, sweep.plugin_files)
    suite, jobs = sweep.jobs(plugins)
    sweep.apply_threads()
    options = RunOptions(
        device=resolve_device(sweep.device),
        data_dir=sweep.data_dir or default_data_dir(),
        cache_dir=sweep.cache_dir or default_cache_dir(),
        allow_download=not sweep.offline,
        force=force,
        fail_fast=fail_fast,
        allow_over_budget=sweep.allow_over_budget,
        progress=progress,
        worker=worker,
        leftovers=leftovers,
    )
    variants = sorted({job.variant for job in jobs})
    report(f"bench {suite.name} v{suite.version}: {len(jobs)} job(s) on {options.device}; "
           f"variant: {', '.join(variants)}")
    if part is not None:
        own = sum(part.owns(job.key) for job in jobs)
        report(f"worker {worker.name}, shard {part}: {own} job(s) of its own"
               + (", then leftovers of other shards" if leftovers else " (no leftovers)"))
    store = Store(sweep.results, suite.name)
    summary = run_jobs(jobs, suite, plugins, store, options, echo=report)
    summary.variants = variants
    return summary, suite
