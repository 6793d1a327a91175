"""Tests for bench_gnn.graph.stats: hand-built graphs, a loop reference, and the real heterophilous files."""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import reference_stats
import torch
from torch_geometric.data import Data

from bench_gnn.errors import UsageError
from bench_gnn.graph import stats
from bench_gnn.graph.stats import (
    adjusted_homophily,
    duplicate_nodes,
    edge_homophily,
    graph_stats,
    label_informativeness,
    to_simple_undirected,
)


def undirected(pairs: list[tuple[int, int]]) -> torch.Tensor:
    """Both directions of each listed edge, as a [2, 2|E|] edge index."""
    e = torch.tensor(pairs, dtype=torch.long).T
    return torch.cat([e, e.flip(0)], dim=1)


def random_graph(num_nodes: int, num_edges: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    return to_simple_undirected(pairs, num_nodes)


# ------------------------------------------------------------------------------- hand-built graphs


def test_fully_homophilous_graph():
    # two triangles, one per class
    ei = undirected([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    assert edge_homophily(ei, y) == 1.0
    assert adjusted_homophily(ei, y) == pytest.approx(1.0)
    assert label_informativeness(ei, y) == pytest.approx(1.0)


def test_bipartite_two_class_graph():
    # complete bipartite K_{2,3}, sides labelled 0 and 1: every neighbour has the other label
    ei = undirected([(u, v) for u in (0, 1) for v in (2, 3, 4)])
    y = torch.tensor([0, 0, 1, 1, 1])
    assert edge_homophily(ei, y) == 0.0
    # both classes hold half of the edge ends, so sum p_bar^2 = 1/2 and h_adj = (0 - 1/2) / (1 - 1/2)
    assert adjusted_homophily(ei, y) == pytest.approx(-1.0)
    # a neighbour's label determines the node's label
    assert label_informativeness(ei, y) == pytest.approx(1.0)


def test_known_small_values():
    # path 0-1-2-3 with labels 0,0,1,1: edges (0,1) same, (1,2) different, (2,3) same
    ei = undirected([(0, 1), (1, 2), (2, 3)])
    y = torch.tensor([0, 0, 1, 1])
    assert edge_homophily(ei, y) == pytest.approx(2 / 3)
    # degrees 1,2,2,1: D_0 = D_1 = 3, p_bar = (1/2, 1/2)
    assert adjusted_homophily(ei, y) == pytest.approx((2 / 3 - 0.5) / 0.5)
    p = np.array([2, 1, 1, 2]) / 6  # directed pairs 00, 01, 10, 11
    expected_li = 2 - np.sum(p * np.log(p)) / np.log(0.5)
    assert label_informativeness(ei, y) == pytest.approx(expected_li)


def test_random_labels_are_uninformative():
    ei = random_graph(3000, 30000, seed=1)
    y = torch.randint(0, 3, (3000,), generator=torch.Generator().manual_seed(2))
    assert abs(adjusted_homophily(ei, y)) < 0.02
    assert 0.0 <= label_informativeness(ei, y) < 0.005
    assert edge_homophily(ei, y) == pytest.approx(1 / 3, abs=0.02)


def test_undefined_measures_are_nan():
    no_edges = torch.empty((2, 0), dtype=torch.long)
    y = torch.tensor([0, 1, 1])
    for measure in (edge_homophily, adjusted_homophily, label_informativeness):
        assert math.isnan(measure(no_edges, y))
    one_class = undirected([(0, 1), (1, 2)])
    assert edge_homophily(one_class, torch.zeros(3, dtype=torch.long)) == 1.0
    assert math.isnan(adjusted_homophily(one_class, torch.zeros(3, dtype=torch.long)))
    assert math.isnan(label_informativeness(one_class, torch.zeros(3, dtype=torch.long)))


# ------------------------------------------------------------------------------- loop reference


def reference_measures(pairs: set[tuple[int, int]], labels: list[int]) -> tuple[float, float, float]:
    """h_edge, h_adj, LI straight from the paper's definitions, over undirected edges u < v."""
    m = len(pairs)
    degree: Counter[int] = Counter()
    joint: Counter[tuple[int, int]] = Counter()
    same = 0
    for u, v in pairs:
        degree[u] += 1
        degree[v] += 1
        joint[(labels[u], labels[v])] += 1
        joint[(labels[v], labels[u])] += 1
        same += labels[u] == labels[v]
    class_degree: defaultdict[int, int] = defaultdict(int)
    for node, d in degree.items():
        class_degree[labels[node]] += d
    p_bar = {k: d / (2 * m) for k, d in class_degree.items()}
    h_edge = same / m
    expected = sum(p * p for p in p_bar.values())
    h_adj = (h_edge - expected) / (1 - expected)
    joint_term = sum((c / (2 * m)) * math.log(c / (2 * m)) for c in joint.values())
    marginal_term = sum(p * math.log(p) for p in p_bar.values() if p > 0)
    return h_edge, h_adj, 2 - joint_term / marginal_term


def test_measures_match_loop_reference():
    rng = np.random.default_rng(7)
    num_nodes = 300
    labels = rng.choice(4, size=num_nodes, p=[0.5, 0.3, 0.15, 0.05]).tolist()
    pairs = set()
    while len(pairs) < 1500:
        u, v = sorted(rng.integers(0, num_nodes - 20, size=2).tolist())  # the last 20 nodes stay isolated
        # some homophily, so the measures are not all near zero
        if u != v and (labels[u] == labels[v] or rng.random() < 0.6):
            pairs.add((u, v))
    ei = undirected(sorted(pairs))
    y = torch.tensor(labels)
    h_edge, h_adj, li = reference_measures(pairs, labels)
    assert edge_homophily(ei, y) == pytest.approx(h_edge, rel=1e-12)
    assert adjusted_homophily(ei, y) == pytest.approx(h_adj, rel=1e-12)
    assert label_informativeness(ei, y) == pytest.approx(li, rel=1e-12)
    assert 0.05 < h_adj < 0.95 and 0.01 < li < 0.99


# ------------------------------------------------------------------------------- input handling


@pytest.mark.parametrize(
    "edge_index, match",
    [
        (torch.tensor([[0, 1], [1, 2]]), "not symmetric"),
        (torch.tensor([[0, 1, 1], [1, 0, 1]]), "self-loop"),
        (torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]]), "repeats"),
        (torch.tensor([[0, 5], [5, 0]]), "3 nodes"),
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), "integer"),
        (torch.tensor([0, 1]), r"shape \[2, E\]"),
        ([[0, 1], [1, 0]], "torch.Tensor"),
    ],
)
def test_bad_edge_index_is_a_usage_error(edge_index, match):
    with pytest.raises(UsageError, match=match):
        edge_homophily(edge_index, torch.tensor([0, 1, 0]))


@pytest.mark.parametrize(
    "y, match",
    [
        (torch.tensor([[0], [1], [0]]), "1-D"),
        (torch.tensor([0.0, 1.0, 0.0]), "integer"),
        (torch.tensor([0, -1, 0]), "negative"),
    ],
)
def test_bad_labels_are_a_usage_error(y, match):
    with pytest.raises(UsageError, match=match):
        label_informativeness(undirected([(0, 1)]), y)


def test_to_simple_undirected():
    raw = torch.tensor([[0, 1, 1, 2, 2], [1, 0, 1, 3, 3]])  # (0,1) both ways, a self-loop, (2,3) twice
    out = to_simple_undirected(raw, 4)
    assert out.tolist() == [[0, 1, 2, 3], [1, 0, 3, 2]]
    assert out.dtype == torch.long
    assert to_simple_undirected(torch.empty((2, 0), dtype=torch.long), 0).shape == (2, 0)
    with pytest.raises(UsageError, match="num_nodes"):
        to_simple_undirected(raw, -1)


# ------------------------------------------------------------------------------- duplicates


def small_duplicate_graph() -> tuple[torch.Tensor, torch.Tensor]:
    # neighbours: 0:{2,3} 1:{2,3} 2:{0,1,4} 3:{0,1} 4:{2} 5:{}
    ei = undirected([(0, 2), (0, 3), (1, 2), (1, 3), (4, 2)])
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-0.0, 1.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]])
    return x, ei


def test_duplicate_nodes_small_graph():
    x, ei = small_duplicate_graph()
    assert duplicate_nodes(x, ei) == {
        "feature_duplicate_nodes": 5,  # {0, 1, 4} and {2, 5} (-0.0 equals 0.0)
        "feature_duplicate_groups": 2,
        "neighbour_duplicate_nodes": 2,  # {0, 1}
        "neighbour_duplicate_groups": 1,
        "full_duplicate_nodes": 2,  # {0, 1}
        "full_duplicate_groups": 1,
    }


def test_duplicate_nodes_survive_hash_collisions(monkeypatch):
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 2, (400, 3), generator=g).float()
    ei = random_graph(400, 300, seed=4)  # sparse: many isolated and degree-1 nodes share neighbour sets
    expected = duplicate_nodes(x, ei)
    monkeypatch.setattr(stats, "_neighbour_set_hash", lambda targets, indptr, n: np.zeros((n, 2), np.uint64))
    assert duplicate_nodes(x, ei) == expected
    assert expected["neighbour_duplicate_groups"] > 1 and expected["full_duplicate_groups"] > 1


def test_duplicate_nodes_on_a_squirrel_sized_graph():
    # the size of squirrel: 5,201 x 2,089 features, about 400k directed edges
    rng = np.random.default_rng(5)
    x = torch.from_numpy((rng.random((5201, 2089)) < 0.01).astype(np.float32))
    x[100:200] = x[:100]
    ei = random_graph(5201, 200_000, seed=6)
    result = duplicate_nodes(x, ei)
    assert result["feature_duplicate_nodes"] >= 200


def test_duplicate_nodes_validates_x():
    with pytest.raises(UsageError, match=r"\[N, F\]"):
        duplicate_nodes(torch.zeros(3), undirected([(0, 1)]))


# ------------------------------------------------------------------------------- graph_stats


def test_graph_stats_small_graph():
    x, ei = small_duplicate_graph()
    once_with_loop = torch.cat([ei[:, : ei.shape[1] // 2], torch.tensor([[5], [5]])], dim=1)
    y = torch.tensor([0, 0, 1, 1, 0, 1])
    s = graph_stats(Data(x=x, edge_index=once_with_loop, y=y))
    assert s["nodes"] == 6 and s["edges"] == 5 and s["self_loops"] == 1
    assert s["features"] == 2 and s["classes"] == 2
    assert s["edge_homophily"] == edge_homophily(ei, y) == 0.0
    assert s["adjusted_homophily"] == pytest.approx(adjusted_homophily(ei, y))
    assert s["label_informativeness"] == pytest.approx(label_informativeness(ei, y))
    assert s["full_duplicate_nodes"] == 2


def test_graph_stats_without_features_or_labels():
    s = graph_stats(Data(edge_index=undirected([(0, 1)]), num_nodes=3))
    assert (s["nodes"], s["edges"], s["features"]) == (3, 1, 0)
    assert s["classes"] is None and s["edge_homophily"] is None
    assert s["feature_duplicate_nodes"] is None
    with pytest.raises(UsageError, match="edge_index"):
        graph_stats(object())


# ------------------------------------------------------------------------------- real data


@functools.cache
def _load_npz(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with np.load(path) as d:
        x = torch.from_numpy(d["node_features"])
        y = torch.from_numpy(d["node_labels"])
        once = torch.from_numpy(d["edges"]).T  # each undirected edge stored once
    return x, y, torch.cat([once, once.flip(0)], dim=1)


def load_heterophilous(data_dir: Path, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    path = data_dir / "heterophilous" / name / "raw" / f"{name}.npz"
    if not path.is_file():
        pytest.fail(f"{path} is missing; is BENCH_DATA_DIR the shared datasets folder?")
    return _load_npz(path)


def test_tolokers_published_homophily(data_dir):
    x, y, ei = load_heterophilous(data_dir, "tolokers")
    assert ei.shape[1] == 2 * 519_000
    h = (edge_homophily(ei, y), adjusted_homophily(ei, y), label_informativeness(ei, y))
    print(f"tolokers h_edge={h[0]:.4f} h_adj={h[1]:.4f} LI={h[2]:.4f}")
    with np.load(data_dir / "heterophilous" / "tolokers" / "raw" / "tolokers.npz") as raw:
        reference = reference_stats.platonov_measures(raw["edges"], raw["node_labels"])  # numpy, from the raw file
    assert h == pytest.approx(reference, rel=1e-9)
    assert tuple(round(v, 3) for v in h) == (0.595, 0.093, 0.007)  # Platonov et al. 2023, table 1 (README)


def test_minesweeper_published_homophily(data_dir):
    x, y, ei = load_heterophilous(data_dir, "minesweeper")
    h = (edge_homophily(ei, y), adjusted_homophily(ei, y), label_informativeness(ei, y))
    print(f"minesweeper h_edge={h[0]:.4f} h_adj={h[1]:.4f} LI={h[2]:.4f}")
    assert tuple(round(v, 2) for v in h) == (0.68, 0.01, 0.00)


# (feature nodes, feature groups, neighbour nodes, neighbour groups, full nodes, full groups) of the files in
# shared/datasets (byte-identical to yandex-research/heterophilous-graphs@a4313955); each test recomputes them
# with tests/reference_stats.py. The README quotes chameleon's 1,300 and chameleon-filtered's 46 neighbour-set nodes.
DUPLICATES = {
    "chameleon": (375, 48, 1300, 246, 185, 53),
    "chameleon_filtered": (105, 5, 46, 19, 15, 7),
    "squirrel": (265, 44, 2581, 687, 17, 8),
    "squirrel_filtered": (158, 20, 19, 9, 0, 0),
}


@pytest.mark.parametrize("name", sorted(DUPLICATES))
def test_duplicate_counts_on_wikipedia_graphs(data_dir, name):
    x, y, ei = load_heterophilous(data_dir, name)
    d = duplicate_nodes(x, ei)
    print(name, d)
    keys = [f"{c}_duplicate_{w}" for c in ("feature", "neighbour", "full") for w in ("nodes", "groups")]
    with np.load(data_dir / "heterophilous" / name / "raw" / f"{name}.npz") as raw:
        reference = reference_stats.duplicate_counts(raw["node_features"], raw["edges"])
    assert tuple(d[k] for k in keys) == reference == DUPLICATES[name]


def test_filtering_removed_most_duplicates(data_dir):
    for graph in ("chameleon", "squirrel"):
        x, _, ei = load_heterophilous(data_dir, graph)
        raw = duplicate_nodes(x, ei)
        x_f, _, ei_f = load_heterophilous(data_dir, f"{graph}_filtered")
        filtered = duplicate_nodes(x_f, ei_f)
        print(graph, raw, "filtered:", filtered)
        # in the raw graphs a quarter (chameleon) to a half (squirrel) of the nodes share their neighbour set
        assert raw["neighbour_duplicate_nodes"] > 0.25 * x.shape[0]
        assert filtered["neighbour_duplicate_nodes"] * 20 < raw["neighbour_duplicate_nodes"]
        assert filtered["full_duplicate_nodes"] < raw["full_duplicate_nodes"]
    assert filtered["full_duplicate_nodes"] == 0  # squirrel_filtered


def test_graph_stats_on_squirrel_filtered(data_dir):
    x, y, ei = load_heterophilous(data_dir, "squirrel_filtered")
    s = graph_stats(Data(x=x, y=y, edge_index=ei[:, : ei.shape[1] // 2]))
    assert (s["nodes"], s["edges"], s["features"], s["classes"]) == (2223, 46998, 2089, 5)
    assert s["edge_homophily"] == pytest.approx(edge_homophily(ei, y))
    assert s["full_duplicate_nodes"] == 0
