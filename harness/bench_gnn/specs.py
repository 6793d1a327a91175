"""The public plugin contract: what a plugin contributes through the ``bench_*`` hooks.

A plugin module implements one or more hooks (see :mod:`bench_gnn.hookspecs`) that
return lists of these specs. First-party models, datasets, metrics and suites use
exactly this contract; nothing here needs subclassing.

Model contract
    ``build(task: TaskInfo, hparams: Mapping) -> torch.nn.Module``. The module's
    ``forward(data)`` takes a PyG ``Data`` (node tasks) or ``Batch`` (graph tasks)
    and returns raw scores: ``[num_nodes, out_dim]`` or ``[num_graphs, out_dim]``.

Dataset contract
    ``load(ctx: DataContext)`` returns what the dataset's task expects: for
    ``task="node"`` a PyG ``Data`` with ``x``, ``y``, ``edge_index`` (both
    directions) and boolean ``train_mask``/``val_mask``/``test_mask`` of shape
    ``[num_nodes, num_splits]``; for ``task="graph"`` a :class:`GraphTaskData`.
    Raw files are fetched through
    ``ctx.raw_file(path)``, which verifies them against the dataset card.

Metric contract
    ``factory(num_classes: int) -> torchmetrics.Metric``; ``update(scores, target)``
    receives probabilities ``[N, C]`` (multi-class) or positive-class scores
    ``[N]`` (binary), as the protocol produces them.

Launcher contract
    ``launch(request: LaunchRequest) -> LaunchResult`` starts ``request.workers``
    workers, each running ``request.run_worker(i)`` (or ``request.command(i)`` with
    ``request.environment(i)``) somewhere, and returns their exit codes, or the
    scheduler's job ids when it returns after submission (see :mod:`bench_gnn.workers`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_gnn.errors import PluginError

if TYPE_CHECKING:  # what plugins' functions receive, named for the type checker only (specs import no torch)
    from bench_gnn.data.context import DataContext
    from bench_gnn.plugin_manager import Plugins
    from bench_gnn.protocols.analyses import TrainedModel
    from bench_gnn.protocols.base import ProtocolContext, ProtocolResult
    from bench_gnn.protocols.evaluators import CalibrationInputs, DetectorInputs
    from bench_gnn.workers import LaunchRequest, LaunchResult

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
TASKS = ("node", "graph")


def check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PluginError(
            f"invalid {kind} name {name!r}: use letters, digits and '_.+-', starting with a letter or digit"
        )


def _check_callable(kind: str, name: str, attr: str, value: Any) -> None:
    if not callable(value):
        raise PluginError(f"{kind} {name!r}: {attr} must be callable, got {type(value).__name__}")


#: What ``bench plot NAME --suite S`` calls: ``draw(records, path) -> path written``, ``records`` being the suite's
#: records (dicts, as stored). It raises :class:`~bench_gnn.errors.UsageError` when they hold nothing to draw.
PlotFunction = Callable[[Sequence[Mapping[str, Any]], Path], Path]

def _check_plots(kind: str, name: str, plots: Any) -> dict[str, Any]:
    if not isinstance(plots, Mapping):
        raise PluginError(f"{kind} {name!r}: plots must map plot names to functions, got {type(plots).__name__}")
    for plot, draw in plots.items():
        check_name("plot", plot)
        _check_callable(kind, name, f"plots[{plot!r}]", draw)
    return dict(plots)


def _check_tasks(kind: str, name: str, tasks: Any) -> None:
    bad = [t for t in tasks if t not in TASKS]
    if not tasks or bad:
        raise PluginError(f"{kind} {name!r}: tasks must be a non-empty subset of {TASKS}, got {sorted(tasks)}")


@dataclass(frozen=True)
class TaskInfo:
    """What a model needs to know about the data to build itself."""

    task: str
    in_dim: int
    out_dim: int
    edge_dim: int | None = None
    num_nodes: int | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphTaskData:
    """What a ``task="graph"`` dataset's ``load`` returns.

    Args:
        dataset: an indexable sequence of PyG ``Data`` (e.g. an ``InMemoryDataset``).
        splits: ``{"train": idx, "val": idx, "test": idx}`` with 1-D long tensors.
        out_dim: number of outputs per graph (labels, targets or classes).
        target: ``"multilabel"`` (y in {0,1} or NaN, shape ``[1, out_dim]``),
            ``"regression"`` (``[1, out_dim]``) or ``"multiclass"`` (``[1]``).
        level: ``"graph"`` (one prediction per graph), ``"node"`` (per node,
            inductive over many graphs) or ``"root"`` (per node, scored only where
            the graph's boolean ``root_mask`` is set).
    """

    dataset: Any
    splits: Mapping[str, Any]
    out_dim: int
    target: str = "multilabel"
    level: str = "graph"


@dataclass(frozen=True)
class ModelSpec:
    """A model a plugin contributes.

    Args:
        name: unique name used in suites and on the command line.
        build: ``build(task: TaskInfo, hparams: Mapping) -> torch.nn.Module``.
        defaults: default hyper-parameters; a suite may override any of them and
            nothing else (unknown keys are rejected before training).
        tasks: task kinds the model supports (``"node"``, ``"graph"``).
        description: one line for ``bench list models``.
        check: ``check(hparams: Mapping)`` validates one complete set of
            hyper-parameters (the defaults with a suite's values and one grid point
            applied) and raises :class:`ConfigError` naming the key and the rule.
            It is called for every grid point when a suite loads, before any
            training, so it must be cheap (no torch).
    """

    name: str
    build: Callable[[TaskInfo, Mapping[str, Any]], Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    tasks: frozenset[str] = frozenset({"node"})
    description: str = ""
    check: Callable[[Mapping[str, Any]], Any] | None = None

    def __post_init__(self) -> None:
        check_name("model", self.name)
        _check_callable("model", self.name, "build", self.build)
        if not isinstance(self.defaults, Mapping):
            raise PluginError(f"model {self.name!r}: defaults must be a mapping")
        if self.check is not None:
            _check_callable("model", self.name, "check", self.check)
        object.__setattr__(self, "tasks", frozenset(self.tasks))
        _check_tasks("model", self.name, self.tasks)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a plugin contributes.

    Args:
        name: unique name used in suites and on the command line.
        task: the task kind (``"node"`` or ``"graph"``).
        load: ``load(ctx: DataContext)`` returning the task's data object.
        card: the dataset card: source, license, citation, ``files`` (each with
            ``path``, ``sha256``, ``bytes``) and expected ``stats``. Path to a
            YAML file or a mapping. Generated datasets may omit files.
        metric: default metric name, used when a suite names none.
        description: one line for ``bench list datasets``.
    """

    name: str
    task: str
    load: Callable[[DataContext], Any]
    card: Mapping[str, Any] | Path | None = None
    metric: str = "accuracy"
    description: str = ""

    def __post_init__(self) -> None:
        check_name("dataset", self.name)
        _check_callable("dataset", self.name, "load", self.load)
        _check_tasks("dataset", self.name, {self.task})
        if self.card is not None and not isinstance(self.card, (Mapping, Path)):
            raise PluginError(f"dataset {self.name!r}: card must be a mapping or a pathlib.Path to a YAML file")


@dataclass(frozen=True)
class MetricSpec:
    """A metric a plugin contributes: a torchmetrics factory.

    Args:
        name: unique name used in suites.
        factory: ``factory(num_classes: int) -> torchmetrics.Metric``.
        higher_is_better: ranking direction in leaderboards.
        scale: factor applied when reporting (100 for percentages).
        bounds: ``(low, high)`` of the unscaled value, either None when open
            (``(0.0, 1.0)`` for accuracy); `bench leaderboard validate` refuses
            submitted records outside them.
    """

    name: str
    factory: Callable[[int], Any]
    higher_is_better: bool = True
    scale: float = 1.0
    description: str = ""
    bounds: tuple[float | None, float | None] = (None, None)

    def __post_init__(self) -> None:
        check_name("metric", self.name)
        _check_callable("metric", self.name, "factory", self.factory)
        low, high = self.bounds
        if low is not None and high is not None and low > high:
            raise PluginError(f"metric {self.name!r}: bounds {self.bounds} are empty (low > high)")


@dataclass(frozen=True)
class SuiteSource:
    """A suite a plugin contributes: a YAML file (``path``) or an already parsed mapping."""

    path: Path | None = None
    mapping: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.mapping is None):
            raise PluginError("SuiteSource needs exactly one of path= or mapping=")


#: The value types a launcher option may have (its default's type is the option's type).
OPTION_TYPES = (bool, int, float, str, tuple, type(None))


@dataclass(frozen=True)
class LauncherSpec:
    """A launcher a plugin contributes: how ``bench launch --launcher NAME`` starts its workers.

    Args:
        name: unique name used as ``--launcher NAME``; also the workers' ``$BENCH_LAUNCHER`` and
            the prefix of their ids (``NAME-0``, ``NAME-1``, ...).
        launch: ``launch(request: LaunchRequest) -> LaunchResult``. Import heavy or optional
            libraries inside it, never at module level.
        options: the options the launcher takes, with their defaults. A value given on the
            command line (``--option KEY=VALUE`` or a dedicated flag such as ``--partition``) is
            converted to the type of the default: ``int``, ``float``, ``bool``
            (true/false/yes/no/1/0) or ``str``; a tuple default collects every value given (a
            repeatable option); a None default takes a string. Options the launcher does not
            declare are refused before anything starts.
        requires: modules ``launch`` imports that are not dependencies of bench, e.g.
            ``("submitit",)``; each is imported before launching, and a missing one is a usage
            error saying to run ``pip install '<install>'``.
        install: the requirement that provides ``requires``, e.g. ``"bench-gnn[slurm]"``.
        description: one line for ``bench list launchers``.
        flags: options that get a flag of their own on ``bench launch``, ``{option: (METAVAR, help)}``
            (``{"time_min": ("MIN", "time limit per worker in minutes")}`` makes ``--time-min MIN``); every
            option can also be given as ``--option KEY=VALUE``. Launchers declaring the same option share
            its flag, and its help names each.
    """

    name: str
    launch: Callable[[LaunchRequest], LaunchResult]
    options: Mapping[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    install: str = ""
    description: str = ""
    flags: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("launcher", self.name)
        for option, described in self.flags.items():
            if option not in self.options:
                raise PluginError(f"launcher {self.name!r}: flag for {option!r}, which is not one of its options")
            if not (isinstance(described, tuple) and len(described) == 2
                    and all(isinstance(text, str) for text in described)):
                raise PluginError(f"launcher {self.name!r}: flags[{option!r}] must be (METAVAR, help), "
                                  f"got {described!r}")
        _check_callable("launcher", self.name, "launch", self.launch)
        if not isinstance(self.options, Mapping):
            raise PluginError(f"launcher {self.name!r}: options must be a mapping of option name to default")
        for key, default in self.options.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise PluginError(f"launcher {self.name!r}: option name {key!r} must be a Python identifier")
            if not isinstance(default, OPTION_TYPES):
                raise PluginError(
                    f"launcher {self.name!r}: option {key!r} has a default of type {type(default).__name__}; "
                    "use bool, int, float, str, a tuple (repeatable) or None (a string)"
                )
        object.__setattr__(self, "requires", tuple(self.requires))
        if not all(isinstance(module, str) and module for module in self.requires):
            raise PluginError(f"launcher {self.name!r}: requires must be module names, got {self.requires!r}")
        if self.requires and not self.install:
            raise PluginError(f"launcher {self.name!r}: requires= needs install= (the pip requirement providing it)")


@dataclass(frozen=True)
class Column:
    """A number a protocol or an analysis contributes to the leaderboard.

    Args:
        id: the key of the value in the record (a cell's or the record's ``metrics``).
        header: the column header, e.g. ``"ECE"``.
        scale: factor applied when shown (100 for percentages).
        digits: decimals shown.
    """

    id: str
    header: str
    scale: float = 1.0
    digits: int = 2


@dataclass(frozen=True)
class CellTable:
    """A leaderboard table of a protocol's cells: one row per (dataset, model, cell), one column per
    :class:`Column`, mean ± std over the runs. ``kind`` selects the cells (their ``kind`` field).
    Reference numbers come from the suite's ``reference.cells`` (dataset -> model -> cell -> column)."""

    title: str
    kind: str
    columns: tuple[Column, ...]
    note: str = ""
    ddof: int = 1  # of the std over runs: 1 (sample) or 0 (population, as GATS reports)


@dataclass(frozen=True)
class ProtocolSpec:
    """An evaluation protocol a plugin contributes.

    Args:
        name: unique name used as a suite's ``protocol``.
        run: ``run(ctx: ProtocolContext) -> ProtocolResult`` trains one model on one split or
            seed and evaluates it (see :mod:`bench_gnn.protocols.base`). Import torch inside it.
        defaults: every argument the protocol takes, with its default. Defaults are merged into
            each job's identity before its key is hashed, so changing one changes the keys.
        checks: ``{key: check(key, value) -> value}`` for every key of ``defaults``; use the
            :mod:`bench_gnn.checks` family. Called when a suite loads.
        check: optional ``check(args, plugins)``, called with the resolved arguments and the
            installed plugins' registries (``plugins.calibrators``, ``plugins.detectors``,
            ``plugins.analyses``, ...) to validate names, raising :class:`ConfigError`.
        tasks: the task kinds served (``"node"``, ``"graph"``).
        step_key: the argument ``bench run --steps N`` sets (None: the protocol has none).
        step_unit: ``(header, factor)`` of the leaderboard's time column: seconds per step times
            ``factor`` (``("ms/step", 1000.0)``, ``("s/epoch", 1.0)``).
        tables: tables of the protocol's cells (calibrators, detectors, ...) on the leaderboard.
        plots: ``{name: draw(records, path) -> path}``: the plots ``bench plot NAME --suite S`` draws from
            the records of a suite that runs this protocol (:data:`PlotFunction`).
        description: one line for ``bench list protocols``.
    """

    name: str
    run: Callable[[ProtocolContext], ProtocolResult]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    checks: Mapping[str, Callable[[str, Any], Any]] = field(default_factory=dict)
    check: Callable[[Mapping[str, Any], Plugins], Mapping[str, Any] | None] | None = None
    tasks: frozenset[str] = frozenset({"node"})
    step_key: str | None = "steps"
    step_unit: tuple[str, float] = ("ms/step", 1000.0)
    tables: tuple[CellTable, ...] = ()
    plots: Mapping[str, PlotFunction] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        check_name("protocol", self.name)
        _check_callable("protocol", self.name, "run", self.run)
        if not isinstance(self.defaults, Mapping) or not isinstance(self.checks, Mapping):
            raise PluginError(f"protocol {self.name!r}: defaults and checks must be mappings")
        unchecked = sorted(set(self.defaults) - set(self.checks))
        if unchecked:
            raise PluginError(f"protocol {self.name!r}: arguments without a check: {unchecked}")
        for key, check in self.checks.items():
            _check_callable("protocol", self.name, f"checks[{key!r}]", check)
        if self.check is not None:
            _check_callable("protocol", self.name, "check", self.check)
        if self.step_key is not None and self.step_key not in self.defaults:
            raise PluginError(f"protocol {self.name!r}: step_key {self.step_key!r} is not one of its arguments")
        object.__setattr__(self, "tasks", frozenset(self.tasks))
        _check_tasks("protocol", self.name, self.tasks)
        object.__setattr__(self, "tables", tuple(self.tables))
        object.__setattr__(self, "plots", _check_plots("protocol", self.name, self.plots))

    def resolve(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """``args`` over the defaults, each value through its check; unknown keys refused.

        Raises :class:`ConfigError` naming the protocol and the key, e.g.
        ``node-full-batch: protocol_args.steps must be an integer >= 1, got 'abc' (str)``.
        """
        from bench_gnn.errors import ConfigError, unknown_name

        for key in args:
            if key not in self.defaults:
                raise ConfigError(f"{self.name}: " + str(unknown_name("protocol_args key", key, self.defaults)))
        merged = {**self.defaults, **args}
        resolved = {}
        for key in self.defaults:
            try:
                resolved[key] = self.checks[key](f"protocol_args.{key}", merged[key])
            except ConfigError as exc:
                raise ConfigError(f"{self.name}: {exc}") from None
        return resolved


@dataclass(frozen=True)
class CalibratorSpec:
    """A post-hoc calibrator a plugin contributes.

    Args:
        name: unique name used in a protocol's ``calibrators`` list.
        fit: ``fit(inputs: CalibrationInputs, args: Mapping) -> calibrated`` fits on the
            validation nodes' logits of a frozen model (``inputs.fit_mask``), may early-stop on
            ``inputs.stop_mask``, and returns ``calibrated(logits, edge_index, train_mask) ->
            probabilities [N, C]``, applicable to the same model's logits on another graph.
        defaults: its arguments (a suite may override them per calibrator).
        uses_hidden: whether it needs the model's penultimate features (``inputs.hidden``).
        description: one line for ``bench list calibrators``.
    """

    name: str
    fit: Callable[[CalibrationInputs, Mapping[str, Any]], Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    uses_hidden: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        check_name("calibrator", self.name)
        _check_callable("calibrator", self.name, "fit", self.fit)
        if not isinstance(self.defaults, Mapping):
            raise PluginError(f"calibrator {self.name!r}: defaults must be a mapping")


@dataclass(frozen=True)
class DetectorSpec:
    """An out-of-distribution detector a plugin contributes.

    Args:
        name: unique name used in a protocol's ``detectors`` list.
        score: ``score(inputs: DetectorInputs, args: Mapping) -> Tensor [N]``: one score per node
            of ``inputs.graph``, higher = more in-distribution.
        training: the training regime its model needs (``"plain"``: the backbone trained on the
            in-distribution nodes only; protocols offer others, e.g. OOD exposure). Detectors that
            name the same regime share one trained model.
        defaults: its arguments.
        description: one line for ``bench list detectors``.

    A detector that needs the penultimate features computes them from ``inputs.model`` (for
    the built-in backbones, ``model.embed(graph)``).
    """

    name: str
    score: Callable[[DetectorInputs, Mapping[str, Any]], Any]
    training: str = "plain"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        check_name("detector", self.name)
        _check_callable("detector", self.name, "score", self.score)
        check_name("training regime", self.training)
        if not isinstance(self.defaults, Mapping):
            raise PluginError(f"detector {self.name!r}: defaults must be a mapping")


@dataclass(frozen=True)
class AnalysisSpec:
    """A measurement of a trained model a plugin contributes (e.g. Jacobian influence).

    Args:
        name: unique name used in a protocol's ``analyses`` mapping (``{name: {args}}``).
        run: ``run(trained: TrainedModel, args: Mapping) -> {"metrics": {...}, "extras": {...}}``.
        defaults / checks: its arguments, validated like a protocol's when a suite loads.
        columns: numbers of ``metrics`` shown on the leaderboard (averaged over runs).
        plots: ``{name: draw(records, path) -> path}``: the plots ``bench plot NAME --suite S`` draws from
            the records of a suite whose protocol arguments name this analysis (:data:`PlotFunction`).
        description: one line for ``bench list analyses``.
    """

    name: str
    run: Callable[[TrainedModel, Mapping[str, Any]], Mapping[str, Any]]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    checks: Mapping[str, Callable[[str, Any], Any]] = field(default_factory=dict)
    columns: tuple[Column, ...] = ()
    plots: Mapping[str, PlotFunction] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        check_name("analysis", self.name)
        object.__setattr__(self, "plots", _check_plots("analysis", self.name, self.plots))
        _check_callable("analysis", self.name, "run", self.run)
        unchecked = sorted(set(self.defaults) - set(self.checks))
        if unchecked:
            raise PluginError(f"analysis {self.name!r}: arguments without a check: {unchecked}")
        object.__setattr__(self, "columns", tuple(self.columns))

    def resolve(self, args: Any, where: str) -> dict[str, Any]:
        from bench_gnn.errors import ConfigError, unknown_name

        if not isinstance(args, Mapping):
            raise ConfigError(f"{where} must be a mapping of {self.name}'s arguments, got {args!r}")
        for key in args:
            if key not in self.defaults:
                raise ConfigError(f"{where}: " + str(unknown_name(f"{self.name} argument", key, self.defaults)))
        merged = {**self.defaults, **args}
        return {key: self.checks[key](f"{where}.{key}", merged[key]) for key in self.defaults}
