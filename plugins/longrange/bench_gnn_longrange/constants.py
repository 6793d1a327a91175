"""The long-range family's shared constants (torch-free): the levels and encodings the models know, the link
metrics' MRR variants, and the sizes of the generated probes."""

from __future__ import annotations

import math

PE_KINDS = ("none", "lappe", "rwse")
LEVELS = ("graph", "node", "root")
LOCAL_MODELS = ("gatedgcn", "gine")
MRR_VARIANTS = ("raw", "filtered", "filtered_no_self")

DEFAULT_SEED = 0
TREE_DEPTHS = range(2, 9)
TREE_TARGET_GRAPHS = 2000  # per depth; Alon & Yahav use up to 32,000
TREE_FEATURE_BUDGET = 1 << 30  # bytes of float32 node features per depth (binds at depth 8 only)
TREE_MIN_PERMUTATIONS = 4
TREE_SPLIT = (0.8, 0.1, 0.1)
RING_NODES, RING_CLASSES, RING_GRAPHS = 10, 5, 6000
RING_SPLIT = (5 / 6, 1 / 12, 1 / 12)


def default_permutations(depth: int) -> int:
    """Permutations drawn by default: about ``TREE_TARGET_GRAPHS`` graphs, within ``TREE_FEATURE_BUDGET``
    bytes of features but at least ``TREE_MIN_PERMUTATIONS``, and never more than exist."""
    leaves = 2**depth
    bytes_per_permutation = leaves * (2 * leaves - 1) * (2 * leaves) * 4
    wanted = min(TREE_TARGET_GRAPHS // leaves, TREE_FEATURE_BUDGET // bytes_per_permutation)
    wanted = max(wanted, TREE_MIN_PERMUTATIONS)
    return min(wanted, math.factorial(leaves)) if leaves <= 20 else wanted
