"""What the runner hands a protocol, and what a protocol hands back.

A protocol is a function ``run(ctx: ProtocolContext) -> ProtocolResult`` that trains
one model on one split (or seed) of one dataset and evaluates it. It raises
:class:`bench_gnn.errors.NonFiniteLossError` on a NaN/inf loss; any other exception
is recorded by the runner as a failed job.

Shared by every protocol, so that they agree:

* :func:`run_seeded` seeds the global RNGs with ``ctx.seed`` and runs the protocol;
  protocols never seed themselves, and whoever calls one (the runner, a test) goes
  through it. Peak memory is measured by the runner around this call, not here.
* :func:`improves` is the one rule for "best validation score so far".
* :func:`bench_gnn.protocols.cells.run_cell` isolates each evaluator run on a trained model.

A protocol's arguments reach it in ``ctx.args`` already resolved by its
:class:`~bench_gnn.specs.ProtocolSpec` (defaults merged, every value checked).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from bench_gnn.errors import JobError, NonFiniteLossError
from bench_gnn.specs import MetricSpec, ModelSpec, TaskInfo


@dataclass
class ProtocolContext:
    data: Any
    model: ModelSpec
    hparams: Mapping[str, Any]
    args: Mapping[str, Any]
    metric: MetricSpec
    split: int
    seed: int
    device: torch.device
    on_step: Callable[[int], None] = lambda n: None
    steps_total: Callable[[int], None] = lambda n: None
    max_params: int | None = None
    allow_over_budget: bool = False
    plugins: Any = None  # the installed plugins' Plugins (calibrators, detectors, analyses, ...); set by the runner
    dataset: str = ""  # the dataset's name in the suite, for messages


@dataclass
class ProtocolResult:
    metrics: dict[str, float]
    best_step: int
    steps: int
    num_params: int
    train_seconds: float
    extras: dict[str, Any] = field(default_factory=dict)
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)  # see bench_gnn.protocols.cells

    @property
    def seconds_per_step(self) -> float:
        return self.train_seconds / max(self.steps, 1)


def check_finite(loss: torch.Tensor, step: int) -> float:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"loss is {value} at step {step}; lower the learning rate or check the inputs for NaN"
        )
    return value


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def run_seeded(protocol: Callable[[ProtocolContext], ProtocolResult], ctx: ProtocolContext) -> ProtocolResult:
    """Seed every RNG with ``ctx.seed``, then run ``protocol``: the one place a job is seeded.

    Nothing between the seeding and the protocol consumes random numbers, so a job's
    numbers depend only on its seed, whoever calls it.
    """
    seed_everything(ctx.seed)
    return protocol(ctx)


def split_scores(metric: Any, scores: torch.Tensor, target: torch.Tensor,
                 masks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """The metric on each split: ``{name: metric(scores[mask], target[mask])}``, the metric reset before each
    (e.g. ``masks={"train": ..., "val": ..., "test": ...}``)."""
    values = {}
    for name, mask in masks.items():
        metric.reset()
        metric.update(scores[mask], target[mask])
        values[name] = float(metric.compute())
    return values


def improves(score: float, best_score: float | None, higher_is_better: bool) -> bool:
    """Whether validation ``score`` replaces ``best_score`` (None: nothing evaluated yet).

    The first evaluation is always taken, even a NaN; a NaN never replaces a best; a
    number replaces a NaN best; otherwise only a strictly better score does, so ties
    keep the earlier step.
    """
    if best_score is None:
        return True
    if math.isnan(score):
        return False
    if math.isnan(best_score):
        return True
    return score > best_score if higher_is_better else score < best_score


class OverBudgetError(JobError):
    """A model has more parameters than the suite allows."""


def build_model(ctx: ProtocolContext, task: TaskInfo) -> tuple[torch.nn.Module, int, bool]:
    """Build the job's model on the device; refuse it when over the suite's parameter budget.

    Returns the model, its parameter count and whether it is over budget (only
    possible with ``allow_over_budget``).
    """
    model = ctx.model.build(task, ctx.hparams)
    if not isinstance(model, torch.nn.Module):
        raise JobError(f"model {ctx.model.name!r}: build() returned {type(model).__name__}, not a torch.nn.Module")
    num_params = count_parameters(model)
    over = ctx.max_params is not None and num_params > ctx.max_params
    if over and not ctx.allow_over_budget:
        raise OverBudgetError(
            f"model {ctx.model.name!r} has {num_params:,} parameters, over the suite budget of "
            f"{ctx.max_params:,}; make it smaller or pass --allow-over-budget to record it as out of budget"
        )
    return model.to(ctx.device), num_params, over
