"""The generated long-range probes as PyG datasets: Tree-NeighborsMatch and RingTransfer.

Imported by :mod:`bench_gnn_longrange.probes` (sizes, cards, specs) when a dataset is loaded;
the tasks are described there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch_geometric.data import Data, Dataset

from bench_gnn import GraphTaskData
from bench_gnn_longrange.constants import (
    DEFAULT_SEED,
    RING_CLASSES,
    RING_GRAPHS,
    RING_NODES,
    RING_SPLIT,
    TREE_SPLIT,
    default_permutations,
)

if TYPE_CHECKING:
    from bench_gnn import DataContext


class TreeNeighborsMatch(Dataset):
    """Tree-NeighborsMatch graphs of one depth (see the module docstring).

    Args:
        depth: tree depth ``r`` (hops from the root to every leaf), at least 1.
        num_permutations: how many leaf-value permutations to draw; each is paired with
            every key, giving ``num_permutations * 2^r`` graphs. Default:
            ``min((2^r)!, max(1, 2000 // 2^r))``.
        seed: seed of the permutation draw.
    """

    def __init__(self, depth: int, num_permutations: int | None = None, seed: int = DEFAULT_SEED):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
        self.depth = depth
        self.num_leaves = 2**depth
        self.nodes_per_graph = 2 ** (depth + 1) - 1
        most = math.factorial(self.num_leaves) if self.num_leaves <= 20 else None
        if num_permutations is None:
            num_permutations = default_permutations(depth)
        if not isinstance(num_permutations, int) or num_permutations < 1:
            raise ValueError(f"num_permutations must be a positive integer, got {num_permutations!r}")
        if most is not None and num_permutations > most:
            raise ValueError(f"depth {depth} has only {most} distinct permutations, {num_permutations} requested")
        generator = torch.Generator().manual_seed(seed)
        self.permutations = _draw_permutations(self.num_leaves, num_permutations, generator)
        child = torch.arange(1, self.nodes_per_graph)
        self._edge_index = torch.stack([child, (child - 1) // 2])  # child -> parent
        super().__init__(root=None, log=False)

    @property
    def labels(self) -> Tensor:
        """``[len(self)]``: every graph's label, without building the graphs."""
        return self.permutations.reshape(-1).clone()  # graph p * L + k asks for key k of permutation p

    @property
    def num_classes(self) -> int:
        return self.num_leaves

    def len(self) -> int:
        return len(self.permutations) * self.num_leaves

    def get(self, idx: int) -> Data:
        values, key = self.permutations[idx // self.num_leaves], idx % self.num_leaves
        leaves_n = self.num_leaves
        x = torch.zeros(self.nodes_per_graph, 2 * leaves_n)
        x[0, key] = 1.0
        leaves = torch.arange(leaves_n - 1, 2 * leaves_n - 1)
        x[leaves, torch.arange(leaves_n)] = 1.0
        x[leaves, leaves_n + values] = 1.0
        root_mask = torch.zeros(self.nodes_per_graph, dtype=torch.bool)
        root_mask[0] = True
        return Data(x=x, edge_index=self._edge_index.clone(), y=values[key].view(1), root_mask=root_mask)


class RingTransfer(Dataset):
    """RingTransfer graphs (see the module docstring).

    Args:
        nodes: ring size ``n`` (at least 3); the source sits ``n // 2`` hops from the target.
        classes: number of labels (feature width).
        num_graphs: number of graphs; labels are balanced (``i % classes``) and shuffled by ``seed``.
        seed: seed of the label shuffle.
    """

    def __init__(self, nodes: int = RING_NODES, classes: int = RING_CLASSES, num_graphs: int = RING_GRAPHS,
                 seed: int = DEFAULT_SEED):
        for name, value, low in (("nodes", nodes, 3), ("classes", classes, 2), ("num_graphs", num_graphs, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.nodes, self.classes = nodes, classes
        generator = torch.Generator().manual_seed(seed)
        balanced = torch.arange(num_graphs) % classes
        self._labels = balanced[torch.randperm(num_graphs, generator=generator)]
        step = torch.arange(nodes)
        forward = torch.stack([step, (step + 1) % nodes])
        self._edge_index = torch.cat([forward, forward.flip(0)], dim=1)
        super().__init__(root=None, log=False)

    @property
    def labels(self) -> Tensor:
        return self._labels.clone()

    @property
    def num_classes(self) -> int:
        return self.classes

    def len(self) -> int:
        return len(self._labels)

    def get(self, idx: int) -> Data:
        label = self._labels[idx]
        x = torch.ones(self.nodes, self.classes)
        x[0] = 0.0
        x[self.nodes // 2] = 0.0
        x[self.nodes // 2, label] = 1.0
        root_mask = torch.zeros(self.nodes, dtype=torch.bool)
        root_mask[0] = True
        return Data(x=x, edge_index=self._edge_index.clone(), y=label.view(1), root_mask=root_mask)


def _draw_permutations(size: int, count: int, generator: torch.Generator) -> Tensor:
    """``[count, size]`` permutations of ``0..size-1``, distinct whenever ``size! < 2^63``."""
    if size > 20:  # 21! overflows int64; collisions are then astronomically unlikely
        return torch.stack([torch.randperm(size, generator=generator) for _ in range(count)])
    total = math.factorial(size)
    if total <= 1 << 24:
        ranks = torch.randperm(total, generator=generator)[:count].tolist()
    else:  # rejection sampling of distinct ranks, without materialising a size! permutation
        seen: dict[int, None] = {}
        while len(seen) < count:
            draw = torch.randint(0, 2**62, (count,), generator=generator).tolist()
            for rank in draw:
                seen.setdefault(rank % total, None)
                if len(seen) == count:
                    break
        ranks = list(seen)
    return torch.stack([_nth_permutation(size, rank) for rank in ranks])


def _nth_permutation(size: int, rank: int) -> Tensor:
    """The ``rank``-th permutation of ``0..size-1`` in lexicographic order (factorial number system)."""
    pool, out = list(range(size)), []
    for position in range(size, 0, -1):
        block = math.factorial(position - 1)
        out.append(pool.pop(rank // block))
        rank %= block
    return torch.tensor(out)


def stratified_split(labels: Tensor, fractions: tuple[float, float, float], seed: int) -> dict[str, Tensor]:
    """Split indices into train/val/test in proportion ``fractions``, stratified by label, shuffled by ``seed``.

    Graphs are grouped by label (shuffled within each label) and dealt out one at a time to the
    split furthest below its share, so the global proportions hold to within one graph and
    every label is spread proportionally, even when a label has fewer graphs than splits need.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.cat([
        members[torch.randperm(len(members), generator=generator)]
        for members in ((labels == label).nonzero().view(-1) for label in labels.unique().tolist())
    ])
    dealt = [0, 0, 0]
    assigned = []
    for position in range(len(order)):
        behind = [(position + 1) * share - count for share, count in zip(fractions, dealt)]
        split = max(range(3), key=behind.__getitem__)
        dealt[split] += 1
        assigned.append(split)
    assignment = torch.tensor(assigned, dtype=torch.long)
    return {name: order[assignment == k].sort().values for k, name in enumerate(("train", "val", "test"))}


def load_tree_neighbors_match(ctx: DataContext, depth: int, seed: int = DEFAULT_SEED) -> GraphTaskData:
    dataset = TreeNeighborsMatch(depth, seed=seed)
    return GraphTaskData(
        dataset=dataset,
        splits=stratified_split(dataset.labels, TREE_SPLIT, seed),
        out_dim=dataset.num_leaves,
        target="multiclass",
        level="root",
    )


def load_ring_transfer(ctx: DataContext, seed: int = DEFAULT_SEED) -> GraphTaskData:
    dataset = RingTransfer(seed=seed)
    return GraphTaskData(
        dataset=dataset,
        splits=stratified_split(dataset.labels, RING_SPLIT, seed),
        out_dim=dataset.classes,
        target="multiclass",
        level="root",
    )
