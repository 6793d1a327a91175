"""Evaluation protocols by name. Each is ``run(ctx: ProtocolContext) -> ProtocolResult``."""

from __future__ import annotations

from typing import Any

from bench_gnn.protocols.base import ProtocolContext, ProtocolResult


def _node_full_batch(ctx: ProtocolContext) -> ProtocolResult:
    from bench_gnn.protocols.node_full_batch import run

    return run(ctx)


def _graph_minibatch(ctx: ProtocolContext) -> ProtocolResult:
    from bench_gnn.protocols.graph_minibatch import run

    return run(ctx)


PROTOCOLS: dict[str, Any] = {
    "node-full-batch": _node_full_batch,
    "graph-minibatch": _graph_minibatch,
}


def check_args(protocol: str, args: dict[str, Any]) -> None:
    """Validate a suite's protocol_args before any training starts."""
    if protocol == "node-full-batch":
        from bench_gnn.protocols.node_full_batch import resolve_args
    else:
        from bench_gnn.protocols.graph_minibatch import resolve_args
    resolve_args(dict(args))
