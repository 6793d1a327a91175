"""Hook specifications: the whole plugin contract, one prefix (``bench_``).

A plugin is a module (or object) registered under the ``bench`` entry-point group.
It implements any of these hooks with ``@harness.hookimpl``; each returns a list of
specs from :mod:`harness.specs`. Specs are validated when the plugin registers.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("bench")
hookimpl = pluggy.HookimplMarker("bench")


@hookspec
def bench_models():
    """Return a list of :class:`harness.specs.ModelSpec`."""


@hookspec
def bench_datasets():
    """Return a list of :class:`harness.specs.DatasetSpec`."""


@hookspec
def bench_metrics():
    """Return a list of :class:`harness.specs.MetricSpec`."""


@hookspec
def bench_suites():
    """Return a list of :class:`harness.specs.SuiteSource` (YAML files or mappings)."""
