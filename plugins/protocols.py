"""The built-in protocols, registered through the same ``bench_protocols`` hook a third party uses.

``node-full-batch``
    Full-batch transductive node classification on fixed splits (Platonov et al. 2023); the
    implementation is :mod:`bench_gnn.plugins.node_full_batch`.
``graph-minibatch``
    Mini-batch training on datasets of many graphs (LRGB and friends); the implementation is
    :mod:`bench_gnn.plugins.graph_minibatch`, whose docstring documents every argument.

This module holds the arguments, their defaults and checks, and imports no torch: listing
and validating suites never pay for training code.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from bench_gnn import ProtocolSpec, check_choice, check_int, check_number, hookimpl
from bench_gnn.protocols.analyses import check_analyses, resolve_analyses

NODE_DEFAULTS: dict[str, Any] = {"steps": 1000, "lr": 3e-5, "weight_decay": 0.0, "eval_every": 1, "analyses": {}}
NODE_CHECKS = {
    "steps": partial(check_int, minimum=1),
    "lr": partial(check_number, minimum=0),
    "weight_decay": partial(check_number, minimum=0),
    "eval_every": partial(check_int, minimum=1),
    "analyses": check_analyses,
}

GRAPH_SCHEDULERS = ("cosine", "plateau", "none")
GRAPH_DEFAULTS: dict[str, Any] = {
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
GRAPH_CHECKS = {
    "epochs": partial(check_int, minimum=1),
    "batch_size": partial(check_int, minimum=1),
    "lr": partial(check_number, minimum=0),
    "weight_decay": partial(check_number, minimum=0),
    "warmup_epochs": partial(check_int, minimum=0),
    "scheduler": partial(check_choice, choices=GRAPH_SCHEDULERS),
    "plateau_factor": partial(check_number, minimum=0, below=1),
    "plateau_patience": partial(check_int, minimum=1),
    "min_lr": partial(check_number, minimum=0),
    "eval_every": partial(check_int, minimum=1),
    "resident": partial(check_choice, choices=(True, False, "auto")),
    "analyses": check_analyses,
}


def run_node_full_batch(ctx: Any) -> Any:
    from bench_gnn.plugins.node_full_batch import run

    return run(ctx)


def run_graph_minibatch(ctx: Any) -> Any:
    from bench_gnn.plugins.graph_minibatch import run

    return run(ctx)


def _check(args: Mapping[str, Any], plugins: Any) -> dict[str, Any]:
    return {**args, "analyses": resolve_analyses(args["analyses"], plugins)}


@hookimpl
def bench_protocols():
    return [
        ProtocolSpec(
            name="node-full-batch", run=run_node_full_batch, defaults=NODE_DEFAULTS, checks=NODE_CHECKS,
            check=_check, tasks=frozenset({"node"}), step_key="steps", step_unit=("ms/step", 1000.0),
            description="full-batch node classification on fixed splits; test score at the best validation step",
        ),
        ProtocolSpec(
            name="graph-minibatch", run=run_graph_minibatch, defaults=GRAPH_DEFAULTS, checks=GRAPH_CHECKS,
            check=_check, tasks=frozenset({"graph"}), step_key="epochs", step_unit=("s/epoch", 1.0),
            description="mini-batch training on many graphs (LRGB recipe); test score at the best validation epoch",
        ),
    ]
