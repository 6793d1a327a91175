"""Wall time of bench's front door (``--help``, ``--version``, ``list ...``) for two installations.

Runs each command as a user would (a fresh process of the ``bench`` executable, started in an
empty temporary directory, output discarded) for a "before" and an "after" installation,
side by side and interleaved (A B B A A B ...: the order flips for every command and repeat,
so a slow drift of a shared machine hits both sides alike). One untimed run of every command
on each side first pays the one-off costs (page cache, ``.pyc`` files). Prints a markdown
table with the median and minimum of each side and the ratio before / after of the medians.

    python benchmarks/front_door.py --repeats 5
    python benchmarks/front_door.py --before /work/base-venv/bin/bench --after .venv/bin/bench --repeats 9

Only the standard library is used, so the script itself adds nothing to what it measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_gnn.environment import cpu_name

COMMANDS = (
    ("--help",),
    ("--version",),
    ("list", "plugins"),
    ("list", "models"),
    ("list", "datasets"),
    ("list", "metrics"),
    ("list", "suites"),
)
DEFAULT_BEFORE = "/work/base-venv/bin/bench"
DEFAULT_AFTER = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "bench")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help=f"the 'before' bench executable ({DEFAULT_BEFORE})")
    parser.add_argument("--after", default=DEFAULT_AFTER, help=f"the 'after' bench executable ({DEFAULT_AFTER})")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command on each side (5)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before one run counts as failed")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    for side in ("before", "after"):
        exe = shutil.which(getattr(args, side))
        if exe is None:
            parser.error(f"--{side} {getattr(args, side)!r} is not an executable")
        setattr(args, side, exe)
    return args


def time_once(exe: str, command: tuple[str, ...], cwd: str, timeout: float) -> tuple[float, int]:
    """Seconds from process start to exit, and the exit code."""
    start = time.perf_counter()
    done = subprocess.run([exe, *command], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=timeout, check=False)
    return time.perf_counter() - start, done.returncode


def measure(sides: dict[str, str], repeats: int, timeout: float) -> tuple[dict, dict]:
    """``times[side][command]``: the timed runs; ``codes[side][command]``: the exit codes seen."""
    times = {side: {c: [] for c in COMMANDS} for side in sides}
    codes = {side: {c: set() for c in COMMANDS} for side in sides}
    order = list(sides)
    with tempfile.TemporaryDirectory(prefix="front-door-") as cwd:
        for command in COMMANDS:  # warm-up, untimed
            for side in order:
                codes[side][command].add(time_once(sides[side], command, cwd, timeout)[1])
        turn = 0
        for _ in range(repeats):
            for command in COMMANDS:
                for side in order if turn % 2 == 0 else reversed(order):
                    seconds, code = time_once(sides[side], command, cwd, timeout)
                    times[side][command].append(seconds)
                    codes[side][command].add(code)
                turn += 1
    return times, codes


def python_of(exe: str) -> str:
    """The interpreter a console script runs with (its shebang line)."""
    first = Path(exe).read_text(errors="replace").splitlines()[0]
    return first[2:].strip() if first.startswith("#!") else sys.executable


def versions(exe: str) -> str:
    """What ``exe --version`` says, and the torch and Python of its interpreter."""
    said = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    code = "import sys, importlib.metadata as m; print(m.version('torch'), sys.version.split()[0])"
    done = subprocess.run([python_of(exe), "-c", code], capture_output=True, text=True, check=False)
    torch, python = done.stdout.split() if done.returncode == 0 else ("unknown", "unknown")
    return f"{said or 'bench (no version)'}, torch {torch}, python {python}"


def report(sides: dict[str, str], times: dict, codes: dict, repeats: int) -> None:
    print(f"- date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"- machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}")
    for side, exe in sides.items():
        print(f"- {side}: `{exe}` ({versions(exe)})")
    print(f"- {repeats} timed runs per command and side, interleaved, after one untimed run; seconds, wall clock")
    print()
    print("| command | before median | before min | after median | after min | before / after (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    totals = {side: 0.0 for side in sides}
    for command in COMMANDS:
        cells = []
        medians = {}
        for side in sides:
            samples = times[side][command]
            medians[side] = statistics.median(samples)
            totals[side] += medians[side]
            bad = sorted(c for c in codes[side][command] if c != 0)
            note = f" (exit {','.join(map(str, bad))})" if bad else ""
            cells += [f"{medians[side]:.3f}{note}", f"{min(samples):.3f}"]
        ratio = medians["before"] / medians["after"]
        print(f"| `bench {' '.join(command)}` | {' | '.join(cells)} | {ratio:.1f}x |")
    ratio = totals["before"] / totals["after"]
    print(f"| all seven (sum of medians) | {totals['before']:.3f} | | {totals['after']:.3f} | | {ratio:.1f}x |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sides = {"before": args.before, "after": args.after}
    times, codes = measure(sides, args.repeats, args.timeout)
    report(sides, times, codes, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
