"""GNNSafe's GCN backbone for the OOD-detection part of the ``ood-calibration`` suite.

Reference
    Q. Wu, Y. Chen, C. Yang, J. Yan. "Energy-based out-of-distribution detection for graph neural
    networks", ICLR 2023; code qitianwu/GraphOOD-GNNSafe@ba73d8fd, ``GNNSafe/backbone.py`` (class ``GCN``).

Architecture (``num_layers`` 2, as in every GNNSafe run)
    ::

        h = Dropout(ReLU(BatchNorm(GCNConv_1(x))))     # BatchNorm only with use_bn (run.sh: --use_bn)
        logits = GCNConv_2(h)

    ``GCNConv(x) = D^-1/2 (A + I) D^-1/2 x W + b``, symmetric normalisation with self-loops added where
    missing (PyG ``GCNConv`` defaults, which the reference uses). ``W`` is Glorot-initialised, ``b`` zero,
    as in PyG. ``embed`` returns ``h`` (the reference's ``feature_list`` / ``intermediate_forward``, which
    Mahalanobis uses).

Speed
    The convolution is written with sparse matrix products instead of ``GCNConv``: bag-of-words features
    (Cora 1.3% non-zero, Twitch under 1%) are multiplied as a sparse matrix, and the normalised adjacency
    of a graph is built once. Both are cached per tensor (weakly, so they go when the graph goes): do not
    modify ``data.x`` or ``data.edge_index`` in place after a forward pass. A dense ``x`` that requires
    grad (ODIN, Mahalanobis input perturbation) is multiplied densely.

The model is initialised from torch's global RNG: seed it (``torch.manual_seed``) before building.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.data import Data
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.inits import glorot

from bench_gnn import ConfigError, TaskInfo
from bench_gnn_ood.sparse import sparse_matmul

__all__ = [
    "DEFAULTS", "GNNSafeGCN", "SparseOperand", "build_gnnsafe_gcn", "gcn_adjacency", "sparse_features", "sparse_mm",
    "sparse_operand", "TensorCache",
]

#: GNNSafe's defaults (parse.py; run.sh passes --use_bn).
DEFAULTS: dict[str, Any] = {"hidden": 64, "dropout": 0.0, "use_bn": True}

#: Features denser than this are kept dense.
_SPARSE_DENSITY = 0.1


class TensorCache:
    """Values derived from a tensor, keyed by the tensor's identity and dropped when the tensor is freed.

    (``weakref.WeakKeyDictionary`` compares colliding keys with ``==``, which tensors answer elementwise.)
    """

    def __init__(self) -> None:
        self._items: dict[int, tuple[weakref.ref[Tensor], Any]] = {}

    def get(self, key: Tensor) -> Any:
        hit = self._items.get(id(key))
        return hit[1] if hit is not None and hit[0]() is key else None

    def put(self, key: Tensor, value: Any) -> None:
        ident = id(key)
        self._items[ident] = (weakref.ref(key, lambda _ref: self._items.pop(ident, None)), value)


_ADJ_CACHE = TensorCache()
_X_CACHE = TensorCache()


class SparseOperand(NamedTuple):
    """A fixed sparse matrix in CSR with its transpose, for products whose gradient flows only to the dense side."""

    mat: Tensor
    mat_t: Tensor


def _csr32(coo: Tensor) -> Tensor:
    """CSR with int32 indices (what the CPU kernels use: int64 indices are converted at every product)."""
    csr = coo.coalesce().to_sparse_csr()
    return torch.sparse_csr_tensor(csr.crow_indices().int(), csr.col_indices().int(), csr.values(), csr.shape)


def sparse_operand(coo: Tensor) -> SparseOperand:
    """A constant sparse matrix (given in COO) ready for :func:`sparse_mm`."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return SparseOperand(_csr32(coo), _csr32(coo.t()))


def sparse_mm(a: SparseOperand, dense: Tensor) -> Tensor:
    """``a.mat @ dense``, differentiable in ``dense`` (:func:`bench_gnn_ood.sparse.sparse_matmul`)."""
    return sparse_matmul(a.mat, a.mat_t, dense)


def gcn_adjacency(edge_index: Tensor, num_nodes: int) -> SparseOperand:
    """``D^-1/2 (A + I) D^-1/2`` (rows = targets) as a :class:`SparseOperand`, cached per ``edge_index`` tensor."""
    hit = _ADJ_CACHE.get(edge_index)
    if hit is not None and hit[0] == num_nodes:
        return hit[1]
    ei, weight = gcn_norm(edge_index, None, num_nodes, improved=False, add_self_loops=True)
    if weight is None:  # gcn_norm always returns weights for an edge_index; keeps mypy content
        weight = torch.ones(ei.shape[1])
    # messages flow source (row 0) -> target (row 1): out[target] += w * h[source]
    idx = torch.stack([ei[1], ei[0]])
    adj = sparse_operand(torch.sparse_coo_tensor(idx, weight, (num_nodes, num_nodes), check_invariants=False))
    _ADJ_CACHE.put(edge_index, (num_nodes, adj))
    return adj


def sparse_features(x: Tensor) -> Tensor | SparseOperand:
    """``x`` as a :class:`SparseOperand` when it is sparse enough and needs no grad, else ``x``; cached."""
    if x.layout != torch.strided or x.requires_grad:
        return x
    hit = _X_CACHE.get(x)
    if hit is not None:
        return hit
    nnz = int(torch.count_nonzero(x))
    out: Tensor | SparseOperand = sparse_operand(x.to_sparse()) if nnz < _SPARSE_DENSITY * x.numel() else x
    _X_CACHE.put(x, out)
    return out


class _GCNLayer(nn.Module):
    """One ``GCNConv``: ``adj @ (x W) + b``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor | SparseOperand, adj: SparseOperand) -> Tensor:
        h = sparse_mm(x, self.weight) if isinstance(x, SparseOperand) else x @ self.weight
        return sparse_mm(adj, h) + self.bias


class GNNSafeGCN(nn.Module):
    """Two-layer GCN with optional BatchNorm after the first layer (GNNSafe's backbone)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 64, dropout: float = 0.0, use_bn: bool = True) -> None:
        super().__init__()
        self.conv1 = _GCNLayer(in_dim, hidden)
        self.bn = nn.BatchNorm1d(hidden) if use_bn else nn.Identity()
        self.conv2 = _GCNLayer(hidden, out_dim)
        self.dropout = dropout

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()
        if isinstance(self.bn, nn.BatchNorm1d):
            self.bn.reset_parameters()

    def hidden_and_logits(self, x: Tensor, edge_index: Tensor, num_nodes: int | None = None) -> tuple[Tensor, Tensor]:
        """Penultimate features and logits for features ``x`` (dense or sparse) on the graph ``edge_index``."""
        n = int(num_nodes if num_nodes is not None else x.shape[0])
        adj = gcn_adjacency(edge_index, n)
        h = self.conv1(sparse_features(x), adj)
        h = F.relu(self.bn(h))
        h = F.dropout(h, p=self.dropout, training=self.training)
        return h, self.conv2(h, adj)

    def forward(self, data: Data) -> Tensor:
        """Logits ``[N, out_dim]`` for every node of ``data``."""
        return self.hidden_and_logits(data.x, data.edge_index, data.num_nodes)[1]

    def embed(self, data: Data) -> Tensor:
        """Penultimate features ``[N, hidden]`` (after BatchNorm, ReLU and dropout)."""
        return self.hidden_and_logits(data.x, data.edge_index, data.num_nodes)[0]


def build_gnnsafe_gcn(task: TaskInfo, hparams: Mapping[str, Any]) -> GNNSafeGCN:
    """The backbone for ``task`` (``in_dim``, ``out_dim``) with ``hparams`` ``hidden``, ``dropout``, ``use_bn``."""
    unknown = sorted(set(hparams) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"GNNSafe GCN: unknown hyper-parameter(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    hp = {**DEFAULTS, **hparams}
    hidden, dropout = hp["hidden"], hp["dropout"]
    if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
        raise ConfigError(f"GNNSafe GCN: hidden must be a positive integer, got {hidden!r}")
    if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"GNNSafe GCN: dropout must be in [0, 1), got {dropout!r}")
    return GNNSafeGCN(task.in_dim, task.out_dim, hidden=hidden, dropout=float(dropout), use_bn=bool(hp["use_bn"]))
