"""Suites: versioned YAML files that say what to run and what the published numbers are.

A suite file::

    name: heterophily
    version: 1
    description: Platonov et al. 2023 ...
    task: node
    protocol: node-full-batch
    protocol_args: {steps: 1000, lr: 3.0e-5, weight_decay: 0.0}
    splits: 10                      # node protocols: fixed splits 0..9
    seeds: [0, 1, 2, 3]             # graph protocols: one job per seed
    max_params: 500000              # optional parameter budget
    hparams: {hidden: 512}          # applied to every model that has the key
    grid: {num_layers: [1, 2, 3]}   # selected per model and dataset by mean validation score
    datasets:
      minesweeper: {metric: roc_auc, protocol_args: {steps: 500}}   # per-dataset overrides
    models:
      GCN: {hparams: {}, grid: {}}
    reference:
      source: Platonov et al. 2023, Table 2
      scores: {GCN: {minesweeper: [89.75, 0.52]}}

Unknown keys and unknown names are errors with suggestions, raised before any
training starts. ``key=value`` overrides use OmegaConf's dot-list syntax on this
structure (``protocol_args.steps=200``, ``models.GCN.hparams.hidden=64``).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bench_gnn.errors import BenchError, ConfigError, PluginError, unknown_name
from bench_gnn.specs import SuiteSource

if TYPE_CHECKING:
    from bench_gnn.plugin_manager import Plugins

TOP_KEYS = {
    "name", "version", "description", "task", "protocol", "protocol_args", "splits", "seeds",
    "max_params", "hparams", "grid", "datasets", "models", "reference", "notes",
}
REQUIRED = ("name", "version", "protocol", "datasets", "models")
DATASET_KEYS = {"metric", "protocol_args"}
MODEL_KEYS = {"hparams", "grid"}


def read_suite_source(source: SuiteSource) -> dict[str, Any]:
    """Parse a plugin's suite into a plain dict (YAML is read with ``safe_load``)."""
    if source.mapping is not None:
        data = copy.deepcopy(dict(source.mapping))
        where = "suite mapping"
    else:
        where = str(source.path)
        try:
            data = yaml.safe_load(Path(source.path).read_text())
        except OSError as exc:
            raise PluginError(f"cannot read suite file {where}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise PluginError(f"suite file {where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise PluginError(f"{where}: a suite must be a mapping with a string 'name'")
    data["_source"] = where
    return data


def read_suite_file(path: Path) -> dict[str, Any]:
    """Read a suite YAML given on the command line (``--suite path/to/suite.yaml``)."""
    try:
        return read_suite_source(SuiteSource(path=path))
    except PluginError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass(frozen=True)
class Suite:
    """A validated suite."""

    name: str
    version: str
    description: str
    task: str
    protocol: str
    protocol_args: dict[str, Any]
    splits: int | None
    seeds: tuple[int, ...]
    max_params: int | None
    datasets: dict[str, dict[str, Any]]
    models: dict[str, dict[str, Any]]
    reference: dict[str, Any]
    source: str
    raw: dict[str, Any]

    def protocol_args_for(self, dataset: str) -> dict[str, Any]:
        """The suite's protocol arguments with the dataset's own overrides applied."""
        return {**self.protocol_args, **self.datasets[dataset].get("protocol_args", {})}

    def runs(self) -> list[tuple[int, int]]:
        """``(split, seed)`` pairs of one model/dataset cell."""
        if self.splits is not None:
            return [(split, split) for split in range(self.splits)]
        return [(0, seed) for seed in self.seeds]

    def reference_score(self, model: str, dataset: str) -> tuple[float, float | None] | None:
        value = (self.reference.get("scores") or {}).get(model, {}).get(dataset)
        if value is None:
            return None
        if isinstance(value, (int, float)):
            return float(value), None
        return float(value[0]), (float(value[1]) if len(value) > 1 and value[1] is not None else None)


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply OmegaConf dot-list overrides (``a.b=value``) to a suite mapping."""
    if not overrides:
        return copy.deepcopy(dict(raw))
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. protocol_args.steps=200)")
        top = item.split("=", 1)[0].split(".", 1)[0].lstrip("+~")
        if top not in TOP_KEYS:
            raise unknown_name("suite key", top, TOP_KEYS, hint=f"in override {item!r}.")
    base_map = {k: v for k, v in raw.items() if not k.startswith("_")}
    for section in ("datasets", "models"):
        if isinstance(base_map.get(section), list):
            base_map[section] = {str(name): {} for name in base_map[section]}
    try:
        base = OmegaConf.create(base_map)
        merged = OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides)))
        result = OmegaConf.to_container(merged, resolve=True)
    except (OmegaConfBaseException, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot apply overrides {list(overrides)}: {exc}") from exc
    result["_source"] = raw.get("_source", "suite")
    return result


def validate_suite(raw: Mapping[str, Any], plugins: Plugins) -> Suite:
    """Check a suite mapping against the installed plugins; every error names the culprit."""
    where = raw.get("_source", "suite")
    keys = {k for k in raw if not k.startswith("_")}
    for key in keys - TOP_KEYS:
        raise ConfigError(f"{where}: " + str(unknown_name("suite key", key, TOP_KEYS)))
    for key in REQUIRED:
        if key not in raw:
            raise ConfigError(f"{where}: missing required key {key!r}")
    from bench_gnn.protocols import PROTOCOLS

    if raw["protocol"] not in PROTOCOLS:
        raise ConfigError(f"{where}: " + str(unknown_name("protocol", raw["protocol"], PROTOCOLS)))
    task = raw.get("task", "node")
    datasets = _named_section(raw, "datasets", DATASET_KEYS, where)
    models = _named_section(raw, "models", MODEL_KEYS, where)
    for name, entry in datasets.items():
        spec = _lookup(plugins.datasets, name, where).spec
        if spec.task != task:
            raise ConfigError(f"{where}: dataset {name!r} is a {spec.task!r} dataset, the suite's task is {task!r}")
        entry.setdefault("metric", spec.metric)
        entry["protocol_args"] = _mapping(entry.get("protocol_args"), f"datasets.{name}.protocol_args", where)
        _lookup(plugins.metrics, entry["metric"], where)
    suite_hparams = _mapping(raw.get("hparams"), "hparams", where)
    suite_grid = _grid(raw.get("grid"), "grid", where)
    for name, entry in models.items():
        spec = _lookup(plugins.models, name, where).spec
        if task not in spec.tasks:
            raise ConfigError(f"{where}: model {name!r} supports tasks {sorted(spec.tasks)}, not {task!r}")
        own = _mapping(entry.get("hparams"), f"models.{name}.hparams", where)
        grid = {**{k: v for k, v in suite_grid.items() if k in spec.defaults}, **_grid(entry.get("grid"), f"models.{name}.grid", where)}
        for key in list(own) + list(grid):
            if key not in spec.defaults:
                raise ConfigError(
                    f"{where}: model {name!r}: "
                    + str(unknown_name("hyper-parameter", key, spec.defaults, hint="Valid keys are the model's defaults."))
                )
        hparams = {**spec.defaults, **{k: v for k, v in suite_hparams.items() if k in spec.defaults}, **own}
        if spec.check is not None:
            for point in grid_points(grid):
                _check_hparams(spec, {**hparams, **point}, where)
        models[name] = {"hparams": hparams, "grid": grid}
    for key in list(suite_hparams) + list(suite_grid):
        if not any(key in plugins.models.get(m).spec.defaults for m in models):
            raise ConfigError(f"{where}: hyper-parameter {key!r} is known to none of the suite's models")
    splits, seeds = raw.get("splits"), raw.get("seeds")
    if (splits is None) == (seeds is None):
        raise ConfigError(f"{where}: give exactly one of 'splits' (node protocols) or 'seeds' (graph protocols)")
    if splits is not None and (not isinstance(splits, int) or splits < 1):
        raise ConfigError(f"{where}: 'splits' must be a positive integer, got {splits!r}")
    if seeds is not None and (not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds) or not seeds):
        raise ConfigError(f"{where}: 'seeds' must be a non-empty list of integers, got {seeds!r}")
    return Suite(
        name=str(raw["name"]),
        version=str(raw["version"]),
        description=str(raw.get("description", "")).strip(),
        task=task,
        protocol=raw["protocol"],
        protocol_args=_mapping(raw.get("protocol_args"), "protocol_args", where),
        splits=splits,
        seeds=tuple(seeds or ()),
        max_params=raw.get("max_params"),
        datasets=datasets,
        models=models,
        reference=_mapping(raw.get("reference"), "reference", where),
        source=str(where),
        raw={k: v for k, v in raw.items() if not k.startswith("_")},
    )


def grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid's values, keys in sorted order."""
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _check_hparams(spec: Any, hparams: dict[str, Any], where: str) -> None:
    try:
        spec.check(dict(hparams))
    except BenchError as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(hparams.items()))
        raise ConfigError(f"{where}: model {spec.name!r}: {exc} (hyper-parameters: {shown})") from exc


def _lookup(registry: Any, name: str, where: str) -> Any:
    try:
        return registry.get(name)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _mapping(value: Any, key: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {key!r} must be a mapping, got {type(value).__name__}")
    return dict(value)


def _grid(value: Any, key: str, where: str) -> dict[str, list[Any]]:
    grid = _mapping(value, key, where)
    for name, options in grid.items():
        if not isinstance(options, list) or not options:
            raise ConfigError(f"{where}: {key}.{name} must be a non-empty list of values")
    return grid


def _named_section(raw: Mapping[str, Any], key: str, allowed: set[str], where: str) -> dict[str, dict[str, Any]]:
    value = raw[key]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = {v: {} for v in value}
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where}: {key!r} must be a non-empty mapping of names (or a list of names)")
    section = {}
    for name, entry in value.items():
        entry = _mapping(entry, f"{key}.{name}", where)
        for extra in set(entry) - allowed:
            raise ConfigError(f"{where}: {key}.{name}: " + str(unknown_name("key", extra, allowed)))
        section[str(name)] = dict(entry)
    return section
