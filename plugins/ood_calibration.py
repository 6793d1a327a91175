"""Calibration and out-of-distribution detection of node classifiers: the ``ood-calibration`` suite.

Written against the public contract only, as a third party would: two protocols, their datasets,
backbones, calibrators and detectors, all through ``bench_*`` hooks.

``gats-calibration`` (Hsu et al., NeurIPS 2022, "What makes graph neural networks miscalibrated?")
    Cora and CiteSeer on GATS's fixed ``5_3f_85`` splits: job ``r`` of a cell uses split
    ``r // (3 * inits)``, fold ``(r // inits) % 3`` and seed ``r`` (75 runs = 5 splits × 3 folds × 5
    initialisations). The backbone is trained **once** per job (Adam, early stopping on validation
    accuracy and NLL); then every calibrator of ``calibrators`` is fit on the validation fold's
    logits (early-stopped on the training nodes) and applied to that same model. Each calibrator
    fills its own cell: ECE (15 bins), MCE, NLL, Brier, accuracy, edgewise ECE and its
    agree/disagree variants on the test nodes, and the ECE of the calibrated model on the test
    nodes of each graph in ``shifts`` (structure and feature shift generated as GNNSafe does,
    seed ``shift_seed``): calibration under distribution shift. GATS trains on the raw binary
    features (its code skips the ``NormalizeFeatures`` it passes): so do ``cora-gats`` and
    ``citeseer-gats``.
``gnnsafe-ood`` (Wu et al., ICLR 2023, "Energy-based out-of-distribution detection for graph
neural networks")
    For each shift of ``shifts`` the in-distribution graph, an OOD exposure graph and OOD test
    graph(s) are generated (seed ``shift_seed``, recorded; the same graphs for every run, as GNNSafe
    generates them once per process); one backbone is trained per training regime and training
    arguments the ``detectors`` need (``plain`` for MSP and ODIN, and for Mahalanobis with its own lr
    1e-3 and no weight decay, as GNNSafe's baseline script runs it; ``energy`` for Energy and GNNSafe,
    whose training also runs the encoder on the exposure graph in train mode, which moves BatchNorm's
    statistics; OE, Energy-FT and GNNSafe++ each with its own OOD exposure), each seeded with the job's
    seed. ODIN uses one fixed pair (T 1, noise 1e-4: the first of the grid GNNSafe's script sweeps
    without choosing among). Each (shift, detector) fills a cell: AUROC, AUPR (in-distribution
    positive), FPR95 in the standard definition and in GNNSafe's variant, the in-distribution score
    (accuracy; ROC-AUC for Twitch) and the backbone's in-distribution ECE. Twitch (``language``
    shift: DE in-distribution, ENGB exposure, ES/FR/RU OOD test, averaged) runs on the raw MUSAE
    files, an approximation of the processed graphs GNNSafe used: not comparable with its published
    numbers.

Arguments of calibrators and detectors (``calibrator_args``, ``detector_args``: name -> {arg:
value}) are completed with their defaults when the suite loads, so they are part of each job's
identity. A value may depend on the backbone (``gats-calibration``: ``{GATS-GCN: 0.005,
GATS-GAT: 0.01}``) or on the shift (``gnnsafe-ood``: ``{label: -4.0, structure: -1.0, ...}``); a
mapping without the job's model or shift is an error when the job runs.

This module imports no torch: the implementations are in ``gats_calibration``, ``gnnsafe_ood``,
``calibrators_impl``, ``ood_detectors_impl``, ``ood_training``, ``ood_shifts``, ``planetoid_data``,
``twitch_data``, ``gats_models`` and ``ood_models`` (all under :mod:`bench_gnn.plugins`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from bench_gnn import (
    CalibratorSpec,
    CellTable,
    Column,
    ConfigError,
    DatasetSpec,
    DetectorSpec,
    JobError,
    ModelSpec,
    ProtocolSpec,
    SuiteSource,
    check_choice,
    check_int,
    check_number,
    hookimpl,
)
from bench_gnn.errors import unknown_name
from bench_gnn.plugins.cards import card_path

CALIBRATION_SHIFTS = ("structure", "feature")
OOD_SHIFTS = ("structure", "feature", "label", "language")
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


def _names(key: str, value: Any, known: Any = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{key} must not repeat a name, got {value!r}")
    for name in value:
        if known is not None and name not in known:
            raise ConfigError(f"{key}: " + str(unknown_name("shift", name, known)))
    return list(value)


def _nonempty_names(key: str, value: Any) -> list[str]:
    names = _names(key, value)
    if not names:
        raise ConfigError(f"{key} must name at least one, got an empty list")
    return names


def _mapping(key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ConfigError(f"{key} must map names to mappings of their arguments, got {value!r}")
    return {str(k): dict(v) for k, v in value.items()}


def choose(args: Mapping[str, Any], choice: str, what: str, where: str) -> dict[str, Any]:
    """Arguments for one job: a value given as a mapping is looked up by ``choice`` (the job's model for
    ``gats-calibration``, its shift for ``gnnsafe-ood``); a mapping without it is an error naming both."""
    out = {}
    for key, value in args.items():
        if isinstance(value, Mapping):
            if choice not in value:
                raise JobError(f"{where}.{key} gives values for {what}s {sorted(value)}, not for {choice!r}")
            value = value[choice]
        out[key] = value
    return out


def complete_args(kind: str, chosen: list[str], given: Mapping[str, Any], registry: Any) -> dict[str, Any]:
    """Every chosen calibrator's or detector's arguments: its defaults, then the suite's values.

    Unknown names and keys are refused with did-you-mean; arguments of a known one that is not chosen are
    left out (so narrowing ``calibrators`` or ``detectors`` with an override needs nothing else)."""
    where = f"protocol_args.{kind}_args"
    for name in given:
        registry.get(name)  # an unknown name is an error (did you mean); a known one not chosen is not used
    completed = {}
    for name in chosen:
        defaults = registry.get(name).spec.defaults  # unknown name: did you mean
        for key in given.get(name, {}):
            if key not in defaults:
                raise ConfigError(f"{where}.{name}: " + str(unknown_name(f"{name} argument", key, defaults)))
        completed[name] = {**defaults, **given.get(name, {})}
    return completed


def _check_calibration(args: Mapping[str, Any], plugins: Any) -> dict[str, Any]:
    return {**args, "calibrator_args": complete_args("calibrator", args["calibrators"], args["calibrator_args"],
                                                     plugins.calibrators)}


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


CALIBRATION_DEFAULTS: dict[str, Any] = {
    "epochs": 2000, "patience": 100, "lr": 0.01, "weight_decay": 5e-4, "inits": 5,
    "calibrators": list(CALIBRATORS), "calibrator_args": {}, "shifts": list(CALIBRATION_SHIFTS), "shift_seed": 0,
}
CALIBRATION_CHECKS = {
    "epochs": partial(check_int, minimum=1),
    "patience": partial(check_int, minimum=1),
    "lr": partial(check_number, minimum=0),
    "weight_decay": partial(check_number, minimum=0),
    "inits": partial(check_int, minimum=1),
    "calibrators": _nonempty_names,
    "calibrator_args": _mapping,
    "shifts": partial(_names, known=CALIBRATION_SHIFTS),
    "shift_seed": partial(check_int, minimum=0),
}
OOD_DEFAULTS: dict[str, Any] = {
    "epochs": 200, "lr": 0.01, "weight_decay": 0.01, "shifts": ["structure", "feature", "label"], "shift_seed": 0,
    "shift_args": {}, "split_seed": 123, "detectors": list(DETECTORS), "detector_args": {},
}
OOD_CHECKS = {
    "epochs": partial(check_int, minimum=1),
    "lr": partial(check_number, minimum=0),
    "weight_decay": partial(check_number, minimum=0),
    "shifts": lambda key, value: _nonempty_names(key, _names(key, value, OOD_SHIFTS)),
    "shift_seed": partial(check_int, minimum=0),
    "shift_args": _mapping,
    "split_seed": partial(check_int, minimum=0),
    "detectors": _nonempty_names,
    "detector_args": _mapping,
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
OOD_COLUMNS = (
    Column("auroc", "AUROC", scale=100),
    Column("aupr", "AUPR", scale=100),
    Column("fpr95", "FPR95", scale=100),
    Column("fpr95_gnnsafe", "FPR95 (GNNSafe)", scale=100),
    Column("id_score", "ID acc/AUC", scale=100),
    Column("id_ece", "ID ECE", scale=100),
)


def run_calibration(ctx: Any) -> Any:
    from bench_gnn.plugins.gats_calibration import run

    return run(ctx)


def run_ood(ctx: Any) -> Any:
    from bench_gnn.plugins.gnnsafe_ood import run

    return run(ctx)


def fit_calibrator(inputs: Any, args: Mapping[str, Any], name: str) -> Any:
    from bench_gnn.plugins.calibrators_impl import FITTERS, uncalibrated

    return uncalibrated if name == "uncalibrated" else FITTERS[name](inputs, args)


def score_detector(inputs: Any, args: Mapping[str, Any], name: str) -> Any:
    from bench_gnn.plugins.gnnsafe_ood import score

    return score(name, inputs, args)


def load_planetoid(ctx: Any, name: str, gats: bool) -> Any:
    from bench_gnn.plugins.planetoid_data import load_gats, load_public

    return load_gats(ctx, name) if gats else load_public(ctx, name)


def load_twitch(ctx: Any) -> Any:
    from bench_gnn.plugins.gnnsafe_ood import load_twitch_dataset

    return load_twitch_dataset(ctx)


def build_gats(task: Any, hparams: Mapping[str, Any]) -> Any:
    from bench_gnn.plugins.gats_models import build_gats_model

    return build_gats_model(task, hparams)


def build_gnnsafe(task: Any, hparams: Mapping[str, Any]) -> Any:
    from bench_gnn.plugins.ood_models import build_gnnsafe_gcn

    return build_gnnsafe_gcn(task, hparams)


@hookimpl
def bench_protocols():
    return [
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
            description="GATS calibration protocol: backbone trained once per run, every calibrator applied to it",
        ),
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
        ),
    ]


@hookimpl
def bench_calibrators():
    return [
        CalibratorSpec(name=name, fit=partial(fit_calibrator, name=name), defaults=defaults, description=text)
        for name, (defaults, text) in CALIBRATORS.items()
    ]


@hookimpl
def bench_detectors():
    return [
        DetectorSpec(name=name, score=partial(score_detector, name=name), training=training, defaults=defaults,
                     description=text)
        for name, (training, defaults, text) in DETECTORS.items()
    ]


@hookimpl
def bench_models():
    gats = {"hidden": 64, "heads": 8, "dropout": 0.5}
    return [
        ModelSpec(name="GATS-GCN", build=build_gats, defaults={"arch": "GCN", **gats},
                  check=partial(_check_arch, arch="GCN"), description="GATS's 2-layer GCN (hidden 64, dropout 0.5)"),
        ModelSpec(name="GATS-GAT", build=build_gats, defaults={"arch": "GAT", **gats, "hidden": 8},
                  check=partial(_check_arch, arch="GAT"),
                  description="GATS's 2-layer GAT (8 heads × 8 hidden, ELU, dropout 0.5)"),
        ModelSpec(name="GNNSafe-GCN", build=build_gnnsafe, defaults={"hidden": 64, "dropout": 0.0, "use_bn": True},
                  description="GNNSafe's 2-layer GCN backbone (hidden 64, BatchNorm, no dropout)"),
    ]


def _check_arch(hparams: Mapping[str, Any], arch: str) -> None:
    check_choice("arch", hparams["arch"], (arch,))
    check_int("hidden", hparams["hidden"], 1)
    check_int("heads", hparams["heads"], 1)
    check_number("dropout", hparams["dropout"], 0, 1)


@hookimpl
def bench_datasets():
    specs = []
    for name, title in (("cora", "Cora"), ("citeseer", "CiteSeer")):
        specs.append(DatasetSpec(
            name=name, task="node", load=partial(load_planetoid, name=name, gats=False), card=card_path(name),
            metric="accuracy", description=f"Planetoid {title}, public split, NormalizeFeatures (GNNSafe)"))
        specs.append(DatasetSpec(
            name=f"{name}-gats", task="node", load=partial(load_planetoid, name=name, gats=True),
            card=card_path(f"{name}-gats"), metric="accuracy",
            description=f"Planetoid {title}, raw features, GATS's 5_3f_85 splits (5 splits × 3 folds)"))
    specs.append(DatasetSpec(
        name="twitch", task="node", load=load_twitch, card=card_path("twitch"), metric="roc_auc",
        description="Twitch DE (10/10/80, seed 123) with ENGB, ES, FR, RU for OOD (raw MUSAE files)"))
    return specs


@hookimpl
def bench_suites():
    return [SuiteSource(path=Path(__file__).parent / "suites" / "ood-calibration.yaml")]
