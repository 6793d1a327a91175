"""Long-range graph models: the LRGB baselines as re-tuned by Tönshoff et al. (2023), GPS and DRew.

All models share one skeleton: node encoder (feature embedding, optionally concatenated with a
positional-encoding embedding) -> ``layers`` message-passing blocks -> readout -> head MLP.

* ``LRGB-GCN``, ``GINE``, ``GatedGCN``: one block is ``h + Dropout(GELU(BatchNorm(conv(h))))``
  (residual around the non-linearity). GatedGCN (Bresson & Laurent 2017, with the edge-feature
  stream of Dwivedi et al. 2020) also updates edge features with their own residual.
* ``GPS`` (Rampášek et al. 2022): PyG ``GPSConv`` = local GatedGCN (or GINE) + multi-head attention.
* ``Transformer-LapPE``: ``GPSConv`` without a local model, i.e. a BatchNorm transformer over all
  nodes of each graph, with Laplacian positional encodings.
* ``DRew-GCN`` (Gutteridge et al. 2023): at layer ``t`` (0-based) node ``i`` aggregates, for each
  hop distance ``k = 1..min(t+1, max_hops)``, the ``k``-hop neighbours' states from layer
  ``t - max(0, k - nu)``: ``h^{t+1} = h^t + Dropout(GELU(BN(sum_k GCN_{k,t}(A_k, h^{t-tau(k)}))))``.
  ``nu=1`` is the fully delayed model, ``nu="inf"`` (or ``None``) removes the delay.

Readout by ``TaskInfo.extras["level"]``: ``"graph"`` mean-pools and returns ``[num_graphs, out_dim]``;
``"node"`` and ``"root"`` return ``[num_nodes, out_dim]`` (the protocol picks the root nodes).

Input features: ``extras["x_dtype"] == "long"`` embeds each column and sums the embeddings (ogb's
AtomEncoder/BondEncoder scheme; vocabulary from ``extras["x_vocab"]``/``extras["edge_vocab"]``, or
ogb's atom/bond vocabularies when there are 9/3 columns); ``"float"`` uses a linear layer.

Positional encodings (``pe: none | lappe | rwse``) are read from the batch when the dataset pipeline
attached them with :func:`add_positional_encodings` (preferred: computed once per graph); otherwise
the model computes them for every batch, vectorised over the batch's graphs (LapPE then costs a
batched dense eigendecomposition per step).

Defaults are the Peptides-func configurations of Tönshoff et al. (toenshoff/LRGB,
``configs/LRGB-tuned/peptides-func-*.yaml``) where one exists, with widths chosen to stay under a
500k parameter budget at Peptides-func dimensions (9 atom / 3 bond features, 10 outputs).

This module (the ``longrange-models`` entry point) holds the specs, defaults and the hyper-parameter
check and imports no torch; the modules, :func:`add_positional_encodings` and :func:`hop_edge_sets`
are in :mod:`bench_gnn_longrange.layers`, imported when a model is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

from bench_gnn import (
    ConfigError,
    ModelSpec,
    TaskInfo,
    UsageError,
    check_bool,
    check_choice,
    check_int,
    check_number,
)
from bench_gnn_longrange.constants import LOCAL_MODELS, PE_KINDS

# --------------------------------------------------------------------------- defaults

_COMMON = {"dropout": 0.1, "head_depth": 3, "pe": "rwse", "pe_k": 20, "pe_dim": 28}
_MPNN = {**_COMMON, "batch_norm": True, "residual": True}
_ATTENTION = {"pe": "lappe", "pe_k": 10, "pe_dim": 16, "heads": 4, "attn_dropout": 0.5}

DEFAULTS: dict[str, dict[str, Any]] = {
    # Tönshoff et al. peptides-func: GCN 6 x 235, GINE 8 x 160, GatedGCN 10 x 95, all Atom+RWSE, head 3.
    "LRGB-GCN": {**_MPNN, "hidden": 235, "layers": 6},
    "GINE": {**_MPNN, "hidden": 160, "layers": 8},
    "GatedGCN": {**_MPNN, "hidden": 95, "layers": 10},
    # Tönshoff et al. peptides-func GPS: GatedGCN+Transformer, 6 x 76, 4 heads, attn dropout 0.5, LapPE, head 2.
    "GPS": {**_COMMON, **_ATTENTION, "hidden": 76, "layers": 6, "head_depth": 2, "local_model": "gatedgcn"},
    "Transformer-LapPE": {**_COMMON, **_ATTENTION, "hidden": 116, "layers": 4, "head_depth": 2},
    # DRew's "DRew-GCN" row has no PE (pe="lappe" gives its "+LapPE" variant); 8 layers, every hop reachable.
    "DRew-GCN": {**_MPNN, "pe": "none", "pe_k": 10, "pe_dim": 16, "hidden": 110, "layers": 8, "nu": 1, "max_hops": 8},
}

_DESCRIPTIONS = {
    "LRGB-GCN": "GCN for long-range graph tasks (Tönshoff et al. 2023 re-tuned: residual, BN, GELU, RWSE)",
    "GINE": "GINE with edge features (Tönshoff et al. 2023 re-tuned)",
    "GatedGCN": "GatedGCN with gated edge features (Bresson & Laurent 2017; Tönshoff et al. 2023 re-tuned)",
    "GPS": "GraphGPS: GatedGCN/GINE local model + multi-head attention (PyG GPSConv), LapPE",
    "Transformer-LapPE": "Transformer over all nodes of each graph with Laplacian PE (LRGB baseline)",
    "DRew-GCN": "DRew-GCN: layer-dependent k-hop rewiring with delay nu (Gutteridge et al. 2023)",
}


# --------------------------------------------------------------------------- hyper-parameter checks


def resolve_hparams(name: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Model ``name``'s defaults with ``hparams`` applied, validated; ``nu`` parsed (``math.inf`` for no delay).

    Raises :class:`ConfigError` naming the model, the key and the rule. Also the models'
    ``ModelSpec.check`` (cheap: no torch), so a suite with a bad value fails when it loads.
    """
    try:
        return _resolve(DEFAULTS[name], hparams)
    except ConfigError as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None


def _resolve(defaults: Mapping[str, Any], hparams: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(hparams) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown hyper-parameters {unknown}; known: {', '.join(sorted(defaults))}")
    hp = {**defaults, **hparams}
    for key in ("hidden", "layers", "head_depth", "pe_k", "pe_dim", "heads", "max_hops"):
        if key in hp:
            check_int(key, hp[key], minimum=1)
    for key in ("dropout", "attn_dropout"):
        if key in hp:
            check_number(key, hp[key], minimum=0, below=1)
    for key in ("batch_norm", "residual"):
        if key in hp:
            check_bool(key, hp[key])
    check_choice("pe", hp["pe"], PE_KINDS)
    if hp["pe"] != "none" and hp["pe_dim"] >= hp["hidden"]:
        raise ConfigError(f"pe_dim ({hp['pe_dim']}) must be smaller than hidden ({hp['hidden']})")
    if "heads" in hp and hp["hidden"] % hp["heads"]:
        raise ConfigError(f"hidden ({hp['hidden']}) must be divisible by heads ({hp['heads']})")
    if "local_model" in hp:
        check_choice("local_model", hp["local_model"], LOCAL_MODELS)
    if "nu" in hp:
        hp["nu"] = parse_nu(hp["nu"])
    return hp


def parse_nu(value: Any) -> float:
    """DRew's delay parameter: an integer >= 1, or ``"inf"``/``None``/``math.inf`` for no delay."""
    if value is None or value == "inf" or (isinstance(value, float) and math.isinf(value) and value > 0):
        return math.inf
    try:
        return check_int("nu", value, minimum=1)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; or 'inf' for no delay") from None


# --------------------------------------------------------------------------- plugin registration


def build_model(name: str, task: TaskInfo, hparams: Mapping[str, Any]) -> Any:
    """Build model ``name`` for ``task`` (a ``longrange_layers.LongRangeModel``); ``hparams`` may hold any
    subset of the model's defaults."""
    hp = resolve_hparams(name, hparams)
    if task.task != "graph":
        raise UsageError(f"model {name!r} supports task 'graph' only, got {task.task!r}")
    from bench_gnn_longrange.layers import build

    return build(name, task, hp)


def model_specs() -> list[ModelSpec]:
    return [
        ModelSpec(
            name=name,
            build=partial(build_model, name),
            defaults=dict(DEFAULTS[name]),
            tasks=frozenset({"graph"}),
            description=_DESCRIPTIONS[name],
            check=partial(resolve_hparams, name),
        )
        for name in DEFAULTS
    ]
