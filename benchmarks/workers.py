"""Wall time of a sweep with 2 workers against 1, through ``bench launch --launcher local``.

Two sweeps, each run with ``--workers 1`` and ``--workers 2`` (one torch thread per worker),
side by side in one run and in alternating order (1 then 2, then 2 then 1, ...) so that a slow
drift of a shared machine hits both alike:

* ``smoke``: the embedded suite, 18 small jobs (about 0.5 to 1 s of training each);
* ``heterophily``, reduced: GCN and ResNet on minesweeper, 4 splits, 40 steps, 1 and 2 layers,
  hidden 256 (16 jobs of about 17 s each on one thread; the full grid of 1 to 5 layers at
  hidden 512 takes 25 to 130 s a job, too long to repeat here).

Each run gets a fresh results folder and is timed from the ``bench launch`` command's start to
its exit (process start-up, plugin loading, the workers' start-up, training, records, the final
count). The CPU seconds the command and its workers used are measured too (``getrusage``), so
that extra work (a second start-up) and lost cores can be told apart, and so is the 1-minute load
average at the end of each run: on a shared machine, a load above the number of workers means
other processes took cores. The script checks that every run wrote one ``ok`` record per job and
that the 1- and 2-worker leaderboards agree (timing columns aside), then prints a markdown table.

    python benchmarks/workers.py --data-dir /work/shared/datasets      # about 9 min on 2 cores
    python benchmarks/workers.py --only smoke --repeats 3               # about 2 min

On 2 cores a heterophily pair takes about 7.5 min (4.6 min on 1 worker, 2.7 min on 2), a smoke pair
about 25 s. Run it on a quiet machine: other processes on the cores make 2 workers look slower.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = {
    "smoke": ["--suite", "smoke"],
    "heterophily": ["--suite", "heterophily", "--model", "GCN", "--model", "ResNet", "--dataset", "minesweeper",
                    "--splits", "4", "--steps", "40", "grid.num_layers=[1,2]", "hparams.hidden=256"],
}
TIMING_COLUMNS = ("ms/step",)


def launch(args: list[str], workers: int, results: Path) -> tuple[float, float]:
    """Wall seconds of the ``bench launch`` command, and the CPU seconds it and its workers used."""
    command = [sys.executable, "-m", "bench_gnn.cli", "launch", *args, "--workers", str(workers), "--launcher",
               "local", "--threads", "1", "--results", str(results), "--no-leaderboard"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def check_records(results: Path, suite: str) -> int:
    """The number of records; exits unless every one is ``ok``."""
    from bench_gnn.store import Store

    store = Store(results, suite)
    statuses = [store.status(path.stem) for path in (results / suite).glob("*.json")]
    if not statuses or set(statuses) != {"ok"}:
        sys.exit(f"{results / suite}: {len(statuses)} records, not all ok: {sorted(set(map(str, statuses)))}")
    return len(statuses)


def board(results: Path, suite_name: str, overrides_args: list[str]) -> list[list[str]]:
    from bench_gnn import leaderboard
    from bench_gnn.plugin_manager import load_plugins
    from bench_gnn.store import read_records
    from bench_gnn.sweep import load_suite

    steps = int(overrides_args[overrides_args.index("--steps") + 1]) if "--steps" in overrides_args else None
    suite, _ = load_suite(load_plugins(), suite_name, steps=steps)
    rows = list(csv.reader(io.StringIO(leaderboard.render(suite, read_records(results / suite.name), "csv"))))
    keep = [i for i, name in enumerate(rows[0]) if name not in TIMING_COLUMNS]
    return [[row[i] for i in keep] for row in rows]


def machine() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    model = fields.get("Model name", platform.processor() or "unknown CPU").strip()
    cpus = fields.get("CPU(s)", str(os.cpu_count())).strip()
    threads = fields.get("Thread(s) per core", "?").strip()
    return f"{model}, {cpus} CPU(s), {threads} thread(s) per core"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("BENCH_DATA_DIR"))
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of smoke (default 3)")
    parser.add_argument("--heterophily-repeats", type=int, default=1, help="repeats of heterophily (default 1)")
    opts = parser.parse_args()
    import torch

    print(f"- date: {dt.datetime.now().isoformat(timespec='minutes')}")
    print(f"- machine: {machine()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- torch {torch.__version__}, python {platform.python_version()}; `bench launch --launcher local "
          "--threads 1`, fresh results folder per run")
    print(f"- command: `python benchmarks/workers.py {' '.join(sys.argv[1:])}`\n")
    rows, ratios = [], {}
    for name in opts.only or list(SCENARIOS):
        args = list(SCENARIOS[name])
        if name == "heterophily":
            if opts.data_dir is None:
                sys.exit("heterophily needs --data-dir or BENCH_DATA_DIR (minesweeper)")
            args += ["--data-dir", str(opts.data_dir)]
        repeats = opts.repeats if name == "smoke" else opts.heterophily_repeats
        ratios[name] = []
        for repeat in range(repeats):
            order = (1, 2) if repeat % 2 == 0 else (2, 1)
            times, cpu, boards, loads = {}, {}, {}, {}
            for workers in order:
                results = Path(tempfile.mkdtemp(prefix=f"bench-workers-{name}-{workers}-"))
                try:
                    times[workers], cpu[workers] = launch(args, workers, results)
                    loads[workers] = os.getloadavg()[0]
                    count = check_records(results, args[1])
                    boards[workers] = board(results, args[1], args)
                finally:
                    shutil.rmtree(results, ignore_errors=True)
                print(f"  {name} repeat {repeat + 1}: {workers} worker(s) {times[workers]:.1f} s, "
                      f"{cpu[workers]:.1f} CPU s ({count} jobs)", file=sys.stderr)
            if boards[1] != boards[2]:
                sys.exit(f"{name}: the 1- and 2-worker leaderboards differ")
            ratio = times[1] / times[2]
            ratios[name].append(ratio)
            rows.append(f"| {name} | {repeat + 1} | {' then '.join(map(str, order))} | {count} | {times[1]:.1f} | "
                        f"{times[2]:.1f} | {ratio:.2f}x | {cpu[1]:.1f} / {cpu[2]:.1f} | "
                        f"{loads[1]:.1f} / {loads[2]:.1f} |")
    print("| sweep | repeat | order | jobs | 1 worker s | 2 workers s | speed-up | CPU s (1 / 2 workers) "
          "| load at end (1 / 2) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    for name, values in ratios.items():
        print(f"\n{name}: median speed-up {statistics.median(values):.2f}x over {len(values)} repeat(s)")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; 1- and 2-worker leaderboards "
          "identical (timing columns aside) in every repeat")


if __name__ == "__main__":
    main()
