"""Run the GATS calibration protocol with bench's implementation and compare it with the authors' reference runs.

For every split (0..4) x fold (0..2) x init: train the GATS backbone (GCN or GAT) on raw features with GATS's
early stopping, then fit each calibrator (uncalibrated, TS, VS, ETS, CaGCN, GATS) on the validation fold,
early-stopped on the training nodes, and measure ECE/NLL/Brier/accuracy on the test nodes. Prints mean and
population std (ddof 0, as GATS) per calibrator, the reference numbers of PROTOCOLS.md ("Reference runs of the
authors' code", 15 runs = 1 init) and whether ECE is within 2 reference std (or 1 point) of the reference; then
timings: backbone training and each calibrator fit, per run.

    python benchmarks/gats_check.py --dataset cora --arch GCN          # 15 runs (1 init), about a minute
    python benchmarks/gats_check.py --dataset cora --arch GAT --json out.json

Data: ``--data-dir`` or ``BENCH_DATA_DIR`` (default /work/shared/datasets); nothing is written outside a
temporary cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from bench_gnn_ood import CARDS
from bench_gnn_ood.calibration_metrics import calibration_metrics
from bench_gnn_ood.calibrators import FITTERS, CalibrationInputs, uncalibrated
from bench_gnn_ood.gats_models import build_gats_model
from bench_gnn_ood.gats_training import train_backbone

from bench_gnn.data.cards import load_card
from bench_gnn.data.context import DataContext
from bench_gnn.specs import TaskInfo

CALIBRATORS = ["Uncal", "TS", "VS", "ETS", "CaGCN", "GATS"]

#: PROTOCOLS.md "Reference runs of the authors' code": (mean, population std), 15 runs, ECE x100
REFERENCE = {
    ("cora", "GCN"): {
        "ece": {"Uncal": (6.34, 3.54), "TS": (4.54, 1.58), "VS": (4.68, 1.56), "ETS": (4.12, 1.34),
                "CaGCN": (6.74, 2.18), "GATS": (3.99, 1.50)},
        "nll": {"Uncal": (0.5541, 0.0341), "TS": (0.5479, 0.0306), "VS": (0.5518, 0.0324), "ETS": (0.5368, 0.0238),
                "CaGCN": (0.7855, 0.1977), "GATS": (0.5350, 0.0243)},
        "brier": {"Uncal": (0.2507, 0.0121), "TS": (0.2448, 0.0080), "VS": (0.2461, 0.0091), "ETS": (0.2444, 0.0078),
                  "CaGCN": (0.2554, 0.0124), "GATS": (0.2440, 0.0078)},
        "acc": {"Uncal": (83.87, 0.65)},
    },
    ("cora", "GAT"): {
        "ece": {"Uncal": (8.14, 7.60), "TS": (4.30, 1.81), "VS": (4.23, 1.71), "ETS": (3.87, 1.52),
                "CaGCN": (6.02, 1.79), "GATS": (4.33, 1.80)},
        "nll": {"Uncal": (0.5810, 0.0773), "TS": (0.5455, 0.0372), "VS": (0.5395, 0.0368), "ETS": (0.5398, 0.0323),
                "CaGCN": (0.6374, 0.0964), "GATS": (0.5457, 0.0274)},
        "acc": {"Uncal": (83.26, 0.69)},
    },
}
#: calibrator weight decay of GATS for each backbone (PROTOCOLS.md); the other calibrators use their defaults
GATS_WEIGHT_DECAY = {"GCN": 5e-3, "GAT": 1e-2}


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values)


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    name = args.dataset
    card_name = f"{name}-gats"
    data_dir = Path(args.data_dir or os.environ.get("BENCH_DATA_DIR") or "/work/shared/datasets")
    from bench_gnn_ood.planetoid import load_gats

    with tempfile.TemporaryDirectory() as cache:
        ctx = DataContext(card_name, load_card(CARDS / f"{card_name}.yaml", card_name), data_dir, Path(cache),
                          allow_download=False)
        data = load_gats(ctx, name)
    num_classes = int(data.y.max()) + 1
    task = TaskInfo(task="node", in_dim=data.x.shape[1], out_dim=num_classes, num_nodes=data.num_nodes)
    hparams = {"arch": args.arch, "dropout": 0.5}
    calib_args = {"lr": 0.01, "epochs": args.cal_epochs, "patience": 100}
    results: dict[str, dict[str, list[float]]] = {c: {"ece": [], "nll": [], "brier": [], "acc": []}
                                                    for c in CALIBRATORS}
    timings: dict[str, list[float]] = {"train": [], "epochs": [], **{c: [] for c in CALIBRATORS[1:]}}
    cpu: dict[str, list[float]] = {"train": [], **{c: [] for c in CALIBRATORS[1:]}}  # process CPU seconds
    total_start = time.perf_counter()
    for split in range(args.splits):
        for fold in range(3):
            c = split * 3 + fold
            for init in range(args.inits):
                torch.manual_seed(init)
                model = build_gats_model(task, hparams)
                cpu_start = time.process_time()
                trained = train_backbone(model, data, data.train_mask[:, c], data.val_mask[:, c],
                                         weight_decay=5e-4, max_epochs=args.epochs)
                cpu["train"].append(time.process_time() - cpu_start)
                timings["train"].append(trained.seconds)
                timings["epochs"].append(trained.epochs)
                with torch.no_grad():
                    logits = model(data).detach()
                inputs = CalibrationInputs(
                    logits=logits, labels=data.y, edge_index=data.edge_index, fit_mask=data.val_mask[:, c],
                    stop_mask=data.train_mask[:, c], train_mask=data.train_mask[:, c], num_classes=num_classes,
                    dist_to_train=data.dist_to_train[:, c],
                )
                line = [f"split {split} fold {fold} init {init}: train {trained.seconds:.1f}s ({trained.epochs} ep)"]
                for cal in CALIBRATORS:
                    start, cpu_start = time.perf_counter(), time.process_time()
                    if cal == "Uncal":
                        calibrated = uncalibrated
                    else:
                        torch.manual_seed(init)
                        extra = {"weight_decay": GATS_WEIGHT_DECAY[args.arch]} if cal == "GATS" else {}
                        calibrated = FITTERS[cal](inputs, {**calib_args, **extra})
                        timings[cal].append(time.perf_counter() - start)
                        cpu[cal].append(time.process_time() - cpu_start)
                        line.append(f"{cal} {timings[cal][-1]:.2f}s ({calibrated.params.get('epochs', 0):.0f} ep)")
                    probs = calibrated(logits, data.edge_index, data.train_mask[:, c])
                    m = calibration_metrics(probs, data.y, data.edge_index, data.test_mask[:, c])
                    results[cal]["ece"].append(100 * m["ece"])
                    results[cal]["nll"].append(m["nll"])
                    results[cal]["brier"].append(m["brier"])
                    results[cal]["acc"].append(100 * m["acc"])
                print(", ".join(line), flush=True)
    return {"dataset": name, "arch": args.arch, "results": results, "timings": timings, "cpu": cpu,
            "wall_s": time.perf_counter() - total_start}


def report(out: dict) -> bool:
    ref = REFERENCE.get((out["dataset"], out["arch"]), {})
    ok = True
    print(f"\n{out['dataset']} {out['arch']}: {len(out['results']['Uncal']['ece'])} runs, "
          f"wall {out['wall_s']:.0f}s")
    print(f"{'method':<7} {'metric':<6} {'ours':>18} {'reference':>18} {'delta':>8}  within")
    for cal in CALIBRATORS:
        for metric, scale in (("ece", 2), ("nll", 4), ("brier", 4), ("acc", 2)):
            mean, std = _mean_std(out["results"][cal][metric])
            ours = f"{mean:.{scale}f} ± {std:.{scale}f}"
            if cal in ref.get(metric, {}):
                rm, rs = ref[metric][cal]
                delta = mean - rm
                tol = max(2 * rs, 1.0) if metric in ("ece", "acc") else 2 * rs
                within = abs(delta) <= tol
                ok &= within or metric != "ece"
                print(f"{cal:<7} {metric:<6} {ours:>18} {f'{rm:.{scale}f} ± {rs:.{scale}f}':>18} "
                      f"{delta:>+8.{scale}f}  {'yes' if within else 'NO'}")
            else:
                print(f"{cal:<7} {metric:<6} {ours:>18} {'-':>18} {'':>8}")
    t, c = out["timings"], out["cpu"]
    print("\ntimings per run: wall mean ± std (max) | CPU mean (the machine may be shared: CPU time is steadier)")
    for key, values in t.items():
        if values:
            mean, std = _mean_std([float(v) for v in values])
            unit = "" if key == "epochs" else "s"
            cpu_mean = f"{statistics.fmean(c[key]):8.2f}s" if key in c else ""
            print(f"  {key:<7} {mean:8.2f}{unit} ± {std:.2f} ({max(values):.2f}) | {cpu_mean}")
    per_run = sum(statistics.fmean(v) for k, v in t.items() if k != "epochs" and v)
    per_run_cpu = sum(statistics.fmean(v) for v in c.values() if v)
    print(f"  per run total {per_run:.2f}s wall, {per_run_cpu:.2f}s CPU")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["cora", "citeseer"], default="cora")
    parser.add_argument("--arch", choices=["GCN", "GAT"], default="GCN")
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--inits", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2000, help="backbone max epochs")
    parser.add_argument("--cal-epochs", type=int, default=2000, help="calibrator max epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None, help="write per-run results and timings here")
    args = parser.parse_args(argv)
    out = run(args)
    ok = report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
