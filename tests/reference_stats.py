"""Independent references for graph statistics, written from their published definitions with numpy only.

Platonov et al. 2023 ("A critical look at the evaluation of GNNs under heterophily", section 3 and appendix):
edge homophily, adjusted homophily ``(h_edge - sum_k p_k^2) / (1 - sum_k p_k^2)`` with ``p_k`` the share of
edge ends in class ``k``, label informativeness ``2 - sum_{a,b} p_ab log p_ab / sum_k p_k log p_k``. Duplicates:
nodes sharing their feature row, their neighbour set, or both, with at least one other node.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def platonov_measures(edges_once: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(h_edge, h_adj, LI) of an undirected graph given as ``[E, 2]`` with each edge stored once."""
    u, v = edges_once[:, 0], edges_once[:, 1]
    y = labels.astype(np.int64)
    classes = int(y.max()) + 1
    h_edge = float(np.mean(y[u] == y[v]))
    ends = np.concatenate([y[u], y[v]])  # both ends of every edge
    p = np.bincount(ends, minlength=classes) / ends.size
    expected = float(np.sum(p * p))
    h_adj = (h_edge - expected) / (1 - expected)
    pairs = np.concatenate([y[u] * classes + y[v], y[v] * classes + y[u]])  # both directions
    joint = np.bincount(pairs, minlength=classes * classes) / pairs.size
    joint, p = joint[joint > 0], p[p > 0]
    li = 2 - float(np.sum(joint * np.log(joint)) / np.sum(p * np.log(p)))
    return h_edge, h_adj, li


def _shared(keys: list) -> tuple[int, int]:
    """(nodes whose key another node has too, groups of two or more such nodes)."""
    sizes = [c for c in Counter(keys).values() if c > 1]
    return sum(sizes), len(sizes)


def duplicate_counts(x: np.ndarray, edges_once: np.ndarray) -> tuple[int, int, int, int, int, int]:
    """(feature nodes, feature groups, neighbour nodes, neighbour groups, full nodes, full groups)."""
    n = x.shape[0]
    features = [row.tobytes() for row in np.ascontiguousarray(x + 0.0)]  # + 0.0: -0.0 equals 0.0
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for a, b in edges_once.tolist():
        if a != b:
            neighbours[a].add(b)
            neighbours[b].add(a)
    sets = [tuple(sorted(s)) for s in neighbours]
    return (*_shared(features), *_shared(sets), *_shared(list(zip(features, sets))))
