"""The ``hydra`` launcher: the workers as a Hydra multirun over the shard index (``bench-gnn[hydra]``).

``bench launch --launcher hydra --workers N`` composes a Hydra config and runs the sweep
``++shard=0,1,...,N-1``; Hydra's launcher plugin runs one job per shard, and each job runs
worker ``shard`` (``bench run --shard shard/N ...``) as a process. Whatever Hydra launcher
plugin is installed drives the workers: joblib (the default, processes on this machine),
submitit_slurm, ray, rq, ... So an existing Hydra launcher configuration for a cluster works
unchanged: ``--hydra-config-dir DIR`` adds its config folder to Hydra's search path,
``--hydra-config-name NAME`` composes its primary config (whose defaults list may choose the
launcher), ``--hydra-launcher NAME`` chooses ``hydra/launcher=NAME`` and ``--hydra-override
KEY=VALUE`` (repeatable) passes any Hydra override, e.g. ``hydra.launcher.partition=gpu``.

Hydra's output folders (the sweep folder, each job's ``.hydra`` and log) go under
``<results>/.hydra/<suite>/<time>``, never in the working directory, and jobs do not change
directory (``hydra.job.chdir=False``). Hydra's own messages go to stderr.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bench_gnn import LaunchRequest, LaunchResult, UsageError

DEFAULT_LAUNCHER = "joblib"
JOBLIB_PLUGIN = "hydra_plugins.hydra_joblib_launcher"


def _run_shard(request: LaunchRequest, cfg: DictConfig) -> int:
    return request.run_worker(int(cfg.shard))


def overrides(request: LaunchRequest, sweep_dir: Path) -> list[str]:
    """The Hydra overrides of the multirun: ours first, then the user's (which win)."""
    opts = request.options
    user = list(opts.get("hydra_override") or ())
    keys = {item.split("=", 1)[0].lstrip("+~") for item in user}
    launcher = opts.get("hydra_launcher") or None
    if launcher is None and "hydra/launcher" not in keys and not opts.get("hydra_config_name"):
        launcher = DEFAULT_LAUNCHER  # with a primary config, its defaults list decides
    ours = [
        f"++shard={','.join(str(i) for i in range(request.workers))}",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweep.subdir=${hydra.job.num}",
        f"hydra.run.dir={sweep_dir / 'run'}",
        "hydra.job.chdir=False",
    ]
    if launcher is not None and "hydra/launcher" not in keys:
        ours.append(f"hydra/launcher={launcher}")
        if launcher == DEFAULT_LAUNCHER and "hydra.launcher.n_jobs" not in keys:
            ours.append(f"hydra.launcher.n_jobs={request.workers}")
    return ours + user


def launch(request: LaunchRequest) -> LaunchResult:
    from functools import partial

    from hydra import initialize, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    opts = request.options
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")
    sweep_dir = request.results / ".hydra" / request.suite_name / stamp
    args = overrides(request, sweep_dir)
    if f"hydra/launcher={DEFAULT_LAUNCHER}" in args:
        _require_joblib()
    config_dir = opts.get("hydra_config_dir")
    if config_dir is not None and not Path(config_dir).is_dir():
        raise UsageError(f"--hydra-config-dir {config_dir}: no such folder; give the folder of your Hydra configs")
    context: Any = (
        initialize_config_dir(config_dir=str(Path(config_dir).resolve()), job_name="bench-launch", version_base="1.3")
        if config_dir is not None
        else initialize(config_path=None, job_name="bench-launch", version_base="1.3")
    )
    print(f"bench: hydra: multirun over shard=0..{request.workers - 1}; Hydra's files in {sweep_dir}",
          file=sys.stderr)
    try:
        with context, contextlib.redirect_stdout(sys.stderr):
            hydra = GlobalHydra.instance().hydra
            if hydra is None:  # initialize() sets it; the check is for the type checker
                raise RuntimeError("Hydra did not initialize")
            returns = hydra.multirun(
                config_name=opts.get("hydra_config_name"), task_function=partial(_run_shard, request), overrides=args,
            )
    except (HydraException, OmegaConfBaseException) as exc:
        raise UsageError(f"Hydra refused the multirun: {exc}; check --hydra-override and --hydra-config-*") from exc
    return LaunchResult(exit_codes=_exit_codes(returns, request.workers))


def _exit_codes(returns: Any, workers: int) -> tuple[int | None, ...]:
    """One exit code per shard from Hydra's job returns (None: the job failed or never reported)."""
    codes: list[int | None] = [None] * workers
    for batch in returns or ():
        for job in batch:
            shard = int(job.cfg.shard)
            try:
                codes[shard] = int(job.return_value)
            except Exception as exc:  # noqa: BLE001 - a job that raised reports its exception here
                print(f"bench: hydra job for shard {shard} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return tuple(codes)


def _require_joblib() -> None:
    try:
        __import__(JOBLIB_PLUGIN)
    except ImportError as exc:
        raise UsageError(
            f"the hydra launcher runs workers with Hydra's joblib launcher by default, which is not installed "
            f"({exc}): pip install 'bench-gnn[hydra]', or choose another with --hydra-launcher NAME"
        ) from None
