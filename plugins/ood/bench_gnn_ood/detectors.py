"""OOD detector scores of the GNNSafe protocol. Every score is IN-DISTRIBUTION-HIGH.

Reference: qitianwu/GraphOOD-GNNSafe@ba73d8fd, ``GNNSafe/gnnsafe.py`` (Energy, GNNSafe) and
``GNNSafe/baselines.py`` (MSP, ODIN, Mahalanobis, OE). Each function returns a 1-D score per node of the
graph it is given; the caller picks the nodes it evaluates (in-distribution test nodes, OOD nodes).

* ``msp``: max softmax probability. OE scores with ``max_logit``.
* ``energy``: negative energy ``T logsumexp(logits / T)``.
* ``gnnsafe``: the negative energy propagated ``K`` times, ``e <- alpha e + (1 - alpha) D^-1 A e``, over the
  graph's own edges (no self-loops added; ``D`` the in-degree). As in the reference, an isolated node gets a
  zero neighbour term, so its score shrinks by ``alpha`` per step. The operator is linear, so propagating
  the energy or the negative energy is the same up to sign.
* ``odin``: softmax of ``logits / T`` after moving every input feature by ``-noise * sign(grad)``, the gradient
  of the cross-entropy of the tempered logits against their own argmax on the scored nodes. The reference
  returns ``-max softmax`` (OOD-high); here it is ``max softmax``. ``sign(0)`` counts as +1, as there.
* ``mahalanobis``: class means (true labels) and one shared covariance (maximum likelihood, divided by the
  number of nodes, as sklearn's ``EmpiricalCovariance``) of the penultimate features of the training nodes;
  score = ``max_c -0.5 (h - mu_c)^T P (h - mu_c)``, ``P`` the pseudo-inverse of the covariance, after an
  optional input perturbation of size ``noise`` that increases it. The reference returns its negation.
  Classes without training nodes get no mean (the reference crashes on them).

Hyper-parameters of ODIN and Mahalanobis (the reference's ``run_baseline.sh``): ODIN runs every pair of
``T`` in {1, 5, 10, 20, 50, 100} and ``noise`` in {1e-4, 1e-2, 0.1, 0.5, 1}, one process each, and has no code
that chooses among them (the paper reports one number per cell); Mahalanobis trains its own classifier
(lr 1e-3, weight decay 0) and uses the default ``noise``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F
from torch_geometric.data import Data
from torch_geometric.utils import degree

from bench_gnn import JobError
from bench_gnn_ood.ood_models import GNNSafeGCN, SparseOperand, TensorCache, sparse_mm, sparse_operand

__all__ = ["energy", "gnnsafe", "mahalanobis", "max_logit", "msp", "odin", "propagate"]

#: ODIN's grid in the reference's run_baseline.sh.
ODIN_TEMPERATURES = (1.0, 5.0, 10.0, 20.0, 50.0, 100.0)
ODIN_NOISES = (1e-4, 1e-2, 0.1, 0.5, 1.0)

_MEAN_ADJ_CACHE = TensorCache()


def msp(logits: Tensor) -> Tensor:
    """Maximum softmax probability per node."""
    return torch.softmax(logits, dim=-1).max(dim=-1).values


def max_logit(logits: Tensor) -> Tensor:
    """Largest logit per node (OE's score)."""
    return logits.max(dim=-1).values


def energy(logits: Tensor, T: float = 1.0) -> Tensor:
    """Negative energy ``T logsumexp(logits / T)`` per node."""
    return T * torch.logsumexp(logits / T, dim=-1)


def propagate(scores: Tensor, edge_index: Tensor, num_nodes: int, K: int = 2, alpha: float = 0.5) -> Tensor:
    """``K`` steps of ``s <- alpha s + (1 - alpha) D^-1 A s`` (mean over in-neighbours; none: zero)."""
    if scores.shape[0] != num_nodes:
        raise JobError(f"propagate: {scores.shape[0]} scores for a graph of {num_nodes} nodes")
    adj = _mean_adjacency(edge_index, num_nodes)
    e = scores.float().unsqueeze(1)
    for _ in range(K):
        e = alpha * e + (1 - alpha) * sparse_mm(adj, e)
    return e.squeeze(1)


def _mean_adjacency(edge_index: Tensor, num_nodes: int) -> SparseOperand:
    """``D^-1 A`` (row ``i`` averages over the sources of edges into ``i``), cached per ``edge_index`` tensor."""
    hit = _MEAN_ADJ_CACHE.get(edge_index)
    if hit is not None and hit[0] == num_nodes:
        return hit[1]
    row, col = edge_index[0], edge_index[1]
    weight = (1.0 / degree(col, num_nodes))[col]
    coo = torch.sparse_coo_tensor(torch.stack([col, row]), weight, (num_nodes, num_nodes), check_invariants=False)
    adj = sparse_operand(coo)
    _MEAN_ADJ_CACHE.put(edge_index, (num_nodes, adj))
    return adj


def gnnsafe(logits: Tensor, edge_index: Tensor, num_nodes: int, K: int = 2, alpha: float = 0.5,
            T: float = 1.0) -> Tensor:
    """GNNSafe's score: the negative energy propagated over the graph."""
    return propagate(energy(logits, T), edge_index, num_nodes, K, alpha)


def _dense(x: Tensor) -> Tensor:
    return x.to_dense() if x.layout != torch.strided else x


def _mask_or_all(mask: Tensor | None, n: int) -> Tensor:
    return torch.ones(n, dtype=torch.bool) if mask is None else mask.to(torch.bool)


def _sign(grad: Tensor) -> Tensor:
    """``+1`` where ``grad >= 0``, else ``-1`` (the reference's binarised gradient)."""
    return torch.where(grad >= 0, 1.0, -1.0).to(grad.dtype)


def odin(model: GNNSafeGCN, data: Data, T: float, noise: float, node_mask: Tensor | None = None) -> Tensor:
    """ODIN's score (max softmax of tempered logits after input perturbation) for every node of ``data``.

    The perturbation direction comes from the loss on ``node_mask`` nodes (default all), as the reference
    takes it from the nodes it scores (in-distribution test nodes, or all nodes of an OOD graph).
    """
    model.eval()
    x = _dense(data.x).detach().clone().requires_grad_(True)
    logits = model.hidden_and_logits(x, data.edge_index, data.num_nodes)[1]
    sel = logits[_mask_or_all(node_mask, logits.shape[0])]
    loss = F.cross_entropy(sel / T, sel.argmax(dim=1).detach())
    (grad,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        perturbed = x.detach() - noise * _sign(grad)
        out = model.hidden_and_logits(perturbed, data.edge_index, data.num_nodes)[1] / T
        return torch.softmax(out, dim=-1).max(dim=-1).values


def _class_gaussian(model: GNNSafeGCN, data: Data, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Class means ``[C', H]`` and shared precision ``[H, H]`` of the penultimate features on ``mask`` nodes."""
    with torch.no_grad():
        h = model.embed(data)[mask].double()
    y = data.y.view(-1)[mask]
    classes = torch.unique(y)
    means = torch.stack([h[y == c].mean(dim=0) for c in classes])
    centred = h - means[torch.searchsorted(classes, y)]
    cov = centred.T @ centred / h.shape[0]
    return means, torch.linalg.pinv(cov, hermitian=True)


def _gaussian_scores(h: Tensor, means: Tensor, precision: Tensor) -> Tensor:
    """``-0.5 (h - mu_c)^T P (h - mu_c)`` for every node and class: ``[N, C']``."""
    diff = h.unsqueeze(1) - means.unsqueeze(0)
    return -0.5 * torch.einsum("nch,hk,nck->nc", diff, precision, diff)


def mahalanobis(model: GNNSafeGCN, train_data: Data, train_mask: Tensor, test_data: Data, noise: float = 0.0,
                node_mask: Tensor | None = None) -> Tensor:
    """Mahalanobis score (in-distribution-high) of every node of ``test_data``.

    Statistics come from ``train_data``'s ``train_mask`` nodes with their true labels. With ``noise > 0`` the
    input moves by ``-noise * sign(grad)`` of the mean distance to the closest class over ``node_mask`` nodes
    (default all), as in the reference.
    """
    model.eval()
    train_mask = train_mask.to(torch.bool)
    if not bool(train_mask.any()):
        raise JobError("mahalanobis: no training nodes to estimate class means from")
    means, precision = _class_gaussian(model, train_data, train_mask)
    x = _dense(test_data.x).detach()
    if noise > 0:
        x = x.clone().requires_grad_(True)
        h = model.hidden_and_logits(x, test_data.edge_index, test_data.num_nodes)[0].double()
        h = h[_mask_or_all(node_mask, h.shape[0])]
        closest = _gaussian_scores(h.detach(), means, precision).argmax(dim=1)
        loss = -_gaussian_scores(h, means, precision).gather(1, closest.unsqueeze(1)).mean()
        (grad,) = torch.autograd.grad(loss, x)
        x = x.detach() - noise * _sign(grad)
    with torch.no_grad():
        h = model.hidden_and_logits(x, test_data.edge_index, test_data.num_nodes)[0].double()
        return _gaussian_scores(h, means, precision).max(dim=1).values.float()
