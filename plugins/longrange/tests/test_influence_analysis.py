"""The ``influence`` analysis as the protocols run it, on graphs whose profile is known by hand.

A linear model ``y = (A + I)^2 X W`` (two sum-aggregation layers with self-loops, no non-linearity) has the
Jacobian ``d y_v / d x_u = [(A + I)^2]_{vu} W``, so node ``u``'s influence on ``v`` is the number of walks of
length at most two from ``u`` to ``v`` times ``|W|_1``, whatever training did to ``W``. On a ring of 8 or more
nodes every node's row of ``(A + I)^2`` is ``1 2 3 2 1`` at offsets -2..2: ``I = [1, 4/3, 2/3, 0]`` and
``R = (1 * 4 + 2 * 2) / 9``. Any other graph shape (here: single edges, whose row is ``2 2``) changes the
profile, so a profile equal to the ring's shows that only ring nodes were measured.
"""

from __future__ import annotations

import pytest
import torch
from bench_gnn_longrange import minibatch as graph_minibatch
from bench_gnn_node import full_batch as node_full_batch
from torch import nn
from torch_geometric.data import Data
from torchmetrics.classification import MulticlassAccuracy

from bench_gnn.plugin_manager import load_plugins
from bench_gnn.protocols.base import ProtocolContext, run_seeded
from bench_gnn.specs import GraphTaskData, MetricSpec, ModelSpec

PLUGINS = load_plugins()
RING_PROFILE = [1.0, 4 / 3, 2 / 3, 0.0]
RING_R = (1 * 4 + 2 * 2) / 9


class LinearSum2(nn.Module):
    def __init__(self, task, hparams) -> None:
        super().__init__()
        self.lin = nn.Linear(task.in_dim, task.out_dim, bias=False)

    def forward(self, data):
        h = data.x
        src, dst = data.edge_index
        for _ in range(2):
            h = h + torch.zeros_like(h).index_add(0, dst, h[src])
        return self.lin(h)


MODEL = ModelSpec(name="linear-sum-2", build=LinearSum2, tasks={"node", "graph"})
ACCURACY = MetricSpec(name="acc", factory=lambda c: MulticlassAccuracy(num_classes=max(c, 2), average="micro"))


def ring_edges(n: int, offset: int = 0) -> torch.Tensor:
    src = torch.arange(n)
    dst = (src + 1) % n
    return torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1) + offset


def pair_edges(count: int, offset: int) -> torch.Tensor:
    src = torch.arange(count) * 2 + offset
    return torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)


def context(data, protocol, **args) -> ProtocolContext:
    spec = PLUGINS.protocols.get(protocol).spec
    return ProtocolContext(data=data, model=MODEL, hparams={}, args=spec.resolve(args), metric=ACCURACY, split=1,
                           seed=0, device=torch.device("cpu"), plugins=PLUGINS)


def test_graph_protocol_measures_a_trained_linear_model_on_test_graphs_by_hand():
    gen = torch.Generator().manual_seed(0)
    graphs = []
    for k in range(30):
        test = k >= 24  # the test split: rings; train and val: single edges, whose profile differs
        n = 8 + k % 4 if test else 6
        edge_index = ring_edges(n) if test else pair_edges(n // 2, 0)
        graphs.append(Data(x=torch.randn(n, 3, generator=gen), edge_index=edge_index,
                           y=torch.randint(0, 2, (n,), generator=gen)))
    data = GraphTaskData(dataset=graphs, splits={"train": torch.arange(18), "val": torch.arange(18, 24),
                                                 "test": torch.arange(24, 30)}, out_dim=2, target="multiclass",
                         level="node")
    result = run_seeded(graph_minibatch.run, context(data, "graph-minibatch", epochs=3, batch_size=8, lr=0.05,
                                                     warmup_epochs=0, analyses={"influence": {"hops": 3, "nodes": 9}}))
    cell = result.cells["influence"]
    assert (cell["kind"], cell["name"], cell["status"]) == ("analysis", "influence", "ok")
    profile = cell["extras"]
    assert profile["I"] == pytest.approx(RING_PROFILE, rel=1e-6, abs=1e-9)
    assert profile["I_beyond"] == 0.0 and profile["I_unreachable"] == 0.0
    assert profile["R"] == pytest.approx(RING_R, rel=1e-6) and cell["metrics"]["R"] == profile["R"]
    assert profile["nodes"] == 9 and profile["max_hops"] == 3


def node_graph() -> Data:
    """A ring of 10 nodes (0..9) beside 10 single edges (nodes 10..29); split 1 tests on the ring only."""
    n = 30
    gen = torch.Generator().manual_seed(1)
    masks = torch.zeros(3, n, 2, dtype=torch.bool)  # [train/val/test, node, split]
    masks[0, 10:20, :] = masks[1, 20:30, :] = True
    masks[2, :10, 1] = True  # split 1: test on the ring
    masks[2, 10:15, 0] = True  # split 0: somewhere else
    return Data(x=torch.randn(n, 3, generator=gen), edge_index=torch.cat([ring_edges(10), pair_edges(10, 10)], dim=1),
                y=torch.arange(n) % 3, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])


@pytest.mark.parametrize("nodes", [4, 1000])
def test_node_protocol_measures_influence_on_the_splits_test_nodes_only(nodes):
    """README: the profile is measured "on sampled test nodes"."""
    result = run_seeded(node_full_batch.run, context(node_graph(), "node-full-batch", steps=3, lr=0.05,
                                                     analyses={"influence": {"hops": 3, "nodes": nodes}}))
    profile = result.cells["influence"]["extras"]
    assert profile["nodes"] == min(nodes, 10)  # asked for more than there are: every test node, no other
    assert profile["I"] == pytest.approx(RING_PROFILE, rel=1e-6, abs=1e-9)
    assert profile["R"] == pytest.approx(RING_R, rel=1e-6)


def test_sampled_nodes_are_test_nodes(monkeypatch):
    """The nodes the Jacobian is taken at, observed where they are measured: all test nodes of the split."""
    import bench_gnn.graph.influence as influence

    measured: list[int] = []
    profile_graph = influence._profile_graph

    def spy(model, graph, nodes, *args):
        measured.extend(int(v) for v in nodes)
        return profile_graph(model, graph, nodes, *args)

    monkeypatch.setattr(influence, "_profile_graph", spy)
    data = node_graph()
    run_seeded(node_full_batch.run, context(data, "node-full-batch", steps=2, lr=0.05,
                                            analyses={"influence": {"hops": 2, "nodes": 6}}))
    assert len(measured) == 6 and len(set(measured)) == 6
    assert set(measured) <= set(data.test_mask[:, 1].nonzero().view(-1).tolist())
