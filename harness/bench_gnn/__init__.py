"""bench: a plugin-based benchmark harness for graph neural networks.

This module is the public facade: everything a plugin author needs is importable
from ``bench_gnn`` and nothing else in the core is part of the contract (plugins,
the first-party families included, import no ``bench_gnn.*`` submodule: ``lint-imports``
checks it). Each name is imported on first use, so ``import bench_gnn`` (and
``bench --version``) costs almost nothing and never imports torch.

Contract: :func:`hookimpl`; the specs :class:`ModelSpec`, :class:`DatasetSpec`,
:class:`MetricSpec`, :class:`SuiteSource`, :class:`LauncherSpec`, :class:`ProtocolSpec`,
:class:`CalibratorSpec`, :class:`DetectorSpec`, :class:`AnalysisSpec` (with :class:`Column` and
:class:`CellTable` for their leaderboard columns); what protocols receive and return
(:class:`ProtocolContext`, :class:`ProtocolResult`, :func:`run_cell` for each evaluator's cell,
:func:`improves`, :func:`build_model`, :func:`check_finite`); what models, loaders and
launchers receive and return (:class:`TaskInfo`, :class:`DataContext`, :class:`GraphTaskData`,
:class:`LaunchRequest`, :class:`LaunchResult`); the errors (and :func:`unknown_name`, the error
for an unknown name, with suggestions); the argument checks (:func:`check_int`, ...); file
helpers (:func:`atomic_write`, :func:`file_digest`); graph helpers: device-resident mini-batches
of many small graphs (:func:`graph_loaders`), influence profiles (:func:`influence_profile`) and
positional-encoding helpers (:func:`random_walk_se`, :func:`laplacian_pe`, ..., documented
in :mod:`bench_gnn.graph.encodings`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "bench_gnn.checks": ("check_bool", "check_choice", "check_int", "check_number", "check_str"),
    "bench_gnn.data.context": ("DataContext",),
    "bench_gnn.errors": (
        "BenchError", "ConfigError", "DataError", "JobError", "NonFiniteLossError", "PluginError", "UsageError",
        "unknown_name",
    ),
    "bench_gnn.files": ("atomic_write", "file_digest"),
    "bench_gnn.hookspecs": ("hookimpl",),
    "bench_gnn.specs": (
        "AnalysisSpec", "CalibratorSpec", "CellTable", "Column", "DatasetSpec", "DetectorSpec", "GraphTaskData",
        "LauncherSpec", "MetricSpec", "ModelSpec", "ProtocolSpec", "SuiteSource", "TaskInfo",
    ),
    "bench_gnn.protocols.base": (
        "ProtocolContext", "ProtocolResult", "build_model", "check_finite", "improves", "split_scores",
    ),
    "bench_gnn.protocols.cells": ("run_cell",),
    "bench_gnn.protocols.evaluators": ("CalibrationInputs", "DetectorInputs"),
    "bench_gnn.protocols.analyses": (
        "TrainedModel", "check_analyses", "check_protocol_analyses", "resolve_analyses", "run_analyses",
    ),
    "bench_gnn.workers": ("LaunchRequest", "LaunchResult"),
    "bench_gnn.graph.batching": ("graph_loaders",),
    "bench_gnn.graph.encodings": ("LAPPE_MISSING", "graph_layout", "laplacian_pe", "propagator", "random_walk_se"),
    "bench_gnn.graph.influence": ("influence_profile",),
    "bench_gnn.graph.plots": ("plot_influence", "plot_reliability", "pool_reliability"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "LAPPE_MISSING", "AnalysisSpec", "BenchError", "CalibrationInputs", "CalibratorSpec", "CellTable", "Column",
    "ConfigError", "DataContext", "DataError", "DatasetSpec", "DetectorInputs", "DetectorSpec", "GraphTaskData",
    "JobError", "LaunchRequest", "LaunchResult", "LauncherSpec", "MetricSpec", "ModelSpec", "NonFiniteLossError",
    "PluginError", "ProtocolContext", "ProtocolResult", "ProtocolSpec", "SuiteSource", "TaskInfo", "TrainedModel",
    "UsageError", "__version__", "atomic_write", "build_model", "check_analyses", "check_bool", "check_choice",
    "check_finite", "check_int", "check_number", "check_protocol_analyses", "check_str", "file_digest",
    "graph_layout", "graph_loaders", "hookimpl", "improves", "influence_profile", "laplacian_pe", "plot_influence",
    "plot_reliability", "pool_reliability", "propagator", "random_walk_se", "resolve_analyses", "run_analyses",
    "run_cell", "split_scores", "unknown_name",
]

if TYPE_CHECKING:
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
        unknown_name,
    )
    from bench_gnn.files import atomic_write, file_digest
    from bench_gnn.graph.batching import graph_loaders
    from bench_gnn.graph.encodings import LAPPE_MISSING, graph_layout, laplacian_pe, propagator, random_walk_se
    from bench_gnn.graph.influence import influence_profile
    from bench_gnn.graph.plots import plot_influence, plot_reliability, pool_reliability
    from bench_gnn.hookspecs import hookimpl
    from bench_gnn.protocols.analyses import (
        TrainedModel,
        check_analyses,
        check_protocol_analyses,
        resolve_analyses,
        run_analyses,
    )
    from bench_gnn.protocols.base import (
        ProtocolContext,
        ProtocolResult,
        build_model,
        check_finite,
        improves,
        split_scores,
    )
    from bench_gnn.protocols.cells import run_cell
    from bench_gnn.protocols.evaluators import CalibrationInputs, DetectorInputs
    from bench_gnn.specs import (
        AnalysisSpec,
        CalibratorSpec,
        CellTable,
        Column,
        DatasetSpec,
        DetectorSpec,
        GraphTaskData,
        LauncherSpec,
        MetricSpec,
        ModelSpec,
        ProtocolSpec,
        SuiteSource,
        TaskInfo,
    )
    from bench_gnn.workers import LaunchRequest, LaunchResult


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'bench_gnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
