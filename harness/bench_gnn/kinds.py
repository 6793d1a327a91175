"""The kinds of thing a plugin contributes, in one table.

Each kind has a hook (``bench_models``), a word for the registry and ``bench list`` (``models``), a singular for
messages (``model``), the spec class its hook returns, and the columns ``bench list`` shows. The hookspecs
(:mod:`bench_gnn.hookspecs`, typed, with the contract in their docstrings), the registries of
:class:`bench_gnn.plugin_manager.Plugins`, the collection of hook results and the choices of ``bench list`` are
all read from :data:`KINDS`; a test checks that the hookspecs and ``Plugins`` name exactly these kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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


def _args(defaults: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in defaults.items())


def _tasks(tasks: frozenset[str] | None) -> str:
    return ",".join(sorted(tasks or ()))


@dataclass(frozen=True)
class Kind:
    """One kind of contribution.

    ``columns`` are ``bench list``'s: ``(header, value of a registered spec)``; the plugin's label is added
    before the last one (the description). Suites are registered as ``(SuiteSource, mapping)`` pairs.
    """

    hook: str
    plural: str
    singular: str
    spec: type
    columns: tuple[tuple[str, Callable[[Any], Any]], ...]


KINDS: tuple[Kind, ...] = (
    Kind("bench_models", "models", "model", ModelSpec, (
        ("model", lambda s: s.name), ("tasks", lambda s: _tasks(s.tasks)), ("description", lambda s: s.description),
    )),
    Kind("bench_datasets", "datasets", "dataset", DatasetSpec, (
        ("dataset", lambda s: s.name), ("task", lambda s: s.task), ("metric", lambda s: s.metric),
        ("description", lambda s: s.description),
    )),
    Kind("bench_metrics", "metrics", "metric", MetricSpec, (
        ("metric", lambda s: s.name), ("better", lambda s: "higher" if s.higher_is_better else "lower"),
        ("description", lambda s: s.description),
    )),
    Kind("bench_suites", "suites", "suite", SuiteSource, (
        ("suite", lambda s: s[1]["name"]), ("version", lambda s: s[1].get("version")),
        ("description", lambda s: " ".join(str(s[1].get("description", "")).split())[:90]),
    )),
    Kind("bench_launchers", "launchers", "launcher", LauncherSpec, (
        ("launcher", lambda s: s.name), ("needs", lambda s: s.install or "(built in)"),
        ("options", lambda s: " ".join(f"--{key.replace('_', '-')}" for key in s.options)),
        ("description", lambda s: s.description),
    )),
    Kind("bench_protocols", "protocols", "protocol", ProtocolSpec, (
        ("protocol", lambda s: s.name), ("tasks", lambda s: _tasks(s.tasks)),
        ("--steps sets", lambda s: s.step_key or ""), ("plots", lambda s: ", ".join(s.plots)),
        ("description", lambda s: s.description),
    )),
    Kind("bench_calibrators", "calibrators", "calibrator", CalibratorSpec, (
        ("calibrator", lambda s: s.name), ("arguments", lambda s: _args(s.defaults)),
        ("description", lambda s: s.description),
    )),
    Kind("bench_detectors", "detectors", "detector", DetectorSpec, (
        ("detector", lambda s: s.name), ("training", lambda s: s.training), ("arguments", lambda s: _args(s.defaults)),
        ("description", lambda s: s.description),
    )),
    Kind("bench_analyses", "analyses", "analysis", AnalysisSpec, (
        ("analysis", lambda s: s.name), ("arguments", lambda s: _args(s.defaults)),
        ("columns", lambda s: ", ".join(c.header for c in s.columns)), ("plots", lambda s: ", ".join(s.plots)),
        ("description", lambda s: s.description),
    )),
)
BY_HOOK: dict[str, Kind] = {kind.hook: kind for kind in KINDS}
BY_PLURAL: dict[str, Kind] = {kind.plural: kind for kind in KINDS}


def list_rows(kind: Kind, registry: Any) -> tuple[list[str], list[list[Any]]]:
    """``bench list <kind>``: the headers and one row per registered spec, the plugin before the description."""
    *first, (last_header, last) = kind.columns
    headers = [header for header, _ in first] + ["plugin", last_header]
    rows = [[value(entry.spec) for _, value in first] + [entry.plugin.label, last(entry.spec)] for entry in registry]
    return headers, rows
