"""Analyses named in a protocol's ``analyses`` argument: ``{name: {arg: value}}``.

An analysis (:class:`bench_gnn.specs.AnalysisSpec`) measures a trained model, e.g. its
Jacobian influence profile. Protocols call :func:`run_analyses` after training; each analysis
fills its own cell (:mod:`bench_gnn.protocols.cells`), so a broken one fails only that cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

from bench_gnn.errors import ConfigError
from bench_gnn.protocols.cells import run_cell


@dataclass
class TrainedModel:
    """What an analysis receives: the trained model and what it was trained on."""

    model: nn.Module
    data: Any  # a PyG Data (node tasks) or GraphTaskData (graph tasks)
    device: torch.device
    seed: int
    split: int


def check_analyses(key: str, value: Any) -> dict[str, Any]:
    """The shape of an ``analyses`` argument: a mapping of analysis name to a mapping of its arguments."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) or v is None for v in value.values()):
        raise ConfigError(f"{key} must map analysis names to their arguments, e.g. {{influence: {{hops: 5}}}}, "
                          f"got {value!r}")
    return {str(name): dict(args or {}) for name, args in value.items()}


def resolve_analyses(value: Mapping[str, Any], plugins: Any) -> dict[str, Any]:
    """Each named analysis looked up (did-you-mean when unknown) and its arguments completed with its defaults."""
    return {
        name: plugins.analyses.get(name).spec.resolve(args, f"protocol_args.analyses.{name}")
        for name, args in value.items()
    }


def check_protocol_analyses(args: Mapping[str, Any], plugins: Any) -> dict[str, Any]:
    """A protocol's ``check`` for its ``analyses`` argument: ``args`` with each named analysis looked up and its
    arguments completed (:func:`resolve_analyses`). A protocol with nothing else to check passes this as its
    ``ProtocolSpec.check``."""
    return {**args, "analyses": resolve_analyses(args["analyses"], plugins)}


def run_analyses(ctx: Any, trained: TrainedModel) -> dict[str, dict[str, Any]]:
    """Run the analyses of ``ctx.args["analyses"]`` on ``trained``: one cell each."""
    cells = {}
    for name, args in (ctx.args.get("analyses") or {}).items():
        spec = ctx.plugins.analyses.get(name).spec
        cells[name] = run_cell("analysis", name, partial(spec.run, trained, args))
    return cells
