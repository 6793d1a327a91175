"""The ``gats-calibration`` protocol (see :mod:`bench_gnn_ood` for what it measures).

One job: build the backbone with the job's seed, train it once on the job's split and fold
(:func:`bench_gnn_ood.gats_training.train_backbone`, GATS's checkpoint rule), then fit every
calibrator of ``calibrators`` on the validation fold's logits of that frozen model, each in its own
cell (:func:`bench_gnn.run_cell`), reseeded with the job's seed so that a calibrator's numbers do not
depend on which others run before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from bench_gnn import (
    CalibrationInputs,
    JobError,
    ProtocolContext,
    ProtocolResult,
    TaskInfo,
    build_model,
    run_cell,
    split_scores,
)
from bench_gnn_ood.arguments import choose
from bench_gnn_ood.calibration_metrics import calibration_metrics, reliability
from bench_gnn_ood.dataset_cache import DATASET_CACHE
from bench_gnn_ood.gats_training import train_backbone
from bench_gnn_ood.shifts import feature_shift, sbm_shift

FOLDS = 3


def shifted_graph(data: Any, shift: str, seed: int) -> Any:
    """The graph under ``shift`` (GNNSafe's generators), same nodes and labels; seed ``seed``.

    A pure function of the dataset, the shift and the seed, so the graphs of the dataset currently held
    are kept for its next jobs (in :data:`bench_gnn_ood.dataset_cache.DATASET_CACHE`)."""

    def make() -> Any:
        generator = torch.Generator().manual_seed(seed)
        return {"structure": sbm_shift, "feature": feature_shift}[shift](data, generator)

    return DATASET_CACHE.get(data, (shift, seed), make)


def _column(data: Any, split: int, inits: int) -> int:
    column = split // inits
    available = data.train_mask.size(1) if data.train_mask.dim() == 2 else 1
    if column >= available:
        raise JobError(f"run {split} needs split column {column} (inits {inits}), but the dataset has {available} "
                       f"split columns: at most {available * inits} runs")
    return column


def run(ctx: ProtocolContext) -> ProtocolResult:
    args = ctx.args
    data = ctx.data
    column = _column(data, ctx.split, args["inits"])
    train, val, test = (getattr(data, name)[:, column] for name in ("train_mask", "val_mask", "test_mask"))
    num_classes = int(data.y.max()) + 1
    task = TaskInfo("node", in_dim=data.x.size(1), out_dim=num_classes, num_nodes=data.num_nodes)
    model, num_params, over_budget = build_model(ctx, task)
    device = ctx.device
    data = data.to(device)
    ctx.steps_total(args["epochs"])
    trained = train_backbone(model, data, train.to(device), val.to(device), lr=args["lr"],
                             weight_decay=args["weight_decay"], max_epochs=args["epochs"],
                             patience=args["patience"], on_epoch=lambda: ctx.on_step(1))
    model.eval()
    with torch.no_grad():
        logits = model(data).detach().cpu()
        embed = getattr(model, "embed", None)
        hidden = embed(data).detach().cpu() if embed is not None else None
        shifted = {}
        for shift in args["shifts"]:
            graph = shifted_graph(ctx.data, shift, args["shift_seed"])
            shifted[shift] = (graph, model(graph.to(device)).detach().cpu())
    data = ctx.data
    probs = torch.softmax(logits, dim=-1)
    metric = ctx.metric.factory(num_classes)
    scores = split_scores(metric, probs, data.y, {"train": train, "val": val, "test": test})
    dist = data.dist_to_train[:, column] if hasattr(data, "dist_to_train") else None
    cells = {}
    for name in args["calibrators"]:
        spec = ctx.plugins.calibrators.get(name).spec
        cal_args = choose(args["calibrator_args"][name], ctx.model.name, "model", f"calibrator_args.{name}")
        inputs = CalibrationInputs(
            logits=logits, labels=data.y, edge_index=data.edge_index, fit_mask=val, stop_mask=train, train_mask=train,
            num_classes=num_classes, dist_to_train=dist, hidden=hidden if spec.uses_hidden else None,
        )

        def evaluate(spec: Any = spec, cal_args: dict[str, Any] = cal_args, inputs: Any = inputs) -> dict[str, Any]:
            torch.manual_seed(ctx.seed)
            calibrated = spec.fit(inputs, cal_args)
            calibrated_probs = _probabilities(calibrated(logits, data.edge_index, train), logits.shape, spec.name)
            metrics: dict[str, Any] = calibration_metrics(calibrated_probs, data.y, data.edge_index, test)
            extras = {"reliability": {"clean": _diagram(calibrated_probs, data.y, test)}}
            for shift, (graph, shifted_logits) in shifted.items():
                shifted_probs = _probabilities(calibrated(shifted_logits, graph.edge_index, train), logits.shape,
                                               spec.name)
                under_shift = calibration_metrics(shifted_probs, graph.y, graph.edge_index, test)
                metrics[f"ece@{shift}"], metrics[f"acc@{shift}"] = under_shift["ece"], under_shift["acc"]
                extras["reliability"][shift] = _diagram(shifted_probs, graph.y, test)
            return {"metrics": _nan_to_none(metrics), "extras": extras}

        cells[name] = run_cell("calibrator", name, evaluate)
    return ProtocolResult(
        metrics=scores, best_step=trained.best_epoch, steps=trained.epochs, num_params=num_params,
        train_seconds=trained.seconds,
        extras={"over_budget": over_budget, "split_column": column, "split": column // FOLDS, "fold": column % FOLDS,
                "shift_seed": args["shift_seed"]},
        cells=cells,
    )


def _probabilities(probs: Any, shape: torch.Size, name: str) -> Tensor:
    """A calibrator's output checked: a tensor of ``shape`` whose rows are probability distributions."""
    if not isinstance(probs, Tensor) or probs.shape != shape:
        raise JobError(f"calibrator {name!r} returned {getattr(probs, 'shape', type(probs).__name__)}, "
                       f"expected probabilities of shape {tuple(shape)}")
    if not torch.isfinite(probs).all():
        raise JobError(f"calibrator {name!r} returned non-finite probabilities")
    if (probs < -1e-6).any() or not torch.allclose(probs.sum(-1), torch.ones(shape[0], dtype=probs.dtype), atol=1e-4):
        raise JobError(f"calibrator {name!r} returned rows that are not probability distributions")
    return probs


def _diagram(probs: Tensor, labels: Tensor, mask: Tensor) -> dict[str, Any]:
    """A reliability diagram for the record: per bin (15 equal-width), mean confidence, accuracy and count."""
    diagram = reliability(probs, labels, mask)
    return {key: diagram[key] for key in ("confidence", "accuracy", "count")}


def _nan_to_none(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics that do not apply (an edge metric without edges: NaN) are recorded as None."""
    return {k: None if isinstance(v, float) and v != v else v for k, v in metrics.items()}
