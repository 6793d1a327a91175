"""The ``ray`` launcher: one Ray task per worker (``bench-gnn[ray]``).

Each worker is a ``ray.remote`` task that runs ``bench run --shard i/N ...`` as a process on
the node Ray places it on, with ``--gpus-per-worker`` GPUs (a fraction such as 0.5 packs two
workers on a GPU; Ray sets ``CUDA_VISIBLE_DEVICES`` for the task, and the worker inherits it)
and ``--threads`` CPUs (default 1). ``--ray-address`` joins a running cluster (default: start
or join a local one). Ray retries a task whose node dies, and the retry resumes, because
finished jobs are skipped. The results folder must be reachable from every node.
"""

from __future__ import annotations

import sys

from bench_gnn import ConfigError, LaunchRequest, LaunchResult, UsageError, check_number


def _run_worker(request: LaunchRequest, index: int) -> int:
    return request.run_worker(index)


def launch(request: LaunchRequest) -> LaunchResult:
    import ray

    try:
        share = check_number("--gpus-per-worker", request.options.get("gpus_per_worker", 0.0), minimum=0)
    except ConfigError as exc:
        raise UsageError(f"launcher ray: {exc}") from None
    ray.init(address=request.options.get("ray_address") or None, ignore_reinit_error=True)
    task = ray.remote(num_gpus=share, num_cpus=request.threads or 1)(_run_worker)
    print(f"bench: ray: {request.workers} task(s), {share:g} GPU(s) and {request.threads or 1} CPU(s) each",
          file=sys.stderr)
    refs = [task.remote(request, index) for index in range(request.workers)]
    codes: list[int | None] = []
    for index, ref in enumerate(refs):
        try:
            codes.append(int(ray.get(ref)))
        except ray.exceptions.RayError as exc:
            print(f"bench: ray task of worker {request.worker_id(index)} failed: {exc}", file=sys.stderr)
            codes.append(None)
    return LaunchResult(exit_codes=tuple(codes))
