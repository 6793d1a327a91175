"""The ``bench`` command line: a thin wrapper over :mod:`bench_gnn.api`.

Exit codes (decided in :mod:`bench_gnn.errors`): 0 ok, 1 some jobs failed,
2 interrupted, 3 internal error, 4 usage or configuration error (command line
errors included), 5 data error, 6 plugin error (with ``--strict``), 7 leaderboard
out of date, 8 cannot read or write a file or folder. Output to a closed pipe
(``bench ... | head``) ends quietly with 2, as an interruption.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from bench_gnn import __version__
from bench_gnn.errors import BROKEN_PIPE_EXIT, BenchError, ExitCode, os_error_message

EPILOG = """exit codes: 0 ok, 1 jobs failed, 2 interrupted, 3 internal error, 4 usage/config error,
5 data error, 6 plugin error, 7 leaderboard out of date, 8 cannot read or write a file or folder.
environment: BENCH_DATA_DIR (data folder), BENCH_CACHE_DIR (writable cache, default ~/.cache/bench),
BENCH_DISABLE_PLUGIN_AUTOLOAD=1 (load only bench's own plugins)."""


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


def _parser() -> Parser:
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
    run.add_argument("--suite", required=True, help="suite name (see `bench list suites`) or path to a suite YAML")
    run.add_argument("--model", action="append", default=[], metavar="NAME", help="only this model (repeatable)")
    run.add_argument("--dataset", action="append", default=[], metavar="NAME", help="only this dataset (repeatable)")
    run.add_argument("--splits", "--seeds", type=positive_int, dest="splits", metavar="K",
                     help="only the first K splits (node suites) or seeds (graph suites)")
    run.add_argument("--steps", type=positive_int, metavar="N",
                     help="train N steps (node suites) or epochs (graph suites); recorded as a reduced protocol")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
    run.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                     help="folder of result records (default: ./results)")
    _data_args(run)
    run.add_argument("--force", action="store_true", help="rerun jobs that already have a record")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failed job")
    run.add_argument("--allow-over-budget", action="store_true",
                     help="run models over the suite's parameter budget and mark them as such")
    run.add_argument("--threads", type=positive_int, metavar="N",
                     help="CPU threads for torch (default: torch's choice)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--no-leaderboard", action="store_true", help="do not print the leaderboard at the end")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                     help="OmegaConf overrides of the suite, e.g. protocol_args.lr=1e-3 models.GCN.hparams.hidden=64")

    lst = sub.add_parser("list", help="list plugins, models, datasets, metrics or suites")
    lst.add_argument("what", choices=["plugins", "models", "datasets", "metrics", "suites"])

    board = sub.add_parser("leaderboard", help="render, update or check a suite's leaderboard")
    board.add_argument("action", choices=["render", "update", "check"],
                       help="render: print from --records; update: write leaderboards/<suite>.md/.csv from the "
                            "records kept under leaderboards/records; check: fail if those files are out of date")
    board.add_argument("--suite", required=True)
    board.add_argument("--records", type=Path, metavar="DIR",
                       help="records folder for render (default: ./results)")
    board.add_argument("--leaderboards", type=Path, default=Path("leaderboards"), metavar="DIR",
                       help="leaderboard folder for update/check (default: ./leaderboards)")
    board.add_argument("--format", default="markdown", choices=["markdown", "csv", "latex", "html", "json"])

    data = sub.add_parser("data", help="dataset statistics and checksum verification")
    data.add_argument("action", choices=["stats", "verify"],
                      help="stats: size and homophily measures; verify: check files against the dataset card")
    data.add_argument("name", help="dataset name (see `bench list datasets`)")
    _data_args(data)

    plot = sub.add_parser("plot", help="plots from records")
    plot.add_argument("what", choices=["influence"], help="influence: Jacobian influence against hop distance")
    plot.add_argument("--suite", required=True)
    plot.add_argument("--records", type=Path, default=Path("results"), metavar="DIR")
    plot.add_argument("--out", type=Path, metavar="PNG", help="output file (default: <suite>-influence.png)")
    return parser


def _data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="data folder (default: $BENCH_DATA_DIR)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="writable cache (default: $BENCH_CACHE_DIR or ~/.cache/bench)")
    parser.add_argument("--offline", action="store_true", help="never download")


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
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command == "run" and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides += extra  # KEY=VALUE overrides may come between or after options
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help, --version (0) or a usage error (4), already printed
        if exc.code is None:
            return int(ExitCode.OK)
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE_ERROR)
    from bench_gnn import api

    try:
        code = api.dispatch(args)
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
