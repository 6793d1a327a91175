"""Jacobian influence (bench_gnn.graph.influence) and its plot (bench_gnn.graph.plots), on hand-built toy models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.data import Data

from bench_gnn.errors import UsageError
from bench_gnn.graph.influence import hop_distances, influence_profile, node_influence
from bench_gnn.graph.plots import plot_influence

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def path_graph(n: int, features: int = 2) -> Data:
    src = torch.arange(n - 1)
    edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)
    return Data(x=torch.randn(n, features, generator=torch.Generator().manual_seed(n)), edge_index=edge_index)


class LinearSumGNN(nn.Module):
    """``y = (A + I)^k X W``: k sum-aggregation layers with self-loops, no non-linearity."""

    def __init__(self, layers: int, in_dim: int = 2, out_dim: int = 3):
        super().__init__()
        self.layers = layers
        self.lin = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, data):
        h = data.x
        src, dst = data.edge_index
        for _ in range(self.layers):
            h = h + torch.zeros_like(h).index_add(0, dst, h[src])
        return self.lin(h)


class GlobalAttention(nn.Module):
    """One local sum step followed by softmax attention over every node of the batch."""

    def __init__(self, in_dim: int = 2, dim: int = 4):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.q, self.k, self.v = (nn.Linear(in_dim, dim) for _ in range(3))
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=gen)

    def forward(self, data):
        x = data.x
        attn = torch.softmax(self.q(x) @ self.k(x).T / 2.0, dim=-1)
        return attn @ self.v(x)


class PathStepModel(nn.Module):
    """Forward signature of the PyG reference: ``model(x, edge_index)``; two GraphConv layers."""

    def __init__(self):
        super().__init__()
        from torch_geometric.nn import GraphConv

        torch.manual_seed(0)
        self.conv1, self.conv2 = GraphConv(2, 8), GraphConv(8, 3)

    def forward(self, x, edge_index):
        return self.conv2(torch.tanh(self.conv1(x, edge_index)), edge_index)


class DataWrapper(nn.Module):
    """Our contract (``model(data)``) around a ``model(x, edge_index)`` module."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, data):
        return self.inner(data.x, data.edge_index)


def walks(n: int, k: int) -> np.ndarray:
    adj = np.zeros((n, n))
    for i in range(n - 1):
        adj[i, i + 1] = adj[i + 1, i] = 1
    return np.linalg.matrix_power(adj + np.eye(n), k)


def test_hop_distances_follow_edge_direction_and_mark_unreachable():
    edge_index = torch.tensor([[0, 1], [1, 2]])  # 0 -> 1 -> 2, node 3 isolated
    dist = hop_distances(edge_index, 4, [2, 0])
    assert dist[0].tolist() == [2.0, 1.0, 0.0, math.inf]
    assert dist[1].tolist() == [0.0, math.inf, math.inf, math.inf]


def test_linear_gnn_on_a_path_matches_walk_counts():
    data, model = path_graph(11), LinearSumGNN(layers=2)
    profile = influence_profile(model, data, max_hops=4, nodes=[5])
    # Row 5 of (A + I)^2 on a path: 1 2 3 2 1 at offsets -2..2; every weight contributes |W|_1.
    assert profile["I"] == pytest.approx([1.0, 4 / 3, 2 / 3, 0.0, 0.0])
    assert profile["I_beyond"] == 0.0 and profile["I_unreachable"] == 0.0
    assert profile["I0_raw"] == pytest.approx(3 * float(model.lin.weight.detach().abs().sum()), rel=1e-5)
    assert profile["R"] == pytest.approx((1 * 4 + 2 * 2) / 9, rel=1e-6)
    assert profile["R_within"] == pytest.approx(profile["R"], rel=1e-6)
    assert profile["nodes"] == 1 and profile["max_hops"] == 4


def test_influence_is_zero_beyond_the_model_depth_for_every_node():
    data, model = path_graph(9), LinearSumGNN(layers=2)
    profile = influence_profile(model, data, max_hops=5, num_samples=None)
    assert profile["nodes"] == 9
    assert profile["I"][3:] == [0.0, 0.0, 0.0]
    counts = walks(9, 2)
    per_node_r = [
        sum(abs(i - v) * counts[v, i] for i in range(9)) / counts[v].sum() for v in range(9)
    ]
    assert profile["R"] == pytest.approx(float(np.mean(per_node_r)), rel=1e-6)


def test_a_model_deeper_than_max_hops_keeps_its_far_influence_in_i_beyond():
    data, model = path_graph(13), LinearSumGNN(layers=3)
    profile = influence_profile(model, data, max_hops=2, nodes=[6])
    # Row 6 of (A + I)^3: 1 3 6 7 6 3 1 at offsets -3..3.
    assert profile["I"] == pytest.approx([1.0, 12 / 7, 6 / 7])
    assert profile["I_beyond"] == pytest.approx(2 / 7)
    assert profile["R"] == pytest.approx((12 + 2 * 6 + 3 * 2) / 27, rel=1e-6)
    assert profile["R_within"] == pytest.approx((12 + 2 * 6) / 25, rel=1e-6)


def test_global_attention_mass_beyond_h_and_across_components_is_counted_not_dropped():
    first, second = path_graph(8), path_graph(3)
    data = Data(
        x=torch.cat([first.x, second.x]),
        edge_index=torch.cat([first.edge_index, second.edge_index + 8], dim=1),
    )
    model = GlobalAttention()
    v = 0
    profile = influence_profile(model, data, max_hops=2, nodes=[v])
    assert profile["I_beyond"] > 0 and profile["I_unreachable"] > 0

    jac = torch.autograd.functional.jacobian(lambda x: model(Data(x=x, edge_index=data.edge_index))[v], data.x)
    per_node = jac.abs().sum(dim=(0, 2))
    assert torch.allclose(node_influence(model, data, [v])[0], per_node, rtol=1e-5, atol=1e-7)
    total = float(per_node.sum())
    reported = (sum(profile["I"]) + profile["I_beyond"] + profile["I_unreachable"]) * profile["I0_raw"]
    assert reported == pytest.approx(total, rel=1e-5)
    assert profile["I_beyond"] * profile["I0_raw"] == pytest.approx(float(per_node[3:8].sum()), rel=1e-5)
    assert profile["I_unreachable"] * profile["I0_raw"] == pytest.approx(float(per_node[8:].sum()), rel=1e-5)


@pytest.mark.parametrize("mode", ["one pass per output", "batched passes"])
def test_batched_and_single_backward_passes_give_the_same_jacobian(mode, monkeypatch):
    import bench_gnn.graph.influence as influence_module

    if mode == "one pass per output":
        monkeypatch.setattr(influence_module, "GRAD_BUDGET", 1)
    else:  # a clock under which the batched trial always looks faster
        ticks = iter(range(10**6))
        monkeypatch.setattr(influence_module.time, "perf_counter", lambda: float(next(ticks)))
    data, model = path_graph(7), GlobalAttention()
    got = node_influence(model, data, [1, 4])
    for k, v in enumerate([1, 4]):
        jac = torch.autograd.functional.jacobian(
            lambda x, v=v: model(Data(x=x, edge_index=data.edge_index))[v], data.x
        )
        assert torch.allclose(got[k], jac.abs().sum(dim=(0, 2)), rtol=1e-5, atol=1e-7)


def test_matches_pyg_reference_when_the_model_fits_in_max_hops():
    influence = pytest.importorskip("torch_geometric.utils.influence")
    gen = torch.Generator().manual_seed(1)
    edges = torch.randint(0, 12, (2, 24), generator=gen)
    edges = edges[:, edges[0] != edges[1]]
    data = Data(x=torch.randn(12, 2, generator=gen), edge_index=torch.cat([edges, edges.flip(0)], dim=1))
    inner = PathStepModel()
    ref_avg, ref_r = influence.total_influence(inner, data, max_hops=2, num_samples=None)
    ours = influence_profile(DataWrapper(inner), data, max_hops=2, num_samples=None)
    # Sum aggregation (GraphConv) over two layers only sees 2-hop neighbourhoods, so PyG's
    # truncated subgraph gives the exact Jacobian; nodes beyond 2 hops contribute nothing.
    assert ours["I"] == pytest.approx(ref_avg.tolist(), rel=1e-5)
    assert ours["R_within"] == pytest.approx(ref_r, rel=1e-5)
    assert ours["R"] == pytest.approx(ref_r, rel=1e-5)
    assert ours["I_beyond"] == pytest.approx(0.0, abs=1e-7)


def test_graph_datasets_use_each_whole_graph_and_root_outputs():
    class RootReadout(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = LinearSumGNN(layers=3)

        def forward(self, batch):
            return self.inner(batch)[batch.root_mask]

    graphs = []
    for n in (5, 6, 7):
        g = path_graph(n)
        g.root_mask = torch.zeros(n, dtype=torch.bool)
        g.root_mask[0] = True
        graphs.append(g)
    model = RootReadout()
    profile = influence_profile(model, graphs, max_hops=3, num_samples=5, node_attr="root_mask")
    assert profile["nodes"] == 3  # one root per graph, however many samples were asked for
    assert profile["I"][1] > 0 and profile["I"][3] > 0 and profile["I_beyond"] == 0.0

    assert influence_profile(model, graphs, max_hops=3, num_samples=5, node_attr="root_mask") == profile


def test_embedding_models_use_the_encode_hook_and_others_get_a_clear_error():
    class Embedded(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.inner = LinearSumGNN(layers=1, in_dim=3)

        def encode(self, data):
            return self.emb(data.x[:, 0])

        def forward_from_embedding(self, h, data):
            return self.inner(Data(x=h, edge_index=data.edge_index))

        def forward(self, data):
            return self.forward_from_embedding(self.encode(data), data)

    data = Data(x=torch.randint(0, 5, (6, 1)), edge_index=path_graph(6).edge_index)
    profile = influence_profile(Embedded(), data, max_hops=2, nodes=[2])
    assert profile["I"][1] == pytest.approx(2.0) and profile["I"][2] == 0.0

    with pytest.raises(UsageError, match="forward_from_embedding"):
        influence_profile(LinearSumGNN(layers=1), data, max_hops=2, nodes=[2])


def test_pooled_graph_outputs_are_refused():
    class Pooled(nn.Module):
        def forward(self, data):
            return data.x.sum(0, keepdim=True)

    with pytest.raises(UsageError, match="one output row per node"):
        influence_profile(Pooled(), [path_graph(4)], max_hops=1)


def test_plot_influence_writes_a_png(tmp_path):
    data = path_graph(9)
    profiles = {
        "linear-2": influence_profile(LinearSumGNN(layers=2), data, max_hops=4, num_samples=None),
        "attention": influence_profile(GlobalAttention(), data, max_hops=4, num_samples=None),
    }
    records = [{"model": name, "dataset": "path", "influence": p} for name, p in profiles.items()]
    for source, name in ((profiles, "profiles.png"), (records, "records.png")):
        out = plot_influence(source, tmp_path / "plots" / name)
        assert out == tmp_path / "plots" / name
        assert out.read_bytes()[:8] == PNG_MAGIC
