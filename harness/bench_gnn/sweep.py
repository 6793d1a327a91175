"""A sweep as the user asked for it, built once and handed to ``run``, ``status`` and ``launch``.

:class:`Sweep` holds the suite, the filters that choose its jobs (``--model``, ``--dataset``, ``--splits``,
``--steps``), the overrides, and where and how the jobs run (results folder, device, CPU threads, data and
cache folders, offline, over-budget models). The CLI builds it from its options (:meth:`Sweep.from_args`), the
Python API from keywords; the commands read it, and ``bench launch`` hands it to each worker as the same
``bench run`` options (:meth:`Sweep.worker_args`).
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_gnn.errors import UsageError
from bench_gnn.jobs import Job, expand
from bench_gnn.suite import Suite, apply_overrides, read_suite_file, validate_suite

if TYPE_CHECKING:
    from bench_gnn.plugin_manager import Plugins

DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True)
class Sweep:
    """Which jobs of which suite, with what changes, where and how they run.

    Args:
        suite: an installed suite's name, or the path of a suite YAML file.
        models, datasets: only these models / datasets (empty: all of the suite's).
        splits: only the first K splits or seeds; steps: each protocol's step argument set to N.
        overrides: OmegaConf ``KEY=VALUE`` overrides of the suite.
        results: the folder of result records (records go to ``<results>/<suite name>``).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: CPU threads for torch in each process (None: torch's choice, or the launcher's).
        data_dir, cache_dir: the data folder and the writable cache (None: the defaults).
        offline: never download; allow_over_budget: run models over the suite's parameter budget.
        plugin_files: plugin module files loaded besides the installed plugins (``--plugin PATH.py``).
    """

    suite: str
    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    splits: int | None = None
    steps: int | None = None
    overrides: tuple[str, ...] = ()
    results: Path = field(default_factory=lambda: Path("results"))
    device: str = "auto"
    threads: int | None = None
    data_dir: Path | None = None
    cache_dir: Path | None = None
    offline: bool = False
    allow_over_budget: bool = False
    plugin_files: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        for name in ("models", "datasets", "overrides"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise UsageError(f"Sweep.{name} must be a sequence of strings, got the string {value!r}")
            object.__setattr__(self, name, tuple(value))
        for name, flag in (("splits", "--splits/--seeds"), ("steps", "--steps"), ("threads", "--threads")):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UsageError(f"{flag} must be at least 1, got {value!r}")
        if not isinstance(self.device, str) or not DEVICE.fullmatch(self.device):
            # the form only: whether the device exists is asked where the jobs run (a worker may be elsewhere)
            raise UsageError(f"unknown device {self.device!r}; use auto, cpu, cuda, cuda:N or mps")
        object.__setattr__(self, "results", Path(self.results))
        object.__setattr__(self, "plugin_files", tuple(Path(path) for path in self.plugin_files))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Sweep:
        """The sweep of a parsed ``bench run``, ``status`` or ``launch`` command line (absent options: defaults)."""
        given = {"models": "model", "datasets": "dataset", "plugin_files": "plugin"}
        values = {}
        for item in fields(cls):
            value = getattr(args, given.get(item.name, item.name), None)
            if value is not None:
                values[item.name] = value
        return cls(**values)

    def with_results(self, results: Path) -> Sweep:
        return replace(self, results=results)

    def load(self, plugins: Plugins) -> tuple[Suite, Suite]:
        """The suite as run (overrides and ``steps`` applied) and as published.

        A model of ``models`` that the suite does not list but that is installed joins the suite as run, with
        its own defaults (``models.NAME.grid.KEY=[...]`` or ``models.NAME.hparams.KEY=...`` overrides tune it):
        it runs under the suite's protocol, splits or seeds, datasets and budget, unchanged.
        """
        guests: tuple[str, ...] = ()
        if self.models:  # only then is the suite file read here as well as in load_suite
            listed = suite_mapping(plugins, self.suite).get("models")
            known = listed if isinstance(listed, (list, dict)) else ()  # a malformed section is refused later
            guests = tuple(name for name in self.models if name not in known and name in plugins.models)
        suite, published = load_suite(plugins, self.suite, [*(f"models.{name}={{}}" for name in guests),
                                                            *self.overrides], self.steps)
        unlisted = tuple(name for name in suite.models if name not in published.models)  # --model or an override
        return (replace(suite, guests=unlisted) if unlisted else suite), published

    def jobs(self, plugins: Plugins) -> tuple[Suite, list[Job]]:
        """The suite as run and the jobs this sweep selects, each with its key and variant."""
        suite, published = self.load(plugins)
        jobs = expand(suite, plugins, models=self.models, datasets=self.datasets, max_runs=self.splits,
                      published=published)
        return suite, jobs

    def apply_threads(self) -> None:
        """Set torch's intra-op threads of this process to ``threads`` (nothing when None)."""
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)

    def worker_args(self) -> tuple[str, ...]:
        """The ``bench run`` options and overrides every worker of a launch gets (folders absolute: workers may
        start elsewhere). The suite, results, device and threads travel separately (a worker's own)."""
        args: list[str] = []
        for name in self.models:
            args += ["--model", name]
        for name in self.datasets:
            args += ["--dataset", name]
        if self.splits is not None:
            args += ["--splits", str(self.splits)]
        if self.steps is not None:
            args += ["--steps", str(self.steps)]
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir.expanduser().resolve())]
        if self.cache_dir is not None:
            args += ["--cache-dir", str(self.cache_dir.expanduser().resolve())]
        if self.offline:
            args.append("--offline")
        if self.allow_over_budget:
            args.append("--allow-over-budget")
        for path in self.plugin_files:
            args += ["--plugin", str(path.expanduser().resolve())]
        return (*args, *self.overrides)

    def status_command(self) -> str:
        """The ``bench status`` command that follows this sweep."""
        parts = ["bench", "status", "--suite", self.suite, "--results", str(self.results)]
        parts += [item for name in self.models for item in ("--model", name)]
        parts += [item for name in self.datasets for item in ("--dataset", name)]
        parts += ["--splits", str(self.splits)] if self.splits is not None else []
        parts += ["--steps", str(self.steps)] if self.steps is not None else []
        parts += [item for path in self.plugin_files for item in ("--plugin", str(path))]
        return shlex.join([*parts, *self.overrides])


def suite_mapping(plugins: Plugins, name: str) -> dict[str, Any]:
    """The raw suite: an installed suite's mapping, or a suite YAML file's."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise UsageError(f"suite file {path} does not exist")
        return read_suite_file(path)
    return dict(plugins.suites.get(name).spec[1])


def load_suite(
    plugins: Plugins, name: str, overrides: Sequence[str] = (), steps: int | None = None
) -> tuple[Suite, Suite]:
    """Return the suite as run (with overrides) and as published.

    A suite file that carries the name and version of an installed suite is judged
    against the installed one: whatever it changes makes its jobs a reduced variant,
    never "full".
    """
    raw = suite_mapping(plugins, name)
    own = published = validate_suite(raw, plugins)
    if own.name in plugins.suites:
        installed = plugins.suites.get(own.name).spec[1]
        from_file = raw.get("_source") != installed.get("_source")
        if from_file and str(installed.get("version")) == own.version:
            published = validate_suite(installed, plugins)
    overrides = list(overrides)
    if steps is not None:
        overrides += _steps_overrides(plugins, own, steps)
    suite = validate_suite(apply_overrides(raw, overrides), plugins) if overrides else own
    return suite, published


def _steps_overrides(plugins: Plugins, suite: Suite, steps: int) -> list[str]:
    """The overrides ``--steps N`` stands for: each protocol's ``step_key`` (steps, epochs, ...) set to N."""
    if steps < 1:
        raise UsageError("--steps must be at least 1")
    overrides = []
    suite_key = plugins.protocols.get(suite.protocol).spec.step_key
    if suite_key is not None:
        overrides.append(f"protocol_args.{suite_key}={steps}")
    for name, entry in suite.datasets.items():
        key = plugins.protocols.get(suite.protocol_for(name)).spec.step_key
        if key is not None and ("protocol" in entry or key in entry["protocol_args"]):
            overrides.append(f"datasets.{name}.protocol_args.{key}={steps}")
    if not overrides:
        raise UsageError(f"--steps: the protocols of suite {suite.name!r} have no step argument to set")
    return overrides
