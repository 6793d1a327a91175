"""What the OOD protocols derive from the dataset they are given (the shifted graphs of ``gats-calibration``, the
OOD settings of ``gnnsafe-ood``), kept for the next jobs on the same dataset.

Each value must be a pure function of the dataset object and its key. The runner holds one dataset at a time, so
one slot is kept: the values of the dataset last asked about, dropped when another dataset object is asked about.
The dataset is referenced weakly, so a dataset the runner released and loads again is a new object and a miss.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["DATASET_CACHE", "DatasetCache"]

T = TypeVar("T")


class DatasetCache:
    """Values derived from one dataset object, by key."""

    def __init__(self) -> None:
        self._data: weakref.ref[Any] | None = None
        self._values: dict[Hashable, Any] = {}

    def get(self, data: Any, key: Hashable, build: Callable[[], T]) -> T:
        """The value of ``key`` for ``data``: ``build()`` the first time, kept while ``data`` is the dataset asked
        about."""
        if self._data is None or self._data() is not data:
            self._data, self._values = weakref.ref(data), {}
        if key not in self._values:
            self._values[key] = build()
        value: T = self._values[key]
        return value


#: the one cache of the family's protocols (their keys do not collide: ``gnnsafe-ood`` uses strings,
#: ``gats-calibration`` tuples)
DATASET_CACHE = DatasetCache()
