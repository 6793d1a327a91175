"""The ``gnnsafe-ood`` protocol (see :mod:`bench_gnn_ood` for what it measures).

One job = one seed of one dataset: for each shift, the setting is generated (seed ``shift_seed``,
recorded in the extras), then one backbone per training regime the detectors need is built and
trained, each reseeded with the job's seed (so a regime's model does not depend on which detectors
run), and every detector of that regime scores the in-distribution test nodes and the OOD nodes of
each OOD test graph (metrics averaged over them: Twitch has three) in its own cell ``shift/detector``.
The record's own val/test numbers are the ``plain`` backbone's (else the first regime's) on the first
shift's in-distribution nodes.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor
from torch_geometric.data import Data

from bench_gnn import (
    BenchError,
    DetectorInputs,
    JobError,
    ProtocolContext,
    ProtocolResult,
    TaskInfo,
    build_model,
    run_cell,
    split_scores,
)
from bench_gnn_ood import detectors as detectors
from bench_gnn_ood.arguments import choose
from bench_gnn_ood.calibration_metrics import calibration_metrics
from bench_gnn_ood.dataset_cache import DATASET_CACHE
from bench_gnn_ood.ood_metrics import ood_metrics
from bench_gnn_ood.ood_models import GNNSafeGCN
from bench_gnn_ood.ood_training import train_ood
from bench_gnn_ood.shifts import OODSetting, make_setting
from bench_gnn_ood.twitch import load_twitch, twitch_setting

if TYPE_CHECKING:
    from bench_gnn import DataContext

#: the arguments of ``train_ood`` a detector's arguments may set
TRAINING_ARGS = ("T", "m_in", "m_out", "lam", "oe_weight", "K", "alpha", "lr", "weight_decay")


def score(name: str, inputs: DetectorInputs, args: Mapping[str, Any]) -> Tensor:
    """The built-in detectors' scores (in-distribution-high) for every node of ``inputs.graph``."""
    logits, graph = inputs.logits, inputs.graph
    if name == "MSP":
        return detectors.msp(logits)
    if name == "OE":
        return detectors.max_logit(logits)
    if name in ("Energy", "Energy-FT"):
        return detectors.energy(logits, args["T"])
    if name in ("GNNSafe", "GNNSafe++"):
        return detectors.gnnsafe(logits, graph.edge_index, graph.num_nodes, K=args["K"], alpha=args["alpha"],
                                 T=args["T"])
    if name == "ODIN":
        return detectors.odin(inputs.model, graph, args["T"], args["noise"])
    if name == "Mahalanobis":
        return detectors.mahalanobis(inputs.model, inputs.reference, inputs.train_mask, graph, noise=args["noise"])
    raise JobError(f"no built-in detector {name!r}")


def load_twitch_dataset(ctx: DataContext) -> Data:
    """Twitch DE as the dataset's graph (for ``bench data stats``), the other languages in ``graphs``."""
    graphs = load_twitch(ctx)
    data = graphs["DE"]
    data.graphs = graphs
    return data


def _setting(ctx: ProtocolContext, shift: str) -> OODSetting:
    """The shift's setting: a pure function of the dataset and the arguments, so the settings of the dataset
    currently held are kept for its next jobs (in :data:`bench_gnn_ood.dataset_cache.DATASET_CACHE`)."""
    args = ctx.args
    key = json.dumps([shift, args["shift_seed"], args["split_seed"], args["shift_args"].get(shift, {})],
                     sort_keys=True)
    return DATASET_CACHE.get(ctx.data, key, lambda: _new_setting(ctx, shift))


def _new_setting(ctx: ProtocolContext, shift: str) -> OODSetting:
    args = ctx.args
    if shift == "language":
        graphs = getattr(ctx.data, "graphs", None)
        if graphs is None:
            raise JobError(f"{ctx.dataset}: shift 'language' needs a dataset of several graphs (Twitch), "
                           f"this one has one")
        return twitch_setting(graphs, seed=args["split_seed"])
    if hasattr(ctx.data, "graphs"):
        raise JobError(f"{ctx.dataset}: shift {shift!r} applies to one graph; use shift 'language' for Twitch")
    try:
        return make_setting(ctx.data, shift, args["shift_seed"], dataset=ctx.dataset,
                            **args["shift_args"].get(shift, {}))
    except BenchError as exc:
        if ctx.dataset in str(exc):
            raise
        raise JobError(f"{ctx.dataset}: shift {shift!r}: {exc}") from exc


def _id_scores(ctx: ProtocolContext, setting: OODSetting, logits: Tensor, num_classes: int) -> dict[str, Any]:
    """The backbone's in-distribution metric on train/val/test and its ECE on the test nodes."""
    ind = setting.ind
    probs = torch.softmax(logits, dim=-1)
    binary = num_classes == 2 and ctx.metric.name == "roc_auc"
    scores = probs[:, 1] if binary else probs
    metric = ctx.metric.factory(num_classes)
    out: dict[str, Any] = split_scores(metric, scores, ind.y, {name: getattr(ind, f"{name}_mask")
                                                               for name in ("train", "val", "test")})
    out["ece"] = calibration_metrics(probs, ind.y, ind.edge_index, ind.test_mask)["ece"]
    return out


def run(ctx: ProtocolContext) -> ProtocolResult:
    args = ctx.args
    cells: dict[str, dict[str, Any]] = {}
    main: dict[str, float] | None = None
    main_regime = None
    steps = best_step = num_params = 0
    train_seconds = 0.0
    seeds: dict[str, Any] = {}
    over_budget = False
    regimes: dict[tuple[Any, ...], list[str]] = {}
    for shift in args["shifts"]:
        for name in args["detectors"]:
            spec = ctx.plugins.detectors.get(name).spec
            det_args = choose(args["detector_args"][name], shift, "shift", f"detector_args.{name}")
            training = tuple(sorted((k, v) for k, v in det_args.items() if k in TRAINING_ARGS))
            regimes.setdefault((shift, spec.training, training), []).append(name)
    total = len(regimes) * args["epochs"]
    ctx.steps_total(total)
    settings = {shift: _setting(ctx, shift) for shift in args["shifts"]}
    for shift, setting in settings.items():
        seeds[shift] = dict(setting.seeds)
    for (shift, regime, training), names in regimes.items():
        setting = settings[shift]
        ind = setting.ind
        num_classes = int(ind.y.max()) + 1
        task = TaskInfo("node", in_dim=ind.x.size(1), out_dim=num_classes, num_nodes=ind.num_nodes)
        torch.manual_seed(ctx.seed)
        model, num_params, over_budget = build_model(ctx, task)
        options = {"lr": args["lr"], "weight_decay": args["weight_decay"], **dict(training)}
        result = train_ood(cast(GNNSafeGCN, model), setting, regime=regime, epochs=args["epochs"],
                           on_epoch=lambda *_: ctx.on_step(1),
                           **options)
        train_seconds += result.seconds
        steps += result.epochs
        model.eval()
        with torch.no_grad():
            logits = model(ind)
        id_scores = _id_scores(ctx, setting, logits, num_classes)
        if main is None or (regime == "plain" and main_regime != "plain" and shift == args["shifts"][0]):
            main, main_regime, best_step = id_scores, regime, result.best_epoch
        for name in names:
            spec = ctx.plugins.detectors.get(name).spec
            det_args = choose(args["detector_args"][name], shift, "shift", f"detector_args.{name}")

            def evaluate(spec: Any = spec, det_args: dict[str, Any] = det_args, setting: OODSetting = setting,
                         model: Any = model, logits: Tensor = logits, id_scores: dict[str, Any] = id_scores,
                         num_classes: int = num_classes) -> dict[str, Any]:
                return _detect(spec, det_args, setting, model, logits, id_scores, num_classes)

            cells[f"{shift}/{name}"] = run_cell("detector", name, evaluate)
    if main is None:
        raise JobError("no detector to run")
    return ProtocolResult(
        metrics={k: main[k] for k in ("train", "val", "test")}, best_step=best_step, steps=steps,
        num_params=num_params, train_seconds=train_seconds,
        extras={"over_budget": over_budget, "seeds": seeds, "main_regime": main_regime,
                "shift_args": {shift: settings[shift].args for shift in settings}},
        cells=cells,
    )


def _detect(spec: Any, det_args: Mapping[str, Any], setting: OODSetting, model: Any, logits: Tensor,
            id_scores: Mapping[str, Any], num_classes: int) -> dict[str, Any]:
    ind = setting.ind

    def scores_on(graph: Data, graph_logits: Tensor) -> Tensor:
        inputs = DetectorInputs(model, graph, graph_logits, ind, ind.train_mask, num_classes)
        out = spec.score(inputs, det_args)
        if not isinstance(out, Tensor) or out.shape != (graph.num_nodes,):
            raise JobError(f"detector {spec.name!r} returned {getattr(out, 'shape', type(out).__name__)}, "
                           f"expected one score per node ({graph.num_nodes})")
        return out.detach().float()

    id_part = scores_on(ind, logits)[ind.test_mask]
    per_graph = []
    for graph in setting.ood_test:
        with torch.no_grad():
            graph_logits = model(graph)
        per_graph.append(ood_metrics(id_part, scores_on(graph, graph_logits)[graph.node_mask]))
    metrics = {key: statistics.fmean(m[key] for m in per_graph) for key in per_graph[0]}
    metrics["id_score"] = id_scores["test"]
    metrics["id_ece"] = id_scores["ece"]
    return {"metrics": metrics}
