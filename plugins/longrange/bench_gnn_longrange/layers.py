"""The torch modules of the long-range graph models, and the positional encodings and hop sets they use.

Specs, defaults and the hyper-parameter checks are in :mod:`bench_gnn_longrange.models`
(the ``longrange-models`` entry point), which imports this module when a model is built; the
architectures are described there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, GINEConv, GPSConv, global_mean_pool
from torch_geometric.utils import scatter

from bench_gnn import (
    LAPPE_MISSING,
    TaskInfo,
    UsageError,
    check_choice,
    check_int,
    graph_layout,
    laplacian_pe,
    propagator,
    random_walk_se,
)
from bench_gnn_longrange.constants import LEVELS
from bench_gnn_longrange.ogb_import import import_ogb

# --------------------------------------------------------------------------- positional encodings


def add_positional_encodings(data: Any, kind: str, k: int) -> Any:
    """Attach a positional encoding to a PyG ``Data`` (or ``Batch``); returns a copy, the input is untouched.

    ``kind="rwse"`` sets ``data.rwse`` ``[N, k]``; ``kind="lappe"`` sets ``data.lappe_vec`` and
    ``data.lappe_val`` (both ``[N, k]``, so PyG batching concatenates them). Usable as a
    ``pre_transform``: ``partial(add_positional_encodings, kind="rwse", k=20)``. The models read
    these attributes when present and compute them per batch otherwise.
    """
    if kind not in ("lappe", "rwse"):
        raise UsageError(f"positional encoding kind must be 'lappe' or 'rwse', got {kind!r}")
    check_int("k", k, minimum=1)
    data = data.clone()
    batch = getattr(data, "batch", None)
    if kind == "rwse":
        data.rwse = random_walk_se(data.edge_index, data.num_nodes, k, batch)
    else:
        data.lappe_vec, data.lappe_val = laplacian_pe(data.edge_index, data.num_nodes, k, batch)
    return data


def hop_edge_sets(edge_index: Tensor, num_nodes: int, max_hops: int, batch: Tensor | None = None) -> list[Tensor]:
    """Edge sets by shortest-path distance: element ``k-1`` holds every ``(source, target)`` pair at
    exactly ``k`` hops, ``k = 1..max_hops``. A breadth-first search from every node at once,
    vectorised over the batch as in :func:`random_walk_se`.
    """
    batch, ptr, local, max_nodes = graph_layout(batch, num_nodes, edge_index.device)
    prop = propagator(edge_index, num_nodes)
    reached = F.one_hot(local, max_nodes).float()
    dist = torch.where(reached > 0, 0, -1).to(torch.int16)
    for hop in range(1, max_hops + 1):
        reached = ((torch.sparse.mm(prop, reached) + reached) > 0).float()
        dist[(reached > 0) & (dist < 0)] = hop
    target, source_local = (dist > 0).nonzero(as_tuple=True)
    hops = dist[target, source_local].long()
    source = ptr[batch[target]] + source_local
    order = torch.argsort(hops, stable=True)
    counts = torch.bincount(hops, minlength=max_hops + 1)[1:].tolist()
    pairs = torch.stack([source[order], target[order]])
    return list(pairs.split(counts, dim=1))


def _task_level(task: TaskInfo) -> str:
    return check_choice("level (TaskInfo.extras)", task.extras.get("level", "graph"), LEVELS)


# --------------------------------------------------------------------------- encoders


def _ogb_vocab(kind: str) -> list[int]:
    features = import_ogb("ogb.utils.features")
    return features.get_atom_feature_dims() if kind == "atom" else features.get_bond_feature_dims()


class FeatureEmbedding(nn.Module):
    """Long features: one embedding per column, summed (ogb AtomEncoder style). Float: a linear layer."""

    def __init__(self, in_dim: int, out_dim: int, vocab: list[int] | None):
        super().__init__()
        self.tables = None
        if vocab is not None:
            if len(vocab) != in_dim:
                raise UsageError(f"feature vocabulary has {len(vocab)} columns but the data has {in_dim}")
            self.tables = nn.ModuleList(nn.Embedding(size, out_dim) for size in vocab)
            for table in self.tables:
                nn.init.xavier_uniform_(cast(nn.Embedding, table).weight)
        else:
            self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        if self.tables is None:
            return self.linear(x.float().view(x.size(0), -1))
        x = x.long().view(x.size(0), -1)
        return sum(table(x[:, i]) for i, table in enumerate(self.tables))


def _feature_embedding(task: TaskInfo, which: str, out_dim: int) -> FeatureEmbedding:
    dim = task.in_dim if which == "node" else task.edge_dim
    if dim is None:
        raise UsageError(f"TaskInfo gives no {which} feature dimension ({'in_dim' if which == 'node' else 'edge_dim'})")
    dtype = task.extras.get("x_dtype" if which == "node" else "edge_dtype", "float")
    if dtype not in ("long", "float"):
        raise UsageError(f"TaskInfo.extras[{'x_dtype' if which == 'node' else 'edge_dtype'}] must be 'long' or 'float'")
    vocab = None
    if dtype == "long":
        vocab = task.extras.get("x_vocab" if which == "node" else "edge_vocab")
        ogb_kind, ogb_cols = ("atom", 9) if which == "node" else ("bond", 3)
        if vocab is None and dim == ogb_cols:
            vocab = _ogb_vocab(ogb_kind)
        if vocab is None:
            key = "x_vocab" if which == "node" else "edge_vocab"
            raise UsageError(f"{which} features are integer-coded with {dim} columns: set TaskInfo.extras[{key!r}]")
    return FeatureEmbedding(dim, out_dim, list(vocab) if vocab is not None else None)


class RWSEEncoder(nn.Module):
    """BatchNorm on the raw return probabilities, then a linear map (GraphGPS ``RWSE``/``Linear``)."""

    def __init__(self, k: int, dim: int):
        super().__init__()
        self.k = k
        self.norm = nn.BatchNorm1d(k)
        self.linear = nn.Linear(k, dim)

    def forward(self, data: Any) -> Tensor:
        rwse = getattr(data, "rwse", None)
        if rwse is None:
            rwse = random_walk_se(data.edge_index, data.num_nodes, self.k, data.batch)
        elif rwse.size(1) != self.k:
            raise UsageError(f"batch has {rwse.size(1)} RWSE steps but the model expects pe_k={self.k}")
        return self.linear(self.norm(rwse))


class LapPEEncoder(nn.Module):
    """DeepSet over frequencies: ``sum_j rho([v_j, lambda_j])`` with a 2-layer MLP ``rho``.

    During training each graph's eigenvectors get independent random signs (sign-flip augmentation).
    """

    def __init__(self, k: int, dim: int):
        super().__init__()
        self.k = k
        self.rho = nn.Sequential(nn.Linear(2, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, data: Any) -> Tensor:
        vec, val = getattr(data, "lappe_vec", None), getattr(data, "lappe_val", None)
        if vec is None or val is None:
            vec, val = laplacian_pe(data.edge_index, data.num_nodes, self.k, data.batch)
        elif vec.size(1) != self.k:
            raise UsageError(f"batch has {vec.size(1)} Laplacian eigenvectors but the model expects pe_k={self.k}")
        present = val > LAPPE_MISSING / 2
        if self.training:
            num_graphs = int(data.batch.max()) + 1
            signs = torch.randint(0, 2, (num_graphs, self.k), device=vec.device) * 2 - 1
            vec = vec * signs[data.batch]
        out = self.rho(torch.stack([vec, val.clamp(min=0)], dim=-1))
        return (out * present.unsqueeze(-1)).sum(dim=1)


class NodeEncoder(nn.Module):
    """Feature embedding of width ``hidden - pe_dim`` concatenated with a PE embedding of width ``pe_dim``."""

    def __init__(self, task: TaskInfo, hp: Mapping[str, Any]):
        super().__init__()
        pe_dim = hp["pe_dim"] if hp["pe"] != "none" else 0
        self.features = _feature_embedding(task, "node", hp["hidden"] - pe_dim)
        self.pe: nn.Module | None = None
        if hp["pe"] == "rwse":
            self.pe = RWSEEncoder(hp["pe_k"], pe_dim)
        elif hp["pe"] == "lappe":
            self.pe = LapPEEncoder(hp["pe_k"], pe_dim)

    def forward(self, data: Any) -> Tensor:
        h = self.features(data.x)
        return h if self.pe is None else torch.cat([h, self.pe(data)], dim=-1)


class EdgeEncoder(nn.Module):
    """Edge features to width ``hidden``; a learned constant when the task has no edge features."""

    def __init__(self, task: TaskInfo, hidden: int):
        super().__init__()
        self.features = _feature_embedding(task, "edge", hidden) if task.edge_dim else None
        self.constant = None if task.edge_dim else nn.Parameter(torch.zeros(1, hidden))

    def forward(self, data: Any) -> Tensor:
        if self.features is None:
            # no edge features: the constant is set in __init__
            return cast(nn.Parameter, self.constant).expand(data.edge_index.size(1), -1)
        if data.edge_attr is None:
            raise UsageError("the task declares edge features (TaskInfo.edge_dim) but the batch has no edge_attr")
        return self.features(data.edge_attr)


# --------------------------------------------------------------------------- layers


class GatedGCNConv(nn.Module):
    """Residual gated graph convolution with edge features (Bresson & Laurent 2017; Dwivedi et al. 2020).

    ``e'_ij = C e_ij + D h_i + E h_j``, ``s_ij = sigmoid(e'_ij)``,
    ``h'_i = A h_i + sum_j s_ij * B h_j / (sum_j s_ij + 1e-6)`` over edges ``j -> i``.
    Returns the raw ``(h', e')``; normalisation, activation and residuals belong to the caller.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(dim, dim) for _ in range(5))

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        e = self.C(edge_attr) + self.D(x)[dst] + self.E(x)[src]
        gate = torch.sigmoid(e)
        num = scatter(gate * self.B(x)[src], dst, 0, dim_size=x.size(0), reduce="sum")
        den = scatter(gate, dst, 0, dim_size=x.size(0), reduce="sum")
        return self.A(x) + num / (den + 1e-6), e


class GatedGCNLocal(nn.Module):
    """GatedGCN as ``GPSConv``'s local model: ``GPSConv`` only takes node states back, so the updated
    edge stream is left in :attr:`edge_out` for the model to pass to the next layer."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.conv = GatedGCNConv(dim)
        self.norm_x, self.norm_e = nn.BatchNorm1d(dim), nn.BatchNorm1d(dim)
        self.dropout = dropout
        self.edge_out: Tensor | None = None

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        h, e = self.conv(x, edge_index, edge_attr)
        e = F.dropout(F.gelu(self.norm_e(e)), self.dropout, self.training)
        self.edge_out = edge_attr + e
        return F.gelu(self.norm_x(h))


def _gine_conv(dim: int) -> GINEConv:
    return GINEConv(nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim)))


def _head(hidden: int, out_dim: int, depth: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth - 1):
        layers += [nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(hidden, out_dim))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- models


class LongRangeModel(nn.Module):
    """Shared skeleton: encoders, readout by level, head. Subclasses implement :meth:`process`."""

    uses_edges = False

    def __init__(self, task: TaskInfo, hp: Mapping[str, Any]):
        super().__init__()
        self.level = _task_level(task)
        self.dropout = hp["dropout"]
        self.node_encoder = NodeEncoder(task, hp)
        self.edge_encoder = EdgeEncoder(task, hp["hidden"]) if self.uses_edges else None
        self.head = _head(hp["hidden"], task.out_dim, hp["head_depth"], hp["dropout"])

    def process(self, h: Tensor, e: Tensor | None, data: Any) -> Tensor:
        raise NotImplementedError

    def forward(self, data: Any) -> Tensor:
        data = _with_batch(data)
        h = self.process(self.node_encoder(data), self._edges(data), data)
        if self.level == "graph":
            h = global_mean_pool(h, data.batch, size=getattr(data, "num_graphs", None) or int(data.batch.max()) + 1)
        return self.head(h)

    def _edges(self, data: Any) -> Tensor | None:
        return self.edge_encoder(data) if self.edge_encoder is not None else None

    def encode(self, data: Any) -> Tensor:
        """Node embeddings after the input encoders: the input of the influence Jacobian."""
        return self.node_encoder(_with_batch(data))

    def forward_from_embedding(self, h: Tensor, data: Any) -> Tensor:
        """Per-node outputs from node embeddings: the head applied to every node's final
        representation (before pooling, for graph-level models). Used by influence measurement."""
        data = _with_batch(data)
        return self.head(self.process(h, self._edges(data), data))


def _with_batch(data: Any) -> Any:
    if getattr(data, "batch", None) is None:
        data = data.clone()
        data.batch = torch.zeros(data.num_nodes, dtype=torch.long, device=data.edge_index.device)
    return data


class MPNN(LongRangeModel):
    """``h <- h + Dropout(GELU(BN(conv(h))))`` with conv GCN, GINE or GatedGCN (edge stream too)."""

    def __init__(self, task: TaskInfo, hp: Mapping[str, Any], conv: str):
        self.conv_kind = conv
        self.uses_edges = conv in ("gine", "gatedgcn")
        super().__init__(task, hp)
        d, n = hp["hidden"], hp["layers"]
        self.residual = hp["residual"]
        make = {"gcn": lambda: GCNConv(d, d), "gine": lambda: _gine_conv(d), "gatedgcn": lambda: GatedGCNConv(d)}
        self.convs = nn.ModuleList(make[conv]() for _ in range(n))
        norm = nn.BatchNorm1d if hp["batch_norm"] else (lambda _: nn.Identity())
        self.norms = nn.ModuleList(norm(d) for _ in range(n))
        self.edge_norms = nn.ModuleList(norm(d) for _ in range(n)) if conv == "gatedgcn" else None

    def _block(self, h: Tensor, norm: nn.Module) -> Tensor:
        return F.dropout(F.gelu(norm(h)), self.dropout, self.training)

    def process(self, h: Tensor, e: Tensor | None, data: Any) -> Tensor:
        for i, conv in enumerate(self.convs):
            if self.conv_kind == "gatedgcn":
                # gatedgcn uses edges, so the edge stream and its norms exist
                h_new, e_new = conv(h, data.edge_index, e)
                e_new = self._block(e_new, cast(nn.ModuleList, self.edge_norms)[i])
                e = cast(Tensor, e) + e_new if self.residual else e_new
            elif self.conv_kind == "gine":
                h_new = conv(h, data.edge_index, e)
            else:
                h_new = conv(h, data.edge_index)
            h_new = self._block(h_new, self.norms[i])
            h = h + h_new if self.residual else h_new
        return h


class GraphTransformer(LongRangeModel):
    """Stack of PyG ``GPSConv`` layers: GPS with a local model, or a plain transformer without one."""

    def __init__(self, task: TaskInfo, hp: Mapping[str, Any], local: str | None):
        self.local = local
        self.uses_edges = local is not None
        super().__init__(task, hp)
        d = hp["hidden"]
        attn = {"dropout": hp["attn_dropout"]}

        def local_model() -> nn.Module | None:
            if local == "gatedgcn":
                return GatedGCNLocal(d, hp["dropout"])
            return _gine_conv(d) if local == "gine" else None

        self.layers = nn.ModuleList(
            GPSConv(d, local_model(), heads=hp["heads"], dropout=hp["dropout"], act="gelu", attn_kwargs=attn)
            for _ in range(hp["layers"])
        )
        if local is None:
            for layer in self.layers:
                cast(GPSConv, layer).norm1 = None  # GPSConv builds the local branch's norm even without a local model

    def process(self, h: Tensor, e: Tensor | None, data: Any) -> Tensor:
        for layer in self.layers:
            if self.local is None:
                h = layer(h, data.edge_index, data.batch)
            else:
                h = layer(h, data.edge_index, data.batch, edge_attr=e)
            if self.local == "gatedgcn":
                e = cast(GatedGCNLocal, cast(GPSConv, layer).conv).edge_out
        return h


class DRewGCN(LongRangeModel):
    """DRew-GCN: layer-dependent ``k``-hop aggregation with delay ``tau(k) = max(0, k - nu)``.

    One ``GCNConv`` (own weights, GCN-normalised over the ``k``-hop edge set, self-loops included)
    per layer ``t`` and hop ``k <= min(t+1, max_hops)``; the ``k``-hop edge sets are computed once per
    batch by :func:`hop_edge_sets`.
    """

    def __init__(self, task: TaskInfo, hp: Mapping[str, Any]):
        super().__init__(task, hp)
        d, n = hp["hidden"], hp["layers"]
        self.nu, self.residual = hp["nu"], hp["residual"]
        self.max_hops = min(hp["max_hops"], n)
        self.convs = nn.ModuleList(
            nn.ModuleList(GCNConv(d, d) for _ in range(min(t + 1, self.max_hops))) for t in range(n)
        )
        norm = nn.BatchNorm1d if hp["batch_norm"] else (lambda _: nn.Identity())
        self.norms = nn.ModuleList(norm(d) for _ in range(n))

    def delay(self, k: int) -> int:
        return 0 if math.isinf(self.nu) else max(0, k - int(self.nu))

    def process(self, h: Tensor, e: Tensor | None, data: Any) -> Tensor:
        hop_edges = hop_edge_sets(data.edge_index, data.num_nodes, self.max_hops, data.batch)
        states = [h]
        for t, convs in enumerate(self.convs):
            total = 0
            for k, conv in enumerate(cast(nn.ModuleList, convs), start=1):
                total = total + conv(states[t - self.delay(k)], hop_edges[k - 1])
            update = F.dropout(F.gelu(self.norms[t](total)), self.dropout, self.training)
            states.append(states[t] + update if self.residual else update)
        return states[-1]


# --------------------------------------------------------------------------- construction

_BUILDERS: dict[str, Callable[[TaskInfo, Mapping[str, Any]], LongRangeModel] | None] = {
    "LRGB-GCN": partial(MPNN, conv="gcn"),
    "GINE": partial(MPNN, conv="gine"),
    "GatedGCN": partial(MPNN, conv="gatedgcn"),
    "GPS": None,  # local model comes from the hparams
    "Transformer-LapPE": partial(GraphTransformer, local=None),
    "DRew-GCN": DRewGCN,
}


def build(name: str, task: TaskInfo, hp: Mapping[str, Any]) -> LongRangeModel:
    """Model ``name`` for ``task`` from resolved hyper-parameters (``longrange_models.resolve_hparams``)."""
    if name == "GPS":
        return GraphTransformer(task, hp, local=hp["local_model"])
    builder = cast(Callable[[TaskInfo, Mapping[str, Any]], LongRangeModel], _BUILDERS[name])  # only GPS is None
    return builder(task, hp)
