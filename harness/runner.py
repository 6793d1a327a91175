"""Run jobs: load each dataset once, train and evaluate, write one record per job.

A job that raises, produces a NaN loss or runs out of memory becomes a failed
record with its error, and the sweep goes on (unless ``fail_fast``). Finished
jobs are skipped on a rerun; jobs another process is running are left to it.
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
from bench_gnn.environment import device_name, git_commit, peak_memory_bytes, reset_peak_memory
from bench_gnn.errors import DataError, ExitCode, JobError
from bench_gnn.jobs import Job
from bench_gnn.plugin_manager import Plugins, python_versions
from bench_gnn.protocols import PROTOCOLS
from bench_gnn.protocols.base import ProtocolContext, seed_everything
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


@dataclass
class RunSummary:
    total: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    busy: int = 0
    not_run: int = 0
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


def load_dataset(plugins: Plugins, name: str, options: RunOptions) -> Any:
    spec = plugins.datasets.get(name).spec
    card = load_card(spec.card, name) if spec.card is not None else None
    ctx = DataContext(name, card, options.data_dir, options.cache_dir, options.allow_download)
    return spec.load(ctx)


def run_jobs(
    jobs: Sequence[Job],
    suite: Suite,
    plugins: Plugins,
    store: Store,
    options: RunOptions,
    echo: Callable[[str], None] | None = None,
) -> RunSummary:
    echo = echo or (lambda msg: tqdm.write(msg, file=sys.stderr))
    summary = RunSummary(total=len(jobs))
    pending = []
    for job in jobs:
        if not options.force and store.status(job.key) == "ok":
            summary.skipped += 1
        else:
            pending.append(job)
    if summary.skipped:
        echo(f"skipping {summary.skipped} finished job(s) already in {store.folder} (use --force to rerun)")
    data: dict[str, Any] = {}
    for name in dict.fromkeys(job.dataset for job in pending):
        try:
            data[name] = load_dataset(plugins, name, options)
        except DataError as exc:
            summary.unavailable[name] = str(exc)
            echo(f"unavailable: {exc}")
        except Exception as exc:  # noqa: BLE001 - a broken dataset plugin fails its jobs, not the sweep
            data[name] = exc
    runnable = [job for job in pending if job.dataset not in summary.unavailable]
    summary.not_run = len(pending) - len(runnable)
    protocol = PROTOCOLS[suite.protocol]
    disable = not options.progress or not sys.stderr.isatty()
    with tqdm(total=len(runnable), desc=f"{suite.name}", unit="job", disable=disable) as jobs_bar:
        for index, job in enumerate(runnable):
            with store.claim(job.key) as mine:
                if not mine:
                    summary.busy += 1
                    echo(f"[{index + 1}/{len(runnable)}] {job.label}: running in another process, left to it")
                elif not options.force and store.status(job.key) == "ok":
                    summary.skipped += 1
                else:
                    record = _execute(job, suite, plugins, protocol, data[job.dataset], options, disable)
                    summary.records.append(store.write(record))
                    _report(echo, index, len(runnable), job, record)
                    if record["status"] == "ok":
                        summary.ok += 1
                    else:
                        summary.failed += 1
                        if options.fail_fast:
                            summary.not_run += len(runnable) - index - 1
                            echo("stopping after the first failure (--fail-fast)")
                            break
            jobs_bar.update(1)
    return summary


def _report(echo: Callable[[str], None], index: int, total: int, job: Job, record: dict[str, Any]) -> None:
    prefix = f"[{index + 1}/{total}] {job.label}"
    if record["status"] == "ok":
        m = record["metrics"]
        echo(
            f"{prefix}: {job.metric} val {m['val']:.4f} test {m['test']:.4f} "
            f"(best step {record['best_step']}, {record['num_params']:,} params, {record['wall_seconds']:.1f}s)"
        )
    else:
        echo(f"{prefix}: FAILED {record['error']['type']}: {record['error']['message']}")


def _execute(
    job: Job, suite: Suite, plugins: Plugins, protocol: Callable[..., Any], data: Any, options: RunOptions,
    disable_progress: bool,
) -> dict[str, Any]:
    model_entry = plugins.models.get(job.model)
    metric = plugins.metrics.get(job.metric).spec
    started = datetime.now(timezone.utc)
    record: dict[str, Any] = {
        "schema": 1,
        "key": job.key,
        "variant": job.variant,
        "suite": suite.name,
        "suite_version": suite.version,
        "protocol": suite.protocol,
        "protocol_args": job.identity["protocol_args"],
        "max_params": suite.max_params,
        "dataset": job.dataset,
        "dataset_files": job.identity["dataset_files"],
        "model": job.model,
        "model_plugin": {
            "entry_point": model_entry.plugin.name,
            "distribution": model_entry.plugin.distribution,
            "version": model_entry.plugin.version,
        },
        "hparams": job.hparams,
        "grid_keys": job.identity["grid_keys"],
        "config_id": job.config_id,
        "metric": job.metric,
        "higher_is_better": metric.higher_is_better,
        "metric_scale": metric.scale,
        "split": job.split,
        "seed": job.seed,
        "device": device_name(options.device),
        "versions": {**python_versions(), "bench": __version__, "plugins": plugins.distributions()},
        "git_commit": git_commit(),
        "host": socket.gethostname(),
        "started_at": started.isoformat(timespec="seconds"),
    }
    steps_bar = tqdm(desc=f"  {job.model}/{job.dataset}/{job.split}", unit="step", leave=False, disable=disable_progress)
    ctx = ProtocolContext(
        data=data, model=model_entry.spec, hparams=job.hparams, args=job.identity["protocol_args"], metric=metric,
        split=job.split, seed=job.seed, device=options.device, on_step=steps_bar.update,
        steps_total=lambda n: steps_bar.reset(total=n), max_params=suite.max_params,
        allow_over_budget=options.allow_over_budget,
    )
    start = time.perf_counter()
    try:
        if isinstance(data, Exception):
            raise JobError(f"dataset {job.dataset!r} failed to load: {type(data).__name__}: {data}") from data
        reset_peak_memory(options.device)
        seed_everything(job.seed)
        result = protocol(ctx)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every job failure becomes a record
        record.update(status="failed", error=_describe_error(exc), wall_seconds=time.perf_counter() - start)
        if options.device.type == "cuda":
            torch.cuda.empty_cache()
        return record
    finally:
        steps_bar.close()
    peak, peak_kind = peak_memory_bytes(options.device)
    record.update(
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
