"""Structural and positional encodings of graphs, vectorised over a batch of graphs.

Data-side transforms shared by datasets (which may precompute them once) and models (which
compute them per batch when a dataset does not carry them):

- :func:`random_walk_se`: random-walk structural encoding (RWSE, Dwivedi et al. 2022): the
  return probabilities ``(D^-1 A)^t[i, i]`` for ``t = 1..k``.
- :func:`laplacian_pe`: the first ``k`` eigenpairs of each graph's normalised Laplacian (LapPE).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import scatter, to_dense_adj

LAPPE_MISSING = -1.0  # eigenvalue marking a missing frequency (graph with fewer nodes than k)


def graph_layout(batch: Tensor | None, num_nodes: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor, int]:
    """Return ``(batch, ptr, local_index, max_nodes)`` for nodes sorted by graph."""
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=device)
    counts = torch.bincount(batch, minlength=int(batch.max()) + 1 if num_nodes else 0)
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    local = torch.arange(num_nodes, device=batch.device) - ptr[batch]
    return batch, ptr, local, int(counts.max()) if num_nodes else 0


def propagator(edge_index: Tensor, num_nodes: int, values: Tensor | None = None) -> Tensor:
    """Sparse ``[N, N]`` matrix with entry ``(target, source)`` per edge: ``M @ X`` sums over in-neighbours."""
    if values is None:
        values = torch.ones(edge_index.size(1), device=edge_index.device)
    coo = torch.sparse_coo_tensor(edge_index.flip(0), values, (num_nodes, num_nodes), check_invariants=False)
    return coo.coalesce()


def random_walk_se(edge_index: Tensor, num_nodes: int, k: int, batch: Tensor | None = None) -> Tensor:
    """Random-walk structural encoding: ``[N, k]`` with column ``t-1`` = ``(D^-1 A)^t[i, i]``, ``t = 1..k``.

    Vectorised over a batch: column ``j`` of the state holds the walk probabilities towards the
    ``j``-th node of each node's own graph, so one sparse product per step serves every graph.
    """
    batch, _, local, max_nodes = graph_layout(batch, num_nodes, edge_index.device)
    src = edge_index[0]
    deg = scatter(torch.ones_like(src, dtype=torch.float), src, 0, dim_size=num_nodes, reduce="sum")
    # Row-stochastic P = D^-1 A; state Q_t[m, j] = P^t[m, node j of m's graph]; Q_{t+1} = P Q_t.
    prop = propagator(edge_index.flip(0), num_nodes, 1.0 / deg.clamp(min=1)[src])
    state = F.one_hot(local, max_nodes).float()
    out = []
    for _ in range(k):
        state = torch.sparse.mm(prop, state)
        out.append(state.gather(1, local.unsqueeze(1)))
    return torch.cat(out, dim=1) if out else state.new_zeros(num_nodes, 0)


def laplacian_pe(edge_index: Tensor, num_nodes: int, k: int, batch: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """First ``k`` eigenpairs of each graph's normalised Laplacian ``I - D^-1/2 A D^-1/2``.

    Returns ``(eigvecs [N, k], eigvals [N, k])``: eigenvectors are L2-normalised per graph (signs
    arbitrary), eigenvalues ascending and repeated on every node of the graph. For a graph with
    ``n < k`` nodes the missing columns hold vector 0 and eigenvalue ``LAPPE_MISSING`` (-1).
    """
    batch, _, local, max_nodes = graph_layout(batch, num_nodes, edge_index.device)
    num_graphs = int(batch.max()) + 1
    adj = to_dense_adj(edge_index, batch, max_num_nodes=max_nodes, batch_size=num_graphs).double()
    adj = (adj + adj.transpose(1, 2)) / 2
    deg = adj.sum(-1)
    inv_sqrt = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
    real = torch.zeros(num_graphs, max_nodes, dtype=torch.bool, device=edge_index.device)
    real[batch, local] = True
    # Padding nodes get diagonal 3 (> 2, the largest normalised-Laplacian eigenvalue): they sort last.
    diag = torch.where(real, 1.0, 3.0).to(adj.dtype)
    lap = torch.diag_embed(diag) - inv_sqrt.unsqueeze(-1) * adj * inv_sqrt.unsqueeze(-2)
    vals, vecs = torch.linalg.eigh(lap)
    take = min(k, max_nodes)
    vals, vecs = vals[:, :take], vecs[:, :, :take]
    missing = vals > 2.5
    vals = vals.clamp(min=0).masked_fill(missing, LAPPE_MISSING)
    vecs = vecs.masked_fill(missing.unsqueeze(1), 0.0)
    if take < k:
        vals = F.pad(vals, (0, k - take), value=LAPPE_MISSING)
        vecs = F.pad(vecs, (0, k - take), value=0.0)
    return vecs[batch, local].float(), vals[batch].float()

