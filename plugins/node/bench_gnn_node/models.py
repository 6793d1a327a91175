"""Node-classification models of the heterophily benchmark (first-party plugin).

Paper
    O. Platonov, D. Kuznedelev, M. Diskin, A. Babenko, L. Prokhorenkova. "A critical look at
    the evaluation of GNNs under heterophily: are we really making progress?", ICLR 2023.
    Reference code: github.com/yandex-research/heterophilous-graphs (``model.py``, ``modules.py``).

Models (names as used in suites)

    =========  ===================================================  ==========
    name       residual blocks per layer                            attention
    =========  ===================================================  ==========
    ResNet     FF(x)                                                no
    GCN        FF(sum_u x_u / sqrt(d_u d_v))                        no
    SAGE       FF([x, mean_u x_u])                                  no
    GAT        FF(sum_u a_uv W x_u)                                 8 heads
    GAT-sep    FF([x, sum_u a_uv W x_u])                            8 heads
    GT         W_o(sum_u a_uv V x_u); then FF(x)                    8 heads
    GT-sep     W_o([x, sum_u a_uv V x_u]); then FF(x)               8 heads
    =========  ===================================================  ==========

    ``u`` runs over the neighbours of ``v`` (``edge_index`` holds both directions), ``d`` is the
    degree without self-loops and ``[.,.]`` is concatenation. An isolated node gets a zero message.

Architecture
    ::

        h = GELU(Dropout(W_in x))                     # W_in: in_dim -> hidden
        h = h + block(LayerNorm(h))                   # for every block of every layer
        y = W_out LayerNorm(h)                        # W_out: hidden -> out_dim
        FF(z) = Dropout(W_2 GELU(Dropout(W_1 z)))     # W_1: k*hidden -> m*hidden, W_2: -> hidden

    with ``k`` = 2 for SAGE and GAT-sep, 1 otherwise, and ``m`` = ``hidden_dim_multiplier``.

    GAT attention (``GATConv``): ``a_uv = softmax_u(LeakyReLU_0.2(p_h . W_h x_u + q_h . W_h x_v))``
    per head ``h``. GT attention: ``a_uv = softmax_u((Q_h x_v) . (K_h x_u) / sqrt(hidden/heads))``,
    values ``V_h x_u``, heads concatenated, then ``W_o`` and Dropout.

Hyper-parameters (defaults)
    ``hidden`` 512, ``num_layers`` 1, ``dropout`` 0.2, ``heads`` 8 (attention models; ``hidden``
    must be divisible by it), ``hidden_dim_multiplier`` 1.

Shapes
    ``forward(data)``: ``data.x`` ``[N, in_dim]`` float, ``data.edge_index`` ``[2, E]``;
    returns ``[N, out_dim]`` (not squeezed when ``out_dim`` is 1).

Differences from the reference code
    * GAT uses PyG's ``GATConv``: one attention vector per head over that head's slice of
      ``W x`` (standard GAT), where the reference scores each head from all of ``W x``; the output
      bias is added after aggregation, so an isolated node gets the bias instead of zero.
    * GAT-sep concatenates the normalised input ``x`` rather than ``W x + b`` (``GATConv`` keeps
      ``W x`` to itself). The first linear layer of the feed-forward block follows, so the
      function class is the same.
    * GT attention is written with PyG's ``softmax`` and ``scatter``. ``TransformerConv`` with
      ``root_weight=False`` computes the same thing but still allocates its unused skip
      projection, which would be counted in ``num_params``.

Modules
    This module (the ``node-models`` entry point) holds the specs, defaults and hyper-parameter
    checks and imports no torch; the ``nn.Module`` classes are in :mod:`bench_gnn_node.layers`,
    imported when a model is built.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from functools import partial
from typing import Any

from bench_gnn import ModelSpec, TaskInfo, UsageError
from bench_gnn_node.hparams import DEFAULTS, check_hparams

DESCRIPTIONS = {
    "ResNet": "MLP with pre-norm residual feed-forward blocks; ignores the graph (Platonov et al. 2023)",
    "GCN": "symmetric-normalised neighbour sum + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "SAGE": "[ego, neighbour mean] + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "GAT": "8-head GAT message + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "GAT-sep": "[ego, 8-head GAT message] + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "GT": "8-head neighbour transformer attention + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "GT-sep": "[ego, 8-head neighbour attention] + feed-forward, pre-norm residual (Platonov et al. 2023)",
}
NAMES = tuple(DESCRIPTIONS)  # the models, in registration order (= node_layers.LAYERS)


def build_model(name: str, task: TaskInfo, hparams: Mapping[str, Any]) -> Any:
    """Build model ``name`` (one of :data:`NAMES`) for ``task``: a ``node_layers.NodeModel``."""
    if task.task != "node":
        raise UsageError(f"model {name!r} supports node tasks only, got task {task.task!r}")
    for attr in ("in_dim", "out_dim"):
        value = getattr(task, attr)
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise UsageError(f"model {name!r}: task {attr} must be a positive integer, got {value!r}")
    hp = check_hparams(name, hparams)
    from bench_gnn_node.layers import NodeModel

    return NodeModel(name, int(task.in_dim), int(task.out_dim), hp)


def model_specs() -> list[ModelSpec]:
    return [
        ModelSpec(
            name=name,
            build=partial(build_model, name),
            defaults=dict(DEFAULTS),
            tasks=frozenset({"node"}),
            description=DESCRIPTIONS[name],
            check=partial(check_hparams, name),
        )
        for name in NAMES
    ]
