"""`bench launch`: launchers as plugins, the worker command, exit codes, missing extras, and the smoke
suite run by 2 workers under the local, submitit (local executor) and hydra (joblib) launchers.

"Each job ran once" is counted from the workers' logs: a worker prints one ``[i/n] ... accuracy
val`` line right after it writes a job's record, so over all workers there is exactly one such
line per job when no job ran twice. Records also name their worker (``scheduling.worker``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import sys
import time
import types
from pathlib import Path

import pytest

from bench_gnn import LauncherSpec, LaunchRequest, LaunchResult, hookimpl
from bench_gnn.errors import ExitCode, PluginError, StorageError, UsageError, worker_exit_code
from bench_gnn.launch import launch, resolve_options
from bench_gnn.plugin_manager import load_plugins
from bench_gnn.sweep import Sweep

#: The end-to-end sweep: GCN on the 3 smoke datasets x 2 splits, short training (shards 0/2 and 1/2 own 5 and 1).
SWEEP = ("--suite", "smoke", "--model", "GCN", "--steps", "20")
SWEEP_JOBS = 6
RESULT_LINE = re.compile(r"^\[\d+/\d+\] .+: accuracy val ", re.M)
TIMING_COLUMNS = ("ms/step",)


def _module(name: str, *specs: LauncherSpec) -> types.ModuleType:
    module = types.ModuleType(name)
    module.bench_launchers = hookimpl(lambda: list(specs))
    return module


def _plugins_with(*specs: LauncherSpec):
    return load_plugins(extra=[("test-launchers", _module("test_launchers", *specs))])


class Recorder:
    """A launcher that starts nothing: keeps the request and reports the exit codes it was given."""

    def __init__(self, result: LaunchResult) -> None:
        self.result, self.requests = result, []

    def __call__(self, request: LaunchRequest) -> LaunchResult:
        self.requests.append(request)
        return self.result


# --- the contract: specs, options, the worker command, exit codes --------------------------------------------


def test_built_in_launchers_register_through_the_entry_point(plugins):
    assert {"local", "submitit", "hydra", "ray"} <= set(plugins.launchers.names())
    assert plugins.launchers.get("local").plugin.name == "launchers"
    assert plugins.launchers.get("ray").spec.install == "bench-gnn[ray]"


def test_invalid_launcher_spec_and_broken_launcher_plugin_are_isolated():
    with pytest.raises(PluginError, match="option 'x' has a default of type list"):
        LauncherSpec("bad", launch=lambda r: None, options={"x": []})
    with pytest.raises(PluginError, match="requires= needs install="):
        LauncherSpec("bad", launch=lambda r: None, requires=("somewhere",))

    def broken():
        raise RuntimeError("no launchers today")

    module = types.ModuleType("broken")
    module.bench_launchers = hookimpl(broken)
    result = load_plugins(extra=[("broken", module)])
    assert "no launchers today" in next(p for p in result.plugins if p.name == "broken").error
    assert "local" in result.launchers


def test_unknown_launcher_and_unknown_option_are_usage_errors(bench_main):
    code, _, err = bench_main("launch", "--suite", "smoke", "--workers", "2", "--launcher", "locl")
    assert code == 4 and "Did you mean 'local'" in err and "bench list launchers" in err
    code, _, err = bench_main("launch", "--suite", "smoke", "--workers", "2", "--partition", "gpu")
    assert code == 4 and "launcher 'local' takes no option --partition" in err and "--workers-per-gpu" in err
    code, _, err = bench_main("launch", "--suite", "smoke", "--workers", "2", "--workers-per-gpu", "two")
    assert code == 4 and "--workers-per-gpu must be an integer, got 'two'" in err
    code, _, err = bench_main("launch", "--suite", "smoke", "--workers", "0")
    assert code == 4 and "positive integer" in err


def test_options_are_converted_to_their_defaults_types_and_repeatable_ones_collected():
    spec = LauncherSpec("x", launch=lambda r: None,
                        options={"count": 1, "share": 0.0, "flag": False, "name": None, "extra": ()})
    values = resolve_options(spec, [("count", "3"), ("share", "0.5"), ("flag", "yes"), ("name", "gpu"),
                                    ("extra", "a=1"), ("extra", "b=2")])
    assert values == {"count": 3, "share": 0.5, "flag": True, "name": "gpu", "extra": ("a=1", "b=2")}
    assert resolve_options(spec, []) == spec.options
    with pytest.raises(UsageError, match="did you mean --count"):
        resolve_options(spec, [("cuont", "2")])


@pytest.mark.parametrize(
    "launcher, module, install",
    [("ray", "ray", "bench-gnn[ray]"), ("submitit", "submitit", "bench-gnn[slurm]"),
     ("hydra", "hydra", "bench-gnn[hydra]")],
)
def test_a_missing_extra_names_the_pip_install(bench_main, monkeypatch, tmp_path, launcher, module, install):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if the extra were not installed
    code, _, err = bench_main("launch", "--suite", "smoke", "--workers", "2", "--launcher", launcher,
                              "--results", str(tmp_path))
    assert code == 4
    assert f"the {launcher} launcher needs {module}" in err and f"pip install '{install}'" in err
    assert not (tmp_path / "smoke").exists()  # refused before anything started


def test_worker_command_environment_and_pass_through_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recorder = Recorder(LaunchResult(exit_codes=(0, 0, 0)))
    plugins = _plugins_with(LauncherSpec("rec", launch=recorder))
    sweep = Sweep("smoke", models=["GCN"], datasets=["csbm-mixed"], splits=1, steps=5,
                  overrides=["protocol_args.lr=0.02"], results=Path("out"), data_dir=Path("data"), threads=2,
                  offline=True, device="cpu", cache_dir=Path("cache"), allow_over_budget=True)
    assert launch(sweep, workers=3, launcher="rec", plugins=plugins).exit_code == ExitCode.OK
    request = recorder.requests[0]
    assert request.results == tmp_path / "out" and request.suite_name == "smoke"
    command = request.command(2)
    assert command[:4] == [sys.executable, "-m", "bench_gnn.cli", "run"]
    text = " ".join(command)
    for part in ("--suite smoke", "--shard 2/3", "--worker-id rec-2", f"--results {tmp_path / 'out'}",
                 "--threads 2", "--model GCN", "--dataset csbm-mixed", "--splits 1", "--steps 5",
                 f"--data-dir {tmp_path / 'data'}", "--offline", "--no-leaderboard", "--device cpu",
                 f"--cache-dir {tmp_path / 'cache'}", "--allow-over-budget"):
        assert part in text
    assert command[-1] == "protocol_args.lr=0.02"
    assert request.environment(0) == {"BENCH_LAUNCHER": "rec", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2"}
    assert request.log_path(1) == tmp_path / "out" / ".launch" / "smoke" / "rec-1.log"
    with pytest.raises(ValueError):
        request.command(3)


def test_a_bad_suite_or_an_unwritable_results_folder_stops_launch_before_any_worker(tmp_path):
    recorder = Recorder(LaunchResult(exit_codes=(0, 0)))
    plugins = _plugins_with(LauncherSpec("rec", launch=recorder))
    with pytest.raises(UsageError, match="unknown suite 'smok'"):
        launch(Sweep("smok", results=tmp_path), workers=2, launcher="rec", plugins=plugins)
    with pytest.raises(UsageError, match="unknown model 'GCNN'"):
        launch(Sweep("smoke", models=["GCNN"], results=tmp_path), workers=2, launcher="rec", plugins=plugins)
    taken = tmp_path / "a-file"
    taken.write_text("")
    with pytest.raises(StorageError, match=f"cannot write records to {taken / 'smoke'}"):
        launch(Sweep("smoke", results=taken), workers=2, launcher="rec", plugins=plugins)
    assert recorder.requests == []  # no worker was ever asked for


def test_exit_code_is_the_worst_worker_and_a_killed_worker_asks_for_a_rerun(tmp_path):
    assert worker_exit_code(0) == ExitCode.OK and worker_exit_code(1) == ExitCode.JOBS_FAILED
    assert worker_exit_code(-9) == worker_exit_code(137) == worker_exit_code(None) == ExitCode.INTERRUPTED
    assert worker_exit_code(99) == ExitCode.INTERNAL_ERROR
    lines: list[str] = []
    for codes, expected in (((0, 1), ExitCode.JOBS_FAILED), ((1, -9), ExitCode.INTERRUPTED), ((0, 5), 5)):
        plugins = _plugins_with(LauncherSpec("rec", launch=Recorder(LaunchResult(exit_codes=codes))))
        launched = launch(Sweep("smoke", results=tmp_path), workers=2, launcher="rec", plugins=plugins,
                          report=lines.append)
        assert launched.exit_code == expected
    err = "\n".join(lines)
    assert "worker rec-1 was killed by signal 9 (SIGKILL)" in err
    assert "run the same command again to resume" in err and "bench status --suite smoke" in err


def test_submission_prints_job_ids_and_the_status_command(bench_main, monkeypatch, tmp_path):
    import bench_gnn.commands

    spec = LauncherSpec("rec", launch=Recorder(LaunchResult(submitted=("4242_0", "4242_1"))))
    lines: list[str] = []
    launched = launch(Sweep("smoke", results=tmp_path, splits=1), workers=2, launcher="rec",
                      plugins=_plugins_with(spec), report=lines.append)
    assert (launched.exit_code, launched.submitted) == (ExitCode.OK, ("4242_0", "4242_1"))
    assert any(f"bench status --suite smoke --results {tmp_path} --splits 1" in line for line in lines)
    monkeypatch.setattr(bench_gnn.commands, "_plugins", lambda args: _plugins_with(spec))
    code, out, err = bench_main("launch", "--suite", "smoke", "--workers", "2", "--launcher", "rec", "--results",
                                str(tmp_path), "--splits", "1")
    assert code == ExitCode.OK and out.split() == ["4242_0", "4242_1"]  # the ids alone on stdout, for scripts
    assert f"bench status --suite smoke --results {tmp_path} --splits 1" in err


def test_option_on_the_command_line_reaches_a_third_party_launcher_typed(bench_main, monkeypatch, tmp_path):
    import bench_gnn.commands

    recorder = Recorder(LaunchResult(exit_codes=(0, 0)))
    spec = LauncherSpec("rec", launch=recorder, options={"queue": None, "retries": 0, "tag": ()})
    monkeypatch.setattr(bench_gnn.commands, "_plugins", lambda args: _plugins_with(spec))
    code, _, err = bench_main("launch", "--suite", "smoke", "--workers", "2", "--launcher", "rec", "--results",
                              str(tmp_path), "--option", "queue=gpu-long", "--option", "retries=3", "--option",
                              "tag=a=1", "--option", "tag=b")
    assert code == ExitCode.OK, err
    (request,) = recorder.requests
    assert request.options == {"queue": "gpu-long", "retries": 3, "tag": ("a=1", "b")}
    code, _, err = bench_main("launch", "--suite", "smoke", "--workers", "2", "--launcher", "rec", "--option", "=x")
    assert code == ExitCode.USAGE_ERROR and "expected KEY=VALUE (a launcher option), got '=x'" in err


def test_a_launcher_that_raises_or_misreports_is_a_plugin_error_naming_it(tmp_path):
    def boom(request):
        raise RuntimeError("cannot reach the cluster")

    plugins = _plugins_with(LauncherSpec("boom", launch=boom), LauncherSpec("odd", launch=lambda r: 0),
                            LauncherSpec("short", launch=lambda r: LaunchResult(exit_codes=(0,))))
    with pytest.raises(PluginError, match="launcher 'boom' of plugin test-launchers.*cannot reach the cluster"):
        launch(Sweep("smoke", results=tmp_path), workers=2, launcher="boom", plugins=plugins)
    with pytest.raises(PluginError, match="returned 0; expected a bench_gnn.LaunchResult"):
        launch(Sweep("smoke", results=tmp_path), workers=2, launcher="odd", plugins=plugins)
    with pytest.raises(PluginError, match="1 exit code"):
        launch(Sweep("smoke", results=tmp_path), workers=2, launcher="short", plugins=plugins)


# --- launcher internals, without starting real workers ------------------------------------------------------


def _request(tmp_path: Path, launcher: str, workers: int, python: str, **options) -> LaunchRequest:
    return LaunchRequest(launcher=launcher, suite="smoke", suite_name="smoke", results=tmp_path, workers=workers,
                         options=options, python=python)


def test_local_launcher_pins_gpus_round_robin_or_packed(monkeypatch):
    from bench_gnn_launchers import local as launcher_local

    assert [launcher_local.gpu_of(i, ["0", "1"], 1) for i in range(4)] == ["0", "1", "0", "1"]
    assert [launcher_local.gpu_of(i, ["0", "1"], 2) for i in range(5)] == ["0", "0", "1", "1", "0"]
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert launcher_local.visible_gpus("auto") == ["3", "5"]
    assert launcher_local.visible_gpus("cpu") == []


def test_local_launcher_reports_each_workers_exit_code(tmp_path):
    """``python`` stands in for the interpreter: ``true``/``false`` ignore the command line."""
    from bench_gnn_launchers import local as launcher_local

    result = launcher_local.launch(_request(tmp_path, "local", 2, "false", workers_per_gpu=1))
    assert result.exit_codes == (1, 1)
    log = (tmp_path / ".launch" / "smoke" / "local-1.log").read_text()
    assert "BENCH_LAUNCHER=local" in log and "OMP_NUM_THREADS=" in log and "--shard 1/2" in log


def test_local_workers_share_the_usable_cores_unless_threads_is_given(tmp_path, monkeypatch, capsys):
    from dataclasses import replace

    from bench_gnn_launchers import local as launcher_local

    monkeypatch.setattr(launcher_local, "usable_cores", lambda: 8)
    for workers, threads, expected in ((3, None, 2), (16, None, 1), (3, 5, 5)):
        request = replace(_request(tmp_path, "local", workers, "true", workers_per_gpu=1), threads=threads)
        assert launcher_local.launch(request).exit_codes == (0,) * workers
        assert f"{workers} worker process(es), {expected} thread(s) each, CPU" in capsys.readouterr().err
        log = (tmp_path / ".launch" / "smoke" / f"local-{workers - 1}.log").read_text()
        assert f"OMP_NUM_THREADS={expected}" in log and f"--threads {expected}" in log


def test_ray_launcher_runs_one_task_per_worker_with_its_gpu_share(tmp_path, monkeypatch):
    calls: dict = {"tasks": []}

    class RayError(Exception):
        pass

    def remote(**resources):
        calls["resources"] = resources

        def wrap(fn):
            return types.SimpleNamespace(remote=lambda *args: calls["tasks"].append(args) or fn(*args))

        return wrap

    fake = types.SimpleNamespace(init=lambda **kw: calls.update(init=kw), remote=remote, get=lambda ref: ref,
                                 exceptions=types.SimpleNamespace(RayError=RayError))
    monkeypatch.setitem(sys.modules, "ray", fake)
    from bench_gnn_launchers import ray_tasks as launcher_ray

    result = launcher_ray.launch(_request(tmp_path, "ray", 2, "true", gpus_per_worker=0.5, ray_address=None))
    assert result.exit_codes == (0, 0)
    assert calls["resources"] == {"num_gpus": 0.5, "num_cpus": 1} and len(calls["tasks"]) == 2
    with pytest.raises(UsageError, match="--gpus-per-worker must be a number >= 0"):
        launcher_ray.launch(_request(tmp_path, "ray", 2, "true", gpus_per_worker=-1.0, ray_address=None))


def test_hydra_overrides_keep_outputs_under_results_and_respect_the_users_launcher(tmp_path):
    from bench_gnn_launchers.hydra_multirun import overrides

    sweep = tmp_path / ".hydra" / "smoke" / "t"
    base = {"hydra_launcher": None, "hydra_config_dir": None, "hydra_config_name": None, "hydra_override": ()}
    args = overrides(_request(tmp_path, "hydra", 3, "python", **base), sweep)
    assert "++shard=0,1,2" in args and f"hydra.sweep.dir={sweep}" in args and "hydra.job.chdir=False" in args
    assert f"hydra.run.dir={sweep / 'run'}" in args
    assert "hydra/launcher=joblib" in args and "hydra.launcher.n_jobs=3" in args
    theirs = overrides(_request(tmp_path, "hydra", 3, "python", **{
        **base, "hydra_override": ("hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu")}), sweep)
    assert not any(a.startswith(("hydra/launcher=joblib", "hydra.launcher.n_jobs")) for a in theirs)
    assert theirs[-2:] == ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu"]
    with_config = overrides(_request(tmp_path, "hydra", 2, "python", **{**base, "hydra_config_name": "c"}), sweep)
    assert not any(a.startswith("hydra/launcher") for a in with_config)  # the config's defaults decide


# --- the smoke suite with 2 workers, end to end ------------------------------------------------------------


def _leaderboard_without_timing(results: Path) -> list[list[str]]:
    from bench_gnn import leaderboard
    from bench_gnn.store import read_records
    from bench_gnn.sweep import load_suite

    suite, _ = load_suite(load_plugins(), "smoke")
    rows = list(csv.reader(io.StringIO(leaderboard.render(suite, read_records(results / "smoke"), "csv"))))
    keep = [i for i, name in enumerate(rows[0]) if name not in TIMING_COLUMNS]
    return [[row[i] for i in keep] for row in rows]


def _records(results: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((results / "smoke").glob("*.json"))]


def _statuses(results: Path) -> list[str | None]:
    from bench_gnn.store import Store

    store = Store(results, "smoke")
    return [store.status(path.stem) for path in sorted((results / "smoke").glob("*.json"))]


def _result_lines(results: Path) -> int:
    return sum(len(RESULT_LINE.findall(log.read_text())) for log in (results / ".launch" / "smoke").glob("*.log"))


@pytest.fixture(scope="module")
def single_process_board(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """The sweep's leaderboard from one process: `bench run` in this one (no second torch start-up)."""
    import contextlib

    from bench_gnn.cli import main

    results, err = tmp_path_factory.mktemp("single"), io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["run", *SWEEP, "--threads", "1", "--results", str(results), "--no-progress", "--no-leaderboard"])
    assert code == 0, err.getvalue()
    return _leaderboard_without_timing(results)


@pytest.mark.parametrize(
    "launcher, extra",
    [("local", []), ("submitit", ["--submitit-cluster", "local"]), ("hydra", [])],
)
def test_two_workers_run_each_smoke_job_once_with_the_single_process_leaderboard(
    bench_process, tmp_path, single_process_board, launcher, extra
):
    results, cwd = tmp_path / "results", tmp_path / "cwd"
    cwd.mkdir()
    done = bench_process("launch", *SWEEP, "--workers", "2", "--launcher", launcher, "--threads", "1",
                         "--results", str(results), *extra, cwd=cwd)
    _, err = done.communicate(timeout=600)
    assert done.returncode == 0, err
    assert f"launch done: {SWEEP_JOBS} of {SWEEP_JOBS} job(s) ok" in err
    records = _records(results)
    assert len(records) == SWEEP_JOBS and set(_statuses(results)) == {"ok"}
    assert _result_lines(results) == SWEEP_JOBS  # one finished run per job over both workers: none ran twice
    workers = (f"{launcher}-0", f"{launcher}-1")
    assert {r["scheduling"]["worker"] for r in records} == set(workers)  # each worker trained a share
    for worker in workers:  # and each printed a result line for exactly the jobs its records say it trained
        log = (results / ".launch" / "smoke" / f"{worker}.log").read_text()
        assert len(RESULT_LINE.findall(log)) == sum(r["scheduling"]["worker"] == worker for r in records), log
    assert {r["scheduling"]["launcher"] for r in records} == {launcher}
    assert _leaderboard_without_timing(results) == single_process_board
    assert list(cwd.iterdir()) == []  # nothing in the working directory (Hydra's folders under results/.hydra)
    if launcher == "hydra":
        assert (results / ".hydra" / "smoke").is_dir()


def _worker_pid(worker_id: str, results: Path) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--worker-id" in argv and worker_id.encode() in argv and str(results).encode() in argv:
            return int(entry.name)
    return None


def test_a_worker_killed_mid_job_fails_the_launch_and_the_same_command_completes_the_sweep(bench_process, tmp_path):
    results = tmp_path / "results"
    # GCN's 6 smoke jobs at the suite's 100 steps: 3 per worker, so that local-1 is mid-sweep at the first record
    command = ["launch", "--suite", "smoke", "--model", "GCN", "--workers", "2", "--threads", "1", "--results",
               str(results), "--no-leaderboard"]
    launcher = bench_process(*command, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 300
        while not list((results / "smoke").glob("*.json")):
            assert launcher.poll() is None and time.monotonic() < deadline, "no record appeared"
            time.sleep(0.05)
        pid = _worker_pid("local-1", results)
        assert pid is not None, "worker local-1 not found"
        os.kill(pid, signal.SIGKILL)
        _, err = launcher.communicate(timeout=600)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(timeout=30)
    assert launcher.returncode == ExitCode.INTERRUPTED, err
    assert "worker local-1 was killed by signal 9 (SIGKILL)" in err
    assert "run the same command again" in err
    again = bench_process(*command, cwd=tmp_path)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert len(_records(results)) == SWEEP_JOBS and set(_statuses(results)) == {"ok"}
    assert _result_lines(results) <= SWEEP_JOBS  # the killed job never finished; no job finished twice


def test_launchers_declare_their_flags_and_one_declared_twice_is_one_flag_naming_both():
    from bench_gnn.cli import _parser, launcher_flags

    mine = LauncherSpec("mine", launch=lambda r: LaunchResult(exit_codes=()), options={"queue": "", "gpus": 0},
                        flags={"queue": ("NAME", "the queue to submit to"), "gpus": ("G", "GPUs per worker")})
    other = LauncherSpec("other", launch=lambda r: LaunchResult(exit_codes=()), options={"gpus": 0.0},
                         flags={"gpus": ("G", "GPU share")})
    assert launcher_flags([mine, other]) == [("--gpus", "G", "mine: GPUs per worker; other: GPU share"),
                                             ("--queue", "NAME", "mine: the queue to submit to")]
    args = _parser([mine, other]).parse_args(["launch", "--suite", "smoke", "--workers", "2", "--queue", "q1",
                                              "--gpus", "2"])
    assert args.launcher_options == [("queue", "q1"), ("gpus", "2")]
    with pytest.raises(PluginError, match="flag for 'nope', which is not one of its options"):
        LauncherSpec("bad", launch=lambda r: None, options={}, flags={"nope": ("X", "x")})
    with pytest.raises(PluginError, match=r"must be \(METAVAR, help\)"):
        LauncherSpec("bad", launch=lambda r: None, options={"a": 1}, flags={"a": "A"})


def test_only_the_launch_command_loads_the_launchers_for_its_flags(bench_main, monkeypatch):
    from bench_gnn import cli

    assert cli._installed_launchers(["run", "--suite", "smoke"]) == []
    assert {spec.name for spec in cli._installed_launchers(["--strict", "launch", "--suite", "smoke"])} >= {
        "local", "submitit", "hydra", "ray"}
    code, text, _ = bench_main("launch", "--help")
    assert code == 0 and "--time-min MIN" in text and "submitit: time limit per worker" in text
