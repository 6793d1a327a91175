"""The ``submitit`` launcher: workers as SLURM job arrays, through submitit (``bench-gnn[slurm]``).

Worker ``i`` is one task of an array (``executor.map_array``); arrays hold at most
``--max-array-size`` workers (default 1000, below SLURM's default ``MaxArraySize`` of 1001), so a
larger ``--workers`` is split over several arrays. Options: ``--partition``,
``--gpus-per-worker``, ``--time-min`` (the time limit, default 240), ``--array-parallelism``
(workers of one array running at once, default 256) and ``--submitit-cluster``: ``auto``
(SLURM where ``sbatch`` exists, else this machine), ``slurm``, ``local`` (submitit's local
executor: processes here, as on a cluster; the tests use it) or ``debug`` (in this process, one
worker after another). ``--threads T`` asks SLURM for T CPUs per worker.

Each worker is a :class:`Worker`, a ``submitit.helpers.Checkpointable``: when its time limit
comes or it is preempted, submitit requeues it with the same shard index, and because finished
jobs are skipped, the requeued worker resumes where the sweep stands.

On SLURM ``bench launch`` returns once the arrays are submitted, printing the job ids;
submitit's files and the workers' logs are under ``<results>/.submitit`` and
``<results>/.launch``. With ``local`` or ``debug`` it waits for the workers.
"""

from __future__ import annotations

import sys

import submitit

from bench_gnn import ConfigError, LaunchRequest, LaunchResult, UsageError, check_choice, check_int

CLUSTERS = ("auto", "slurm", "local", "debug")
WAITS_FOR = ("local", "debug")


class Worker(submitit.helpers.Checkpointable):
    """One worker of the sweep as a submitit job: ``worker(i)`` runs ``bench run --shard i/N ...``.

    On timeout or preemption submitit calls :meth:`checkpoint` (inherited), which resubmits
    ``worker(i)`` unchanged: the rerun skips the jobs that have records.
    """

    def __init__(self, request: LaunchRequest) -> None:
        self.request = request

    def __call__(self, index: int) -> int:
        return self.request.run_worker(index)


def _options(request: LaunchRequest) -> dict:
    opts = request.options
    try:
        return {
            "cluster": check_choice("--submitit-cluster", opts["submitit_cluster"], CLUSTERS),
            "gpus": check_int("--gpus-per-worker", opts["gpus_per_worker"], minimum=0),
            "time_min": check_int("--time-min", opts["time_min"], minimum=1),
            "parallelism": check_int("--array-parallelism", opts["array_parallelism"], minimum=1),
            "max_array": check_int("--max-array-size", opts["max_array_size"], minimum=1),
            "partition": opts["partition"],
        }
    except ConfigError as exc:
        raise UsageError(f"launcher submitit: {exc}") from None


def launch(request: LaunchRequest) -> LaunchResult:
    opts = _options(request)
    folder = request.results / ".submitit"
    executor = submitit.AutoExecutor(folder=folder, cluster=None if opts["cluster"] == "auto" else opts["cluster"])
    parameters: dict = {
        "name": f"bench-{request.suite_name}", "timeout_min": opts["time_min"], "nodes": 1, "tasks_per_node": 1,
        "slurm_array_parallelism": opts["parallelism"],
    }
    if opts["gpus"]:
        parameters["gpus_per_node"] = opts["gpus"]
    if request.threads:
        parameters["cpus_per_task"] = request.threads
    if opts["partition"]:
        parameters["slurm_partition"] = opts["partition"]
    executor.update_parameters(**parameters)
    worker = Worker(request)
    indices = list(range(request.workers))
    jobs = []
    for start in range(0, len(indices), opts["max_array"]):
        jobs += executor.map_array(worker, indices[start:start + opts["max_array"]])
    arrays = -(-len(indices) // opts["max_array"])
    print(f"bench: submitit ({executor.cluster}): {len(jobs)} worker(s) in {arrays} array(s); files in {folder}",
          file=sys.stderr)
    if executor.cluster not in WAITS_FOR:
        return LaunchResult(submitted=tuple(str(job.job_id) for job in jobs))
    return LaunchResult(exit_codes=tuple(_wait(job) for job in jobs))


def _wait(job: submitit.Job) -> int | None:
    """The worker's exit code; None when its submitit job did not complete (killed, lost)."""
    try:
        return int(job.result())
    except submitit.core.utils.UncompletedJobError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"bench: submitit job {job.job_id} did not complete: {first}", file=sys.stderr)
        return None
