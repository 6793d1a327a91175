"""``bench launch``: run a suite with N workers under a launcher plugin.

Everything is checked before a worker starts: the launcher's name (with "did you mean"), its
options (declared by its :class:`~bench_gnn.specs.LauncherSpec`; values converted to the
defaults' types), the modules it needs (a missing extra names the ``pip install`` that fixes
it), the suite with its filters and overrides, and a writable results folder. Then the
launcher starts the workers of one :class:`~bench_gnn.workers.LaunchRequest`, each a ``bench
run --shard i/N`` process, and reports back.

When the launcher waited for its workers, ``bench launch`` counts the records, prints the
leaderboard and exits with the worst of the workers' exit codes (see
:func:`bench_gnn.errors.worker_exit_code`); a killed worker leaves its finished jobs saved, and
running the same command again resumes the sweep. When it returned after submitting (SLURM),
``bench launch`` prints the job ids and the ``bench status`` command that follows the sweep.
"""

from __future__ import annotations

import difflib
import importlib
import signal
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench_gnn.data.context import default_data_dir
from bench_gnn.errors import (
    BenchError,
    ExitCode,
    PluginError,
    UsageError,
    worker_exit_code,
    worst_exit_code,
)
from bench_gnn.files import inside, reporting_os_errors
from bench_gnn.plugin_manager import Plugins
from bench_gnn.registry import Registered
from bench_gnn.report import Report, load_plugins_reporting, quiet
from bench_gnn.specs import LauncherSpec
from bench_gnn.store import Store
from bench_gnn.suite import Suite
from bench_gnn.sweep import Sweep
from bench_gnn.workers import LaunchRequest, LaunchResult

TRUE, FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")
PROGRESS_EVERY_S = 30.0


def launch(
    sweep: Sweep,
    *,
    workers: int,
    launcher: str = "local",
    options: Iterable[tuple[str, str]] = (),
    strict: bool = False,
    plugins: Plugins | None = None,
    report: Report = quiet,
) -> LaunchSummary:
    """Run ``sweep`` with ``workers`` workers under ``launcher``: the worst worker exit code, or the job ids of a
    submission, and where the records are.

    ``options`` are the launcher's ``(name, value)`` pairs as given on the command line (strings),
    in order; a repeatable option collects every value. Each worker runs the sweep's shard ``i/N``
    with the sweep's options (:meth:`Sweep.worker_args`), its device and its threads. ``report`` receives the
    lines for a person (what starts, progress while waiting, each worker that failed, what to do next).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {workers!r}")
    plugins = plugins or load_plugins_reporting(strict, report, sweep.plugin_files)
    entry = plugins.launchers.get(launcher)
    spec = entry.spec
    resolved = resolve_options(spec, options)
    require(spec)
    suite, jobs = sweep.jobs(plugins)
    results = sweep.results.expanduser().resolve()
    store = Store(results, suite.name)  # fails now (exit 8) when the results folder is not writable
    suite_arg = str(Path(sweep.suite).resolve()) if Path(sweep.suite).suffix in (".yaml", ".yml") else sweep.suite
    # the workers get the folders as absolute paths, the data folder as this process resolved it
    sweep = replace(sweep, suite=suite_arg, results=results, data_dir=sweep.data_dir or default_data_dir())
    logs = inside(results / ".launch", suite.name, what="suite name")
    with reporting_os_errors("create the workers' log folder", logs, "choose a writable --results folder"):
        logs.mkdir(parents=True, exist_ok=True)
    request = LaunchRequest(
        launcher=spec.name, suite=suite_arg, suite_name=suite.name, results=results, workers=workers,
        run_args=sweep.worker_args(), device=sweep.device, threads=sweep.threads, options=resolved, logs=logs,
    )
    report(f"bench launch {suite.name} v{suite.version}: {len(jobs)} job(s), {workers} worker(s) under the "
        f"{spec.name} launcher; worker logs in {logs}")
    if workers > len(jobs):
        report(f"note: {workers} workers for {len(jobs)} job(s): {workers - len(jobs)} will find nothing to do")
    with _Progress(store.folder, {job.key for job in jobs}, report):
        outcome = _call(entry, request)
    watch = sweep.status_command()
    variants = sorted({job.variant for job in jobs})
    if outcome.submitted:
        report(f"submitted {len(outcome.submitted)} job(s) ({', '.join(outcome.submitted)}); follow the sweep with "
            f"`{watch}`, and once they end, run this same command again to finish any job left over")
        return LaunchSummary(ExitCode.OK, suite, store.folder, variants, tuple(outcome.submitted))
    codes = _report_workers(request, outcome, report)
    counts = {"ok": 0, "failed": 0, "missing": 0}
    for job in jobs:
        state = store.status(job.key)
        counts[state if state in ("ok", "failed") else "missing"] += 1
    report(f"launch done: {counts['ok']} of {len(jobs)} job(s) ok, {counts['failed']} failed, {counts['missing']} "
        f"without a record; records in {store.folder}")
    stopped = ExitCode.INTERRUPTED in codes
    if counts["missing"] and stopped:
        report("the sweep is not complete: finished jobs are saved; run the same command again to resume it "
            f"(`{watch}` shows where it stands)")
    elif counts["missing"]:
        report(f"{counts['missing']} job(s) have no record: the workers' logs in {logs} say why "
            "(an unavailable dataset, for example)")
    elif stopped:
        report("a worker ended early, but the others took over its jobs: every job has a record (run the same "
            "command again to make sure: it resumes anything left over and reruns nothing finished)")
    return LaunchSummary(worst_exit_code(codes), suite, store.folder, variants)



@dataclass(frozen=True)
class LaunchSummary:
    """How a launch ended: the worst worker exit code (OK after a submission), the suite as run, the folder of
    its records, the variants of its jobs, and the scheduler's job ids when the launcher submitted."""

    exit_code: ExitCode
    suite: Suite
    folder: Path
    variants: list[str]
    submitted: tuple[str, ...] = ()


def resolve_options(spec: LauncherSpec, given: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The launcher's options: its defaults with the given ``(name, text)`` pairs converted and applied."""
    values = dict(spec.options)
    collected: dict[str, list[Any]] = {}
    for raw_key, text in given:
        key = raw_key.replace("-", "_")
        if key not in spec.options:
            raise _unknown_option(spec, raw_key)
        default = spec.options[key]
        value = _convert(spec.name, key, default, text)
        if isinstance(default, tuple):
            collected.setdefault(key, []).append(value)
        else:
            values[key] = value
    for key, items in collected.items():
        values[key] = tuple(items)
    return values


def require(spec: LauncherSpec) -> None:
    """Import what the launcher needs; a missing module is a usage error naming the pip install."""
    for module in spec.requires:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UsageError(
                f"the {spec.name} launcher needs {module} ({exc}): pip install '{spec.install}'"
            ) from None


def _convert(launcher: str, key: str, default: Any, text: str) -> Any:
    flag = f"--{key.replace('_', '-')}"
    kind = type(default[0]) if isinstance(default, tuple) and default else type(default)
    if kind is tuple or kind is type(None):
        return text
    if kind is bool:
        if text.strip().lower() in TRUE:
            return True
        if text.strip().lower() in FALSE:
            return False
        raise UsageError(f"launcher {launcher}: {flag} must be true or false, got {text!r}")
    try:
        return kind(text)
    except ValueError:
        raise UsageError(f"launcher {launcher}: {flag} must be {_article(kind.__name__)}, got {text!r}") from None


def _article(name: str) -> str:
    return {"int": "an integer", "float": "a number", "str": "a string"}.get(name, f"a {name}")


def _unknown_option(spec: LauncherSpec, key: str) -> UsageError:
    flag = f"--{key.replace('_', '-')}"
    names = sorted(spec.options)
    close = difflib.get_close_matches(key.replace("-", "_"), names, n=3, cutoff=0.5)
    msg = f"launcher {spec.name!r} takes no option {flag}"
    if close:
        msg += f"; did you mean {', '.join('--' + c.replace('_', '-') for c in close)}?"
    if names:
        msg += f" Its options: {', '.join('--' + n.replace('_', '-') for n in names)}."
    else:
        msg += " It takes no options."
    return UsageError(msg + " See `bench launch --help`.")


def _call(entry: Registered[LauncherSpec], request: LaunchRequest) -> LaunchResult:
    """Run the launcher's ``launch``; an unexpected exception is the plugin's error, naming it."""
    try:
        outcome = entry.spec.launch(request)
    except (BenchError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a broken launcher plugin is reported as such, naming it
        traceback.print_exc()
        raise PluginError(
            f"launcher {entry.spec.name!r} of plugin {entry.plugin.label} failed: {type(exc).__name__}: {exc} "
            "(trace above); finished jobs are saved, rerun to resume"
        ) from exc
    if not isinstance(outcome, LaunchResult):
        raise PluginError(f"launcher {entry.spec.name!r} of plugin {entry.plugin.label} returned {outcome!r}; "
                          "expected a bench_gnn.LaunchResult")
    if not outcome.submitted and len(outcome.exit_codes) != request.workers:
        raise PluginError(f"launcher {entry.spec.name!r} of plugin {entry.plugin.label} reported "
                          f"{len(outcome.exit_codes)} exit code(s) for {request.workers} worker(s)")
    return outcome


def _report_workers(request: LaunchRequest, outcome: LaunchResult, report: Report) -> list[ExitCode]:
    """Say what each worker that did not end cleanly did; their exit codes as bench reads them."""
    codes = []
    for index, returncode in enumerate(outcome.exit_codes):
        code = worker_exit_code(returncode)
        codes.append(code)
        if code == ExitCode.OK:
            continue
        worker = request.worker_id(index)
        if returncode is None:
            what = "never reported back (lost or killed)"
        elif returncode < 0 or returncode > 128:
            number = -returncode if returncode < 0 else returncode - 128
            what = f"was killed by signal {number} ({_signal_name(number)})"
        else:
            what = f"exited with {returncode} ({code.name.lower().replace('_', ' ')})"
        report(f"worker {worker} {what}; its log: {request.log_path(index)}")
    return codes


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


class _Progress:
    """While the launcher waits, say every so often how many of the sweep's jobs have a record."""

    def __init__(self, folder: Path, keys: set[str], report: Report, every: float = PROGRESS_EVERY_S) -> None:
        self.folder, self.keys, self.report, self.every = folder, keys, report, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-launch-progress", daemon=True)
        self._last = -1

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                done = sum(1 for path in self.folder.glob("*.json") if path.stem in self.keys)
            except OSError:
                continue
            if done != self._last:
                self._last = done
                self.report(f"bench launch: {done} of {len(self.keys)} job(s) have a record")

