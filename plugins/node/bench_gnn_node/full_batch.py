"""Full-batch transductive node classification on fixed splits (Platonov et al. 2023).

Per split: build the model with the split's seed, train with AdamW for ``steps``
full-batch steps, evaluate train/val/test every ``eval_every`` steps, and report
the test score at the step with the best validation score (by
:func:`bench_gnn.protocols.base.improves`: first such step on ties, NaN never best
unless nothing else was scored). The arguments and their defaults are in
:mod:`bench_gnn_node.protocol`. After training, the analyses named in ``analyses``
measure the final model, each in its own cell. Binary datasets use one output and a BCE loss; multi-class ones use
cross-entropy. Scores reach the metric as sigmoid probabilities ``[N]`` (binary)
or softmax probabilities ``[N, C]``.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from bench_gnn import (
    JobError,
    ProtocolContext,
    ProtocolResult,
    TaskInfo,
    TrainedModel,
    build_model,
    check_finite,
    improves,
    run_analyses,
    split_scores,
)


def _split_masks(data: Any, split: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    masks = []
    for name in ("train_mask", "val_mask", "test_mask"):
        mask = getattr(data, name, None)
        if mask is None:
            raise JobError(f"dataset has no {name}; node datasets must provide train/val/test masks")
        if mask.dim() == 2:
            if split >= mask.size(1):
                raise JobError(f"split {split} requested but the dataset has {mask.size(1)} splits")
            mask = mask[:, split]
        masks.append(mask)
    return masks[0], masks[1], masks[2]


def run(ctx: ProtocolContext) -> ProtocolResult:
    args = ctx.args  # resolved by the protocol's spec (bench_gnn_node.protocol)
    device = ctx.device
    data = ctx.data.to(device)
    train, val, test = (m.to(device) for m in _split_masks(ctx.data, ctx.split))
    y = data.y
    num_classes = int(y.max()) + 1
    binary = num_classes == 2
    task = TaskInfo("node", in_dim=data.x.size(1), out_dim=1 if binary else num_classes, num_nodes=data.num_nodes)
    model, num_params, over_budget = build_model(ctx, task)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args["lr"], weight_decay=args["weight_decay"])
    metric = ctx.metric.factory(num_classes).to(device)
    target = y.float() if binary else y

    def loss_of(out: torch.Tensor) -> torch.Tensor:
        if binary:
            return F.binary_cross_entropy_with_logits(out.squeeze(-1)[train], target[train])
        return F.cross_entropy(out[train], target[train])

    def evaluate() -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            out = model(data)
        scores = torch.sigmoid(out.squeeze(-1)) if binary else torch.softmax(out, dim=-1)
        return split_scores(metric, scores, y, {"train": train, "val": val, "test": test})

    steps, eval_every = args["steps"], args["eval_every"]
    best: dict[str, float] | None = None
    best_step = 0
    train_seconds = 0.0
    ctx.steps_total(steps)
    for step in range(1, steps + 1):
        start = time.perf_counter()
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(model(data))
        check_finite(loss, step)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - start
        if step % eval_every == 0 or step == steps:
            values = evaluate()
            if improves(values["val"], None if best is None else best["val"], ctx.metric.higher_is_better):
                best, best_step = values, step
        ctx.on_step(1)
    return ProtocolResult(
        metrics=best or {},
        best_step=best_step,
        steps=steps,
        num_params=num_params,
        train_seconds=train_seconds,
        extras={"over_budget": over_budget, "num_classes": num_classes},
        cells=run_analyses(ctx, TrainedModel(model, data, device, ctx.seed, ctx.split)),
    )
