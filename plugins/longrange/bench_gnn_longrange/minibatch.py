"""Mini-batch training on datasets of many graphs (LRGB and friends).

Defaults follow the re-tuned LRGB recipe of Tönshoff et al. (2023, "Where did the
gap go?"): AdamW, lr 1e-3, no weight decay, batch 200, 250 epochs, 5 epochs of
linear warm-up then cosine decay, stepped once per epoch (the GraphGPS schedule:
the factor is ``max(1e-6, e / warmup)`` during warm-up, so the first epoch trains
at a near-zero rate). ``scheduler: plateau`` gives the original LRGB configuration
instead: reduce-on-plateau on the validation loss, factor 0.5, patience 20,
minimum lr 1e-5.

Arguments (``ctx.args``; unknown keys are rejected):

==================  ==========  ==================================================
key                 default     meaning
==================  ==========  ==================================================
epochs              250         training epochs
batch_size          200         graphs per mini-batch (also for evaluation)
lr                  1e-3        peak learning rate
weight_decay        0           AdamW weight decay
warmup_epochs       5           linear warm-up epochs (cosine only)
scheduler           "cosine"    "cosine", "plateau" or "none"
plateau_factor      0.5         plateau: lr multiplier
plateau_patience    20          plateau: evaluations without improvement
min_lr              1e-5        plateau: lower bound on the lr
eval_every          1           evaluate val and test every k epochs (and last)
resident            "auto"      batch on the device (see :mod:`bench_gnn.graph.batching`)
analyses            {}          analyses of the trained model (final epoch), e.g.
                                ``{influence: {hops: 5, nodes: 16}}``; each fills
                                its own cell of the record
==================  ==========  ==================================================

The defaults and checks live in :mod:`bench_gnn_node.protocol`.

Losses by ``GraphTaskData.target``: multilabel, binary cross-entropy on the
non-NaN labels; regression, L1; multiclass, cross-entropy (binary cross-entropy
when ``out_dim == 1``). Metrics receive sigmoid scores (multilabel; targets as
long with missing labels as -1), softmax probabilities (multiclass) or the
positive-class score ``[N]`` (binary), or raw outputs (regression). The train
metric is computed on the predictions made while training each epoch. The
reported val/test/train values are those of the epoch with the best validation
score (by :func:`bench_gnn.protocols.base.improves`: the earlier epoch on ties; a
NaN score is best only until a number comes).

Arguments are validated with :mod:`bench_gnn.checks` (integers are not rounded,
``plateau_factor`` must be below 1). The caller seeds the RNGs
(:func:`bench_gnn.protocols.base.run_seeded`); peak memory is the runner's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bench_gnn import (
    DataError,
    GraphTaskData,
    ProtocolContext,
    ProtocolResult,
    TaskInfo,
    TrainedModel,
    build_model,
    check_finite,
    graph_loaders,
    improves,
    run_analyses,
)

TARGETS = ("multilabel", "regression", "multiclass")
LEVELS = ("graph", "node", "root")
SPLITS = ("train", "val", "test")
_TRAIN_BUFFER_ELEMENTS = 1 << 22  # flush buffered train predictions into the metric beyond this


def run(ctx: ProtocolContext) -> ProtocolResult:
    """Train ``ctx.model`` on ``ctx.data`` (a :class:`GraphTaskData`) and evaluate it.

    Seeding is the caller's (:func:`bench_gnn.protocols.base.run_seeded`), and so is peak
    memory (the runner's record fields).
    """
    args = ctx.args  # resolved by the protocol's spec (bench_gnn_node.protocol)
    data = _check_data(ctx.data)
    device = torch.device(ctx.device)

    sample = data.dataset[0]
    model, num_params, over_budget = build_model(ctx, _task_info(sample, data))
    generators = {name: torch.Generator().manual_seed(ctx.seed) for name in SPLITS}
    loaders, resident = graph_loaders(
        data.dataset,
        {name: data.splits[name] for name in SPLITS},
        args["batch_size"],
        device,
        generators=generators,
        resident=args["resident"],
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args["lr"], weight_decay=args["weight_decay"])
    scheduler = _scheduler(optimizer, args)
    task = _Task(data.target, data.level, data.out_dim)
    metrics = {name: ctx.metric.factory(data.out_dim).to(device) for name in SPLITS}

    epochs = args["epochs"]
    ctx.steps_total(epochs)
    best: dict[str, float] | None = None
    best_epoch, train_seconds = 0, 0.0
    for epoch in range(1, epochs + 1):
        evaluate = epoch % args["eval_every"] == 0 or epoch == epochs
        start = time.perf_counter()
        pending = _train_epoch(model, loaders["train"], optimizer, task, metrics["train"] if evaluate else None, epoch)
        if args["scheduler"] == "cosine":
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - start

        if evaluate:
            _flush(metrics["train"], pending)
            scores = {"train": _compute(metrics["train"])}
            val_score, val_loss = _evaluate(model, loaders["val"], task, metrics["val"])
            scores["val"] = val_score
            scores["test"], _ = _evaluate(model, loaders["test"], task, metrics["test"])
            if args["scheduler"] == "plateau":
                scheduler.step(val_loss)
            if improves(scores["val"], None if best is None else best["val"], ctx.metric.higher_is_better):
                best, best_epoch = scores, epoch
        metrics["train"].reset()
        ctx.on_step(1)

    extras = {"seconds_per_epoch": train_seconds / epochs, "resident": resident, "over_budget": over_budget}
    return ProtocolResult(
        metrics=dict(best or {}),
        best_step=best_epoch,
        steps=epochs,
        num_params=num_params,
        train_seconds=train_seconds,
        extras=extras,
        cells=run_analyses(ctx, TrainedModel(model, data, device, ctx.seed, ctx.split)),
    )


class _Task:
    """Loss, metric inputs and prediction selection for one target kind and level."""

    def __init__(self, target: str, level: str, out_dim: int) -> None:
        self.target, self.level = target, level
        self.binary = target == "multiclass" and out_dim == 1

    def select(self, out: Tensor, batch: Any) -> tuple[Tensor, Tensor]:
        """The predictions that are scored and their targets."""
        y = batch.y
        if self.level == "root":
            mask = batch.root_mask.bool()
            out = out[mask]
            if y.size(0) == mask.size(0):  # per-node labels; otherwise one label per graph
                y = y[mask]
        if out.size(0) != y.size(0):
            raise DataError(
                f"level {self.level!r}: the model gave {out.size(0)} predictions for {y.size(0)} targets; "
                "check GraphTaskData.level and the model's pooling"
            )
        return out, y

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        if self.target == "multiclass" and not self.binary:
            return F.cross_entropy(out, y.view(-1).long())
        if self.binary:
            out, y = out.view(-1), y.view(-1)
        y = y.view(out.shape).to(out.dtype)
        known = ~torch.isnan(y)
        y = torch.where(known, y, torch.zeros_like(y))
        if self.target == "regression":
            per_entry = F.l1_loss(out, y, reduction="none")
        else:
            per_entry = F.binary_cross_entropy_with_logits(out, y, reduction="none")
        weight = known.to(out.dtype)  # a mean over the known entries, without a device sync
        return (per_entry * weight).sum() / weight.sum().clamp(min=1)

    def metric_inputs(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.target == "regression":
            return out, y.view(out.shape).to(out.dtype)
        if self.binary:
            return torch.sigmoid(out.view(-1)), y.view(-1).long()
        if self.target == "multiclass":
            return torch.softmax(out, dim=-1), y.view(-1).long()
        y = y.view(out.shape)
        return torch.sigmoid(out), torch.where(torch.isnan(y), torch.full_like(y, -1), y).long()


def _train_epoch(model, loader, optimizer, task: _Task, metric, epoch: int) -> list[tuple[Tensor, Tensor]]:
    """One pass over ``loader``; returns train predictions not yet fed to ``metric`` (None: none kept)."""
    model.train()
    loss_sum = None
    buffered: list[tuple[Tensor, Tensor]] = []
    elements = 0
    for batch in loader:
        optimizer.zero_grad(set_to_none=True)
        out, y = task.select(model(batch), batch)
        loss = task.loss(out, y)
        loss.backward()
        optimizer.step()
        loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
        if metric is not None:
            buffered.append(task.metric_inputs(out.detach(), y))
            elements += out.numel()
            if elements > _TRAIN_BUFFER_ELEMENTS:
                _flush(metric, buffered)
                elements = 0
    if loss_sum is not None:
        check_finite(loss_sum, epoch)  # one host sync per epoch, not per step
    return buffered


def _flush(metric, buffered: list[tuple[Tensor, Tensor]]) -> None:
    if buffered:
        metric.update(torch.cat([s for s, _ in buffered]), torch.cat([t for _, t in buffered]))
        buffered.clear()


@torch.no_grad()
def _evaluate(model, loader, task: _Task, metric) -> tuple[float, float]:
    """(metric value, mean loss over batches weighted by their number of predictions)."""
    model.eval()
    metric.reset()
    loss_sum: Tensor | float = 0.0
    count = 0
    for batch in loader:
        out, y = task.select(model(batch), batch)
        metric.update(*task.metric_inputs(out, y))
        loss_sum = loss_sum + task.loss(out, y) * out.size(0)
        count += out.size(0)
    return _compute(metric), float(loss_sum) / max(count, 1)


def _compute(metric) -> float:
    return float(metric.compute())


def _scheduler(optimizer, args: Mapping[str, Any]):
    if args["scheduler"] == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=args["plateau_factor"], patience=args["plateau_patience"],
            min_lr=args["min_lr"],
        )
    if args["scheduler"] == "none":
        return None
    warmup, epochs = args["warmup_epochs"], args["epochs"]

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return max(1e-6, epoch / warmup)
        progress = (epoch - warmup) / max(1, epochs - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _task_info(sample: Any, data: GraphTaskData) -> TaskInfo:
    x = sample.x
    if x is None:
        raise DataError("graph_minibatch needs node features 'x' on every graph")
    edge_attr = getattr(sample, "edge_attr", None)
    return TaskInfo(
        task="graph",
        in_dim=1 if x.dim() == 1 else x.size(-1),
        out_dim=data.out_dim,
        edge_dim=None if edge_attr is None else (1 if edge_attr.dim() == 1 else edge_attr.size(-1)),
        extras={
            "level": data.level,
            "x_dtype": _dtype_name(x),
            "edge_dtype": None if edge_attr is None else _dtype_name(edge_attr),
        },
    )


def _dtype_name(t: Tensor) -> str:
    return "float" if t.is_floating_point() else "long"


def _check_data(data: Any) -> GraphTaskData:
    if not isinstance(data, GraphTaskData):
        raise DataError(
            f"the graph_minibatch protocol needs a GraphTaskData, got {type(data).__name__}; "
            "is the dataset declared with task='graph'?"
        )
    missing = [name for name in SPLITS if name not in data.splits]
    if missing:
        raise DataError(f"GraphTaskData.splits lacks {missing}; it needs 'train', 'val' and 'test'")
    if data.target not in TARGETS:
        raise DataError(f"GraphTaskData.target must be one of {TARGETS}, got {data.target!r}")
    if data.level not in LEVELS:
        raise DataError(f"GraphTaskData.level must be one of {LEVELS}, got {data.level!r}")
    return data
