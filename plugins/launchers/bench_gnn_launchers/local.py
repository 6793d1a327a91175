"""The ``local`` launcher: one ``bench run`` process per worker on this machine.

CPU threads: each worker gets ``--threads T`` and ``OMP_NUM_THREADS=T``, where ``T`` is the
user's ``--threads`` or, by default, the usable cores divided among the workers
(``max(1, cores // N)``), so N workers do not oversubscribe the machine.

GPUs (``--device auto`` or ``cuda`` on a machine with GPUs): worker ``i`` sees one GPU,
``CUDA_VISIBLE_DEVICES = gpus[(i // K) % len(gpus)]`` with ``K = --workers-per-gpu``
(default 1). So with K = 1 workers go round-robin over the GPUs, and with K = 2 workers 0
and 1 share the first GPU, 2 and 3 the second, and so on; small jobs pack K to a GPU. With
more than ``K * len(gpus)`` workers the assignment wraps around and a GPU gets more than K.
``gpus`` are the GPUs this process may use (its own ``CUDA_VISIBLE_DEVICES``, if set).

Ctrl-C (or any error while waiting) interrupts every worker, then waits for them, and a SIGTERM
to ``bench launch`` is passed on to them; finished jobs are saved, and the same command resumes
the sweep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from bench_gnn import ConfigError, LaunchRequest, LaunchResult, UsageError, check_int

INTERRUPT_GRACE_S = 2
STOP_GRACE_S = 30


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. a SLURM allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus(device: str) -> list[str]:
    """The GPUs workers may use (ids as CUDA_VISIBLE_DEVICES takes them); none with ``--device cpu``."""
    if device == "cpu":
        return []
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return []
    inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
    if inherited:
        ids = [part.strip() for part in inherited.split(",") if part.strip()]
        return ids[:count]
    return [str(index) for index in range(count)]


def gpu_of(index: int, gpus: list[str], per_gpu: int) -> str:
    """The GPU worker ``index`` is pinned to: ``gpus[(index // per_gpu) % len(gpus)]``."""
    return gpus[(index // per_gpu) % len(gpus)]


def launch(request: LaunchRequest) -> LaunchResult:
    try:
        per_gpu = check_int("--workers-per-gpu", request.options.get("workers_per_gpu", 1), minimum=1)
    except ConfigError as exc:
        raise UsageError(f"launcher local: {exc}") from None
    threads = request.threads or max(1, usable_cores() // request.workers)
    request = replace(request, threads=threads)
    gpus = visible_gpus(request.device)
    if gpus and request.workers > per_gpu * len(gpus):
        print(f"bench: note: {request.workers} workers on {len(gpus)} GPU(s) at {per_gpu} per GPU: "
              "some GPUs get more; raise --workers-per-gpu or lower --workers", file=sys.stderr)
    env = [{"CUDA_VISIBLE_DEVICES": gpu_of(i, gpus, per_gpu)} if gpus else {} for i in range(request.workers)]
    where = f"{len(gpus)} GPU(s), {per_gpu} worker(s) per GPU" if gpus else "CPU"
    print(f"bench: local: {request.workers} worker process(es), {threads} thread(s) each, {where}", file=sys.stderr)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with _forwarding_sigterm(processes):
            for index in range(request.workers):
                processes.append(request.start_worker(index, env[index]))
            codes = tuple(process.wait() for process in processes)
    except KeyboardInterrupt:
        _stop(processes, grace=INTERRUPT_GRACE_S)  # Ctrl-C in a terminal reached the workers too
        raise
    except BaseException:
        _stop(processes, grace=0)
        raise
    return LaunchResult(exit_codes=codes)


@contextlib.contextmanager
def _forwarding_sigterm(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """While the workers run, a SIGTERM to ``bench launch`` (``kill``, a scheduler) terminates them too,
    so none runs on unattended; the launch then reports them as killed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(processes: list[subprocess.Popen[bytes]], grace: float) -> None:
    """Stop the workers still running: let them end on their own for ``grace`` seconds, then interrupt
    them (they save what they finished), then kill any still there after :data:`STOP_GRACE_S`."""
    _wait_all(processes, grace)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    _wait_all(processes, STOP_GRACE_S)
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_all(processes: list[subprocess.Popen[bytes]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
