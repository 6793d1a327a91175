"""Hook specifications: the whole plugin contract, one prefix (``bench_``).

A plugin is a module (or object) registered under the ``bench`` entry-point group.
It implements any of these hooks with ``@bench_gnn.hookimpl``; each returns a list of
specs from :mod:`bench_gnn.specs`. Specs are validated when the plugin registers. The kinds, their
registries and ``bench list`` columns are in :mod:`bench_gnn.kinds`; a test keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from bench_gnn.specs import (
        AnalysisSpec,
        CalibratorSpec,
        DatasetSpec,
        DetectorSpec,
        LauncherSpec,
        MetricSpec,
        ModelSpec,
        ProtocolSpec,
        SuiteSource,
    )

hookspec = pluggy.HookspecMarker("bench")
hookimpl = pluggy.HookimplMarker("bench")


@hookspec
def bench_models() -> list[ModelSpec]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.ModelSpec`."""


@hookspec
def bench_datasets() -> list[DatasetSpec]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.DatasetSpec`."""


@hookspec
def bench_metrics() -> list[MetricSpec]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.MetricSpec`."""


@hookspec
def bench_suites() -> list[SuiteSource]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.SuiteSource` (YAML files or mappings)."""


@hookspec
def bench_launchers() -> list[LauncherSpec]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.LauncherSpec` (``bench launch --launcher NAME``)."""


@hookspec
def bench_protocols() -> list[ProtocolSpec]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.ProtocolSpec` (a suite's ``protocol``)."""


@hookspec
def bench_calibrators() -> list[CalibratorSpec]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.CalibratorSpec` (post-hoc calibration of a trained model)."""


@hookspec
def bench_detectors() -> list[DetectorSpec]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.DetectorSpec` (out-of-distribution scores of a trained model)."""


@hookspec
def bench_analyses() -> list[AnalysisSpec]:  # type: ignore[empty-body]
    """Return a list of :class:`bench_gnn.specs.AnalysisSpec` (measurements of a trained model, e.g. influence)."""
