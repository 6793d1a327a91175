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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_gnn.errors import PluginError

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
    build: Callable[..., Any]
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
    load: Callable[..., Any]
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
    """

    name: str
    launch: Callable[..., Any]
    options: Mapping[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    install: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        check_name("launcher", self.name)
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
