"""The graph mini-batch protocol on tiny synthetic graph datasets.

The protocol does not seed itself: :func:`run` here goes through ``run_seeded``, as the runner does.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchmetrics
from bench_gnn_longrange import minibatch as graph_minibatch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv, global_mean_pool
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision

from bench_gnn.errors import ConfigError, NonFiniteLossError
from bench_gnn.plugin_manager import load_plugins
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


def lr_per_epoch(monkeypatch) -> list[tuple[str, float, float]]:
    """(optimizer class, lr, weight decay) of every training epoch, read from the optimizer the protocol built."""
    seen: list[tuple[str, float, float]] = []
    train_epoch = graph_minibatch._train_epoch

    def spy(model, loader, optimizer, *args):
        group = optimizer.param_groups[0]
        seen.append((type(optimizer).__name__, group["lr"], group["weight_decay"]))
        return train_epoch(model, loader, optimizer, *args)

    monkeypatch.setattr(graph_minibatch, "_train_epoch", spy)
    return seen


def test_adamw_with_linear_warmup_then_cosine_decay_per_epoch(graphs, monkeypatch):
    """Tönshoff et al. / GraphGPS: epoch e (from 0) trains at lr * max(1e-6, e / w) while e < w, then at
    lr * (1 + cos(pi (e - w) / (E - w))) / 2."""
    seen = lr_per_epoch(monkeypatch)
    run(context(multilabel(graphs), epochs=6, batch_size=64, lr=0.1, warmup_epochs=2, weight_decay=0.01))
    # hand-computed: warm-up 1e-7, 0.05; cosine over 4 epochs: cos(0), cos(pi/4), cos(pi/2), cos(3 pi/4)
    half = math.sqrt(2) / 2
    expected = [1e-7, 0.05, 0.1, 0.05 * (1 + half), 0.05, 0.05 * (1 - half)]
    assert [name for name, _, _ in seen] == ["AdamW"] * 6
    assert [lr for _, lr, _ in seen] == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert {wd for _, _, wd in seen} == {0.01}

    seen.clear()
    run(context(multilabel(graphs), epochs=3, batch_size=64, lr=0.1, warmup_epochs=0))
    assert [lr for _, lr, _ in seen] == pytest.approx([0.1, 0.075, 0.025], rel=1e-9)  # cos(0), cos(pi/3), cos(2pi/3)


def test_regression_with_plateau_scheduler(graphs, monkeypatch):
    regression = [Data(x=g.x, edge_index=g.edge_index, y=g.x.mean(0, keepdim=True)[:, :2]) for g in graphs]
    data = GraphTaskData(dataset=regression, splits=splits(len(regression)), out_dim=2, target="regression")
    val_curve: list[float] = []

    class RecordedMAE(torchmetrics.MeanAbsoluteError):
        def compute(self):
            value = super().compute()
            if self.role == "val":
                val_curve.append(float(value))
            return value

    made = iter(["train", "val", "test"])  # the protocol builds the train, val and test metrics in this order

    def factory(c):
        metric = RecordedMAE()
        metric.role = next(made)
        return metric

    mae = MetricSpec(name="mae", factory=factory, higher_is_better=False)
    seen = lr_per_epoch(monkeypatch)
    result = run(context(data, metric=mae, epochs=11, batch_size=32, lr=4.0, scheduler="plateau", eval_every=2,
                         plateau_patience=1, plateau_factor=0.5, min_lr=0.1))
    evaluated = [2, 4, 6, 8, 10, 11]  # every second epoch and the last
    assert result.steps == 11 and len(val_curve) == len(evaluated)
    best = min(range(len(evaluated)), key=lambda i: (val_curve[i], i))
    assert result.best_step == evaluated[best] and result.metrics["val"] == val_curve[best]
    # patience 1: the lr halves after the second evaluation in a row whose val loss (L1, here the MAE) does not
    # improve by a relative 1e-4 (torch's threshold), never below min_lr
    lr, lrs, best_loss, bad = 4.0, [], math.inf, 0
    for epoch in range(1, 12):
        lrs.append(lr)
        if epoch in evaluated:
            loss = val_curve[evaluated.index(epoch)]
            best_loss, bad = (loss, 0) if loss < best_loss * (1 - 1e-4) else (best_loss, bad + 1)
            if bad > 1:
                lr, bad = max(0.1, lr * 0.5), 0
    assert [v for _, v, _ in seen] == pytest.approx(lrs)
    assert len(set(lrs)) > 1, "the script should see at least one reduction"


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
