"""The ``bench`` command line: parses the arguments, hands them to :mod:`bench_gnn.commands` and turns errors
into exit codes (one line naming the culprit and the fix).

Exit codes (decided in :mod:`bench_gnn.errors`): 0 ok, 1 some jobs failed,
2 interrupted, 3 internal error, 4 usage or configuration error (command line
errors included), 5 data error, 6 plugin error (with ``--strict``), 7 leaderboard
out of date, 8 cannot read or write a file or folder, 9 submitted records invalid.
Output to a closed pipe
(``bench ... | head``) ends quietly with 2, as an interruption.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NoReturn

from bench_gnn import __version__
from bench_gnn.errors import BROKEN_PIPE_EXIT, BenchError, ExitCode, UsageError, os_error_message
from bench_gnn.kinds import KINDS
from bench_gnn.shards import Shard
from bench_gnn.specs import LauncherSpec

EPILOG = """exit codes: 0 ok, 1 jobs failed, 2 interrupted, 3 internal error, 4 usage/config error,
5 data error, 6 plugin error, 7 leaderboard out of date, 8 cannot read or write a file or folder,
9 submitted records invalid (`bench leaderboard validate`).
environment: BENCH_DATA_DIR (data folder), BENCH_CACHE_DIR (writable cache, default ~/.cache/bench),
BENCH_DISABLE_PLUGIN_AUTOLOAD=1 (load only bench's own plugins), BENCH_LAUNCHER (set by launchers:
recorded in each record's scheduling)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors exit with the usage error code (4), subcommands included."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE_ERROR), f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (1 or more), got {value}")
    return value


def shard_spec(text: str) -> Shard:
    """argparse type: ``I/N``, shard I (counted from 0) of N."""
    try:
        return Shard.parse(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", type=Path, action="append", default=[], metavar="PATH.py",
                        help="load this module file as a plugin, as if installed (repeatable; also $BENCH_PLUGINS, "
                             "paths separated by ':'); its models' jobs carry the file's sha256 in their identity")


def _sweep_options(parser: argparse.ArgumentParser, *, runs: bool, results_help: str, threads_help: str = "") -> None:
    """The options of a :class:`~bench_gnn.sweep.Sweep`, written once for `run`, `status` and `launch`: the suite
    and the filters that choose its jobs, the results folder, the overrides and, for the commands that run jobs,
    where and how they run."""
    parser.add_argument("--suite", required=True, help="suite name (see `bench list suites`) or path to a suite YAML")
    parser.add_argument("--model", action="append", default=[], metavar="NAME", help="only this model (repeatable)")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME",
                        help="only this dataset (repeatable)")
    parser.add_argument("--splits", "--seeds", type=positive_int, dest="splits", metavar="K",
                        help="only the first K splits (node suites) or seeds (graph suites)")
    parser.add_argument("--steps", type=positive_int, metavar="N",
                        help="train N steps: sets each protocol's step argument (steps, epochs; see `bench list "
                             "protocols`); recorded as a reduced protocol")
    parser.add_argument("--results", type=Path, default=Path("results"), metavar="DIR", help=results_help)
    _plugin_option(parser)
    if runs:
        parser.add_argument("--device", default="auto", metavar="DEVICE",
                            help="auto (default: the first CUDA device, else the CPU), cpu, cuda, cuda:N or mps")
        _data_args(parser)
        parser.add_argument("--allow-over-budget", action="store_true",
                            help="run models over the suite's parameter budget and mark them as such")
        parser.add_argument("--threads", type=positive_int, metavar="N", help=threads_help)


LAUNCH_DESCRIPTION = """Start N workers, each `bench run --shard I/N --worker-id <launcher>-I` with these run options,
under a launcher plugin, and wait for them (or, on a SLURM cluster, submit them and print the job ids).
Workers share the results folder: each job runs once, and running the same command again resumes an
unfinished sweep. Exit code: the worst of the workers' (a killed worker: 2, rerun to resume)."""

def launcher_option(text: str) -> tuple[str, str]:
    """argparse type of ``--option``: ``KEY=VALUE``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (a launcher option), got {text!r}")
    return key.strip(), value


class LauncherOption(argparse.Action):
    """Collect launcher options, in order, as ``(name, text)`` pairs in ``args.launcher_options``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        pairs = list(getattr(namespace, "launcher_options", None) or [])
        if isinstance(values, tuple):
            pairs.append(values)
        else:
            pairs.append(((option_string or "").lstrip("-"), str(values)))
        namespace.launcher_options = pairs


def launcher_flags(launchers: Iterable[LauncherSpec]) -> list[tuple[str, str, str]]:
    """``(flag, METAVAR, help)`` of every option a launcher gives a flag of its own (``time_min`` ->
    ``--time-min``); an option several launchers declare is one flag whose help names each."""
    merged: dict[str, tuple[str, list[str]]] = {}
    for spec in launchers:
        for option, (metavar, help_text) in spec.flags.items():
            flag = "--" + option.replace("_", "-")
            merged.setdefault(flag, (metavar, []))[1].append(f"{spec.name}: {help_text}")
    return [(flag, metavar, "; ".join(helps)) for flag, (metavar, helps) in sorted(merged.items())]


def _parser(launchers: Iterable[LauncherSpec] = ()) -> Parser:
    """The command line; ``launchers`` (the installed ones, for ``bench launch``) contribute their flags."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog="bench", description="Benchmark graph neural networks under standard protocols.", epilog=EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"bench {__version__}")
    parser.add_argument("--strict", action="store_true", help="make any plugin load error fatal")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    run = sub.add_parser("run", help="run a suite (skips jobs already finished)", epilog=EPILOG, formatter_class=fmt,
                         description="Run a suite's jobs and print its leaderboard. Finished jobs are skipped.")
    _sweep_options(run, runs=True, results_help="folder of result records (default: ./results)",
                   threads_help="CPU threads for torch (default: torch's choice)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the jobs it would run per dataset × model, those already done, the unavailable "
                          "datasets and a time estimate from finished jobs; write nothing")
    run.add_argument("--force", action="store_true", help="rerun jobs that already have a record")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failed job")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--no-leaderboard", action="store_true", help="do not print the leaderboard at the end")
    run.add_argument("--shard", type=shard_spec, metavar="I/N",
                     help="be worker I of N (I from 0, as $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT): run this "
                          "shard's jobs first, then other shards' jobs nobody has finished or claimed")
    run.add_argument("--no-leftovers", action="store_true",
                     help="with --shard: run this shard's jobs only (no duplicate work where file locks fail)")
    run.add_argument("--worker-id", metavar="TEXT", help="name recorded as this worker (default: host:pid)")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                     help="OmegaConf overrides of the suite, e.g. protocol_args.lr=1e-3 models.GCN.hparams.hidden=64")

    status = sub.add_parser(
        "status", help="done / failed / running / pending jobs of a sweep, and an ETA", epilog=EPILOG,
        formatter_class=fmt, description="Count a sweep's jobs per dataset and model from its records and locks "
                                         "(read-only: safe while workers run). Filters as for `bench run`.")
    _sweep_options(status, runs=False, results_help="folder of result records (default: ./results)")
    status.add_argument("--format", default="table", choices=["table", "json"],
                        help="table: counts per dataset × model with the ETA; json: the same, for scripts")
    status.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="the overrides the sweep was run with")

    launch = sub.add_parser(
        "launch", help="run a suite with N workers under a launcher (local, submitit, hydra, ray)", epilog=EPILOG,
        formatter_class=fmt, description=LAUNCH_DESCRIPTION)
    _sweep_options(launch, runs=True,
                   results_help="folder of result records, shared by the workers (default: ./results)",
                   threads_help="CPU threads per worker (default: local divides the cores among the workers)")
    launch.add_argument("--workers", type=positive_int, required=True, metavar="N", help="how many workers to start")
    launch.add_argument("--launcher", default="local", metavar="NAME",
                        help="local (default), submitit, hydra, ray or a plugin's (see `bench list launchers`)")
    launch.add_argument("--no-leaderboard", action="store_true", help="do not print the leaderboard at the end")
    options = launch.add_argument_group("launcher options (each belongs to the launchers named; others refuse it)")
    options.add_argument("--option", action=LauncherOption, type=launcher_option, dest="launcher_options",
                         metavar="KEY=VALUE",
                         help="any option of the launcher, e.g. a plugin launcher's (repeatable)")
    for flag, metavar, help_text in launcher_flags(launchers):
        options.add_argument(flag, action=LauncherOption, dest="launcher_options", metavar=metavar, help=help_text)
    launch.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="OmegaConf overrides of the suite")

    lst = sub.add_parser("list", help="list plugins, models, datasets, metrics, suites or launchers")
    _plugin_option(lst)
    lst.add_argument("what", choices=["plugins", *(kind.plural for kind in KINDS)],
                     help="what to list; `plugins` also names the plugins that failed to load and why")

    board = sub.add_parser("leaderboard", help="render, update, check, validate or diff a suite's leaderboard")
    _plugin_option(board)
    board.add_argument("action", choices=["render", "update", "check", "validate", "diff"],
                       help="render: print from --records; update: write leaderboards/<suite>.md/.csv from the "
                            "records kept under leaderboards/records; check: fail if those files are out of date; "
                            "validate: check record files (FILES, or the committed ones) before they are merged; "
                            "diff: the cells the records change against --base, as markdown")
    board.add_argument("files", nargs="*", type=Path, metavar="FILE",
                       help="validate: record files to check (default: every file under leaderboards/records/<suite>)")
    board.add_argument("--base", metavar="GIT_REF",
                       help="diff: compare with the records committed at this git ref; validate: also fail when a "
                            "record committed there was edited or deleted")
    board.add_argument("--suite", required=True, help="suite name (see `bench list suites`)")
    board.add_argument("--records", type=Path, action="append", metavar="DIR",
                       help="records folder (default: ./results for render, leaderboards/records for update/check); "
                            "repeat to merge folders, e.g. one per machine")
    board.add_argument("--leaderboards", type=Path, default=Path("leaderboards"), metavar="DIR",
                       help="leaderboard folder for update/check/validate/diff (default: ./leaderboards)")
    board.add_argument("--format", default="markdown", choices=["markdown", "csv", "latex", "html", "json"],
                       help="render: the table format (default: markdown)")

    data = sub.add_parser("data", help="dataset statistics and checksum verification")
    _plugin_option(data)
    data.add_argument("action", choices=["stats", "verify"],
                      help="stats: size and homophily measures; verify: check files against the dataset card")
    data.add_argument("name", help="dataset name (see `bench list datasets`)")
    _data_args(data)

    plot = sub.add_parser("plot", help="plots from records")
    _plugin_option(plot)
    plot.add_argument("what", metavar="NAME",
                      help="a plot the suite's protocols or analyses declare (`bench list protocols` and `bench list "
                           "analyses` show each one's plots)")
    plot.add_argument("--suite", required=True, help="suite name (see `bench list suites`)")
    plot.add_argument("--records", type=Path, default=Path("results"), metavar="DIR",
                      help="records folder (default: ./results)")
    plot.add_argument("--out", type=Path, metavar="PNG",
                      help="output file (default: <suite>-<NAME>.png)")

    export = sub.add_parser(
        "export", help="replay finished records into W&B or TensorBoard", epilog=EPILOG, formatter_class=fmt,
        description="Write one tracker run per finished record of a suite (failed records are skipped and counted):\n"
                    "W&B offline runs (upload them later with `wandb sync`) or TensorBoard event files.\n"
                    "Read-only: records are never changed. Needs the tracker's extra:\n"
                    "pip install 'bench-gnn[wandb]' or 'bench-gnn[tensorboard]'.")
    _plugin_option(export)
    export.add_argument("tracker", choices=["wandb", "tensorboard"], help="the tracker to write runs for")
    export.add_argument("--suite", required=True, help="suite name (see `bench list suites`)")
    export.add_argument("--records", type=Path, action="append", metavar="DIR",
                        help="records folder (default: ./results); repeat to merge folders, e.g. one per machine")
    export.add_argument("--out", type=Path, metavar="DIR", help="where the runs go (default: ./runs/<tracker>)")
    export.add_argument("--project", metavar="NAME", help="wandb: W&B project (default: bench-<suite>)")
    export.add_argument("--online", action="store_true",
                        help="wandb: log to W&B as your W&B settings say (`wandb login`, WANDB_MODE, WANDB_ENTITY) "
                             "instead of offline runs")
    return parser


def _data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="data folder (default: $BENCH_DATA_DIR)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="writable cache (default: $BENCH_CACHE_DIR or ~/.cache/bench)")
    parser.add_argument("--offline", action="store_true", help="never download")


def _installed_launchers(argv: Sequence[str]) -> list[LauncherSpec]:
    """The installed launchers' specs when the command is ``launch`` (their flags join its options); no plugin
    is loaded for any other command. A plugin that fails to load is reported when the command runs."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command != "launch":
        return []
    from bench_gnn.plugin_manager import load_plugins

    return [entry.spec for entry in load_plugins().launchers]


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader of our output went away (`bench ... | head`): stop quietly. Python docs recipe:
        # point stdout (and stderr) at devnull so that the flush at exit cannot fail again.
        _silence_streams()
        return int(BROKEN_PIPE_EXIT)


def _silence_streams() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError, AttributeError):  # not a real file (captured in tests), or closed
            pass
    os.close(devnull)


def _main(argv: list[str] | None) -> int:
    parser = _parser(_installed_launchers(sys.argv[1:] if argv is None else argv))
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command in ("run", "status", "launch") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides += extra  # KEY=VALUE overrides may come between or after options
        elif args.command == "leaderboard" and not any(e.startswith("-") for e in extra):
            args.files += [Path(e) for e in extra]  # FILE arguments after the options
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help, --version (0) or a usage error (4), already printed
        if exc.code is None:
            return int(ExitCode.OK)
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE_ERROR)
    from bench_gnn import commands

    try:
        code = commands.dispatch(args)
    except KeyboardInterrupt:
        print("bench: interrupted; finished jobs are saved, rerun the same command to continue", file=sys.stderr)
        code = ExitCode.INTERRUPTED
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except BrokenPipeError:
        raise
    except OSError as exc:  # a file system error no write site converted: still one line naming the path
        print(f"bench: error: {os_error_message(exc)}", file=sys.stderr)
        code = ExitCode.STORAGE_ERROR
    except Exception:  # noqa: BLE001 - the last line of defence reports a bug
        traceback.print_exc()
        print("bench: internal error (a bug in bench or a plugin); please report it with the trace above",
              file=sys.stderr)
        code = ExitCode.INTERNAL_ERROR
    sys.stdout.flush()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
