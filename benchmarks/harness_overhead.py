"""Wall time of one heterophily job run by the harness against the same job as a bare PyG loop.

Measures, in one process and interleaved (harness, bare, bare, harness, ... so that a
slow drift of a shared machine hits both sides alike):

* ``harness``: the whole ``bench_gnn.api.run("heterophily", ...)`` call for one model, one
  dataset and one split: suite loading and overrides, job expansion, the dataset read
  from the cache (with its checksum check), the ``node-full-batch`` protocol, and the
  record written to a fresh results folder;
* ``bare``: a plain loop written below: ``plugins.heterophily.read_npz`` on the same
  cached file, the same model spec built with the same hyper-parameters and seed, AdamW
  with the suite's lr and weight decay, the same number of full-batch steps, and after
  every step the same evaluation as the protocol (train/val/test scores with the
  suite's torchmetrics metric) with best-validation tracking.

Both sides do the same arithmetic in the same order, so on CPU their scores come out
identical; the script checks this, so a difference in time is harness overhead and not
different work. Plugins are loaded once, and one short warm-up run of each side pays
the import and first-call costs, before anything is timed.

    BENCH_DATA_DIR=/path/to/datasets python benchmarks/harness_overhead.py --steps 200 --repeats 3
    python benchmarks/harness_overhead.py --data-dir /path/to/datasets --hidden 128 --device cuda
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torch_geometric
import torchmetrics
from bench_gnn_node.heterophily import read_npz

import bench_gnn
from bench_gnn.api import run
from bench_gnn.data.cards import load_card
from bench_gnn.data.context import DataContext, default_cache_dir, default_data_dir
from bench_gnn.environment import cpu_name, git_state, resolve_device
from bench_gnn.plugin_manager import Plugins, load_plugins
from bench_gnn.specs import MetricSpec, ModelSpec, TaskInfo
from bench_gnn.sweep import Sweep, load_suite

SUITE = "heterophily"
SPLIT = 0  # splits=1 runs split 0, seeded with 0 (Suite.runs)
WARMUP_STEPS = 3


def harness_run(args: argparse.Namespace, plugins: Plugins, steps: int, cache_dir: Path) -> tuple[float, dict]:
    """Time one ``bench_gnn.api.run`` call into a fresh results folder; return (seconds, record)."""
    results = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    try:
        git_state.cache_clear()  # every `bench run` process pays this once; so does every timed call
        gc.collect()
        start = time.perf_counter()
        sweep = Sweep(SUITE, models=[args.model], datasets=[args.dataset], splits=1, steps=steps,
                      overrides=overrides(args), results=results, data_dir=args.data_dir, cache_dir=cache_dir,
                      offline=True, device=args.device)
        summary, _ = run(sweep, force=True, progress=False, plugins=plugins)
        seconds = time.perf_counter() - start
        if len(summary.records) != 1:
            raise SystemExit(f"harness run produced {len(summary.records)} records, expected 1: {summary}")
        stored = json.loads(summary.records[0].read_text())
    finally:
        shutil.rmtree(results, ignore_errors=True)
    record = {**stored["results"], "hparams": stored["identity"]["hparams"], "device": stored["provenance"]["device"]}
    if record["status"] != "ok":
        raise SystemExit(f"harness job failed: {record['error']['type']}: {record['error']['message']}")
    return seconds, record


def bare_run(
    path: Path, dataset: str, model_spec: ModelSpec, hparams: Mapping[str, Any], protocol_args: Mapping[str, Any],
    metric_spec: MetricSpec, steps: int, seed: int, device: torch.device,
) -> tuple[float, dict]:
    """Time the same job as a plain PyG training loop; return (seconds, result)."""
    gc.collect()
    start = time.perf_counter()
    data = read_npz(path, dataset)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    data = data.to(device)
    train, val, test = (getattr(data, f"{name}_mask")[:, SPLIT] for name in ("train", "val", "test"))
    y = data.y
    num_classes = int(y.max()) + 1
    binary = num_classes == 2
    task = TaskInfo("node", in_dim=data.x.size(1), out_dim=1 if binary else num_classes, num_nodes=data.num_nodes)
    model = model_spec.build(task, dict(hparams)).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(protocol_args["lr"]), weight_decay=float(protocol_args["weight_decay"])
    )
    metric = metric_spec.factory(num_classes).to(device)
    target = y.float() if binary else y
    eval_every = int(protocol_args["eval_every"])
    sign = 1.0 if metric_spec.higher_is_better else -1.0
    best: dict[str, float] | None = None
    best_step = 0
    train_seconds = 0.0
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        model.train()
        optimizer.zero_grad(set_to_none=True)
        out = model(data)
        if binary:
            loss = F.binary_cross_entropy_with_logits(out.squeeze(-1)[train], target[train])
        else:
            loss = F.cross_entropy(out[train], target[train])
        loss.backward()
        optimizer.step()
        train_seconds += time.perf_counter() - t0
        if step % eval_every == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                out = model(data)
            scores = torch.sigmoid(out.squeeze(-1)) if binary else torch.softmax(out, dim=-1)
            values = {}
            for name, mask in (("train", train), ("val", val), ("test", test)):
                metric.reset()
                metric.update(scores[mask], y[mask])
                values[name] = float(metric.compute())
            if best is None or sign * values["val"] > sign * best["val"]:
                best, best_step = values, step
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return seconds, {"metrics": best or {}, "best_step": best_step, "train_seconds": train_seconds}


def overrides(args: argparse.Namespace) -> list[str]:
    return [f"hparams.hidden={args.hidden}", f"grid.num_layers=[{args.layers}]"]


def same_result(record: Mapping[str, Any], bare: Mapping[str, Any]) -> float:
    """Largest difference between the two runs' scores; inf when the best step differs."""
    if record["best_step"] != bare["best_step"] or set(record["metrics"]) != set(bare["metrics"]):
        return float("inf")
    return max(abs(record["metrics"][k] - bare["metrics"][k]) for k in record["metrics"])


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="minesweeper")
    parser.add_argument("--model", default="GCN")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed (harness, bare) pairs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, for both sides")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(), help="default: $BENCH_DATA_DIR")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="harness cache (default: $BENCH_CACHE_DIR or ~/.cache/bench)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--order", default="alternate", choices=["alternate", "fixed"],
                        help="alternate: AB BA AB ... (cancels linear drift); fixed: AB AB AB ...")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.threads < 1:
        parser.error("--steps, --repeats and --threads must be positive")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cache_dir = args.cache_dir or default_cache_dir()

    # --- setup, not timed: plugins, the suite as run, the cached data file, the bare loop's settings
    plugins = load_plugins()
    for info in plugins.errors:
        print(f"warning: plugin {info.label} not loaded: {info.error}", file=sys.stderr)
    suite, _ = load_suite(plugins, SUITE, overrides(args), args.steps)
    if args.model not in suite.models or args.dataset not in suite.datasets:
        parser.error(f"{args.model}/{args.dataset} is not a model/dataset of suite {SUITE!r}")
    cell = suite.models[args.model]
    grid = dict(cell["grid"])
    if any(len(v) != 1 for v in grid.values()):
        parser.error(f"the grid should have one point after the overrides, got {grid}")
    hparams = {**cell["hparams"], **{k: v[0] for k, v in grid.items()}}
    protocol_args = {"lr": 3e-5, "weight_decay": 0.0, "eval_every": 1, **suite.protocol_args}
    metric_spec = plugins.metrics.get(suite.datasets[args.dataset]["metric"]).spec
    model_spec = plugins.models.get(args.model).spec
    dataset_spec = plugins.datasets.get(args.dataset).spec
    card = load_card(dataset_spec.card, args.dataset)
    if len(card.files) != 1:
        parser.error(f"dataset {args.dataset!r} has {len(card.files)} files; this script expects one .npz")
    # Resolves (and on first use copies into the cache) the file the harness will read.
    npz = DataContext(args.dataset, card, args.data_dir, cache_dir, allow_download=False).raw_file(card.files[0].path)
    seed = SPLIT

    def do_harness(steps: int) -> tuple[float, dict]:
        return harness_run(args, plugins, steps, cache_dir)

    def do_bare(steps: int) -> tuple[float, dict]:
        return bare_run(npz, args.dataset, model_spec, hparams, protocol_args, metric_spec, steps, seed, device)

    # --- warm-up, not timed: imports done lazily on first use, allocator and kernel first calls
    print(f"warm-up ({WARMUP_STEPS} steps each)...", file=sys.stderr)
    do_harness(WARMUP_STEPS)
    do_bare(WARMUP_STEPS)

    rows = []
    for repeat in range(args.repeats):
        order = "AB" if args.order == "fixed" or repeat % 2 == 0 else "BA"
        out: dict[str, tuple[float, dict]] = {}
        for side in order:
            print(f"repeat {repeat + 1}/{args.repeats}: {'harness' if side == 'A' else 'bare'}...", file=sys.stderr)
            out[side] = do_harness(args.steps) if side == "A" else do_bare(args.steps)
        (h_s, record), (b_s, bare) = out["A"], out["B"]
        if record["hparams"] != hparams:
            raise SystemExit(f"hyper-parameters differ: harness {record['hparams']} vs bare {hparams}")
        diff = same_result(record, bare)
        rows.append({
            "repeat": repeat + 1, "order": " ".join("H" if side == "A" else "B" for side in order),
            "harness": h_s, "protocol": record["wall_seconds"], "h_train": record["train_seconds"],
            "bare": b_s, "b_train": bare["train_seconds"], "ratio": h_s / b_s, "diff": diff,
            "val": record["metrics"]["val"], "test": record["metrics"]["test"], "best_step": record["best_step"],
            "num_params": record["num_params"], "device_name": record["device"],
        })
        print(f"  harness {h_s:.2f} s, bare {b_s:.2f} s, ratio {h_s / b_s:.4f}, score diff {diff:g}", file=sys.stderr)

    report(args, device, hparams, protocol_args, metric_spec.name, rows)


def report(args, device, hparams, protocol_args, metric_name, rows) -> None:
    keys = ("harness", "protocol", "h_train", "bare", "b_train", "ratio")
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    fixed = statistics.median(r["harness"] - r["protocol"] for r in rows)
    worst = max(r["diff"] for r in rows)
    same = "identical" if worst == 0 else ("best step differs" if worst == float("inf") else f"max |diff| {worst:.2e}")
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    hw = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    now = dt.datetime.now(dt.timezone.utc)
    cmd = "python benchmarks/harness_overhead.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in (
            ("dataset", args.dataset), ("model", args.model), ("steps", args.steps), ("hidden", args.hidden),
            ("layers", args.layers), ("repeats", args.repeats), ("threads", args.threads), ("device", args.device),
        )
    )
    lines = [
        f"### Harness overhead: {args.model} on {args.dataset}, {now:%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{cmd}`",
        f"- machine: {hw}; {cores} logical cores ({usable} usable by this process); device {device}; "
        f"torch threads {torch.get_num_threads()}",
        f"- software: torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, "
        f"torchmetrics {torchmetrics.__version__}, bench {bench_gnn.__version__}, python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}",
        f"- job: suite `{SUITE}`, split {SPLIT} (seed {SPLIT}), {args.steps} steps, eval every "
        f"{protocol_args['eval_every']} step(s) on train/val/test with `{metric_name}`; lr {protocol_args['lr']}, "
        f"weight decay {protocol_args['weight_decay']}; hparams {json.dumps(hparams, sort_keys=True)}; "
        f"{rows[0]['num_params']:,} parameters",
        f"- both sides reached the same scores: {same} (val {rows[0]['val']:.4f}, test {rows[0]['test']:.4f}, "
        f"best step {rows[0]['best_step']})",
        "- timed, harness: the whole `bench_gnn.api.run(...)` call: suite load and overrides, job expansion, "
        "dataset read from the cache with its sha256 check, model build, training and per-step evaluation, record "
        "written (fsync) to a fresh results folder, `git rev-parse`/`git status` for the record",
        "- timed, bare: `read_npz` on the same cached file, model build, the same training and per-step evaluation "
        "(no NaN check, no record)",
        "- not timed: Python/torch imports, plugin loading (done once), one warm-up run of each side "
        f"({WARMUP_STEPS} steps), creating/removing the temporary results folders; `gc.collect()` before each run",
        f"- order: {'alternating H B / B H' if args.order == 'alternate' else 'H B every repeat'}; "
        "`protocol` is the record's `wall_seconds` (protocol call only), `train` sums the train-step time "
        "(forward, loss, backward, optimizer) without evaluation",
        "",
        "| repeat | order | harness s | protocol s | harness train s | bare s | bare train s "
        "| harness / bare | overhead |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['repeat']} | {r['order']} | {r['harness']:.2f} | {r['protocol']:.2f} | {r['h_train']:.2f} | "
            f"{r['bare']:.2f} | {r['b_train']:.2f} | {r['ratio']:.4f} | {100 * (r['ratio'] - 1):+.2f}% |"
        )
    lines.append(
        f"| **median** | | **{med['harness']:.2f}** | {med['protocol']:.2f} | {med['h_train']:.2f} | "
        f"**{med['bare']:.2f}** | {med['b_train']:.2f} | **{med['ratio']:.4f}** | "
        f"**{100 * (med['ratio'] - 1):+.2f}%** |"
    )
    verdict = "within" if med["ratio"] <= 1.02 else "over"
    summary = f"Median harness / bare: {med['ratio']:.4f} ({100 * (med['ratio'] - 1):+.2f}%), {verdict} the 2% target. "
    if len(rows) > 1:
        low, high = min(r["ratio"] for r in rows), max(r["ratio"] for r in rows)
        summary += f"Per-repeat ratios span {low:.4f}–{high:.4f} (the noise floor of this machine for this run). "
    summary += f"Fixed cost outside the protocol (harness − protocol, median): {fixed:.3f} s."
    lines += ["", summary]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
