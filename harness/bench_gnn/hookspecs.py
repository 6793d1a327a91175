"""Hook specifications: the whole plugin contract, one prefix (``bench_``).

A plugin is a module (or object) registered under the ``bench`` entry-point group.
It implements any of these hooks with ``@bench_gnn.hookimpl``; each returns a list of
specs from :mod:`bench_gnn.specs`. Specs are validated when the plugin registers.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("bench")
hookimpl = pluggy.HookimplMarker("bench")


@hookspec
def bench_models():
    """Return a list of :class:`bench_gnn.specs.ModelSpec`."""


@hookspec
def bench_datasets():
    """Return a list of :class:`bench_gnn.specs.DatasetSpec`."""


@hookspec
def bench_metrics():
    """Return a list of :class:`bench_gnn.specs.MetricSpec`."""


@hookspec
def bench_suites():
    """Return a list of :class:`bench_gnn.specs.SuiteSource` (YAML files or mappings)."""


@hookspec
def bench_launchers():
    """Return a list of :class:`bench_gnn.specs.LauncherSpec` (``bench launch --launcher NAME``)."""


@hookspec
def bench_protocols():
    """Return a list of :class:`bench_gnn.specs.ProtocolSpec` (a suite's ``protocol``)."""


@hookspec
def bench_calibrators():
    """Return a list of :class:`bench_gnn.specs.CalibratorSpec` (post-hoc calibration of a trained model)."""


@hookspec
def bench_detectors():
    """Return a list of :class:`bench_gnn.specs.DetectorSpec` (out-of-distribution scores of a trained model)."""


@hookspec
def bench_analyses():
    """Return a list of :class:`bench_gnn.specs.AnalysisSpec` (measurements of a trained model, e.g. influence)."""
