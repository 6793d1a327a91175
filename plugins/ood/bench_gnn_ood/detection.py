"""The ``gnnsafe-ood`` protocol's arguments, checks, columns and detectors (torch-free); see :mod:`bench_gnn_ood`
for what it measures and :mod:`bench_gnn_ood.gnnsafe_ood` for the run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from bench_gnn import (
    CellTable,
    Column,
    ConfigError,
    DetectorSpec,
    ProtocolSpec,
    check_int,
    unknown_name,
)
from bench_gnn_ood.arguments import COMMON_CHECKS, args_mapping, complete_args, name_list, nonempty_name_list

if TYPE_CHECKING:
    from bench_gnn import DetectorInputs, ProtocolContext, ProtocolResult

OOD_SHIFTS = ("structure", "feature", "label", "language")
#: detector -> (training regime, defaults, description)
DETECTORS: dict[str, tuple[str, dict[str, Any], str]] = {
    "MSP": ("plain", {}, "maximum softmax probability"),
    "ODIN": ("plain", {"T": 1.0, "noise": 1e-4},
             "max softmax of logits/T after an input perturbation of size noise (first pair of GNNSafe's grid)"),
    "Mahalanobis": ("plain", {"noise": 0.0, "lr": 1e-3, "weight_decay": 0.0},
                    "Mahalanobis distance to class means of the penultimate layer (own backbone: lr 1e-3, no decay)"),
    "Energy": ("energy", {"T": 1.0}, "free energy T·logsumexp(logits/T)"),
    "GNNSafe": ("energy", {"T": 1.0, "K": 2, "alpha": 0.5}, "energy propagated K times over the graph"),
    "OE": ("oe", {"oe_weight": 0.5}, "outlier exposure: uniform targets on the exposure nodes; max logit"),
    "Energy-FT": ("energy_ft", {"T": 1.0, "m_in": -5.0, "m_out": -1.0, "lam": 0.01},
                  "energy fine-tuned with margins on the exposure nodes"),
    "GNNSafe++": ("gnnsafe++", {"T": 1.0, "K": 2, "alpha": 0.5, "m_in": -5.0, "m_out": -1.0, "lam": 0.01},
                  "GNNSafe with the energy margin regulariser on propagated energies"),
}


LABEL_SHIFT_NODES = {"id_classes": "in-distribution", "ood_train_classes": "OOD exposure",
                     "ood_test_classes": "OOD test"}


def _check_label_shift(given: Mapping[str, Any]) -> None:
    """Class lists of the label shift: non-empty lists of class ids, in-distribution and OOD classes apart."""
    for key, value in given.items():
        where = f"protocol_args.shift_args.label.{key}"
        if key not in LABEL_SHIFT_NODES:
            raise ConfigError(f"{where}: " + str(unknown_name("label shift argument", key, LABEL_SHIFT_NODES)))
        if not isinstance(value, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in value):
            raise ConfigError(f"{where} must be a list of class ids, got {value!r}")
        if not value:
            raise ConfigError(f"shift 'label': {key} is empty, so the shift leaves no {LABEL_SHIFT_NODES[key]} "
                              f"nodes; name at least one class")
    overlap = set(given.get("id_classes", (4, 5, 6))) & (set(given.get("ood_test_classes", (0, 1, 2)))
                                                        | set(given.get("ood_train_classes", (3,))))
    if overlap:
        raise ConfigError(f"shift 'label': classes {sorted(overlap)} are both in-distribution and OOD")


def _check_ood(args: Mapping[str, Any], plugins: Any) -> dict[str, Any]:
    for shift, given in args["shift_args"].items():
        if shift not in OOD_SHIFTS:
            raise ConfigError("protocol_args.shift_args: " + str(unknown_name("shift", shift, OOD_SHIFTS)))
        if shift == "label":
            _check_label_shift(given)
    return {**args, "detector_args": complete_args("detector", args["detectors"], args["detector_args"],
                                                   plugins.detectors)}


OOD_DEFAULTS: dict[str, Any] = {
    "epochs": 200, "lr": 0.01, "weight_decay": 0.01, "shifts": ["structure", "feature", "label"], "shift_seed": 0,
    "shift_args": {}, "split_seed": 123, "detectors": list(DETECTORS), "detector_args": {},
}
OOD_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    **COMMON_CHECKS,
    "shifts": lambda key, value: nonempty_name_list(key, name_list(key, value, OOD_SHIFTS)),
    "shift_args": args_mapping,
    "split_seed": partial(check_int, minimum=0),
    "detectors": nonempty_name_list,
    "detector_args": args_mapping,
}


OOD_COLUMNS = (
    Column("auroc", "AUROC", scale=100),
    Column("aupr", "AUPR", scale=100),
    Column("fpr95", "FPR95", scale=100),
    Column("fpr95_gnnsafe", "FPR95 (GNNSafe)", scale=100),
    Column("id_score", "ID acc/AUC", scale=100),
    Column("id_ece", "ID ECE", scale=100),
)


def run_ood(ctx: ProtocolContext) -> ProtocolResult:
    from bench_gnn_ood.gnnsafe_ood import run

    return run(ctx)


def score_detector(inputs: DetectorInputs, args: Mapping[str, Any], name: str) -> Any:
    from bench_gnn_ood.gnnsafe_ood import score

    return score(name, inputs, args)


def protocol_spec() -> ProtocolSpec:
    return (
        ProtocolSpec(
            name="gnnsafe-ood", run=run_ood, defaults=OOD_DEFAULTS, checks=OOD_CHECKS, check=_check_ood,
            tasks=frozenset({"node"}), step_key="epochs", step_unit=("ms/epoch", 1000.0),
            tables=(
                CellTable("OOD detection (GNNSafe protocol)", "detector", OOD_COLUMNS, ddof=1,
                          note="Cells are shift/detector. In-distribution nodes are positive. FPR95: standard "
                               "definition; FPR95 (GNNSafe): the repo's variant. ID ECE: the detector's backbone's "
                               "calibration on in-distribution test nodes. Reference: the authors' code run here "
                               "(5 runs, std ddof 1) and, for GNNSafe++, the published AUROC."),
            ),
            description="GNNSafe OOD-detection protocol: shifts generated with recorded seeds, one model per regime",
        )
    )


def detector_specs():
    return [
        DetectorSpec(name=name, score=partial(score_detector, name=name), training=training, defaults=defaults,
                     description=text)
        for name, (training, defaults, text) in DETECTORS.items()
    ]
