"""The graph mini-batch protocol on tiny synthetic graph datasets.

The protocol does not seed itself: :func:`run` here goes through ``run_seeded``, as the runner does.
"""

from __future__ import annotations

import pytest
import torch
import torchmetrics
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv, global_mean_pool
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision

from bench_gnn.errors import ConfigError, NonFiniteLossError
from bench_gnn.plugin_manager import load_plugins
from bench_gnn.plugins import graph_minibatch
from bench_gnn.protocols.base import ProtocolContext, ProtocolResult, run_seeded
from bench_gnn.specs import GraphTaskData, MetricSpec, ModelSpec, TaskInfo


def run(ctx: ProtocolContext) -> ProtocolResult:
    """The protocol seeded with ``ctx.seed``, exactly as the runner calls it."""
    return run_seeded(graph_minibatch.run, ctx)


def ring(n: int) -> torch.Tensor:
    src = torch.arange(n)
    dst = (src + 1) % n
    return torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)


def labelled_graphs(count: int = 240, seed: int = 0) -> list[Data]:
    """Three labels per graph: whether the mean of node feature k is positive (k = 0, 1, 2)."""
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(count):
        n = int(torch.randint(6, 13, (1,), generator=gen))
        x = torch.randn(n, 4, generator=gen)
        edge_index = ring(n)
        root = torch.zeros(n, dtype=torch.bool)
        root[0] = True
        graphs.append(Data(
            x=x,
            edge_index=edge_index,
            edge_attr=torch.randint(0, 3, (edge_index.size(1), 3), generator=gen),
            y=(x.mean(0)[:3] > 0).float().view(1, 3),
            root_mask=root,
            node_y=torch.where(root, (x[:, 0] > 0).long(), torch.randint(0, 2, (n,), generator=gen)),
        ))
    return graphs


def splits(count: int) -> dict[str, torch.Tensor]:
    a, b = int(count * 2 / 3), int(count * 5 / 6)
    return {"train": torch.arange(a), "val": torch.arange(a, b), "test": torch.arange(b, count)}


class GCNPool(nn.Module):
    def __init__(self, task: TaskInfo, hidden: int) -> None:
        super().__init__()
        self.pool = task.extras["level"] == "graph"
        self.conv1, self.conv2 = GCNConv(task.in_dim, hidden), GCNConv(hidden, hidden)
        self.head = nn.Linear(hidden, task.out_dim)

    def forward(self, data):
        h = self.conv1(data.x, data.edge_index).relu()
        h = self.conv2(h, data.edge_index).relu()
        if self.pool:
            h = global_mean_pool(h, data.batch, size=data.num_graphs)
        return self.head(h)


class NodeMLP(nn.Module):
    """Per-node predictions from the node's own features only."""

    def __init__(self, task: TaskInfo, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(task.in_dim, hidden), nn.ReLU(), nn.Linear(hidden, task.out_dim))

    def forward(self, data):
        return self.net(data.x)


class PredictionCount(torchmetrics.Metric):
    """How many predictions the protocol scored: checks which nodes or graphs it selects."""

    def __init__(self) -> None:
        super().__init__()
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, scores: torch.Tensor, target: torch.Tensor) -> None:
        assert scores.size(0) == target.size(0)
        self.count += scores.size(0)

    def compute(self) -> torch.Tensor:
        return self.count


BUILT: list[TaskInfo] = []


def build_gcn(task: TaskInfo, hparams) -> nn.Module:
    BUILT.append(task)
    return GCNPool(task, hparams["hidden"])


GCN = ModelSpec(name="test-gcn", build=build_gcn, defaults={"hidden": 32}, tasks={"graph"})
MLP = ModelSpec(name="test-mlp", build=lambda task, hp: NodeMLP(task, hp["hidden"]), tasks={"graph"})
AP = MetricSpec(name="ap", factory=lambda c: MultilabelAveragePrecision(num_labels=c))
ACCURACY = MetricSpec(name="acc", factory=lambda c: MulticlassAccuracy(num_classes=c, average="micro"))
COUNT = MetricSpec(name="count", factory=lambda c: PredictionCount())

FAST = {"epochs": 12, "batch_size": 32, "lr": 1e-2, "warmup_epochs": 1}


@pytest.fixture(scope="module")
def graphs() -> list[Data]:
    return labelled_graphs()


SPEC = load_plugins().protocols.get("graph-minibatch").spec


def context(data, model=GCN, metric=AP, seed=0, **args) -> ProtocolContext:
    """A context with ``args`` resolved by the protocol's spec (defaults filled in, values checked), as the
    runner hands them over."""
    return ProtocolContext(data=data, model=model, hparams={"hidden": 32}, args=SPEC.resolve(args), metric=metric,
                           split=0, seed=seed, device=torch.device("cpu"))


def multilabel(graphs) -> GraphTaskData:
    return GraphTaskData(dataset=graphs, splits=splits(len(graphs)), out_dim=3, target="multilabel")


def test_learns_and_reports(graphs):
    BUILT.clear()
    calls: dict[str, list[int]] = {"total": [], "step": []}
    ctx = context(multilabel(graphs), **FAST)
    ctx.steps_total, ctx.on_step = calls["total"].append, calls["step"].append
    result = run(ctx)
    assert result.metrics["val"] > 0.85  # chance is about 0.5
    assert set(result.metrics) == {"train", "val", "test"}
    assert 1 <= result.best_step <= 12 and result.steps == 12
    assert calls == {"total": [12], "step": [1] * 12}
    assert result.num_params == sum(p.numel() for p in GCNPool(BUILT[0], 32).parameters())
    assert result.extras["resident"] is True
    assert "peak_memory_bytes" not in result.extras  # the runner's record fields measure peak memory
    assert result.extras["seconds_per_epoch"] == pytest.approx(result.train_seconds / 12)
    assert BUILT[0] == TaskInfo(task="graph", in_dim=4, out_dim=3, edge_dim=3,
                                extras={"level": "graph", "x_dtype": "float", "edge_dtype": "long"})


def test_resident_and_dataloader_agree_and_seed_repeats(graphs):
    data = multilabel(graphs)
    args = {**FAST, "epochs": 4}
    resident = run(context(data, resident=True, **args))
    again = run(context(data, resident=True, **args))
    loader = run(context(data, resident=False, **args))
    other_seed = run(context(data, seed=1, resident=True, **args))
    assert loader.extras["resident"] is False
    assert resident.metrics == again.metrics == loader.metrics
    assert resident.best_step == again.best_step == loader.best_step
    assert other_seed.metrics != resident.metrics


def test_nan_loss_raises(graphs):
    with pytest.raises(NonFiniteLossError, match="step 1"):
        run(context(multilabel(graphs), epochs=3, batch_size=32, lr=1e30, warmup_epochs=0))


def test_root_level_scores_only_root_nodes(graphs):
    per_node = [Data(x=g.x, edge_index=g.edge_index, y=g.node_y, root_mask=g.root_mask) for g in graphs]
    data = GraphTaskData(dataset=per_node, splits=splits(len(per_node)), out_dim=2, target="multiclass",
                         level="root")
    counted = run(context(data, model=MLP, metric=COUNT, epochs=1, batch_size=32))
    assert counted.metrics == {"train": 160, "val": 40, "test": 40}  # one root per graph
    learned = run(context(data, model=MLP, metric=ACCURACY, **FAST))
    assert learned.metrics["val"] > 0.85  # non-root labels are coin flips; roots are learnable

    per_graph = [Data(x=g.x, edge_index=g.edge_index, y=g.node_y[:1], root_mask=g.root_mask) for g in graphs]
    data = GraphTaskData(dataset=per_graph, splits=splits(len(per_graph)), out_dim=2, target="multiclass",
                         level="root")
    assert run(context(data, model=MLP, metric=COUNT, epochs=1, batch_size=32)).metrics["val"] == 40


def test_node_level_scores_every_node(graphs):
    per_node = [Data(x=g.x, edge_index=g.edge_index, y=g.node_y) for g in graphs]
    data = GraphTaskData(dataset=per_node, splits=splits(len(per_node)), out_dim=2, target="multiclass",
                         level="node")
    result = run(context(data, model=MLP, metric=COUNT, epochs=1, batch_size=32))
    assert result.metrics["val"] == sum(per_node[i].num_nodes for i in range(160, 200))


def test_regression_with_plateau_scheduler(graphs):
    regression = [Data(x=g.x, edge_index=g.edge_index, y=g.x.mean(0, keepdim=True)[:, :2]) for g in graphs]
    data = GraphTaskData(dataset=regression, splits=splits(len(regression)), out_dim=2, target="regression")
    mae = MetricSpec(name="mae", factory=lambda c: torchmetrics.MeanAbsoluteError(), higher_is_better=False)
    result = run(context(data, metric=mae, epochs=3, batch_size=32, scheduler="plateau", eval_every=2))
    assert result.steps == 3 and result.best_step in (2, 3)
    assert result.metrics["val"] < 1.0


def test_bad_arguments_are_rejected(graphs):
    with pytest.raises(ConfigError, match="epoch"):
        run(context(multilabel(graphs), epoch=3))
    with pytest.raises(ConfigError, match="scheduler"):
        run(context(multilabel(graphs), scheduler="step"))
    with pytest.raises(ConfigError, match=r"graph-minibatch: protocol_args\.epochs must be an integer >= 1, got 2\.7"):
        run(context(multilabel(graphs), epochs=2.7))
    with pytest.raises(ConfigError, match=r"protocol_args\.lr must be a finite number >= 0, got inf"):
        run(context(multilabel(graphs), lr=float("inf")))


def test_protocol_does_not_seed_itself(graphs):
    """Seeding is the caller's: without run_seeded, the global RNG state decides the initial weights."""
    data, args = multilabel(graphs), {**FAST, "epochs": 2}
    torch.manual_seed(123)
    first = graph_minibatch.run(context(data, **args))
    torch.manual_seed(123)
    again = graph_minibatch.run(context(data, **args))
    torch.manual_seed(456)
    other = graph_minibatch.run(context(data, **args))
    assert first.metrics == again.metrics and first.metrics != other.metrics
