"""Graph statistics: size, homophily measures and duplicate nodes.

These are the figures ``bench data stats NAME`` prints. Every function is pure and works on torch tensors:
``edge_index`` is a ``[2, E]`` integer tensor, ``y`` a ``[N]`` integer tensor of class ids, ``x`` a ``[N, F]``
feature tensor.

How edges are counted. An undirected graph is stored as a *simple undirected* ``edge_index``: every undirected
edge ``{u, v}`` appears exactly twice, as ``(u, v)`` and ``(v, u)``; there are no self-loops and no repeated
pairs. ``E = edge_index.shape[1]`` is therefore ``2|E|``, and the degree ``d(v)`` of a node is the number of
columns whose source is ``v``. Every measure below is a ratio over the ``2|E|`` directed pairs, so it equals the
same ratio over the ``|E|`` undirected edges. This is the convention of Platonov et al. (2023), and with it the
measures reproduce the published figures (tolokers: h_edge 0.595, h_adj 0.093, LI 0.007). The measure functions
refuse any other ``edge_index`` with a :class:`~bench_gnn.errors.UsageError`; :func:`to_simple_undirected` converts
an arbitrary one (for example a file that stores each edge once).

Measures that are undefined for a graph (no edges, or a single class at the edge ends) come back as ``nan``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from bench_gnn.errors import UsageError

__all__ = [
    "adjusted_homophily",
    "duplicate_nodes",
    "edge_homophily",
    "graph_stats",
    "label_informativeness",
    "to_simple_undirected",
]

_FIX = "use bench_gnn.graph.stats.to_simple_undirected(edge_index, num_nodes) first"


# --------------------------------------------------------------------------------------------- validation


def _edges_numpy(edge_index: Any, num_nodes: int) -> np.ndarray:
    """Check the shape, dtype and range of ``edge_index``; return it as an int64 numpy array."""
    if not isinstance(edge_index, torch.Tensor):
        raise UsageError(f"edge_index must be a torch.Tensor of shape [2, E], got {type(edge_index).__name__}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise UsageError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
    if edge_index.dtype.is_floating_point or edge_index.dtype.is_complex or edge_index.dtype == torch.bool:
        raise UsageError(f"edge_index must hold integer node ids, got dtype {edge_index.dtype}")
    edges = edge_index.detach().cpu().numpy().astype(np.int64, copy=False)
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise UsageError(
            f"edge_index refers to node ids in [{edges.min()}, {edges.max()}], but the graph has {num_nodes} nodes"
        )
    return edges


def _check_simple_undirected(edges: np.ndarray, num_nodes: int) -> None:
    """Raise unless ``edges`` holds each undirected edge in both directions, once, without self-loops."""
    src, dst = edges
    loops = int(np.count_nonzero(src == dst))
    if loops:
        raise UsageError(f"edge_index has {loops} self-loop(s); the measures are defined without them: {_FIX}")
    forward = np.sort(src * num_nodes + dst)
    if forward.size > 1 and np.any(forward[1:] == forward[:-1]):
        repeated = int(np.count_nonzero(forward[1:] == forward[:-1]))
        raise UsageError(f"edge_index repeats {repeated} edge(s): {_FIX}")
    if not np.array_equal(forward, np.sort(dst * num_nodes + src)):
        raise UsageError(
            f"edge_index is not symmetric: every edge (u, v) must also be stored as (v, u): {_FIX}"
        )


def _labels_numpy(y: Any) -> np.ndarray:
    if not isinstance(y, torch.Tensor):
        raise UsageError(f"y must be a torch.Tensor of shape [N], got {type(y).__name__}")
    if y.dim() != 1:
        raise UsageError(f"y must be a 1-D tensor of class ids, got shape {list(y.shape)}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise UsageError(f"y must hold integer class ids, got dtype {y.dtype}")
    labels = y.detach().cpu().numpy().astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        raise UsageError(
            f"y holds negative class ids (min {labels.min()}); drop unlabelled nodes before computing homophily"
        )
    return labels


def _validated(edge_index: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    labels = _labels_numpy(y)
    edges = _edges_numpy(edge_index, labels.size)
    _check_simple_undirected(edges, labels.size)
    return edges, labels


# --------------------------------------------------------------------------------------------- helpers


def to_simple_undirected(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Return the simple undirected version of ``edge_index``: both directions, no self-loops, no repeats.

    Columns come out sorted by ``(source, target)``. Use it on edge lists stored once per edge (as in the
    heterophilous ``.npz`` files) or on any directed edge list before calling the measures.
    """
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)) or num_nodes < 0:
        raise UsageError(f"num_nodes must be a non-negative int, got {num_nodes!r}")
    edges = _edges_numpy(edge_index, int(num_nodes))
    src = np.concatenate([edges[0], edges[1]])
    dst = np.concatenate([edges[1], edges[0]])
    keep = src != dst
    keys = np.unique(src[keep] * num_nodes + dst[keep])
    out = np.stack([keys // num_nodes, keys % num_nodes]) if num_nodes else np.empty((2, 0), np.int64)
    return torch.from_numpy(out.astype(np.int64))


def _class_pair_counts(edges: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``M[a, b]``: the number of directed pairs (u, v) in ``edges`` with y_u = a and y_v = b."""
    num_classes = int(labels.max()) + 1 if labels.size else 0
    pair = labels[edges[0]] * num_classes + labels[edges[1]]
    return np.bincount(pair, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _edge_homophily(counts: np.ndarray) -> float:
    total = counts.sum()
    return float(np.trace(counts) / total) if total else math.nan


def _adjusted_homophily(counts: np.ndarray) -> float:
    total = counts.sum()
    if not total:
        return math.nan
    p_bar = counts.sum(axis=1) / total
    expected = float(np.sum(p_bar**2))
    if expected >= 1.0:
        return math.nan
    return float((np.trace(counts) / total - expected) / (1.0 - expected))


def _label_informativeness(counts: np.ndarray) -> float:
    total = counts.sum()
    if not total:
        return math.nan
    p = counts[counts > 0] / total
    p_bar = counts.sum(axis=1) / total
    p_bar = p_bar[p_bar > 0]
    marginal_entropy_term = float(np.sum(p_bar * np.log(p_bar)))
    if marginal_entropy_term == 0.0:
        return math.nan
    return 2.0 - float(np.sum(p * np.log(p))) / marginal_entropy_term


# --------------------------------------------------------------------------------------------- measures


def edge_homophily(edge_index: torch.Tensor, y: torch.Tensor) -> float:
    r"""Edge homophily: the fraction of edges that join two nodes of the same class.

    .. math:: h_{edge} = \frac{|\{\{u, v\} \in E : y_u = y_v\}|}{|E|}

    Args:
        edge_index: ``[2, 2|E|]`` simple undirected edge index (see the module docstring).
        y: ``[N]`` non-negative integer class ids.

    Returns ``nan`` for a graph without edges.

    >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> edge_homophily(ei, torch.tensor([0, 0, 1]))
    0.5
    """
    return _edge_homophily(_class_pair_counts(*_validated(edge_index, y)))


def adjusted_homophily(edge_index: torch.Tensor, y: torch.Tensor) -> float:
    r"""Adjusted homophily (Platonov et al. 2023): edge homophily corrected for the expected value under
    random rewiring that keeps the degrees.

    .. math::
        h_{adj} = \frac{h_{edge} - \sum_k \bar p_k^2}{1 - \sum_k \bar p_k^2}, \qquad
        \bar p_k = \frac{D_k}{2|E|}, \quad D_k = \sum_{v : y_v = k} d(v)

    It is 1 for a perfectly homophilous graph, about 0 when labels are independent of the edges, and can be
    negative. Returns ``nan`` when undefined (no edges, or every edge end in one class).

    Args:
        edge_index: ``[2, 2|E|]`` simple undirected edge index (see the module docstring).
        y: ``[N]`` non-negative integer class ids.
    """
    return _adjusted_homophily(_class_pair_counts(*_validated(edge_index, y)))


def label_informativeness(edge_index: torch.Tensor, y: torch.Tensor) -> float:
    r"""Edge label informativeness (Platonov et al. 2023): how much a neighbour's label tells about a node's
    label, as the normalised mutual information of the labels at the two ends of a random edge.

    .. math::
        LI = 2 - \frac{\sum_{c_1, c_2} p(c_1, c_2) \log p(c_1, c_2)}{\sum_c \bar p_c \log \bar p_c}

    where :math:`p(c_1, c_2)` is the fraction of the :math:`2|E|` directed pairs (both directions of every edge)
    going from class :math:`c_1` to class :math:`c_2`, and :math:`\bar p_c = D_c / 2|E|` is its marginal. Terms with
    zero probability contribute 0. LI is 1 when a neighbour's label determines the node's label and 0 when the
    two are independent. Returns ``nan`` when undefined (no edges, or every edge end in one class).

    Args:
        edge_index: ``[2, 2|E|]`` simple undirected edge index (see the module docstring).
        y: ``[N]`` non-negative integer class ids.
    """
    return _label_informativeness(_class_pair_counts(*_validated(edge_index, y)))


# --------------------------------------------------------------------------------------------- duplicates


def _neighbour_set_hash(targets: np.ndarray, indptr: np.ndarray, num_nodes: int) -> np.ndarray:
    """Two independent 64-bit order-free hashes of each node's neighbour set, shape ``[N, 2]``.

    Each node id gets a fixed random 64-bit weight; a set hashes to the sum of its weights mod 2**64.
    Equal sets always hash equal; callers verify equal hashes exactly, so a collision only costs time.
    """
    weights = np.random.default_rng(0x5EED).integers(0, 2**64, size=(2, num_nodes), dtype=np.uint64)
    out = np.empty((num_nodes, 2), dtype=np.uint64)
    for j in range(2):
        running = np.concatenate([np.zeros(1, np.uint64), np.cumsum(weights[j][targets], dtype=np.uint64)])
        out[:, j] = running[indptr[1:]] - running[indptr[:-1]]
    return out


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group ids (``[N]``) and group sizes for the rows of ``keys``."""
    if keys.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts


def _same_neighbours_as(
    nodes: np.ndarray, others: np.ndarray, targets: np.ndarray, indptr: np.ndarray, degree: np.ndarray
) -> np.ndarray:
    """For each i, whether ``nodes[i]`` and ``others[i]`` (of equal degree) have the same sorted neighbours."""
    deg = degree[nodes]
    total = int(deg.sum())
    offset = np.arange(total) - np.repeat(np.cumsum(deg) - deg, deg)
    a = targets[np.repeat(indptr[nodes], deg) + offset]
    b = targets[np.repeat(indptr[others], deg) + offset]
    mismatches = np.bincount(np.repeat(np.arange(nodes.size), deg)[a != b], minlength=nodes.size)
    same: np.ndarray = mismatches == 0
    return same


def _exact_neighbour_groups(
    base: np.ndarray, targets: np.ndarray, indptr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Slow exact grouping by (base key, neighbour set); used only after a hash collision."""
    ids: dict[tuple[Any, ...], int] = {}
    inverse = np.array(
        [
            ids.setdefault((base[v].tobytes(), targets[indptr[v] : indptr[v + 1]].tobytes()), len(ids))
            for v in range(base.shape[0])
        ],
        dtype=np.int64,
    )
    return inverse, np.bincount(inverse, minlength=len(ids))


def _neighbour_groups(
    base: np.ndarray, targets: np.ndarray, indptr: np.ndarray, degree: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Group nodes by (``base`` row, neighbour set), exactly."""
    keys = np.column_stack([base, degree, _neighbour_set_hash(targets, indptr, degree.size).view(np.int64)])
    inverse, counts = _groups(keys)
    members = np.flatnonzero(counts[inverse] > 1)
    if members.size:
        first = np.full(counts.size, -1, dtype=np.int64)
        first[inverse[members[::-1]]] = members[::-1]
        if not _same_neighbours_as(members, first[inverse[members]], targets, indptr, degree).all():
            return _exact_neighbour_groups(base, targets, indptr)
    return inverse, counts


def _feature_groups(x: np.ndarray) -> np.ndarray:
    """Group id of each row of ``x``; rows are equal when their values are bitwise equal (-0.0 == 0.0)."""
    if x.shape[1] == 0:
        return np.zeros(x.shape[0], np.int64)
    if np.issubdtype(x.dtype, np.floating):
        x = x + x.dtype.type(0)  # turns -0.0 into 0.0 so that bitwise equality is value equality
    x = np.ascontiguousarray(x)
    if x.shape[0] == 0:
        return np.zeros(0, np.int64)
    rows = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).reshape(-1)
    _, inverse = np.unique(rows, return_inverse=True)  # one opaque value per row: much faster than axis=0
    return inverse.reshape(-1).astype(np.int64)


def _summary(counts: np.ndarray) -> tuple[int, int]:
    duplicated = counts[counts > 1]
    return int(duplicated.sum()), int(duplicated.size)


def duplicate_nodes(x: torch.Tensor, edge_index: torch.Tensor) -> dict[str, int]:
    """Count duplicate nodes: nodes indistinguishable from another node of the same graph.

    A *duplicate group* is a set of two or more nodes that are equal under one of three criteria:

    - ``feature``: the same feature vector (bitwise equal values, with -0.0 equal to 0.0);
    - ``neighbour``: the same neighbour set (open neighbourhoods, so two adjacent nodes never match each other;
      isolated nodes all share the empty set);
    - ``full``: both the same feature vector and the same neighbour set. Such nodes look identical to any GNN,
      so when they fall into different splits the test labels leak into training (Platonov et al. 2023).

    Returns, for each criterion ``c``, ``{c}_duplicate_nodes`` (nodes in some group) and
    ``{c}_duplicate_groups`` (the number of groups). ``nodes - groups`` nodes would go if each group kept one.

    Args:
        x: ``[N, F]`` node features.
        edge_index: ``[2, 2|E|]`` simple undirected edge index (see the module docstring).

    Exact, and vectorised with numpy: rows are grouped by ``np.unique``, neighbour sets by a hash whose matches
    are then verified element by element.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise UsageError(f"x must be a torch.Tensor of shape [N, F], got {shape}")
    num_nodes = x.shape[0]
    edges = _edges_numpy(edge_index, num_nodes)
    _check_simple_undirected(edges, num_nodes)

    order = np.lexsort((edges[1], edges[0]))
    targets = edges[1][order]
    degree = np.bincount(edges[0], minlength=num_nodes)
    indptr = np.concatenate([[0], np.cumsum(degree)])

    feature_ids = _feature_groups(x.detach().cpu().numpy())
    feature = np.bincount(feature_ids) if num_nodes else np.zeros(0, np.int64)
    _, neighbour = _neighbour_groups(np.zeros((num_nodes, 1), np.int64), targets, indptr, degree)
    _, full = _neighbour_groups(feature_ids[:, None], targets, indptr, degree)

    out: dict[str, int] = {}
    for name, counts in (("feature", feature), ("neighbour", neighbour), ("full", full)):
        out[f"{name}_duplicate_nodes"], out[f"{name}_duplicate_groups"] = _summary(counts)
    return out


# --------------------------------------------------------------------------------------------- summary


def graph_stats(data: Any) -> dict[str, Any]:
    """Summary statistics of one graph, as ``bench data stats NAME`` prints them.

    ``data`` is a PyG ``Data`` (or anything with ``edge_index`` and optional ``x``, ``y``, ``num_nodes``).
    The edges are first made simple undirected (:func:`to_simple_undirected`), so ``edges`` counts undirected
    edges and the measures follow the module's convention; ``self_loops`` reports how many self-loops the input
    had (they are left out). Keys:

    ``nodes``, ``edges``, ``self_loops``, ``features``, ``classes``, ``edge_homophily``, ``adjusted_homophily``,
    ``label_informativeness`` and the counts of :func:`duplicate_nodes`.

    The homophily measures and ``classes`` are ``None`` when ``y`` is not one class id per node (no labels,
    multi-label or regression targets); the duplicate counts are ``None`` when there is no ``x``.
    """
    edge_index = getattr(data, "edge_index", None)
    if edge_index is None:
        raise UsageError(f"graph_stats needs an object with an edge_index, got {type(data).__name__}")
    x = getattr(data, "x", None)
    y = getattr(data, "y", None)
    num_nodes = getattr(data, "num_nodes", None)
    if num_nodes is None:
        num_nodes = x.shape[0] if x is not None else (y.shape[0] if y is not None else 0)
    num_nodes = int(num_nodes)

    raw = _edges_numpy(edge_index, num_nodes)
    simple = to_simple_undirected(edge_index, num_nodes)
    edges = simple.numpy()
    stats: dict[str, Any] = {
        "nodes": num_nodes,
        "edges": edges.shape[1] // 2,
        "self_loops": int(np.count_nonzero(raw[0] == raw[1])),
        "features": int(x.shape[1]) if x is not None and x.dim() == 2 else 0,
    }

    node_labels = (
        isinstance(y, torch.Tensor)
        and y.dim() == 1
        and y.numel() == num_nodes
        and not (y.dtype.is_floating_point or y.dtype == torch.bool)
    )
    if node_labels:
        labels = _labels_numpy(y)
        counts = _class_pair_counts(edges, labels)
        stats["classes"] = int(labels.max()) + 1 if labels.size else 0
        stats["edge_homophily"] = _edge_homophily(counts)
        stats["adjusted_homophily"] = _adjusted_homophily(counts)
        stats["label_informativeness"] = _label_informativeness(counts)
    else:
        stats.update(classes=None, edge_homophily=None, adjusted_homophily=None, label_informativeness=None)

    if isinstance(x, torch.Tensor) and x.dim() == 2 and x.shape[0] == num_nodes:
        stats.update(duplicate_nodes(x, simple))
    else:
        for name in ("feature", "neighbour", "full"):
            stats[f"{name}_duplicate_nodes"] = stats[f"{name}_duplicate_groups"] = None
    return stats
