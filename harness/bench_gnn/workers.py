"""The workers of ``bench launch``: what a launcher is asked to start and what it reports back.

A launcher plugin (:class:`bench_gnn.LauncherSpec`) receives one :class:`LaunchRequest` and
starts ``request.workers`` workers, wherever it starts them (processes here, a SLURM array,
a Hydra multirun, Ray tasks). Worker ``i`` runs ``request.command(i)``::

    python -m bench_gnn.cli run --suite S --shard i/N --worker-id <launcher>-i --results DIR \\
        --no-progress --no-leaderboard [--threads T] [the user's run options and KEY=VALUE overrides]

with ``request.environment(i)`` added to its environment (``BENCH_LAUNCHER=<launcher>``, and
``OMP_NUM_THREADS`` with ``--threads``). :meth:`LaunchRequest.run_worker` does exactly that
where it is called, appending the worker's output to ``request.log_path(i)``, and returns the
worker's exit code, so a launcher only has to get that call executed N times. The launcher
then returns a :class:`LaunchResult`: the workers' exit codes when it waited for them, or the
scheduler's job ids when it returns after submission.

Every worker takes its own shard first and then the leftovers of the others, and finished
jobs are skipped, so a worker that is requeued, or a launch run again, resumes the sweep.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from bench_gnn.shards import LAUNCHER_ENV

#: The module a worker runs (``python -m bench_gnn.cli run ...``).
WORKER_MODULE = "bench_gnn.cli"


@dataclass(frozen=True)
class LaunchRequest:
    """The workers ``bench launch`` asks a launcher to start.

    Args:
        launcher: the launcher's name; workers get it as ``$BENCH_LAUNCHER`` and their ids are
            ``<launcher>-<i>``.
        suite: the suite as ``bench run --suite`` takes it (a name, or an absolute path to a YAML file).
        suite_name: the suite's name (records go to ``<results>/<suite_name>``).
        results: the results folder (absolute).
        workers: how many workers to start (N); worker ``i`` runs shard ``i/N``.
        run_args: the user's ``bench run`` options and ``KEY=VALUE`` overrides, the same for every
            worker (``--model``, ``--dataset``, ``--splits``, ``--steps``, ``--data-dir``, ...).
        device: ``auto``, ``cpu`` or ``cuda``, as ``bench run --device`` takes it.
        threads: CPU threads per worker (``--threads`` and ``OMP_NUM_THREADS``); None leaves it to
            torch (or to the launcher: ``local`` divides the machine's cores among its workers).
        options: the launcher's options, its defaults with the user's values applied.
        logs: the folder of the workers' logs (``<results>/.launch/<suite_name>``).
        python: the interpreter workers run with (this one by default).
    """

    launcher: str
    suite: str
    suite_name: str
    results: Path
    workers: int
    run_args: tuple[str, ...] = ()
    device: str = "auto"
    threads: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    logs: Path | None = None
    python: str = field(default_factory=lambda: sys.executable)

    def worker_id(self, index: int) -> str:
        return f"{self.launcher}-{index}"

    def shard(self, index: int) -> str:
        self._check_index(index)
        return f"{index}/{self.workers}"

    def command(self, index: int) -> list[str]:
        """The command line of worker ``index``."""
        threads = ["--threads", str(self.threads)] if self.threads else []
        return [
            self.python, "-m", WORKER_MODULE, "run", "--suite", self.suite, "--shard", self.shard(index),
            "--worker-id", self.worker_id(index), "--results", str(self.results), "--device", self.device,
            "--no-progress", "--no-leaderboard", *threads, *self.run_args,
        ]

    def environment(self, index: int) -> dict[str, str]:
        """What worker ``index`` adds to the environment it inherits."""
        self._check_index(index)
        env = {LAUNCHER_ENV: self.launcher, "PYTHONUNBUFFERED": "1"}
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def log_path(self, index: int) -> Path:
        """Worker ``index``'s log (appended to, one header line per start)."""
        return (self.logs or self.results / ".launch" / self.suite_name) / f"{self.worker_id(index)}.log"

    def start_worker(self, index: int, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start worker ``index`` here, its output appended to :meth:`log_path`; ``env`` adds to
        (and wins over) :meth:`environment`, e.g. ``CUDA_VISIBLE_DEVICES``."""
        command = self.command(index)
        extra = {**self.environment(index), **(env or {})}
        log = self._open_log(index, command, extra)
        try:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **extra}
            )
        finally:
            log.close()  # the child holds its own descriptor

    def run_worker(self, index: int, env: Mapping[str, str] | None = None) -> int:
        """Run worker ``index`` here and wait for it; its exit code (negative: killed by that signal)."""
        return self.start_worker(index, env).wait()

    def _open_log(self, index: int, command: list[str], extra: Mapping[str, str]) -> IO[bytes]:
        path = self.log_path(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        log = open(path, "ab")  # handed to the child process; start_worker closes our copy
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        env_text = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(extra.items()))
        log.write(f"== {stamp} {self.worker_id(index)} on {os.uname().nodename}: {env_text} "
                  f"{shlex.join(command)}\n".encode())
        log.flush()
        return log

    def _check_index(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.workers:
            raise ValueError(f"worker index must be an integer in 0..{self.workers - 1}, got {index!r}")


@dataclass(frozen=True)
class LaunchResult:
    """What a launcher reports back.

    Args:
        exit_codes: one per worker, in worker order, when the launcher waited for them: the
            worker's exit code (negative: killed by that signal), or None for a worker that never
            reported (lost, killed with its host, preempted and not requeued).
        submitted: the scheduler's job ids, when the launcher returns after submitting (a SLURM
            cluster): ``bench launch`` prints them and the ``bench status`` command to watch.
    """

    exit_codes: tuple[int | None, ...] = ()
    submitted: tuple[str, ...] = ()
