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
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATConv
from torch_geometric.nn.conv import SimpleConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import scatter, softmax

from bench_gnn import ModelSpec, TaskInfo, hookimpl
from bench_gnn.errors import UsageError

DEFAULTS: Mapping[str, Any] = {
    "hidden": 512,
    "num_layers": 1,
    "dropout": 0.2,
    "heads": 8,
    "hidden_dim_multiplier": 1,
}


@dataclass(frozen=True)
class HParams:
    """Validated hyper-parameters of one model."""

    hidden: int
    num_layers: int
    dropout: float
    heads: int
    hidden_dim_multiplier: float


class Graph:
    """The graph of one forward pass.

    Quantities derived from it are computed on first use and shared by every layer of that
    pass; nothing outlives the pass, so a model can be run on a different graph next time.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype):
        self.edge_index = edge_index
        self.num_nodes = num_nodes
        self.dtype = dtype

    @cached_property
    def gcn_weight(self) -> Tensor:
        """``1 / sqrt(d_u d_v)`` for every edge, degrees counted without self-loops."""
        _, weight = gcn_norm(self.edge_index, num_nodes=self.num_nodes, add_self_loops=False, dtype=self.dtype)
        return weight


class FeedForward(nn.Module):
    """``Dropout(W_2 GELU(Dropout(W_1 z)))``, mapping ``input_multiplier * hidden`` to ``hidden``."""

    def __init__(self, hp: HParams, input_multiplier: int = 1):
        super().__init__()
        inner = int(hp.hidden * hp.hidden_dim_multiplier)
        self.layers = nn.Sequential(
            nn.Linear(input_multiplier * hp.hidden, inner),
            nn.Dropout(hp.dropout),
            nn.GELU(),
            nn.Linear(inner, hp.hidden),
            nn.Dropout(hp.dropout),
        )

    def forward(self, x: Tensor, graph: Graph | None = None) -> Tensor:
        return self.layers(x)


class GCNBlock(nn.Module):
    """Symmetric-normalised sum over neighbours (no self-loops), then feed-forward."""

    def __init__(self, hp: HParams):
        super().__init__()
        self.propagate = SimpleConv(aggr="sum")
        self.feed_forward = FeedForward(hp)

    def aggregate(self, x: Tensor, graph: Graph) -> Tensor:
        return self.propagate(x, graph.edge_index, graph.gcn_weight)

    def forward(self, x: Tensor, graph: Graph) -> Tensor:
        return self.feed_forward(self.aggregate(x, graph))


class SAGEBlock(nn.Module):
    """``[x, mean of neighbours]``, then feed-forward."""

    def __init__(self, hp: HParams):
        super().__init__()
        self.propagate = SimpleConv(aggr="mean", combine_root="cat")
        self.feed_forward = FeedForward(hp, input_multiplier=2)

    def aggregate(self, x: Tensor, graph: Graph) -> Tensor:
        return self.propagate(x, graph.edge_index)

    def forward(self, x: Tensor, graph: Graph) -> Tensor:
        return self.feed_forward(self.aggregate(x, graph))


class GATBlock(nn.Module):
    """Multi-head GAT message (``[x, message]`` when ``separate``), then feed-forward."""

    def __init__(self, hp: HParams, separate: bool):
        super().__init__()
        self.separate = separate
        self.attention = GATConv(
            hp.hidden, hp.hidden // hp.heads, heads=hp.heads, concat=True, negative_slope=0.2, add_self_loops=False
        )
        self.feed_forward = FeedForward(hp, input_multiplier=2 if separate else 1)

    def aggregate(self, x: Tensor, graph: Graph) -> Tensor:
        message = self.attention(x, graph.edge_index)
        return torch.cat([x, message], dim=1) if self.separate else message

    def forward(self, x: Tensor, graph: Graph) -> Tensor:
        return self.feed_forward(self.aggregate(x, graph))


class TransformerAttention(nn.Module):
    """Scaled dot-product attention over each node's neighbours, then ``W_o`` and Dropout.

    With ``separate``, ``W_o`` takes ``[x, message]`` instead of the message alone.
    """

    def __init__(self, hp: HParams, separate: bool):
        super().__init__()
        self.separate = separate
        self.heads = hp.heads
        self.scale = (hp.hidden // hp.heads) ** -0.5
        self.query = nn.Linear(hp.hidden, hp.hidden)
        self.key = nn.Linear(hp.hidden, hp.hidden)
        self.value = nn.Linear(hp.hidden, hp.hidden)
        self.output = nn.Linear(2 * hp.hidden if separate else hp.hidden, hp.hidden)
        self.dropout = nn.Dropout(hp.dropout)

    def aggregate(self, x: Tensor, graph: Graph) -> Tensor:
        src, dst = graph.edge_index
        n = x.size(0)
        query = self.query(x).view(n, self.heads, -1)
        key = self.key(x).view(n, self.heads, -1)
        value = self.value(x).view(n, self.heads, -1)
        scores = (query[dst] * key[src]).sum(dim=-1) * self.scale  # [E, heads]
        weights = softmax(scores, dst, num_nodes=n)  # over the incoming edges of each node
        message = scatter(weights.unsqueeze(-1) * value[src], dst, dim=0, dim_size=n, reduce="sum")
        message = message.view(n, -1)
        return torch.cat([x, message], dim=1) if self.separate else message

    def forward(self, x: Tensor, graph: Graph) -> Tensor:
        return self.dropout(self.output(self.aggregate(x, graph)))


class PreNormResidual(nn.Module):
    """``x + block(LayerNorm(x))``."""

    def __init__(self, dim: int, block: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.block = block

    def forward(self, x: Tensor, graph: Graph) -> Tensor:
        return x + self.block(self.norm(x), graph)


# The residual blocks that make up one layer of each model, in order.
LAYERS: dict[str, tuple[Callable[[HParams], nn.Module], ...]] = {
    "ResNet": (FeedForward,),
    "GCN": (GCNBlock,),
    "SAGE": (SAGEBlock,),
    "GAT": (partial(GATBlock, separate=False),),
    "GAT-sep": (partial(GATBlock, separate=True),),
    "GT": (partial(TransformerAttention, separate=False), FeedForward),
    "GT-sep": (partial(TransformerAttention, separate=True), FeedForward),
}
ATTENTION_MODELS = frozenset({"GAT", "GAT-sep", "GT", "GT-sep"})
DESCRIPTIONS = {
    "ResNet": "MLP with pre-norm residual feed-forward blocks; ignores the graph (Platonov et al. 2023)",
    "GCN": "symmetric-normalised neighbour sum + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "SAGE": "[ego, neighbour mean] + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "GAT": "8-head GAT message + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "GAT-sep": "[ego, 8-head GAT message] + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "GT": "8-head neighbour transformer attention + feed-forward, pre-norm residual (Platonov et al. 2023)",
    "GT-sep": "[ego, 8-head neighbour attention] + feed-forward, pre-norm residual (Platonov et al. 2023)",
}


class NodeModel(nn.Module):
    """Input projection, ``num_layers`` layers of pre-norm residual blocks, output head."""

    def __init__(self, name: str, in_dim: int, out_dim: int, hp: HParams):
        super().__init__()
        self.name = name
        self.input = nn.Sequential(nn.Linear(in_dim, hp.hidden), nn.Dropout(hp.dropout), nn.GELU())
        self.blocks = nn.ModuleList(
            PreNormResidual(hp.hidden, make_block(hp)) for _ in range(hp.num_layers) for make_block in LAYERS[name]
        )
        self.output = nn.Sequential(nn.LayerNorm(hp.hidden), nn.Linear(hp.hidden, out_dim))

    def forward(self, data: Any) -> Tensor:
        x = data.x
        graph = Graph(data.edge_index, x.size(0), x.dtype)
        h = self.input(x)
        for block in self.blocks:
            h = block(h, graph)
        return self.output(h)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_hparams(name: str, hparams: Mapping[str, Any]) -> HParams:
    """Merge ``hparams`` over the defaults and validate them; raise :class:`UsageError` if bad."""
    unknown = sorted(set(hparams) - set(DEFAULTS))
    if unknown:
        raise UsageError(
            f"model {name!r}: unknown hyper-parameter {unknown[0]!r}; known: {', '.join(sorted(DEFAULTS))}"
        )
    values = {**DEFAULTS, **hparams}

    def bad(key: str, expected: str) -> UsageError:
        return UsageError(f"model {name!r}: hyper-parameter {key!r} must be {expected}, got {values[key]!r}")

    for key in ("hidden", "num_layers", "heads"):
        if not _is_int(values[key]) or values[key] < 1:
            raise bad(key, "a positive integer")
    if not _is_real(values["dropout"]) or not 0 <= values["dropout"] < 1:
        raise bad("dropout", "a number in [0, 1)")
    multiplier = values["hidden_dim_multiplier"]
    if not _is_real(multiplier) or int(values["hidden"] * multiplier) < 1:
        raise bad("hidden_dim_multiplier", "a positive number with int(hidden * hidden_dim_multiplier) >= 1")
    hidden, heads = int(values["hidden"]), int(values["heads"])
    if name in ATTENTION_MODELS and hidden % heads:
        raise UsageError(
            f"model {name!r}: hyper-parameter 'hidden' ({hidden}) must be divisible by 'heads' ({heads}); "
            f"try hidden={-(-hidden // heads) * heads}"
        )
    return HParams(
        hidden=hidden,
        num_layers=int(values["num_layers"]),
        dropout=float(values["dropout"]),
        heads=heads,
        hidden_dim_multiplier=float(multiplier),
    )


def build_model(name: str, task: TaskInfo, hparams: Mapping[str, Any]) -> NodeModel:
    """Build model ``name`` (a key of :data:`LAYERS`) for ``task``."""
    if task.task != "node":
        raise UsageError(f"model {name!r} supports node tasks only, got task {task.task!r}")
    for attr in ("in_dim", "out_dim"):
        value = getattr(task, attr)
        if not _is_int(value) or value < 1:
            raise UsageError(f"model {name!r}: task {attr} must be a positive integer, got {value!r}")
    return NodeModel(name, int(task.in_dim), int(task.out_dim), check_hparams(name, hparams))


@hookimpl
def bench_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name=name,
            build=partial(build_model, name),
            defaults=dict(DEFAULTS),
            tasks=frozenset({"node"}),
            description=DESCRIPTIONS[name],
        )
        for name in LAYERS
    ]
