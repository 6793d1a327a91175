"""The two backbones of the GATS calibration protocol (hans66hsu/GATS ``src/model/model.py``).

* :class:`GATSGCN`: GCNConv(in, 64) -> ReLU -> dropout 0.5 -> GCNConv(64, C). No dropout on the input.
* :class:`GATSGAT`: dropout 0.5 -> GATConv(in, 8, heads 8, concat, attention dropout 0.5) -> ELU -> dropout 0.5 ->
  GATConv(64, C, heads 1, attention dropout 0.5).

``forward(data)`` returns logits ``[N, C]``; ``embed(data)`` the penultimate features ``[N, 64]`` (after the
activation, before the second dropout), which feature-based OOD scores use.

The layers are PyG ``GCNConv`` / ``GATConv`` modules (GATS's parameters, initialisation and state-dict keys); the
forward passes compute what those modules compute, faster on CPU. Training calls ``forward`` on one graph thousands
of times, so what depends only on the graph is built once and reused while the same tensors come back (another
tensor -- a structure-shifted graph, perturbed features -- gets its own):

* the GCN's normalised adjacency ``D^-1/2 (A + I) D^-1/2`` and the GAT's self-loop edge list;
* a sparse copy of mostly-zero features (Planetoid's bag-of-words: ~1% non-zeros), so ``x @ W`` costs a tenth and
  GAT's input dropout touches only the non-zeros (dropping a zero changes nothing: same computation as dense
  dropout, 50x cheaper on Cora);
* each sparse matrix with its transpose (:class:`SparsePair`), because torch's backward of a sparse product
  rebuilds the transpose on every call (40% of a GCN epoch on Cora).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import add_self_loops, remove_self_loops, softmax

from bench_gnn import TaskInfo
from bench_gnn_ood.sparse import sparse_matmul

__all__ = ["GATSGAT", "GATSGCN", "SparsePair", "build_gats_model", "gcn_adjacency", "sparse_pair"]

#: features with at most this share of non-zeros are multiplied as a sparse matrix
SPARSE_FEATURES_MAX_DENSITY = 0.1


# ------------------------------------------------------------------------------------------- sparse matrices


@dataclass(frozen=True)
class SparsePair:
    """A constant sparse CSR matrix, its transpose, and ``perm`` with ``mat_t.values() == mat.values()[perm]``.

    ``pair @ h`` is ``mat @ h`` with a backward that uses the stored transpose.
    """

    mat: Tensor
    mat_t: Tensor
    perm: Tensor

    def __matmul__(self, h: Tensor) -> Tensor:
        if not h.requires_grad:
            return self.mat @ h
        return sparse_matmul(self.mat, self.mat_t, h)

    def with_values(self, values: Tensor) -> SparsePair:
        """The same sparsity pattern with new values (in ``mat``'s order)."""
        return SparsePair(
            _csr(self.mat.crow_indices(), self.mat.col_indices(), values, self.mat.shape),
            _csr(self.mat_t.crow_indices(), self.mat_t.col_indices(), values[self.perm], self.mat_t.shape),
            self.perm,
        )


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: Any) -> Tensor:
    with warnings.catch_warnings():  # torch's "sparse CSR support is in beta" notice
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, tuple(shape), check_invariants=False)


def _crow(sorted_rows: Tensor, n_rows: int) -> Tensor:
    counts = torch.bincount(sorted_rows, minlength=n_rows)
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def sparse_pair(t: Tensor) -> SparsePair:
    """:class:`SparsePair` of a dense or sparse COO matrix (duplicate entries are summed)."""
    coo = (t.to_sparse() if t.layout == torch.strided else t).coalesce()
    row, col = coo.indices()
    values = coo.values()
    n_rows, n_cols = int(coo.shape[0]), int(coo.shape[1])
    # a coalesced COO matrix is sorted by (row, col), the CSR order; the transpose's CSR order is by (col, row)
    perm = torch.argsort(col * n_rows + row)
    mat = _csr(_crow(row, n_rows), col, values, (n_rows, n_cols))
    mat_t = _csr(_crow(col[perm], n_cols), row[perm], values[perm], (n_cols, n_rows))
    return SparsePair(mat, mat_t, perm)


def gcn_adjacency(edge_index: Tensor, num_nodes: int) -> SparsePair:
    """``D^-1/2 (A + I) D^-1/2`` exactly as ``GCNConv`` normalises it, with rows = targets (``adj @ h`` sends
    messages source -> target), as a :class:`SparsePair`."""
    ei, w = gcn_norm(edge_index, None, num_nodes, improved=False, add_self_loops=True)
    if w is None:  # gcn_norm always returns weights for an edge_index input
        raise RuntimeError("gcn_norm returned no edge weights")
    adj = torch.sparse_coo_tensor(torch.stack([ei[1], ei[0]]), w, (num_nodes, num_nodes), check_invariants=True)
    return sparse_pair(adj)


def _linear(x: Tensor | SparsePair, weight: Tensor) -> Tensor:
    """``x @ weight.T`` for dense or sparse ``x`` (a bias-free ``Linear``)."""
    return x @ weight.t() if isinstance(x, SparsePair) else F.linear(x, weight)


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``F.dropout`` (keep with probability ``1 - p``, scale by ``1 / (1 - p)``), with the mask drawn by
    ``torch.rand``: the same distribution, 2.5x faster on CPU than ``F.dropout``'s ``bernoulli_``."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    return x * (torch.rand_like(x) >= p) * (1.0 / (1.0 - p))


def _dropout(x: Tensor | SparsePair, p: float, training: bool) -> Tensor | SparsePair:
    """:func:`dropout` that keeps sparse features sparse (only stored entries can be non-zero)."""
    if not isinstance(x, SparsePair):
        return dropout(x, p, training)
    if not training or p == 0.0:
        return x
    return x.with_values(dropout(x.mat.values(), p, training))


# ------------------------------------------------------------------------------------------- per-graph caches


def _key(t: Tensor) -> tuple[object, ...]:
    """Identifies a tensor's current contents; the caches also hold the tensor, so its memory is not reused."""
    return (t.data_ptr(), t._version, tuple(t.shape), tuple(t.stride()), str(t.device))


class _Cache:
    """The value ``build(t, n)`` of the last tensor ``t`` (and size ``n``) seen."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self._key: tuple[object, ...] | None = None
        self._src: Tensor | None = None
        self._value: Any = None

    def get(self, t: Tensor, n: int) -> Any:
        key = (*_key(t), n)
        if self._src is None or key != self._key:
            self._value, self._key, self._src = self._build(t, n), key, t
        return self._value


def _features(x: Tensor, _: int) -> Tensor | SparsePair:
    if x.layout != torch.strided or x.dim() != 2:
        return x
    density = float(torch.count_nonzero(x)) / max(x.numel(), 1)
    return sparse_pair(x) if density <= SPARSE_FEATURES_MAX_DENSITY else x


def _with_self_loops(edge_index: Tensor, num_nodes: int) -> Tensor:
    ei, _ = remove_self_loops(edge_index)
    ei, _ = add_self_loops(ei, num_nodes=num_nodes)
    return ei


# ------------------------------------------------------------------------------------------- models


class GATSGCN(nn.Module):
    """2-layer GCN of GATS: hidden 64, ReLU, dropout 0.5 between the layers.

    Each layer is applied as ``adj @ (x @ W.T) + b``: ``GCNConv``'s computation with the cached adjacency.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = dropout
        self.conv1 = GCNConv(in_dim, hidden)
        self.conv2 = GCNConv(hidden, out_dim)
        self._adj = _Cache(gcn_adjacency)
        self._x = _Cache(_features)

    @staticmethod
    def _conv(conv: GCNConv, x: Tensor | SparsePair, adj: SparsePair) -> Tensor:
        out = adj @ _linear(x, conv.lin.weight)
        return out + conv.bias if conv.bias is not None else out

    def _hidden(self, data: Any, adj: SparsePair) -> Tensor:
        x = data.x if data.x.requires_grad else self._x.get(data.x, 0)
        return F.relu(self._conv(self.conv1, x, adj))

    def embed(self, data: Any) -> Tensor:
        return self._hidden(data, self._adj.get(data.edge_index, int(data.num_nodes)))

    def forward(self, data: Any) -> Tensor:
        adj = self._adj.get(data.edge_index, int(data.num_nodes))
        h = dropout(self._hidden(data, adj), self.dropout, self.training)
        return self._conv(self.conv2, h, adj)


def _gat_conv(conv: GATConv, x: Tensor | SparsePair, edge_index: Tensor, training: bool) -> Tensor:
    """``GATConv``'s computation for one input, no edge features, self-loops already in ``edge_index``."""
    if conv.lin is None:
        raise RuntimeError("GATSGAT expects GATConv layers with one shared linear map")
    heads, channels = conv.heads, conv.out_channels
    h = _linear(x, conv.lin.weight).view(-1, heads, channels)
    n = h.shape[0]
    a_src = (h * conv.att_src).sum(dim=-1)  # [N, H]
    a_dst = (h * conv.att_dst).sum(dim=-1)
    src, dst = edge_index[0], edge_index[1]
    alpha = F.leaky_relu(a_src.index_select(0, src) + a_dst.index_select(0, dst), conv.negative_slope)
    alpha = dropout(softmax(alpha, dst, num_nodes=n), conv.dropout, training)  # [E, H]
    out = torch.zeros_like(h).index_add_(0, dst, h.index_select(0, src) * alpha.unsqueeze(-1))
    out = out.reshape(n, heads * channels) if conv.concat else out.mean(dim=1)
    return out + conv.bias if conv.bias is not None else out


class GATSGAT(nn.Module):
    """2-layer GAT of GATS: 8 heads x 8 hidden (concat), ELU, dropout 0.5 on inputs and attention, 1 output head."""

    def __init__(self, in_dim: int, out_dim: int, heads: int = 8, hidden: int = 8, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = dropout
        self.conv1 = GATConv(in_dim, hidden, heads=heads, dropout=dropout, concat=True)
        self.conv2 = GATConv(hidden * heads, out_dim, heads=1, dropout=dropout, concat=False)
        self._x = _Cache(_features)
        self._loops = _Cache(_with_self_loops)

    def _hidden(self, data: Any, edge_index: Tensor) -> Tensor:
        x = data.x if data.x.requires_grad else self._x.get(data.x, 0)
        x = _dropout(x, self.dropout, self.training)
        return F.elu(_gat_conv(self.conv1, x, edge_index, self.training))

    def embed(self, data: Any) -> Tensor:
        return self._hidden(data, self._loops.get(data.edge_index, int(data.num_nodes)))

    def forward(self, data: Any) -> Tensor:
        edge_index = self._loops.get(data.edge_index, int(data.num_nodes))
        h = dropout(self._hidden(data, edge_index), self.dropout, self.training)
        return _gat_conv(self.conv2, h, edge_index, self.training)


def build_gats_model(task: TaskInfo, hparams: Mapping[str, Any]) -> nn.Module:
    """Build the GATS backbone named by ``hparams["arch"]`` ("GCN" | "GAT") for ``task``'s input/output sizes.

    ``hidden`` defaults to 64 (GCN) / 8 per head (GAT), ``heads`` to 8 (GAT only), ``dropout`` to 0.5.
    """
    arch = str(hparams.get("arch", "GCN"))
    dropout = float(hparams.get("dropout", 0.5))
    if arch == "GCN":
        return GATSGCN(task.in_dim, task.out_dim, hidden=int(hparams.get("hidden", 64)), dropout=dropout)
    if arch == "GAT":
        return GATSGAT(
            task.in_dim, task.out_dim, heads=int(hparams.get("heads", 8)), hidden=int(hparams.get("hidden", 8)),
            dropout=dropout,
        )
    raise ValueError(f"arch must be 'GCN' or 'GAT', got {arch!r}")
