"""The contextual stochastic block model (CSBM) generator behind the ``smoke`` datasets.

Imported by :mod:`bench_gnn_smoke.hooks` when a dataset is loaded; the model is described there.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected


def csbm(
    num_nodes: int = 600,
    classes: int = 3,
    features: int = 16,
    degree: int = 10,
    homophily: float = 0.5,
    signal: float = 0.3,
    splits: int = 2,
    seed: int = 0,
) -> Data:
    """Generate a CSBM graph with ``splits`` random 50/25/25 node splits.

    Args:
        homophily: probability that an edge joins two nodes of the same class.
        signal: distance scale of the class means relative to unit feature noise.
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(num_nodes) % classes
    y = y[torch.randperm(num_nodes, generator=gen)]
    means = torch.randn(classes, features, generator=gen) * signal
    x = means[y] + torch.randn(num_nodes, features, generator=gen)
    by_class = [torch.nonzero(y == c).flatten() for c in range(classes)]
    src = torch.arange(num_nodes).repeat_interleave(degree // 2)
    same = torch.rand(src.numel(), generator=gen) < homophily
    offset = torch.randint(1, classes, (src.numel(),), generator=gen)
    dst_class = torch.where(same, y[src], (y[src] + offset) % classes)
    dst = torch.empty_like(src)
    for c in range(classes):
        pick = dst_class == c
        members = by_class[c]
        dst[pick] = members[torch.randint(members.numel(), (int(pick.sum()),), generator=gen)]
    edge_index, _ = remove_self_loops(torch.stack([src, dst]))
    edge_index = coalesce(to_undirected(edge_index, num_nodes=num_nodes), num_nodes=num_nodes)
    masks = {name: torch.zeros(num_nodes, splits, dtype=torch.bool) for name in ("train", "val", "test")}
    for s in range(splits):
        perm = torch.randperm(num_nodes, generator=gen)
        a, b = num_nodes // 2, (3 * num_nodes) // 4
        masks["train"][perm[:a], s] = True
        masks["val"][perm[a:b], s] = True
        masks["test"][perm[b:], s] = True
    return Data(x=x, y=y, edge_index=edge_index, train_mask=masks["train"], val_mask=masks["val"],
                test_mask=masks["test"])
