"""Generated long-range probes: Tree-NeighborsMatch and RingTransfer. No files, always available.

Both are root-level graph tasks (``GraphTaskData.level == "root"``): every graph carries a
boolean ``root_mask`` marking the one node whose output is classified (``y`` has shape
``[1]``), and the answer sits at a fixed hop distance from that node, so accuracy as a
function of the distance probes over-squashing.

``tree-neighbors-match-r{2..8}`` (Alon & Yahav 2021, github.com/tech-srl/bottleneck)
    A complete binary tree of depth ``r`` (``2^(r+1) - 1`` nodes, heap numbering: node ``i``
    has children ``2i+1``, ``2i+2``; the ``L = 2^r`` leaves are nodes ``L-1 .. 2L-2``). Leaf
    ``j`` has features ``[one_hot(j, L), one_hot(value_j, L)]``; the root has
    ``[one_hot(key, L), 0]``; inner nodes are zero. The label is the value of the leaf whose
    key matches the root's. Values are a permutation of ``0..L-1``; as in the reference, each
    permutation is paired with every key, so labels are balanced. Edges point child -> parent,
    as in the reference (which also adds self-loops; here models add their own). Every leaf is
    ``r`` hops from the root. Alon & Yahav report *training* accuracy: the question is whether
    a GNN can fit the task at all.

``ring-transfer`` (Bodnar et al. 2021, CW Networks, github.com/twitter-research/cwn)
    A ring of ``n`` nodes (edges in both directions). The target node 0 has zero features,
    the source node ``n // 2`` the one-hot label, every other node all ones; the target must
    output the source's label, ``n // 2`` hops away.

Sizes (defaults; the generators take other values):

=========================  ============  ===============  =========  ========  =====================
dataset                    nodes/graph   graphs           features   classes   reference size
=========================  ============  ===============  =========  ========  =====================
tree-neighbors-match-r2    7             96               8          4         96
tree-neighbors-match-r3    15            2,000            16         8         8,000
tree-neighbors-match-r4    31            2,000            32         16        16,000
tree-neighbors-match-r5    63            1,984            64         32        32,000
tree-neighbors-match-r6    127           1,984            128        64        32,000
tree-neighbors-match-r7    255           1,920            256        128       32,000
tree-neighbors-match-r8    511           1,024            512        256       32,000
ring-transfer              10            6,000            5          5         5,500 (train + test)
=========================  ============  ===============  =========  ========  =====================

The trees hold about 2,000 graphs per depth (depth 8: 1,024, which keeps its one-hot features
near 1 GiB once collated); with few permutations a model may tell them apart from any single
leaf, but every leaf is still ``r`` hops away. Splits are stratified by label, 80/10/10 for the
trees (the reference: 80/20 train/test) and 5000/500/500 for the ring (the reference: 5000
train, 500 test). Everything derives from an explicit seed (``DEFAULT_SEED`` for the
registered datasets): the same seed gives the same graphs and splits. Graphs are stored
compactly (permutations, labels) and built on access.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data, Dataset

from bench_gnn import DatasetSpec, hookimpl
from bench_gnn.specs import GraphTaskData

DEFAULT_SEED = 0
TREE_DEPTHS = range(2, 9)
TREE_TARGET_GRAPHS = 2000  # per depth; Alon & Yahav use up to 32,000
TREE_FEATURE_BUDGET = 1 << 30  # bytes of float32 node features per depth (binds at depth 8 only)
TREE_MIN_PERMUTATIONS = 4
TREE_SPLIT = (0.8, 0.1, 0.1)
RING_NODES, RING_CLASSES, RING_GRAPHS = 10, 5, 6000
RING_SPLIT = (5 / 6, 1 / 12, 1 / 12)

ALON_YAHAV = (
    "Uri Alon and Eran Yahav. On the Bottleneck of Graph Neural Networks and its Practical Implications. "
    "ICLR 2021. arXiv:2006.05205"
)
BODNAR = (
    "Cristian Bodnar, Fabrizio Frasca, Nina Otter, Yu Guang Wang, Pietro Liò, Guido Montúfar and "
    "Michael Bronstein. Weisfeiler and Lehman Go Cellular: CW Networks. NeurIPS 2021. arXiv:2106.12575"
)


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


def default_permutations(depth: int) -> int:
    """Permutations drawn by default: about ``TREE_TARGET_GRAPHS`` graphs, within ``TREE_FEATURE_BUDGET``
    bytes of features but at least ``TREE_MIN_PERMUTATIONS``, and never more than exist."""
    leaves = 2**depth
    bytes_per_permutation = leaves * (2 * leaves - 1) * (2 * leaves) * 4
    wanted = min(TREE_TARGET_GRAPHS // leaves, TREE_FEATURE_BUDGET // bytes_per_permutation)
    wanted = max(wanted, TREE_MIN_PERMUTATIONS)
    return min(wanted, math.factorial(leaves)) if leaves <= 20 else wanted


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
    assignment = []
    for position in range(len(order)):
        behind = [(position + 1) * share - count for share, count in zip(fractions, dealt)]
        split = max(range(3), key=behind.__getitem__)
        dealt[split] += 1
        assignment.append(split)
    assignment = torch.tensor(assignment, dtype=torch.long)
    return {name: order[assignment == k].sort().values for k, name in enumerate(("train", "val", "test"))}


def load_tree_neighbors_match(ctx: Any, depth: int, seed: int = DEFAULT_SEED) -> GraphTaskData:
    dataset = TreeNeighborsMatch(depth, seed=seed)
    return GraphTaskData(
        dataset=dataset,
        splits=stratified_split(dataset.labels, TREE_SPLIT, seed),
        out_dim=dataset.num_leaves,
        target="multiclass",
        level="root",
    )


def load_ring_transfer(ctx: Any, seed: int = DEFAULT_SEED) -> GraphTaskData:
    dataset = RingTransfer(seed=seed)
    return GraphTaskData(
        dataset=dataset,
        splits=stratified_split(dataset.labels, RING_SPLIT, seed),
        out_dim=dataset.classes,
        target="multiclass",
        level="root",
    )


def _tree_card(depth: int) -> dict[str, Any]:
    leaves = 2**depth
    nodes = 2 ** (depth + 1) - 1
    graphs = default_permutations(depth) * leaves
    return {
        "name": f"tree-neighbors-match-r{depth}",
        "source": f"generated by plugins.probes.TreeNeighborsMatch(depth={depth}, seed={DEFAULT_SEED}); "
                  "task of Alon & Yahav 2021 (github.com/tech-srl/bottleneck, tasks/dictionary_lookup.py)",
        "license": "generated",
        "citation": ALON_YAHAV,
        "files": [],
        "stats": {"graphs": int(graphs), "nodes": int(graphs * nodes), "edges": int(graphs * (nodes - 1)),
                  "nodes_per_graph": nodes, "features": 2 * leaves, "classes": leaves, "depth": depth},
    }


def _ring_card() -> dict[str, Any]:
    return {
        "name": "ring-transfer",
        "source": f"generated by plugins.probes.RingTransfer(nodes={RING_NODES}, classes={RING_CLASSES}, "
                  f"num_graphs={RING_GRAPHS}, seed={DEFAULT_SEED}); task of Bodnar et al. 2021 "
                  "(github.com/twitter-research/cwn, data/datasets/ring_utils.py)",
        "license": "generated",
        "citation": BODNAR,
        "files": [],
        "stats": {"graphs": RING_GRAPHS, "nodes": RING_GRAPHS * RING_NODES, "edges": RING_GRAPHS * 2 * RING_NODES,
                  "nodes_per_graph": RING_NODES, "features": RING_CLASSES, "classes": RING_CLASSES,
                  "distance": RING_NODES // 2},
    }


@hookimpl
def bench_datasets():
    trees = [
        DatasetSpec(
            name=f"tree-neighbors-match-r{depth}",
            task="graph",
            load=partial(load_tree_neighbors_match, depth=depth),
            card=_tree_card(depth),
            metric="accuracy",
            description=f"Tree-NeighborsMatch, depth {depth}: match the root's key among {2**depth} leaves "
                        f"{depth} hops away (generated)",
        )
        for depth in TREE_DEPTHS
    ]
    ring = DatasetSpec(
        name="ring-transfer",
        task="graph",
        load=load_ring_transfer,
        card=_ring_card(),
        metric="accuracy",
        description=f"RingTransfer: copy a label across a ring of {RING_NODES} nodes, {RING_NODES // 2} hops "
                    "(generated)",
    )
    return [*trees, ring]
