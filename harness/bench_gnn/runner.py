"""Run jobs: load each dataset once, train and evaluate, write one record per job.

Datasets are held one at a time (loaded for their first job, released after their
last); those whose files are missing are reported before any job runs. Each job is
seeded with its seed right before its protocol runs, and its peak memory (CUDA
allocations, or the process's max RSS on CPU) is measured around the protocol call.

A job that raises, produces a NaN loss or runs out of memory becomes a failed
record with its error, and the sweep goes on (unless ``fail_fast``). Finished
jobs are skipped on a rerun; jobs another process is running are left to it, and so are
jobs whose record another process wrote while this sweep ran (``--force`` included).

A worker of a sharded sweep (:mod:`bench_gnn.shards`) takes its own share first, then the
leftovers of the other shards; each record says how its job was scheduled.
"""

from __future__ import annotations

import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bench_gnn import __version__
from bench_gnn.data.cards import load_card
from bench_gnn.data.context import DataContext
from bench_gnn.environment import device_name, git_state, peak_memory_bytes, release_memory, reset_peak_memory
from bench_gnn.errors import DataError, ExitCode, JobError
from bench_gnn.jobs import Job
from bench_gnn.plugin_manager import Plugins, python_versions
from bench_gnn.protocols.base import ProtocolContext, run_seeded
from bench_gnn.record import SCHEMA
from bench_gnn.record import problem as record_problem
from bench_gnn.shards import Worker, work_order
from bench_gnn.store import Store
from bench_gnn.suite import Suite


@dataclass
class RunOptions:
    device: torch.device
    data_dir: Path | None
    cache_dir: Path
    allow_download: bool = True
    force: bool = False
    fail_fast: bool = False
    allow_over_budget: bool = False
    progress: bool = True
    worker: Worker = field(default_factory=Worker)
    leftovers: bool = True


@dataclass
class RunSummary:
    total: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    busy: int = 0
    not_run: int = 0
    leftovers: int = 0
    unavailable: dict[str, str] = field(default_factory=dict)
    records: list[Path] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        if self.failed:
            return ExitCode.JOBS_FAILED
        if self.unavailable and not (self.ok or self.skipped or self.busy):
            return ExitCode.DATA_ERROR
        return ExitCode.OK


def dataset_context(plugins: Plugins, name: str, options: RunOptions) -> DataContext:
    """The :class:`DataContext` dataset ``name`` loads through."""
    spec = plugins.datasets.get(name).spec
    card = load_card(spec.card, name) if spec.card is not None else None
    return DataContext(name, card, options.data_dir, options.cache_dir, options.allow_download)


def load_dataset(plugins: Plugins, name: str, options: RunOptions) -> Any:
    return plugins.datasets.get(name).spec.load(dataset_context(plugins, name, options))


def unavailable_reason(plugins: Plugins, name: str, options: RunOptions) -> str | None:
    """Why dataset ``name`` cannot load, found without loading it (None: it may load).

    A dataset is unavailable when a file its card lists is neither cached nor in the
    data dir and cannot be downloaded; the reason is the error loading would raise.
    """
    missing = dataset_context(plugins, name, options).missing_files()
    if not missing:
        return None
    first, *others = missing
    more = f" ({len(others)} more card file(s) missing too: {', '.join(others)})" if others else ""
    return missing[first] + more


class _Datasets:
    """The datasets of a sweep, held one at a time: each loads when its first job runs and is
    released after the last job of that run of jobs (in the order of ``jobs``; a sharded worker
    meets a dataset again among its leftovers), so memory holds one dataset."""

    def __init__(self, plugins: Plugins, options: RunOptions, jobs: Sequence[Job]) -> None:
        self.plugins, self.options = plugins, options
        self.run_ends = {
            index for index, job in enumerate(jobs) if index + 1 == len(jobs) or jobs[index + 1].dataset != job.dataset
        }
        self.loaded: dict[str, Any] = {}

    def load(self, name: str) -> None:
        """Load the dataset unless held. A broken plugin's exception stands in for the data (its
        jobs fail with it); a :class:`DataError` propagates: the dataset is unavailable."""
        if name not in self.loaded:
            try:
                self.loaded[name] = load_dataset(self.plugins, name, self.options)
            except DataError:
                raise
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken dataset plugin fails its jobs only
                self.loaded[name] = exc

    def __getitem__(self, name: str) -> Any:
        return self.loaded[name]

    def done(self, index: int, name: str) -> None:
        """Job ``index`` (of dataset ``name``) is over: release the dataset when the next job needs another."""
        if index in self.run_ends:
            self.release(name)

    def release(self, name: str) -> None:
        if self.loaded.pop(name, None) is not None:
            release_memory(self.options.device)

    def release_all(self) -> None:
        for name in list(self.loaded):
            self.release(name)


def run_jobs(
    jobs: Sequence[Job],
    suite: Suite,
    plugins: Plugins,
    store: Store,
    options: RunOptions,
    echo: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run ``jobs`` (ordered dataset by dataset, as :func:`bench_gnn.jobs.expand` gives them).

    A sharded worker (``options.worker.shard``) reorders them with :func:`bench_gnn.shards.work_order`:
    its own share, then the leftovers (none with ``options.leftovers`` False). Unavailable datasets
    (card files missing) are reported before the first job; each dataset is loaded when its first
    job comes up and released after its last one. A :class:`DataError` while loading makes that
    dataset unavailable and its jobs not run.
    """
    echo = echo or (lambda msg: tqdm.write(msg, file=sys.stderr))
    jobs = work_order(jobs, options.worker.shard, options.leftovers)
    summary = RunSummary(total=len(jobs))
    stamps = {job.key: store.stamp(job.key) for job in jobs}
    pending = []
    for job in jobs:
        if not options.force and store.status(job.key) == "ok":
            summary.skipped += 1
        else:
            pending.append(job)
    if summary.skipped:
        echo(f"skipping {summary.skipped} finished job(s) already in {store.folder} (use --force to rerun)")
    for name in dict.fromkeys(job.dataset for job in pending):
        reason = unavailable_reason(plugins, name, options)
        if reason is not None:
            summary.unavailable[name] = reason
            echo(f"unavailable: {reason}")
    runnable = [job for job in pending if job.dataset not in summary.unavailable]
    summary.not_run = len(pending) - len(runnable)
    datasets = _Datasets(plugins, options, runnable)
    disable = not options.progress or not sys.stderr.isatty()
    try:
        with tqdm(total=len(runnable), desc=f"{suite.name}", unit="job", disable=disable) as jobs_bar:
            for index, job in enumerate(runnable):
                if job.dataset in summary.unavailable:  # failed to load earlier in this sweep
                    summary.not_run += 1
                    jobs_bar.update(1)
                    continue
                with store.claim(job.key) as mine:
                    if not mine:
                        summary.busy += 1
                        echo(f"[{index + 1}/{len(runnable)}] {job.label}: running in another process, left to it")
                    elif store.stamp(job.key) != stamps[job.key]:  # another process ran it since we started
                        summary.skipped += 1
                    elif not options.force and store.status(job.key) == "ok":
                        summary.skipped += 1
                    else:
                        try:
                            datasets.load(job.dataset)
                        except DataError as exc:
                            summary.unavailable[job.dataset] = str(exc)
                            summary.not_run += 1
                            echo(f"unavailable: {exc}")
                        else:
                            # no local name for the data here: releasing it must drop the last reference
                            record = _execute(job, suite, plugins, datasets[job.dataset], options, disable)
                            summary.records.append(store.write(_usable(record)))
                            summary.leftovers += not record["scheduling"]["own_share"]
                            _report(echo, index, len(runnable), job, record["results"])
                            if record["results"]["status"] == "ok":
                                summary.ok += 1
                            else:
                                summary.failed += 1
                                if options.fail_fast:
                                    summary.not_run += len(runnable) - index - 1
                                    echo("stopping after the first failure (--fail-fast)")
                                    break
                datasets.done(index, job.dataset)
                jobs_bar.update(1)
    finally:
        datasets.release_all()
    return summary


def _report(echo: Callable[[str], None], index: int, total: int, job: Job, results: dict[str, Any]) -> None:
    prefix = f"[{index + 1}/{total}] {job.label}"
    if results["status"] == "ok":
        m = results["metrics"]
        failed = [f"{cell_id} ({cell['error']['type']}: {cell['error']['message']})"
                  for cell_id, cell in (results.get("cells") or {}).items() if cell["status"] != "ok"]
        echo(
            f"{prefix}: {job.metric} val {m['val']:.4f} test {m['test']:.4f} "
            f"(best step {results['best_step']}, {results['num_params']:,} params, {results['wall_seconds']:.1f}s)"
            + (f"; failed cells: {'; '.join(failed)}" if failed else "")
        )
    else:
        echo(f"{prefix}: FAILED {results['error']['type']}: {results['error']['message']}")


def _usable(record: dict[str, Any]) -> dict[str, Any]:
    """An ``ok`` record that breaks the schema (a plugin's odd metrics) is stored as failed, saying why."""
    results = record["results"]
    problem = record_problem(record) if results["status"] == "ok" else None
    if problem:
        results.update(status="failed", error={"type": "InvalidResult", "message": f"unusable result: {problem}",
                                               "traceback": ""})
    return record


def _execute(
    job: Job, suite: Suite, plugins: Plugins, data: Any, options: RunOptions, disable_progress: bool,
) -> dict[str, Any]:
    protocol = plugins.protocols.get(job.identity["protocol"]).spec.run
    model_entry = plugins.models.get(job.model)
    metric = plugins.metrics.get(job.metric).spec
    started = datetime.now(timezone.utc)
    git = git_state()
    provenance = {
        "bench": __version__,
        "git": dict(git) if git else None,
        "versions": python_versions(),
        "plugins": plugins.distributions(),
        "model_entry_point": model_entry.plugin.name,
        "device": device_name(options.device),
        "host": socket.gethostname(),
        "command": list(sys.argv),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": None,
    }
    results: dict[str, Any] = {"higher_is_better": metric.higher_is_better, "metric_scale": metric.scale}
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "key": job.key,
        "variant": job.variant,
        "identity": job.identity,
        "provenance": provenance,
        "scheduling": options.worker.scheduling(job.key),
        "results": results,
    }
    steps_bar = tqdm(
        desc=f"  {job.model}/{job.dataset}/{job.split}", unit="step", leave=False, disable=disable_progress
    )
    ctx = ProtocolContext(
        data=data, model=model_entry.spec, hparams=job.hparams, args=job.identity["protocol_args"], metric=metric,
        split=job.split, seed=job.seed, device=options.device, on_step=steps_bar.update,
        steps_total=lambda n: steps_bar.reset(total=n), max_params=suite.max_params,
        allow_over_budget=options.allow_over_budget, plugins=plugins, dataset=job.dataset,
    )
    start = time.perf_counter()
    try:
        if isinstance(data, BaseException):
            raise JobError(f"dataset {job.dataset!r} failed to load: {type(data).__name__}: {data}") from data
        reset_peak_memory(options.device)
        result = run_seeded(protocol, ctx)  # seeds with job.seed; nothing in between draws random numbers
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every job failure becomes a record
        results.update(status="failed", error=_describe_error(exc), wall_seconds=time.perf_counter() - start)
        provenance["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if options.device.type == "cuda":
            torch.cuda.empty_cache()
        return record
    finally:
        steps_bar.close()
    peak, peak_kind = peak_memory_bytes(options.device)
    provenance["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results.update(
        status="ok",
        metrics=result.metrics,
        best_step=result.best_step,
        steps=result.steps,
        num_params=result.num_params,
        wall_seconds=time.perf_counter() - start,
        train_seconds=result.train_seconds,
        seconds_per_step=result.seconds_per_step,
        peak_memory_bytes=peak,
        peak_memory_kind=peak_kind,
        extras=result.extras,
        cells=result.cells,
        error=None,
    )
    return record


def _describe_error(exc: BaseException) -> dict[str, str]:
    kind = type(exc).__name__
    message = str(exc)
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in message.lower():
        kind = "OutOfMemory"
        message = f"{message.splitlines()[0] if message else 'out of memory'}; try a smaller model or batch"
    return {
        "type": kind,
        "message": message,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-8000:],
    }
