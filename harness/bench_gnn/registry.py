"""Name -> spec registries, with the plugin each spec came from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bench_gnn.errors import PluginError, UsageError, unknown_name

T = TypeVar("T")


@dataclass
class PluginInfo:
    """One loaded (or failed) entry point of the ``bench`` group."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    contributes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        dist = f"{self.distribution} {self.version}" if self.distribution else "not installed"
        return f"{self.name} ({dist})"


@dataclass(frozen=True)
class Registered(Generic[T]):
    spec: T
    plugin: PluginInfo


class Registry(Generic[T]):
    """Specs of one kind (model, dataset, metric, suite) keyed by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Registered[T]] = {}
        self._conflicts: dict[str, list[PluginInfo]] = {}

    def check_free(self, name: str, plugin: PluginInfo) -> None:
        if name in self._items or name in self._conflicts:
            owners = [self._items[name].plugin] if name in self._items else self._conflicts[name]
            self._conflicts.setdefault(name, owners)
            self._conflicts[name].append(plugin)
            self._items.pop(name, None)
            raise PluginError(
                f"{self.kind} {name!r} is provided by more than one plugin: "
                f"{', '.join(p.label for p in self._conflicts[name])}. "
                f"Rename it in one of them or uninstall one."
            )

    def add(self, name: str, spec: T, plugin: PluginInfo) -> None:
        self._items[name] = Registered(spec, plugin)

    def get(self, name: str) -> Registered[T]:
        if name in self._conflicts:
            raise UsageError(
                f"{self.kind} {name!r} is ambiguous: provided by "
                f"{', '.join(p.label for p in self._conflicts[name])}. Uninstall or rename one of them."
            )
        if name not in self._items:
            raise unknown_name(self.kind, name, self._items, hint=f"See `bench list {self.kind}s`.")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: Any) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Registered[T]]:
        return iter(self._items[k] for k in sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
