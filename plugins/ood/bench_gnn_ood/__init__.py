"""Calibration and out-of-distribution detection of node classifiers: the ``ood-calibration`` suite.

First-party plugin family, registered through :mod:`bench_gnn_ood.hooks` (torch-free) exactly as a third
party's package would be; it imports the core only through the facade ``bench_gnn``.

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

The hook modules (``hooks``, ``calibration``, ``detection``, ``backbones``, ``datasets``, ``arguments``)
import no torch: the implementations are in ``gats_calibration``, ``gnnsafe_ood``,
``calibrators``, ``detectors``, ``ood_training``, ``shifts``, ``planetoid``, ``twitch``, ``gats_models`` and
``ood_models`` (all in this package).
"""

from pathlib import Path

CARDS = Path(__file__).parent / "cards"
SUITES = Path(__file__).parent / "suites"
