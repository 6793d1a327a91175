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

This module (the ``probes`` entry point) holds the sizes, cards and specs and imports no torch;
the PyG datasets and the split are in :mod:`bench_gnn_longrange.probe_graphs`, imported when a
dataset is loaded.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bench_gnn import DatasetSpec, GraphTaskData
from bench_gnn_longrange.constants import (
    DEFAULT_SEED,
    RING_CLASSES,
    RING_GRAPHS,
    RING_NODES,
    TREE_DEPTHS,
    default_permutations,
)

if TYPE_CHECKING:
    from bench_gnn import DataContext

ALON_YAHAV = (
    "Uri Alon and Eran Yahav. On the Bottleneck of Graph Neural Networks and its Practical Implications. "
    "ICLR 2021. arXiv:2006.05205"
)
BODNAR = (
    "Cristian Bodnar, Fabrizio Frasca, Nina Otter, Yu Guang Wang, Pietro Liò, Guido Montúfar and "
    "Michael Bronstein. Weisfeiler and Lehman Go Cellular: CW Networks. NeurIPS 2021. arXiv:2106.12575"
)


def load_tree_neighbors_match(ctx: DataContext, depth: int, seed: int = DEFAULT_SEED) -> GraphTaskData:
    """Tree-NeighborsMatch of depth ``depth``, stratified 80/10/10 split (the same ``seed`` for both)."""
    from bench_gnn_longrange.probe_graphs import load_tree_neighbors_match

    return load_tree_neighbors_match(ctx, depth, seed)


def load_ring_transfer(ctx: DataContext, seed: int = DEFAULT_SEED) -> GraphTaskData:
    """RingTransfer with the default sizes, stratified 5000/500/500 split."""
    from bench_gnn_longrange.probe_graphs import load_ring_transfer

    return load_ring_transfer(ctx, seed)


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


def dataset_specs():
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
