"""Discover plugins through the ``bench`` entry-point group and collect their specs.

Each entry point is loaded inside its own error boundary: a plugin that fails to
import, breaks a hook or returns an invalid spec is recorded with its
distribution, version and error, and the others keep working. ``strict=True``
turns any such problem into a :class:`PluginError`.

``BENCH_DISABLE_PLUGIN_AUTOLOAD=1`` loads only bench's own first-party plugins
(the entry points of the ``bench-gnn`` distribution), for isolated runs.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from bench_gnn import hookspecs
from bench_gnn.errors import BenchError, PluginError, unknown_name
from bench_gnn.files import file_digest
from bench_gnn.kinds import BY_HOOK, KINDS, Kind
from bench_gnn.registry import PluginInfo, Registry
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
    check_name,
)

GROUP = "bench"
DISTRIBUTION = "bench-gnn"
DISABLE_AUTOLOAD_ENV = "BENCH_DISABLE_PLUGIN_AUTOLOAD"

@dataclass
class Plugins:
    """Everything the installed plugins contribute."""

    plugins: list[PluginInfo] = field(default_factory=list)
    # one registry per kind of bench_gnn.kinds.KINDS, made in __post_init__; declared here for their types
    models: Registry[ModelSpec] = field(init=False)
    datasets: Registry[DatasetSpec] = field(init=False)
    metrics: Registry[MetricSpec] = field(init=False)
    suites: Registry[Any] = field(init=False)
    launchers: Registry[LauncherSpec] = field(init=False)
    protocols: Registry[ProtocolSpec] = field(init=False)
    calibrators: Registry[CalibratorSpec] = field(init=False)
    detectors: Registry[DetectorSpec] = field(init=False)
    analyses: Registry[AnalysisSpec] = field(init=False)

    def __post_init__(self) -> None:
        for kind in KINDS:
            setattr(self, kind.plural, Registry(kind.singular))

    def registry(self, kind: Kind) -> Registry[Any]:
        registry: Registry[Any] = getattr(self, kind.plural)
        return registry

    @property
    def errors(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]

    def distributions(self) -> dict[str, str]:
        return {p.distribution: p.version or "" for p in self.plugins if p.distribution and not p.error}


def _entry_points() -> list[metadata.EntryPoint]:
    eps = list(metadata.entry_points(group=GROUP))
    if os.environ.get(DISABLE_AUTOLOAD_ENV, "").lower() not in ("", "0", "false", "no"):
        eps = [ep for ep in eps if ep.dist is not None and ep.dist.name == DISTRIBUTION]
    return sorted(eps, key=lambda ep: (ep.dist.name != DISTRIBUTION if ep.dist else True, ep.name))


def load_plugins(
    strict: bool = False, extra: Iterable[tuple[str, Any]] = (), files: Iterable[Path] = ()
) -> Plugins:
    """Load every entry point of the ``bench`` group, then the plugin module ``files`` (``--plugin PATH.py``),
    then ``extra`` ``(name, module)`` pairs."""
    result = Plugins()
    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
    sources: list[tuple[PluginInfo, Any]] = []
    for ep in _entry_points():
        dist = ep.dist
        info = PluginInfo(ep.name, ep.value, dist.name if dist else None, dist.version if dist else None)
        try:
            sources.append((info, ep.load()))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            _fail(result, info, f"import failed: {type(exc).__name__}: {exc}", strict)
    for path in files:
        info = file_plugin_info(path)
        try:
            sources.append((info, _import_file(path, info)))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            _fail(result, info, f"import failed: {type(exc).__name__}: {exc}", strict)
    for name, module in extra:
        sources.append((PluginInfo(name, getattr(module, "__name__", repr(module))), module))
    for info, module in sources:
        _register(manager, result, info, module, strict)
    return result


FILE_DISTRIBUTION = "file:"


def file_plugin_info(path: Path) -> PluginInfo:
    """A plugin module file: named by its path; its "distribution" ``file:<file name>`` and "version" the sha256
    of its content, so every job of one of its models names the file's content in its identity (two versions of
    the file never share a record) and not where it lies (the same file gives the same keys on every machine)."""
    resolved = path.expanduser().resolve()
    info = PluginInfo(str(resolved), str(resolved), FILE_DISTRIBUTION + resolved.name)
    try:
        info.version = "sha256:" + file_digest(resolved)
    except OSError as exc:
        info.version = "unreadable"
        info.error = f"cannot read plugin file {resolved}: {exc.strerror or exc}"
    return info


def _import_file(path: Path, info: PluginInfo) -> Any:
    if info.error is not None or info.version is None:
        raise PluginError(info.error or f"cannot read plugin file {path}")
    name = f"bench_plugin_file_{info.version.removeprefix('sha256:')[:16]}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, info.module)
    if spec is None or spec.loader is None:
        raise PluginError(f"{info.module} is not a Python module file (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _fail(result: Plugins, info: PluginInfo, error: str, strict: bool) -> None:
    info.error = error
    if info not in result.plugins:
        result.plugins.append(info)
    if strict:
        raise PluginError(f"plugin {info.label}: {error}")


def _register(manager: pluggy.PluginManager, result: Plugins, info: PluginInfo, module: Any, strict: bool) -> None:
    result.plugins.append(info)
    try:
        manager.register(module, name=f"{info.distribution}:{info.name}")
    except (pluggy.PluginValidationError, ValueError) as exc:
        _fail(result, info, f"invalid hook implementation: {exc}", strict)
        return
    try:
        contributions = _collect(manager, module)
    except BenchError as exc:
        manager.unregister(module)
        _fail(result, info, str(exc), strict)
        return
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken hook (even sys.exit) must not stop the others
        manager.unregister(module)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        _fail(result, info, f"hook raised {detail}", strict)
        return
    problems = []
    for kind, name, spec in contributions:
        registry = getattr(result, kind)
        try:
            registry.check_free(name, info)
            registry.add(name, spec, info)
        except PluginError as exc:
            problems.append(str(exc))
    info.contributes = tuple(f"{getattr(result, kind).kind}:{name}" for kind, name, _ in contributions)
    if problems:
        _fail(result, info, "; ".join(problems), strict)


def _collect(manager: pluggy.PluginManager, module: Any) -> list[tuple[str, str, Any]]:
    """Call the plugin's own hook implementations and validate what they return."""
    from bench_gnn.suite import read_suite_source

    found: list[tuple[str, str, Any]] = []
    for caller in manager.get_hookcallers(module) or ():
        if caller.name not in BY_HOOK:
            raise unknown_name("hook", caller.name, BY_HOOK, hint="Hooks are listed in bench_gnn.hookspecs.")
        kind: str = BY_HOOK[caller.name].plural
        spec_type: type[Any] = BY_HOOK[caller.name].spec
        hook = caller.name
        impls = [impl for impl in caller.get_hookimpls() if impl.plugin is module]
        items: list[Any] = [item for impl in impls for item in _as_list(impl.function(), hook, spec_type)]
        for item in items:
            if not isinstance(item, spec_type):
                raise PluginError(f"{hook}() returned {item!r}; expected {spec_type.__name__} instances")
            if isinstance(item, SuiteSource):
                mapping = read_suite_source(item)
                check_name("suite", mapping["name"])
                found.append((kind, mapping["name"], (item, mapping)))
            else:
                found.append((kind, item.name, item))
    return found


def _as_list(items: Any, hook: str, spec_type: type) -> list[Any]:
    if not isinstance(items, (list, tuple)):
        raise PluginError(f"{hook}() must return a list of {spec_type.__name__}, got {type(items).__name__}")
    return list(items)


def python_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for dist in ("torch", "torch-geometric", "torchmetrics", DISTRIBUTION):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions
