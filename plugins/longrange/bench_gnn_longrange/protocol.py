"""The ``graph-minibatch`` protocol: mini-batch training on datasets of many graphs (LRGB and friends); the
implementation is :mod:`bench_gnn_longrange.minibatch`, whose docstring documents every argument.

This module holds the arguments, their defaults and checks, and imports no torch: listing and validating suites
never pay for training code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from bench_gnn import ProtocolSpec, check_analyses, check_choice, check_int, check_number, check_protocol_analyses

if TYPE_CHECKING:
    from bench_gnn import ProtocolContext, ProtocolResult

SCHEDULERS = ("cosine", "plateau", "none")
DEFAULTS: dict[str, Any] = {
    "epochs": 250,
    "batch_size": 200,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "warmup_epochs": 5,
    "scheduler": "cosine",
    "plateau_factor": 0.5,
    "plateau_patience": 20,
    "min_lr": 1e-5,
    "eval_every": 1,
    "resident": "auto",
    "analyses": {},
}
CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "epochs": partial(check_int, minimum=1),
    "batch_size": partial(check_int, minimum=1),
    "lr": partial(check_number, minimum=0),
    "weight_decay": partial(check_number, minimum=0),
    "warmup_epochs": partial(check_int, minimum=0),
    "scheduler": partial(check_choice, choices=SCHEDULERS),
    "plateau_factor": partial(check_number, minimum=0, below=1),
    "plateau_patience": partial(check_int, minimum=1),
    "min_lr": partial(check_number, minimum=0),
    "eval_every": partial(check_int, minimum=1),
    "resident": partial(check_choice, choices=(True, False, "auto")),
    "analyses": check_analyses,
}


def run(ctx: ProtocolContext) -> ProtocolResult:
    from bench_gnn_longrange.minibatch import run

    return run(ctx)



def protocol_specs() -> list[ProtocolSpec]:
    return [
        ProtocolSpec(
            name="graph-minibatch", run=run, defaults=DEFAULTS, checks=CHECKS,
            check=check_protocol_analyses, tasks=frozenset({"graph"}), step_key="epochs", step_unit=("s/epoch", 1.0),
            description="mini-batch training on many graphs (LRGB recipe); test score at the best validation epoch",
        ),
    ]
