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
      cora: {protocol: gnnsafe-ood, models: [GCN], splits: 5}        # (protocol, models, splits too)
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bench_gnn.checks import check_bool, check_choice, check_int, check_number, check_str
from bench_gnn.errors import BenchError, ConfigError, PluginError, unknown_name
from bench_gnn.specs import NAME_PATTERN, TASKS, SuiteSource

if TYPE_CHECKING:
    from bench_gnn.plugin_manager import Plugins

TOP_KEYS = {
    "name", "version", "description", "task", "protocol", "protocol_args", "splits", "seeds",
    "max_params", "hparams", "grid", "datasets", "models", "reference", "notes",
}
REQUIRED = ("name", "version", "protocol", "datasets", "models")
DATASET_KEYS = {"metric", "protocol_args", "protocol", "models", "splits"}
MODEL_KEYS = {"hparams", "grid"}


MAX_SUITE_BYTES = 1 << 20
MAX_SUITE_NODES = 100_000  # values after YAML aliases are expanded
MAX_SUITE_DEPTH = 32


def read_suite_source(source: SuiteSource) -> dict[str, Any]:
    """Parse a plugin's suite into a plain dict (YAML is read with ``safe_load``).

    A file must be UTF-8 and at most 1 MiB; the document, with its aliases
    expanded, at most :data:`MAX_SUITE_NODES` values nested at most
    :data:`MAX_SUITE_DEPTH` deep (an alias bomb is refused here, before anything
    expands it).
    """
    if source.mapping is not None:
        where = "suite mapping"
        _check_size(source.mapping, where)
        data = copy.deepcopy(dict(source.mapping))
    else:
        where = str(source.path)
        data = _parse_yaml(_read_text(Path(str(source.path)), where), where)
        _check_size(data, where)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise PluginError(f"{where}: a suite must be a mapping with a string 'name'")
    data["_source"] = where
    return data


def _read_text(path: Path, where: str) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SUITE_BYTES + 1)
    except OSError as exc:
        raise PluginError(f"cannot read suite file {where}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SUITE_BYTES:
        raise PluginError(
            f"suite file {where} is larger than {MAX_SUITE_BYTES // 1024} KiB; a suite is a short YAML file"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PluginError(
            f"suite file {where} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from exc


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PluginError(f"suite file {where} is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise PluginError(f"suite file {where} is nested too deeply") from exc


def _check_size(value: Any, where: str) -> None:
    """Refuse documents that are too large or deep once aliases are expanded (shared nodes count each time)."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_SUITE_NODES:
            raise PluginError(
                f"{where}: the suite expands to more than {MAX_SUITE_NODES:,} values (YAML aliases included); "
                "a suite is a short file: remove the repeated aliases"
            )
        if depth > MAX_SUITE_DEPTH:
            raise PluginError(
                f"{where}: the suite is nested more than {MAX_SUITE_DEPTH} levels deep (or refers to itself)"
            )
        if isinstance(item, Mapping):
            stack.extend((child, depth + 1) for pair in item.items() for child in pair)
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)


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
    #: the specs of the protocols the suite's datasets run (name -> ProtocolSpec), for the leaderboard
    protocol_specs: dict[str, Any] = field(default_factory=dict)
    #: the leaderboard columns of the analyses the suite names (analysis name -> tuple of Column)
    analysis_columns: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    #: models run with the suite that it does not list (``bench run --model NAME``): no published baseline
    guests: tuple[str, ...] = ()

    def protocol_for(self, dataset: str) -> str:
        """The dataset's protocol: its own ``protocol`` or the suite's."""
        return str(self.datasets[dataset].get("protocol", self.protocol))

    def protocol_args_for(self, dataset: str) -> dict[str, Any]:
        """The dataset's protocol arguments as run: its protocol's defaults, then the suite's arguments (unless
        the dataset names a protocol of its own), then the dataset's; every value checked."""
        return dict(self.datasets[dataset]["resolved_args"])

    def models_for(self, dataset: str) -> list[str]:
        """The suite's models that run on ``dataset`` (its ``models`` list, or all of them)."""
        return list(self.datasets[dataset].get("models") or self.models)

    def runs(self, dataset: str | None = None) -> list[tuple[int, int]]:
        """``(split, seed)`` pairs of one model/dataset cell (the dataset's own ``splits`` when it has some)."""
        splits = self.datasets[dataset].get("splits", self.splits) if dataset is not None else self.splits
        if splits is not None:
            return [(split, split) for split in range(splits)]
        return [(0, seed) for seed in self.seeds]

    def reference_cell(self, dataset: str, model: str, cell: str, column: str) -> tuple[float, float | None] | None:
        """The reference ``[mean, std]`` (or a bare mean) of one cell's column, from ``reference.cells``."""
        value = ((((self.reference.get("cells") or {}).get(dataset) or {}).get(model) or {}).get(cell) or {}).get(
            column)
        if value is None:
            return None
        if isinstance(value, (int, float)):
            return float(value), None
        return float(value[0]), (float(value[1]) if len(value) > 1 and value[1] is not None else None)

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
        container = OmegaConf.to_container(merged, resolve=True)
    except (OmegaConfBaseException, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot apply overrides {list(overrides)}: {exc}") from exc
    if not isinstance(container, dict):
        raise ConfigError(f"overrides {list(overrides)} did not leave a suite mapping")
    result: dict[str, Any] = {str(k): v for k, v in container.items()}
    result["_source"] = raw.get("_source", "suite")
    result["_overrides"] = [*raw.get("_overrides", ()), *overrides]
    _check_size(result, describe_source(result))
    return result


def describe_source(raw: Mapping[str, Any]) -> str:
    """Where a suite mapping came from, with the overrides applied to it: for error messages."""
    where = str(raw.get("_source", "suite"))
    overrides = raw.get("_overrides") or ()
    return f"{where} (with overrides {' '.join(overrides)})" if overrides else where


def validate_suite(raw: Mapping[str, Any], plugins: Plugins) -> Suite:
    """Check a suite mapping against the installed plugins; every error names the culprit."""
    where = describe_source(raw)
    keys = {k for k in raw if not k.startswith("_")}
    for key in keys - TOP_KEYS:
        raise ConfigError(f"{where}: " + str(unknown_name("suite key", key, TOP_KEYS)))
    for key in REQUIRED:
        if key not in raw:
            raise ConfigError(f"{where}: missing required key {key!r}")
    _check_fields(raw, where)
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
        _check_dataset_entry(name, entry, models, where)
    suite_hparams = _mapping(raw.get("hparams"), "hparams", where)
    suite_grid = _grid(raw.get("grid"), "grid", where)
    for name, entry in models.items():
        spec = _lookup(plugins.models, name, where).spec
        if task not in spec.tasks:
            raise ConfigError(f"{where}: model {name!r} supports tasks {sorted(spec.tasks)}, not {task!r}")
        own = _mapping(entry.get("hparams"), f"models.{name}.hparams", where)
        own_grid = _grid(entry.get("grid"), f"models.{name}.grid", where)
        grid = {**{k: v for k, v in suite_grid.items() if k in spec.defaults}, **own_grid}
        for key in list(own) + list(grid):
            if key not in spec.defaults:
                raise ConfigError(
                    f"{where}: model {name!r}: "
                    + str(unknown_name("hyper-parameter", key, spec.defaults,
                                       hint="Valid keys are the model's defaults."))
                )
        hparams = {**spec.defaults, **{k: v for k, v in suite_hparams.items() if k in spec.defaults}, **own}
        for point in grid_points(grid):
            _check_hparams(spec, {**hparams, **point}, where)
        models[name] = {"hparams": hparams, "grid": grid}
    for key in list(suite_hparams) + list(suite_grid):
        if not any(key in plugins.models.get(m).spec.defaults for m in models):
            raise ConfigError(f"{where}: hyper-parameter {key!r} is known to none of the suite's models")
    splits, seeds = raw.get("splits"), raw.get("seeds")
    if (splits is None) == (seeds is None):
        raise ConfigError(f"{where}: give exactly one of 'splits' (node protocols) or 'seeds' (graph protocols)")
    suite_args = _mapping(raw.get("protocol_args"), "protocol_args", where)
    protocol_specs: dict[str, Any] = {}
    analysis_columns: dict[str, tuple[Any, ...]] = {}
    for name, entry in datasets.items():
        protocol = entry.get("protocol", raw["protocol"])
        spec = _lookup(plugins.protocols, protocol, where).spec
        if task not in spec.tasks:
            raise ConfigError(f"{where}: protocol {protocol!r} serves tasks {sorted(spec.tasks)}, not {task!r}")
        given = suite_args if "protocol" not in entry else {}
        try:
            resolved = spec.resolve({**given, **entry["protocol_args"]})
            if spec.check is not None:
                resolved = dict(spec.check(resolved, plugins) or resolved)
        except BenchError as exc:
            raise ConfigError(f"{where}: dataset {name!r}: {exc}") from exc
        entry["resolved_args"] = resolved
        protocol_specs[protocol] = spec
        for analysis in resolved.get("analyses") or {}:
            analysis_columns[analysis] = plugins.analyses.get(analysis).spec.columns
    return Suite(
        name=str(raw["name"]),
        version=str(raw["version"]),
        description=str(raw.get("description", "")).strip(),
        task=task,
        protocol=raw["protocol"],
        protocol_args=suite_args,
        splits=splits,
        seeds=tuple(seeds or ()),
        max_params=raw.get("max_params"),
        datasets=datasets,
        models=models,
        reference=_mapping(raw.get("reference"), "reference", where),
        source=str(where),
        raw={k: v for k, v in raw.items() if not k.startswith("_")},
        protocol_specs=protocol_specs,
        analysis_columns=analysis_columns,
    )


def grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid's values, keys in sorted order."""
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _check_fields(raw: Mapping[str, Any], where: str) -> None:
    """Types of the suite's own fields (protocol arguments and hyper-parameters are checked by their owners)."""
    try:
        name = check_str("name", raw["name"])
        if not NAME_PATTERN.match(name):
            raise ConfigError(
                f"name must use letters, digits and '_.+-', starting with a letter or digit, got {name!r}"
            )
        version = raw["version"]
        if isinstance(version, bool) or not isinstance(version, (int, str)) or not NAME_PATTERN.match(str(version)):
            raise ConfigError(f"version must be an integer or a short string such as 1 or '2.1', got {version!r}")
        for key in ("description", "notes"):
            if raw.get(key) is not None:
                check_str(key, raw[key])
        check_choice("task", raw.get("task", "node"), TASKS)
        check_str("protocol", raw["protocol"])
        if raw.get("splits") is not None:
            check_int("splits", raw["splits"], 1)
        if raw.get("seeds") is not None:
            seeds = raw["seeds"]
            if not isinstance(seeds, list) or not seeds:
                raise ConfigError(f"seeds must be a non-empty list of integers, got {seeds!r}")
            for seed in seeds:
                check_int("seeds[]", seed, 0)
            if len(set(seeds)) != len(seeds):
                raise ConfigError(f"seeds must not repeat, got {seeds!r}")
        if raw.get("max_params") is not None:
            check_int("max_params", raw["max_params"], 1)
        _check_reference(raw.get("reference"))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _check_reference(reference: Any) -> None:
    if reference is None:
        return
    if not isinstance(reference, Mapping):
        raise ConfigError(f"reference must be a mapping, got {reference!r}")
    if reference.get("source") is not None:
        check_str("reference.source", reference["source"])
    scores = reference.get("scores") or {}
    if not isinstance(scores, Mapping):
        raise ConfigError("reference.scores must map model -> dataset -> score or [mean, std]")
    for model, row in scores.items():
        if not isinstance(row, Mapping):
            raise ConfigError(f"reference.scores.{model} must map dataset -> score or [mean, std], got {row!r}")
        for dataset, value in row.items():
            _check_reference_value(f"reference.scores.{model}.{dataset}", value)
    _check_reference_cells(reference.get("cells"))


def _check_reference_value(key: str, value: Any) -> None:
    """A published number: a score, ``[mean]``, ``[mean, std]`` (std at least 0 or null), or null."""
    if isinstance(value, list):
        if not 1 <= len(value) <= 2:
            raise ConfigError(f"{key} must be a score or [mean, std], got {value!r}")
        check_number(key, value[0])
        if len(value) == 2 and value[1] is not None:
            check_number(key + " (std)", value[1], 0)
    elif value is not None:
        check_number(key, value)


def _check_reference_cells(cells: Any) -> None:
    """``reference.cells``: dataset -> model -> cell -> column -> score or [mean, std]."""
    if cells is None:
        return
    for path, depth, value in _walk(cells, "reference.cells", 0):
        if depth < 4 and not isinstance(value, Mapping):
            raise ConfigError(f"{path} must map dataset -> model -> cell -> column -> score or [mean, std], "
                              f"got {value!r}")
        if depth == 4:
            _check_reference_value(path, value)


def _walk(value: Any, path: str, depth: int) -> Any:
    yield path, depth, value
    if depth < 4 and isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}", depth + 1)


def _check_hparams(spec: Any, hparams: dict[str, Any], where: str) -> None:
    """The model's own check, or, for a model without one, each value of the type of its default."""
    try:
        if spec.check is not None:
            spec.check(dict(hparams))
            return
        for key, value in hparams.items():
            default = spec.defaults.get(key)
            if default is None or value is None:
                continue
            if isinstance(default, bool):
                check_bool(key, value)
            elif isinstance(default, int):
                check_int(key, value)
            elif isinstance(default, float):
                check_number(key, value)
            elif isinstance(default, str):
                check_str(key, value)
    except BenchError as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(hparams.items()))
        prefix = "" if str(exc).startswith(f"model {spec.name!r}") else f"model {spec.name!r}: "
        raise ConfigError(f"{where}: {prefix}{exc} (hyper-parameters: {shown})") from exc


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


def _check_dataset_entry(name: str, entry: dict[str, Any], models: Mapping[str, Any], where: str) -> None:
    """A dataset's own ``protocol`` (a name), ``models`` (some of the suite's) and ``splits`` (an integer >= 1)."""
    try:
        if "protocol" in entry:
            check_str(f"datasets.{name}.protocol", entry["protocol"])
        if "splits" in entry:
            check_int(f"datasets.{name}.splits", entry["splits"], 1)
        if "models" in entry:
            chosen = entry["models"]
            if not isinstance(chosen, list) or not chosen or not all(isinstance(m, str) for m in chosen):
                raise ConfigError(f"datasets.{name}.models must be a non-empty list of model names, got {chosen!r}")
            for model in chosen:
                if model not in models:
                    raise ConfigError(f"datasets.{name}.models: " + str(
                        unknown_name("model", model, models, hint="(the suite's models)")))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


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
