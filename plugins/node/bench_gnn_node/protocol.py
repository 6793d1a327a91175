"""The ``node-full-batch`` protocol: full-batch transductive node classification on fixed splits (Platonov et
al. 2023); the implementation is :mod:`bench_gnn_node.full_batch`.

This module holds the arguments, their defaults and checks, and imports no torch: listing and validating suites
never pay for training code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from bench_gnn import ProtocolSpec, check_analyses, check_int, check_number, check_protocol_analyses

if TYPE_CHECKING:
    from bench_gnn import ProtocolContext, ProtocolResult

DEFAULTS: dict[str, Any] = {"steps": 1000, "lr": 3e-5, "weight_decay": 0.0, "eval_every": 1, "analyses": {}}
CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "steps": partial(check_int, minimum=1),
    "lr": partial(check_number, minimum=0),
    "weight_decay": partial(check_number, minimum=0),
    "eval_every": partial(check_int, minimum=1),
    "analyses": check_analyses,
}


def run(ctx: ProtocolContext) -> ProtocolResult:
    from bench_gnn_node.full_batch import run

    return run(ctx)



def protocol_specs() -> list[ProtocolSpec]:
    return [
        ProtocolSpec(
            name="node-full-batch", run=run, defaults=DEFAULTS, checks=CHECKS,
            check=check_protocol_analyses, tasks=frozenset({"node"}), step_key="steps", step_unit=("ms/step", 1000.0),
            description="full-batch node classification on fixed splits; test score at the best validation step",
        ),
    ]
