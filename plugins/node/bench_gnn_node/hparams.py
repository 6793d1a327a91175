"""The node models' hyper-parameters: defaults, checks and the validated :class:`HParams` (torch-free; shared by
:mod:`bench_gnn_node.models` and the torch modules in :mod:`bench_gnn_node.layers`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench_gnn import ConfigError, check_int, check_number

DEFAULTS: Mapping[str, Any] = {
    "hidden": 512,
    "num_layers": 1,
    "dropout": 0.2,
    "heads": 8,
    "hidden_dim_multiplier": 1,
}
ATTENTION_MODELS = frozenset({"GAT", "GAT-sep", "GT", "GT-sep"})


@dataclass(frozen=True)
class HParams:
    """Validated hyper-parameters of one model."""

    hidden: int
    num_layers: int
    dropout: float
    heads: int
    hidden_dim_multiplier: float


def check_hparams(name: str, hparams: Mapping[str, Any]) -> HParams:
    """Merge ``hparams`` over the defaults and validate them; raise :class:`ConfigError` naming the model.

    Also the models' ``ModelSpec.check`` (cheap: no torch), so a suite with a bad value fails
    when it loads.
    """
    try:
        return _check(name, hparams)
    except ConfigError as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None


def _check(name: str, hparams: Mapping[str, Any]) -> HParams:
    unknown = sorted(set(hparams) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown hyper-parameter {unknown[0]!r}; known: {', '.join(sorted(DEFAULTS))}")
    values = {**DEFAULTS, **hparams}
    hidden = check_int("hidden", values["hidden"], minimum=1)
    num_layers = check_int("num_layers", values["num_layers"], minimum=1)
    heads = check_int("heads", values["heads"], minimum=1)
    dropout = check_number("dropout", values["dropout"], minimum=0, below=1)
    multiplier = check_number("hidden_dim_multiplier", values["hidden_dim_multiplier"])
    if int(hidden * multiplier) < 1:
        raise ConfigError(
            f"hidden_dim_multiplier must make int(hidden * hidden_dim_multiplier) >= 1, got {multiplier!r} "
            f"with hidden={hidden}"
        )
    if name in ATTENTION_MODELS and hidden % heads:
        raise ConfigError(
            f"hidden ({hidden}) must be divisible by heads ({heads}); try hidden={-(-hidden // heads) * heads}"
        )
    return HParams(hidden=hidden, num_layers=num_layers, dropout=dropout, heads=heads, hidden_dim_multiplier=multiplier)
