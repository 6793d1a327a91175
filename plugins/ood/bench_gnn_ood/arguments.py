"""Arguments shared by the two protocols: name lists, argument mappings, per-job choices and the completion of
calibrator and detector arguments with their defaults (torch-free)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from bench_gnn import (
    ConfigError,
    JobError,
    check_int,
    check_number,
    unknown_name,
)

#: the checks of the arguments both protocols have (backbone training and the shift generators' seed)
COMMON_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "epochs": partial(check_int, minimum=1),
    "lr": partial(check_number, minimum=0),
    "weight_decay": partial(check_number, minimum=0),
    "shift_seed": partial(check_int, minimum=0),
}


def name_list(key: str, value: Any, known: Any = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{key} must not repeat a name, got {value!r}")
    for name in value:
        if known is not None and name not in known:
            raise ConfigError(f"{key}: " + str(unknown_name("shift", name, known)))
    return list(value)


def nonempty_name_list(key: str, value: Any) -> list[str]:
    names = name_list(key, value)
    if not names:
        raise ConfigError(f"{key} must name at least one, got an empty list")
    return names


def args_mapping(key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ConfigError(f"{key} must map names to mappings of their arguments, got {value!r}")
    return {str(k): dict(v) for k, v in value.items()}


def choose(args: Mapping[str, Any], choice: str, what: str, where: str) -> dict[str, Any]:
    """Arguments for one job: a value given as a mapping is looked up by ``choice`` (the job's model for
    ``gats-calibration``, its shift for ``gnnsafe-ood``); a mapping without it is an error naming both."""
    out = {}
    for key, value in args.items():
        if isinstance(value, Mapping):
            if choice not in value:
                raise JobError(f"{where}.{key} gives values for {what}s {sorted(value)}, not for {choice!r}")
            value = value[choice]
        out[key] = value
    return out


def complete_args(kind: str, chosen: list[str], given: Mapping[str, Any], registry: Any) -> dict[str, Any]:
    """Every chosen calibrator's or detector's arguments: its defaults, then the suite's values.

    Unknown names and keys are refused with did-you-mean; arguments of a known one that is not chosen are
    left out (so narrowing ``calibrators`` or ``detectors`` with an override needs nothing else)."""
    where = f"protocol_args.{kind}_args"
    for name in given:
        registry.get(name)  # an unknown name is an error (did you mean); a known one not chosen is not used
    completed = {}
    for name in chosen:
        defaults = registry.get(name).spec.defaults  # unknown name: did you mean
        for key in given.get(name, {}):
            if key not in defaults:
                raise ConfigError(f"{where}.{name}: " + str(unknown_name(f"{name} argument", key, defaults)))
        completed[name] = {**defaults, **given.get(name, {})}
    return completed
