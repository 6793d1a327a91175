"""The commands of the CLI: each reads its parsed arguments, does its work through the library and prints the
result (tables and data on stdout, lines for a person on stderr through :func:`bench_gnn.report.say`); each
returns an exit code. :func:`dispatch` picks the command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench_gnn import leaderboard
from bench_gnn.api import run
from bench_gnn.data.cards import load_card, verify_file
from bench_gnn.data.context import default_cache_dir, default_data_dir
from bench_gnn.errors import DataError, ExitCode, LeaderboardStaleError, UsageError, unknown_name
from bench_gnn.files import atomic_write, inside, reporting_os_errors
from bench_gnn.kinds import BY_PLURAL, list_rows
from bench_gnn.plugin_manager import Plugins, load_plugins
from bench_gnn.report import load_plugins_reporting, plugin_files, say
from bench_gnn.store import read_records, read_records_from
from bench_gnn.suite import Suite
from bench_gnn.sweep import Sweep, load_suite

RECORDS_SUBDIR = "records"


def _plugins(args: argparse.Namespace) -> Plugins:
    """The installed plugins and the command's plugin module files (``$BENCH_PLUGINS``, ``--plugin``)."""
    return load_plugins_reporting(args.strict, files=getattr(args, "plugin", None) or ())


def dispatch(args: argparse.Namespace) -> ExitCode:
    """Run the command ``args.command`` of a parsed command line."""
    if args.command == "run":
        plugins = _plugins(args)
        if args.dry_run:
            from bench_gnn import dry_run

            print(dry_run.render(dry_run.plan(Sweep.from_args(args), plugins)), end="")
            return ExitCode.OK
        summary, suite = run(
            Sweep.from_args(args), force=args.force, fail_fast=args.fail_fast, progress=not args.no_progress,
            plugins=plugins, shard=args.shard, leftovers=not args.no_leftovers, worker_id=args.worker_id, report=say,
        )
        if not args.no_leaderboard:
            print(leaderboard.render(suite, read_records(args.results / suite.name), variants=summary.variants,
                                     models=args.model, datasets=args.dataset, records_folder=str(args.results)))
        say(
            f"done: {summary.ok} ok, {summary.failed} failed, {summary.skipped} skipped (finished earlier), "
            f"{summary.busy} left to another process, {summary.not_run} not run; records in {args.results / suite.name}"
        )
        if args.shard is not None:
            say(f"shard {args.shard}: {summary.ok + summary.failed - summary.leftovers} of its own job(s) run, "
                f"{summary.leftovers} leftover(s) of other shards")
        for name, reason in summary.unavailable.items():
            say(f"unavailable: {name}: {reason}")
        return summary.exit_code
    if args.command == "status":
        return status_command(_plugins(args), Sweep.from_args(args), fmt=args.format)
    if args.command == "launch":
        from bench_gnn.launch import launch

        launched = launch(
            Sweep.from_args(args), workers=args.workers, launcher=args.launcher, options=args.launcher_options or (),
            plugins=_plugins(args), report=say,
        )
        if launched.submitted:
            print("\n".join(launched.submitted))
        elif not args.no_leaderboard:
            print(leaderboard.render(launched.suite, read_records(launched.folder), variants=launched.variants))
        return launched.exit_code
    if args.command == "list":
        files = plugin_files(args.plugin)
        plugins = load_plugins(args.strict, files=files) if args.what == "plugins" else _plugins(args)
        return list_(args.what, plugins)
    if args.command == "leaderboard":
        if args.action in ("validate", "diff"):
            return submission_command(args.action, args.suite, args.files, args.base, args.leaderboards, _plugins(args))
        if args.files or args.base:
            raise UsageError(f"`bench leaderboard {args.action}` takes no FILE arguments and no --base; "
                             "those are for validate and diff")
        return leaderboard_command(args.action, args.suite, args.records, args.leaderboards, args.format,
                                   _plugins(args))
    if args.command == "data":
        plugins = _plugins(args)
        data_dir, cache_dir = args.data_dir or default_data_dir(), args.cache_dir or default_cache_dir()
        if args.action == "verify":
            return data_verify(plugins, args.name, data_dir)
        return data_stats(plugins, args.name, data_dir, cache_dir, not args.offline)
    if args.command == "plot":
        return plot(_plugins(args), args.what, args.suite, args.records, args.out)
    if args.command == "export":
        return export_command(args.tracker, args.suite, args.records, args.out, args.project, args.online,
                              _plugins(args))
    raise UsageError(f"unknown command {args.command!r}")


def status_command(plugins: Plugins, sweep: Sweep, fmt: str = "table") -> ExitCode:
    """Print where the sweep ``bench run`` would run with the same arguments stands (read-only)."""
    from bench_gnn import status

    suite, jobs = sweep.jobs(plugins)
    folder = inside(sweep.results, suite.name, what="suite name")
    print(status.render(status.sweep_status(suite.name, suite.version, jobs, folder), fmt), end="")
    return ExitCode.OK


def list_(what: str, plugins: Plugins) -> ExitCode:
    if what == "plugins":
        rows = [[p.name, p.distribution or "", p.version or "", p.module, "ok" if not p.error else f"ERROR: {p.error}",
                 len(p.contributes)] for p in plugins.plugins]
        print(tabulate(rows, headers=["plugin", "distribution", "version", "module", "status", "contributes"]))
        return ExitCode.PLUGIN_ERROR if plugins.errors else ExitCode.OK
    kind = BY_PLURAL[what]
    headers, rows = list_rows(kind, plugins.registry(kind))
    print(tabulate(rows, headers=headers))
    return ExitCode.OK


def submission_command(
    action: str, suite_name: str, files: Sequence[Path], base: str | None, boards: Path, plugins: Plugins
) -> ExitCode:
    """``validate``: every problem of the record files (or the committed ones), and with ``base`` the committed
    records edited or deleted since; ``diff``: the cells the committed records change against ``base``."""
    from bench_gnn import board_diff, submission

    suite, _ = load_suite(plugins, suite_name)
    folder = inside(boards / RECORDS_SUBDIR, suite.name, what="suite name")
    if action == "diff":
        if base is None:
            raise UsageError("`bench leaderboard diff` needs --base GIT_REF (e.g. origin/main)")
        before, after = submission.records_at(folder, base), read_records(folder)
        print(board_diff.render_markdown(suite, board_diff.diff(suite, before, after), base), end="")
        return ExitCode.OK
    paths = list(files) or submission.json_files(folder)
    problems = submission.validate_files(paths, suite, plugins)
    if base is not None:
        problems += submission.changed_since(folder, base)
    for problem in problems:
        print(problem)
    if problems:
        say(f"bench: {len(problems)} problem(s) in the records of {suite.name}; nothing was changed")
        return ExitCode.INVALID_RECORDS
    say(f"{suite.name}: {len(paths)} record file(s) valid" + (f"; none changed since {base}" if base else ""))
    return ExitCode.OK


def leaderboard_command(
    action: str, suite_name: str, records: Path | Sequence[Path] | None, boards: Path, fmt: str, plugins: Plugins
) -> ExitCode:
    """``records``: one folder, several (merged: see :func:`bench_gnn.store.read_records_from`) or None
    (./results for render, ``<boards>/records`` for update and check)."""
    suite, _ = load_suite(plugins, suite_name)
    folders = [records] if isinstance(records, Path) else list(records or [])
    default = Path("results") if action == "render" else boards / RECORDS_SUBDIR
    sources = [inside(folder, suite.name, what="suite name") for folder in folders or [default]]
    found = read_records(sources[0]) if len(sources) == 1 else read_records_from(sources)
    source = " + ".join(str(path) for path in sources)
    if action == "render":
        print(leaderboard.render(suite, found, fmt), end="")
        return ExitCode.OK
    rendered = {
        inside(boards, f"{suite.name}.md", what="suite name"): leaderboard.render(suite, found, "markdown"),
        inside(boards, f"{suite.name}.csv", what="suite name"): leaderboard.render(suite, found, "csv"),
    }
    if action == "update":
        for path, text in rendered.items():
            with reporting_os_errors("write leaderboard", path, "choose a writable --leaderboards folder"):
                with atomic_write(path, "w") as fh:
                    fh.write(text)
            say(f"wrote {path}")
        return ExitCode.OK
    missing, stale = [], []
    for path, text in rendered.items():
        with reporting_os_errors("read leaderboard", path, "check the --leaderboards folder"):
            if not path.exists():
                missing.append(str(path))
            elif path.read_text() != text:
                stale.append(str(path))
    problems = []
    if missing:
        problems.append(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
    if stale:
        problems.append(f"{', '.join(stale)} differ{'s' if len(stale) == 1 else ''} from what the records in "
                        f"{source} render")
    if problems:
        verb = "create" if missing and not stale else "update"
        raise LeaderboardStaleError(
            f"{'; '.join(problems)}; {verb} {'them' if len(missing) + len(stale) > 1 else 'it'} with "
            f"`bench leaderboard update --suite {suite.name}"
            f"{'' if boards == Path('leaderboards') else f' --leaderboards {boards}'}"
            f"{''.join(f' --records {folder}' for folder in folders)}` and commit the result"
        )
    say(f"{suite.name}: leaderboard files match the records in {source}")
    return ExitCode.OK


def data_verify(plugins: Plugins, name: str, data_dir: Path | None) -> ExitCode:
    spec = plugins.datasets.get(name).spec
    if spec.card is None:
        raise DataError(f"dataset {name!r} has no card to verify against")
    card = load_card(spec.card, name)
    if not card.files:
        print(f"{name}: generated dataset, no files to verify")
        return ExitCode.OK
    rows, worst = [], ExitCode.OK
    unverifiable = [entry for entry in card.files if not entry.sha256]
    for entry in unverifiable:
        rows.append([entry.path, "NO CHECKSUM", f"the card records no sha256 ({entry.url or 'no url'}); "
                                                "bench refuses to load it, so the dataset is unavailable"])
        worst = ExitCode.DATA_ERROR
    if data_dir is None and len(unverifiable) < len(card.files):
        raise DataError(f"dataset {name!r}: no data dir; pass --data-dir or set BENCH_DATA_DIR")
    for entry in card.files:
        if not entry.sha256 or data_dir is None:  # data_dir is None only when no file has a checksum
            continue
        path = data_dir / entry.path
        if not path.exists():
            rows.append([entry.path, "MISSING", f"expected at {path}"])
            worst = ExitCode.DATA_ERROR
            continue
        try:
            verify_file(path, entry, name)
            rows.append([entry.path, "ok", entry.sha256[:16] + "…"])
        except DataError as exc:
            rows.append([entry.path, "CORRUPT", str(exc)])
            worst = ExitCode.DATA_ERROR
    print(tabulate(rows, headers=["file", "status", "detail"]))
    return worst


def data_stats(plugins: Plugins, name: str, data_dir: Path | None, cache_dir: Path, allow_download: bool) -> ExitCode:
    from bench_gnn.environment import resolve_device
    from bench_gnn.graph.stats import graph_stats
    from bench_gnn.runner import RunOptions, load_dataset

    spec = plugins.datasets.get(name).spec
    if spec.task != "node":
        raise UsageError(f"`bench data stats` covers node datasets; {name!r} is a {spec.task!r} dataset")
    options = RunOptions(device=resolve_device("cpu"), data_dir=data_dir, cache_dir=cache_dir,
                         allow_download=allow_download)
    stats = graph_stats(load_dataset(plugins, name, options))
    expected = load_card(spec.card, name).stats if spec.card is not None else {}
    rows = []
    for key, value in stats.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        rows.append([key, shown, expected.get(key, "")])
    print(tabulate(rows, headers=[name, "measured", "card"], disable_numparse=True))
    return ExitCode.OK


def plot(plugins: Plugins, name: str, suite_name: str, records: Path, out: Path | None) -> ExitCode:
    """Draw plot ``name`` from a suite's records: a plot its protocols or the analyses it names declare."""
    suite, _ = load_suite(plugins, suite_name)
    plots = suite_plots(plugins, suite)
    if not plots:
        raise UsageError(f"suite {suite.name!r} has no plots: neither its protocols nor its analyses declare one "
                         "(`bench list protocols` and `bench list analyses` show the plots each declares)")
    if name not in plots:
        raise unknown_name("plot", name, plots, hint=f"(plots of suite {suite.name!r})")
    source = inside(records, suite.name, what="suite name")
    found = read_records(source)
    target = out or inside(Path("."), f"{suite.name}-{name}.png", what="suite name")
    try:
        with reporting_os_errors("write plot", target, "choose a writable --out path"):
            path = plots[name](found, target)
    except UsageError as exc:
        raise UsageError(f"plot {name!r} of suite {suite.name!r}, records in {source}: {exc}") from None
    print(path)
    return ExitCode.OK


def suite_plots(plugins: Plugins, suite: Suite) -> dict[str, Any]:
    """The plots of a suite: those its protocols declare, then those of the analyses its arguments name."""
    plots: dict[str, Any] = {}
    for spec in suite.protocol_specs.values():
        plots.update(spec.plots)
    for analysis in suite.analysis_columns:
        plots.update(plugins.analyses.get(analysis).spec.plots)
    return plots


def export_command(
    tracker: str,
    suite_name: str,
    records: Sequence[Path] | None,
    out: Path | None,
    project: str | None,
    online: bool,
    plugins: Plugins,
) -> ExitCode:
    """``bench export``: the records of a suite in one or more folders (default ./results) into a tracker.

    Prints each run's folder; says on stderr how many were exported and skipped and how to view them.
    """
    from bench_gnn.export import TRACKERS, export_records

    suite, _ = load_suite(plugins, suite_name)
    sources = [inside(folder, suite.name, what="suite name") for folder in records or [Path("results")]]
    found = read_records(sources[0]) if len(sources) == 1 else read_records_from(sources)
    source = " + ".join(str(path) for path in sources)
    if not found:
        raise UsageError(f"no records of suite {suite.name} in {source}; run `bench run --suite {suite.name}` "
                         f"first or point --records at the folder that holds <suite>/<key>.json files")
    out = out or Path("runs") / tracker
    summary = export_records(tracker, suite.name, found, out, project=project, online=online)
    for folder in summary.runs:
        print(folder)
    label = TRACKERS[tracker][0]
    skipped = f"; skipped {summary.skipped_failed} failed record(s)" if summary.skipped_failed else ""
    say(f"exported {len(summary.runs)} record(s) of {suite.name} from {source} to {label} in {out}{skipped}")
    if tracker == "tensorboard":
        say(f"view them with `tensorboard --logdir {out}`")
    elif not online:
        say(f"offline runs: upload them with `wandb sync {out / 'wandb'}/offline-run-*`")
    return ExitCode.OK
