"""Generated long-range probes: sizes, determinism, well-posedness, distances."""

from __future__ import annotations

from collections import deque

import bench_gnn_longrange.probe_graphs as probe_graphs
import bench_gnn_longrange.probes as probes
import pytest
import torch

from bench_gnn import GraphTaskData
from bench_gnn.data.cards import load_card


def specs():
    return {spec.name: spec for spec in probes.dataset_specs()}


def hops_to(target: int, edge_index: torch.Tensor, num_nodes: int) -> list[float]:
    """Breadth-first search against edge direction: hops along ``u -> ... -> target`` for every ``u``."""
    incoming = [[] for _ in range(num_nodes)]
    for u, v in edge_index.t().tolist():
        incoming[v].append(u)
    dist = [float("inf")] * num_nodes
    dist[target] = 0
    queue = deque([target])
    while queue:
        v = queue.popleft()
        for u in incoming[v]:
            if dist[u] == float("inf"):
                dist[u] = dist[v] + 1
                queue.append(u)
    return dist


def test_registers_trees_of_depth_2_to_8_and_the_ring_with_cards():
    found = specs()
    assert sorted(found) == sorted([f"tree-neighbors-match-r{r}" for r in range(2, 9)] + ["ring-transfer"])
    for name, spec in found.items():
        assert spec.task == "graph" and spec.metric == "accuracy"
        card = load_card(spec.card, name)
        assert card.name == name and card.license == "generated" and card.files == ()
        assert "Alon" in card.citation or "Bodnar" in card.citation


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_tree_sizes_match_the_card(depth):
    spec = specs()[f"tree-neighbors-match-r{depth}"]
    data = spec.load(None)
    assert isinstance(data, GraphTaskData)
    assert (data.target, data.level, data.out_dim) == ("multiclass", "root", 2**depth)
    stats = spec.card["stats"]
    assert len(data.dataset) == stats["graphs"]
    graph = data.dataset[0]
    assert graph.num_nodes == stats["nodes_per_graph"] == 2 ** (depth + 1) - 1
    assert graph.x.shape == (graph.num_nodes, stats["features"]) and graph.x.dtype == torch.float32
    assert graph.edge_index.size(1) == graph.num_nodes - 1
    assert graph.y.shape == (1,) and graph.root_mask.dtype == torch.bool and int(graph.root_mask.sum()) == 1
    assert data.dataset.labels.bincount().tolist() == [stats["graphs"] // 2**depth] * 2**depth  # balanced

    splits = data.splits
    everything = torch.cat([splits["train"], splits["val"], splits["test"]])
    assert sorted(everything.tolist()) == list(range(len(data.dataset)))  # a partition
    assert len(splits["train"]) == pytest.approx(0.8 * len(data.dataset), abs=1)


def test_reference_sizes_at_depth_2_cover_every_permutation():
    dataset = probe_graphs.TreeNeighborsMatch(2)
    assert len(dataset) == 96  # 4! permutations x 4 keys, as Alon & Yahav
    assert len({tuple(p) for p in dataset.permutations.tolist()}) == 24


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = (probes.load_tree_neighbors_match(None, 3, seed=s) for s in (0, 0, 1))
    assert torch.equal(first.dataset.permutations, again.dataset.permutations)
    for name in ("train", "val", "test"):
        assert torch.equal(first.splits[name], again.splits[name])
    for i in (0, 17, 1999):
        a, b = first.dataset[i], again.dataset[i]
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.edge_index, b.edge_index)
    assert not torch.equal(first.dataset.permutations, other.dataset.permutations)

    ring, ring_again, ring_other = (probes.load_ring_transfer(None, seed=s) for s in (0, 0, 1))
    assert torch.equal(ring.dataset.labels, ring_again.dataset.labels)
    assert torch.equal(ring.splits["test"], ring_again.splits["test"])
    assert not torch.equal(ring.dataset.labels, ring_other.dataset.labels)


@pytest.mark.parametrize("depth", [2, 4])
def test_tree_answer_is_recoverable_and_r_hops_from_the_root(depth):
    dataset = probe_graphs.TreeNeighborsMatch(depth, num_permutations=3, seed=5)
    leaves = 2**depth
    for i in range(len(dataset)):
        graph = dataset[i]
        root = int(graph.root_mask.nonzero())
        key = int(graph.x[root, :leaves].argmax())
        assert graph.x[root, leaves:].abs().sum() == 0
        match = [u for u in range(graph.num_nodes) if u != root and graph.x[u, key] == 1]
        assert len(match) == 1
        assert int(graph.x[match[0], leaves:].argmax()) == int(graph.y)

        dist = hops_to(root, graph.edge_index, graph.num_nodes)
        informative = (graph.x.abs().sum(1) > 0).nonzero().view(-1).tolist()
        assert all(dist[u] == depth for u in informative if u != root)
        assert dist[match[0]] == depth


def test_ring_sizes_answer_and_distance():
    spec = specs()["ring-transfer"]
    data = spec.load(None)
    assert (data.target, data.level, data.out_dim) == ("multiclass", "root", 5)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 5000, "val": 500, "test": 500}
    assert len(data.dataset) == spec.card["stats"]["graphs"]
    n = spec.card["stats"]["nodes_per_graph"]
    for i in range(0, len(data.dataset), 601):
        graph = data.dataset[i]
        target = int(graph.root_mask.nonzero())
        assert graph.x[target].abs().sum() == 0
        source = [u for u in range(n) if u != target and graph.x[u].sum() == 1]
        assert len(source) == 1 and int(graph.x[source[0]].argmax()) == int(graph.y)
        assert hops_to(target, graph.edge_index, n)[source[0]] == n // 2


def test_ring_of_other_sizes_and_bad_arguments():
    ring = probe_graphs.RingTransfer(nodes=15, classes=3, num_graphs=9, seed=2)
    graph = ring[0]
    assert graph.num_nodes == 15 and graph.edge_index.size(1) == 30
    assert hops_to(0, graph.edge_index, 15)[7] == 7
    assert ring.labels.bincount().tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="nodes"):
        probe_graphs.RingTransfer(nodes=2)
    with pytest.raises(ValueError, match="depth"):
        probe_graphs.TreeNeighborsMatch(0)
    with pytest.raises(ValueError, match="distinct permutations"):
        probe_graphs.TreeNeighborsMatch(2, num_permutations=25)


def test_subsets_index_like_pyg_datasets():
    data = probes.load_tree_neighbors_match(None, 2)
    train = data.dataset[data.splits["train"]]
    assert len(train) == len(data.splits["train"])
    assert torch.equal(train[0].x, data.dataset[int(data.splits["train"][0])].x)
