"""One family of argument checks for protocol arguments, hyper-parameters and suite fields.

Each check returns the value (converted where the conversion is lossless, e.g. ``2``
for a float key) or raises :class:`bench_gnn.errors.ConfigError` saying which key,
what was expected and what was given. Callers add where the value came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from bench_gnn.errors import ConfigError


def _got(value: Any) -> str:
    return f"got {value!r} ({type(value).__name__})"


def check_int(key: str, value: Any, minimum: int | None = None) -> int:
    """An integer (not a bool, not 2.7) at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ConfigError(f"{key} must be an integer{bound}, {_got(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, {_got(value)}")
    return value


def check_number(key: str, value: Any, minimum: float | None = None, below: float | None = None) -> float:
    """A finite real number in ``[minimum, below)`` (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number{_range(minimum, below)}, {_got(value)}")
    if (minimum is not None and value < minimum) or (below is not None and value >= below):
        raise ConfigError(f"{key} must be a number{_range(minimum, below)}, {_got(value)}")
    return float(value)


def check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, {_got(value)}")
    return value


def check_choice(key: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = tuple(choices)
    if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) and c == value for c in choices):
        raise ConfigError(f"{key} must be one of {', '.join(repr(c) for c in choices)}, {_got(value)}")
    return value


def check_str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, {_got(value)}")
    return value


def _range(minimum: float | None, below: float | None) -> str:
    if minimum is not None and below is not None:
        return f" in [{minimum:g}, {below:g})"
    if minimum is not None:
        return f" >= {minimum:g}"
    if below is not None:
        return f" < {below:g}"
    return ""
