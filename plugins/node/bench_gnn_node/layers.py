"""The torch modules of the heterophily node models; specs, defaults and checks are in
:mod:`bench_gnn_node.models` (which imports this module only when it builds a model).

The architecture, the attention formulas and the differences from the reference code are
documented there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, partial
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATConv
from torch_geometric.nn.conv import SimpleConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import scatter, softmax

from bench_gnn_node.hparams import HParams


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
