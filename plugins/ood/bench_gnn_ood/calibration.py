"""The ``gats-calibration`` protocol's arguments, checks, columns and calibrators (torch-free); see
:mod:`bench_gnn_ood` for what it measures and :mod:`bench_gnn_ood.gats_calibration` for the run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_gnn import (
    CalibratorSpec,
    CellTable,
    Column,
    ProtocolSpec,
    check_int,
)
from bench_gnn_ood.arguments import COMMON_CHECKS, args_mapping, complete_args, name_list, nonempty_name_list

if TYPE_CHECKING:
    from bench_gnn import CalibrationInputs, ProtocolContext, ProtocolResult

CALIBRATION_SHIFTS = ("structure", "feature")
CALIBRATORS: dict[str, tuple[dict[str, Any], str]] = {
    "uncalibrated": ({}, "softmax of the backbone's logits (no calibration)"),
    "TS": ({"lr": 0.01, "epochs": 2000, "patience": 100, "weight_decay": 0.0}, "temperature scaling"),
    "VS": ({"lr": 0.01, "epochs": 2000, "patience": 100, "weight_decay": 0.0}, "vector scaling (per-class scale)"),
    "ETS": ({"lr": 0.01, "epochs": 2000, "patience": 100, "weight_decay": 0.0},
            "ensemble temperature scaling (TS, then SLSQP ensemble weights)"),
    "CaGCN": ({"lr": 0.01, "epochs": 2000, "patience": 100, "weight_decay": 5e-3, "hidden": 16, "dropout": 0.5},
              "CaGCN: a GCN on the logits predicts per-node temperatures"),
    "GATS": ({"lr": 0.01, "epochs": 2000, "patience": 100, "weight_decay": 5e-3, "heads": 8, "bias": 1.0},
             "GATS: graph attention temperature scaling with distance-to-training coefficients"),
}


def _check_calibration(args: Mapping[str, Any], plugins: Any) -> dict[str, Any]:
    return {**args, "calibrator_args": complete_args("calibrator", args["calibrators"], args["calibrator_args"],
                                                     plugins.calibrators)}


CALIBRATION_DEFAULTS: dict[str, Any] = {
    "epochs": 2000, "patience": 100, "lr": 0.01, "weight_decay": 5e-4, "inits": 5,
    "calibrators": list(CALIBRATORS), "calibrator_args": {}, "shifts": list(CALIBRATION_SHIFTS), "shift_seed": 0,
}
CALIBRATION_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    **COMMON_CHECKS,
    "patience": partial(check_int, minimum=1),
    "inits": partial(check_int, minimum=1),
    "calibrators": nonempty_name_list,
    "calibrator_args": args_mapping,
    "shifts": partial(name_list, known=CALIBRATION_SHIFTS),
}


CALIBRATION_COLUMNS = (
    Column("ece", "ECE", scale=100),
    Column("mce", "MCE", scale=100),
    Column("nll", "NLL", digits=4),
    Column("brier", "Brier", digits=4),
    Column("acc", "acc", scale=100),
    Column("edge_ece", "edge ECE", scale=100),
    Column("edge_ece_agree", "agree ECE", scale=100),
    Column("edge_ece_disagree", "disagree ECE", scale=100),
)
CROSS_COLUMNS = (
    Column("ece", "ECE clean", scale=100),
    Column("ece@structure", "ECE structure shift", scale=100),
    Column("ece@feature", "ECE feature shift", scale=100),
    Column("acc@structure", "acc structure shift", scale=100),
    Column("acc@feature", "acc feature shift", scale=100),
)


def run_calibration(ctx: ProtocolContext) -> ProtocolResult:
    from bench_gnn_ood.gats_calibration import run

    return run(ctx)


def fit_calibrator(inputs: CalibrationInputs, args: Mapping[str, Any], name: str) -> Any:
    from bench_gnn_ood.calibrators import FITTERS, uncalibrated

    return uncalibrated if name == "uncalibrated" else FITTERS[name](inputs, args)


def reliability_plot(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """``bench plot reliability``: reliability diagrams of the records' calibrator cells (their
    ``extras["reliability"]``), pooled over runs: one panel per dataset/model and calibrator, one curve per
    condition (clean, each shift)."""
    from collections import defaultdict

    from bench_gnn import UsageError, plot_reliability, pool_reliability

    grouped: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        for cell in (record["results"].get("cells") or {}).values():
            diagrams = (cell.get("extras") or {}).get("reliability")
            if cell["kind"] == "calibrator" and cell["status"] == "ok" and diagrams:
                row = f"{record['identity']['dataset']} / {record['identity']['model']}"
                for condition, diagram in diagrams.items():
                    grouped[(row, cell["name"])][condition].append(diagram)
    if not grouped:
        raise UsageError("no record has reliability diagrams (calibrator cells); run the suite first")
    panels = {key: {c: pool_reliability(d) for c, d in conditions.items()} for key, conditions in grouped.items()}
    return plot_reliability(panels, path)


def protocol_spec() -> ProtocolSpec:
    return (
        ProtocolSpec(
            name="gats-calibration", run=run_calibration, defaults=CALIBRATION_DEFAULTS, checks=CALIBRATION_CHECKS,
            check=_check_calibration, tasks=frozenset({"node"}), step_key="epochs", step_unit=("ms/epoch", 1000.0),
            tables=(
                CellTable("Calibration (GATS protocol)", "calibrator", CALIBRATION_COLUMNS, ddof=0,
                          note="Test nodes; mean ± population std over runs, as GATS reports. Reference: the "
                               "authors' code run here (PROTOCOLS.md), 15 runs."),
                CellTable("Calibration under distribution shift (cross-reporting)", "calibrator", CROSS_COLUMNS,
                          ddof=0, note="Each calibrated model scored on the test nodes of the structure- and "
                                       "feature-shifted graph (GNNSafe's generators), against its clean ECE."),
            ),
            plots={"reliability": reliability_plot},
            description="GATS calibration protocol: backbone trained once per run, every calibrator applied to it",
        )
    )


def calibrator_specs():
    return [
        CalibratorSpec(name=name, fit=partial(fit_calibrator, name=name), defaults=defaults, description=text)
        for name, (defaults, text) in CALIBRATORS.items()
    ]
