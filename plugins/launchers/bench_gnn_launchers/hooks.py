"""The built-in launchers of ``bench launch``: ``local``, ``submitit``, ``hydra`` and ``ray``.

Cheap to import: each launcher's code lives in its own module (``local``, ``slurm``, ...),
imported when it launches, and so are submitit, Hydra and Ray, which come with the extras
``bench-gnn[slurm]``, ``bench-gnn[hydra]`` and ``bench-gnn[ray]``. A launcher whose extra is
missing is refused before anything starts, with the ``pip install`` that fixes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_gnn import LauncherSpec, hookimpl

if TYPE_CHECKING:
    from bench_gnn import LaunchRequest, LaunchResult


def _local(request: LaunchRequest) -> LaunchResult:
    from bench_gnn_launchers.local import launch

    return launch(request)


def _submitit(request: LaunchRequest) -> LaunchResult:
    from bench_gnn_launchers.slurm import launch

    return launch(request)


def _hydra(request: LaunchRequest) -> LaunchResult:
    from bench_gnn_launchers.hydra_multirun import launch

    return launch(request)


def _ray(request: LaunchRequest) -> LaunchResult:
    from bench_gnn_launchers.ray_tasks import launch

    return launch(request)


@hookimpl
def bench_launchers():
    return [
        LauncherSpec(
            name="local",
            launch=_local,
            options={"workers_per_gpu": 1},
            flags={"workers_per_gpu": ("K", "workers sharing one GPU (default 1: round-robin over the GPUs)")},
            description="one process per worker on this machine; GPUs shared round-robin, CPU threads divided",
        ),
        LauncherSpec(
            name="submitit",
            launch=_submitit,
            options={
                "submitit_cluster": "auto", "partition": None, "gpus_per_worker": 0, "time_min": 240,
                "array_parallelism": 256, "max_array_size": 1000,
            },
            flags={
                "submitit_cluster": ("NAME", "auto (default: SLURM if available), slurm, local or debug"),
                "partition": ("NAME", "SLURM partition"),
                "gpus_per_worker": ("G", "GPUs per worker (default 0)"),
                "time_min": ("MIN", "time limit per worker in minutes (default 240); requeued when reached"),
                "array_parallelism": ("K", "workers of one array running at once (default 256)"),
                "max_array_size": ("K", "at most K workers per job array (default 1000)"),
            },
            requires=("submitit",),
            install="bench-gnn[slurm]",
            description="SLURM job arrays through submitit (requeued on timeout or preemption); local for tests",
        ),
        LauncherSpec(
            name="hydra",
            launch=_hydra,
            options={"hydra_launcher": None, "hydra_config_dir": None, "hydra_config_name": None,
                     "hydra_override": ()},
            flags={
                "hydra_launcher": ("NAME", "Hydra launcher plugin, hydra/launcher=NAME (default joblib)"),
                "hydra_config_dir": ("DIR", "your Hydra config folder (its launcher configs work unchanged)"),
                "hydra_config_name": ("NAME", "your primary config (its defaults may choose the launcher)"),
                "hydra_override": ("KEY=VALUE", "a Hydra override, e.g. hydra.launcher.n_jobs=4 (repeatable)"),
            },
            requires=("hydra",),
            install="bench-gnn[hydra]",
            description="a Hydra multirun over the shard index, under any Hydra launcher plugin (default joblib)",
        ),
        LauncherSpec(
            name="ray",
            launch=_ray,
            options={"gpus_per_worker": 0.0, "ray_address": None},
            flags={"gpus_per_worker": ("G", "GPU share per worker, e.g. 0.5"),
                   "ray_address": ("ADDRESS", "the cluster to join (default: a local one)")},
            requires=("ray",),
            install="bench-gnn[ray]",
            description="one Ray task per worker, each with a GPU share",
        ),
    ]
