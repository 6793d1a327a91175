"""bench: a plugin-based benchmark harness for graph neural networks.

This module is the public facade: everything a plugin author needs is importable
from ``bench_gnn`` and nothing else in the core is part of the contract. Importing it
is cheap (no torch); the graph helpers below load torch on first use.

Contract: :func:`hookimpl`; the specs :class:`ModelSpec`, :class:`DatasetSpec`,
:class:`MetricSpec`, :class:`SuiteSource`; what models and loaders receive and return
(:class:`TaskInfo`, :class:`DataContext`, :class:`GraphTaskData`); the errors; the
argument checks (:func:`check_int`, ...); file helpers (:func:`atomic_write`,
:func:`file_digest`) and positional-encoding helpers (:func:`random_walk_se`,
:func:`laplacian_pe`, ...), documented in :mod:`bench_gnn.graph.encodings`.
"""

from __future__ import annotations

from typing import Any

from bench_gnn.checks import check_bool, check_choice, check_int, check_number, check_str
from bench_gnn.data.context import DataContext
from bench_gnn.errors import (
    BenchError,
    ConfigError,
    DataError,
    JobError,
    NonFiniteLossError,
    PluginError,
    UsageError,
)
from bench_gnn.files import atomic_write, file_digest
from bench_gnn.hookspecs import hookimpl
from bench_gnn.specs import DatasetSpec, GraphTaskData, MetricSpec, ModelSpec, SuiteSource, TaskInfo

__version__ = "0.2.0"

_ENCODINGS = ("LAPPE_MISSING", "graph_layout", "laplacian_pe", "propagator", "random_walk_se")

__all__ = [
    "BenchError", "ConfigError", "DataContext", "DataError", "DatasetSpec", "GraphTaskData", "JobError",
    "MetricSpec", "ModelSpec", "NonFiniteLossError", "PluginError", "SuiteSource", "TaskInfo", "UsageError",
    "__version__", "atomic_write", "check_bool", "check_choice", "check_int", "check_number", "check_str",
    "file_digest", "hookimpl", *_ENCODINGS,
]


def __getattr__(name: str) -> Any:
    if name in _ENCODINGS:
        from bench_gnn.graph import encodings

        return getattr(encodings, name)
    raise AttributeError(f"module 'bench_gnn' has no attribute {name!r}")
