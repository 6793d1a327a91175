"""Evaluation protocols by name. Each is ``run(ctx: ProtocolContext) -> ProtocolResult``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench_gnn.errors import unknown_name
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


def _resolver(protocol: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    if protocol == "node-full-batch":
        from bench_gnn.protocols.node_full_batch import resolve_args

        return resolve_args
    if protocol == "graph-minibatch":
        from bench_gnn.protocols.graph_minibatch import resolve_args

        return resolve_args
    raise unknown_name("protocol", protocol, PROTOCOLS)


def check_args(protocol: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a suite's protocol_args before any training starts; returns them with defaults filled in.

    Raises :class:`bench_gnn.errors.ConfigError` naming the protocol and the key, e.g.
    ``node-full-batch: protocol_args.steps must be an integer >= 1, got 'abc' (str)``.
    """
    return _resolver(protocol)(dict(args))
