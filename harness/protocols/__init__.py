"""Evaluation protocols by name. Each is ``run(ctx: ProtocolContext) -> ProtocolResult``."""

from __future__ import annotations

from typing import Any

from harness.protocols.base import ProtocolContext, ProtocolResult


def _node_full_batch(ctx: ProtocolContext) -> ProtocolResult:
    from harness.protocols.node_full_batch import run

    return run(ctx)


def _graph_minibatch(ctx: ProtocolContext) -> ProtocolResult:
    from harness.protocols.graph_minibatch import run

    return run(ctx)


PROTOCOLS: dict[str, Any] = {
    "node-full-batch": _node_full_batch,
    "graph-minibatch": _graph_minibatch,
}


def check_args(protocol: str, args: dict[str, Any]) -> None:
    """Validate a suite's protocol_args before any training starts."""
    if protocol == "node-full-batch":
        from harness.protocols.node_full_batch import resolve_args
    else:
        from harness.protocols.graph_minibatch import resolve_args
    resolve_args(dict(args))
