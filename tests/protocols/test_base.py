"""What every protocol shares: the best-validation rule, seeding and argument checks."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from bench_gnn_longrange import minibatch as graph_minibatch
from bench_gnn_node import full_batch as node_full_batch
from torch import nn
from torch_geometric.data import Data

from bench_gnn.errors import ConfigError, ExitCode, UsageError
from bench_gnn.plugin_manager import load_plugins
from bench_gnn.protocols.base import ProtocolContext, improves, run_seeded
from bench_gnn.specs import GraphTaskData, MetricSpec, ModelSpec

NAN = float("nan")

PROTOCOLS = load_plugins().protocols


def resolve(protocol: str, args: dict) -> dict:
    """``args`` as the runner hands them to a protocol: resolved by its spec (defaults, checks)."""
    return PROTOCOLS.get(protocol).spec.resolve(args)


# --- improves ------------------------------------------------------------------------------------


def best_index(scores: list[float], higher_is_better: bool = True) -> int:
    """Fold ``scores`` with :func:`improves`, as a protocol does over its evaluations."""
    best, index = None, -1
    for i, score in enumerate(scores):
        if improves(score, best, higher_is_better):
            best, index = score, i
    return index


def test_first_evaluation_is_taken_even_nan():
    assert improves(NAN, None, True) and improves(NAN, None, False)
    assert improves(0.1, None, True) and improves(0.1, None, False)
    assert best_index([NAN]) == 0


def test_nan_never_replaces_a_best():
    assert not improves(NAN, 0.5, True) and not improves(NAN, 0.5, False)
    assert not improves(NAN, NAN, True)
    assert best_index([0.3, NAN, 0.2]) == 0


def test_a_number_replaces_a_nan_best():
    assert improves(0.0, NAN, True) and improves(1e9, NAN, False)
    assert best_index([NAN, NAN, 0.2, 0.1]) == 2
    assert best_index([NAN, 0.4, NAN, 0.3], higher_is_better=False) == 3


def test_ties_keep_the_earlier_step():
    assert not improves(0.5, 0.5, True) and not improves(0.5, 0.5, False)
    assert best_index([0.1, 0.5, 0.5, 0.2]) == 1
    assert best_index([0.9, 0.4, 0.4, 0.6], higher_is_better=False) == 1


def test_lower_is_better():
    assert improves(0.1, 0.2, False) and not improves(0.3, 0.2, False)
    assert improves(-math.inf, 0.0, False) and not improves(math.inf, 0.0, False)
    assert best_index([3.0, 1.0, 2.0, 1.5], higher_is_better=False) == 1
    assert best_index([3.0, 1.0, 2.0, 1.5], higher_is_better=True) == 0


# --- both protocols pick their best step with it -------------------------------------------------


class Scripted:
    """A stand-in metric: the i-th compute of an evaluation (train, val, test) returns a scripted val score."""

    def __init__(self, val: list[float], calls) -> None:
        self.val, self.calls = val, calls

    def to(self, device):
        return self

    def reset(self) -> None:
        pass

    def update(self, scores, target) -> None:
        pass

    def compute(self) -> torch.Tensor:
        evaluation, split = divmod(next(self.calls), 3)  # both protocols compute train, val, test in turn
        return torch.tensor(self.val[evaluation] if split == 1 else float(evaluation))


def scripted(val: list[float], higher_is_better: bool) -> MetricSpec:
    calls = itertools.count()
    return MetricSpec(name="scripted", factory=lambda c: Scripted(val, calls), higher_is_better=higher_is_better)


class Linear(nn.Module):
    def __init__(self, task, hparams) -> None:
        super().__init__()
        self.lin = nn.Linear(task.in_dim, task.out_dim)
        self.graph = task.task == "graph"

    def forward(self, data):
        out = self.lin(data.x)
        if self.graph:
            return torch.zeros(data.num_graphs, out.size(1)).index_add(0, data.batch, out)
        return out


LINEAR = ModelSpec(name="linear", build=Linear, tasks={"node", "graph"})
SCRIPTS = [  # (val score per evaluation, higher is better, expected best step)
    ([NAN, 0.5, 0.5, NAN], True, 2),
    ([NAN, NAN, NAN, NAN], True, 1),
    ([0.4, 0.2, 0.2, 0.3], False, 2),
    ([0.4, NAN, 0.6, 0.6], True, 3),
]


def node_data() -> Data:
    gen = torch.Generator().manual_seed(0)
    n = 30
    masks = torch.zeros(n, 3, dtype=torch.bool)
    masks[torch.arange(n), torch.arange(n) % 3] = True
    return Data(x=torch.randn(n, 4, generator=gen), edge_index=torch.zeros(2, 0, dtype=torch.long),
                y=torch.arange(n) % 3, train_mask=masks[:, 0], val_mask=masks[:, 1], test_mask=masks[:, 2])


def graph_data() -> GraphTaskData:
    gen = torch.Generator().manual_seed(0)
    graphs = [Data(x=torch.randn(4, 3, generator=gen), edge_index=torch.zeros(2, 0, dtype=torch.long),
                   y=torch.tensor([i % 2])) for i in range(12)]
    splits = {"train": torch.arange(6), "val": torch.arange(6, 9), "test": torch.arange(9, 12)}
    return GraphTaskData(dataset=graphs, splits=splits, out_dim=2, target="multiclass")


@pytest.mark.parametrize("val,higher,expected", SCRIPTS)
def test_node_full_batch_best_step(val, higher, expected):
    ctx = ProtocolContext(data=node_data(), model=LINEAR, hparams={},
                          args=resolve("node-full-batch", {"steps": 4, "lr": 0.01}), metric=scripted(val, higher),
                          split=0, seed=0, device=torch.device("cpu"))
    result = run_seeded(node_full_batch.run, ctx)
    assert result.best_step == expected
    assert result.metrics["train"] == expected - 1  # the scripted train score is the evaluation's index


@pytest.mark.parametrize("val,higher,expected", SCRIPTS)
def test_graph_minibatch_best_step(val, higher, expected):
    ctx = ProtocolContext(data=graph_data(), model=LINEAR, hparams={},
                          args=resolve("graph-minibatch", {"epochs": 4, "batch_size": 4, "scheduler": "none"}),
                          metric=scripted(val, higher), split=0, seed=0, device=torch.device("cpu"))
    result = run_seeded(graph_minibatch.run, ctx)
    assert result.best_step == expected
    assert result.metrics["train"] == expected - 1


# --- seeding -------------------------------------------------------------------------------------


def test_run_seeded_seeds_before_the_protocol():
    ctx = ProtocolContext(data=None, model=LINEAR, hparams={}, args={}, metric=scripted([], True), split=0, seed=7,
                          device=torch.device("cpu"))
    draws = [run_seeded(lambda c: torch.rand(3), ctx) for _ in range(2)]
    assert torch.equal(draws[0], draws[1])
    torch.manual_seed(7)
    assert torch.equal(draws[0], torch.rand(3))


# --- protocol arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol,args,message", [
    ("node-full-batch", {"steps": "abc"},
     "node-full-batch: protocol_args.steps must be an integer >= 1, got 'abc' (str)"),
    ("node-full-batch", {"steps": 2.7},
     "node-full-batch: protocol_args.steps must be an integer >= 1, got 2.7 (float)"),
    ("node-full-batch", {"steps": 0}, "node-full-batch: protocol_args.steps must be an integer >= 1, got 0 (int)"),
    ("node-full-batch", {"steps": True}, "protocol_args.steps must be an integer >= 1, got True (bool)"),
    ("node-full-batch", {"eval_every": 0}, "node-full-batch: protocol_args.eval_every must be an integer >= 1"),
    ("node-full-batch", {"lr": "fast"}, "node-full-batch: protocol_args.lr must be a finite number >= 0, got 'fast'"),
    ("node-full-batch", {"weight_decay": -0.1}, "node-full-batch: protocol_args.weight_decay must be a number >= 0"),
    ("node-full-batch", {"epochs": 3}, "node-full-batch: unknown protocol_args key 'epochs'"),
    ("graph-minibatch", {"epochs": "abc"}, "graph-minibatch: protocol_args.epochs must be an integer >= 1"),
    ("graph-minibatch", {"batch_size": 3.0}, "graph-minibatch: protocol_args.batch_size must be an integer >= 1"),
    ("graph-minibatch", {"warmup_epochs": -1}, "graph-minibatch: protocol_args.warmup_epochs must be an integer >= 0"),
    ("graph-minibatch", {"lr": "fast"}, "graph-minibatch: protocol_args.lr must be a finite number >= 0"),
    ("graph-minibatch", {"plateau_factor": 1.0},
     "graph-minibatch: protocol_args.plateau_factor must be a number in [0, 1)"),
    ("graph-minibatch", {"scheduler": "step"}, "graph-minibatch: protocol_args.scheduler must be one of 'cosine'"),
    ("graph-minibatch", {"resident": "yes"},
     "graph-minibatch: protocol_args.resident must be one of True, False, 'auto'"),
    ("graph-minibatch", {"resident": 1}, "graph-minibatch: protocol_args.resident must be one of"),
    ("graph-minibatch", {"steps": 3}, "graph-minibatch: unknown protocol_args key 'steps'. Did you mean"),
])
def test_check_args_names_protocol_and_key(protocol, args, message):
    with pytest.raises(ConfigError) as info:
        resolve(protocol, args)
    assert message in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE_ERROR


def test_check_args_fills_defaults_and_keeps_valid_values():
    assert resolve("node-full-batch", {"steps": 5, "lr": 1}) == {
        "steps": 5, "lr": 1.0, "weight_decay": 0.0, "eval_every": 1, "analyses": {}}
    resolved = resolve("graph-minibatch", {"resident": False, "plateau_factor": 0.5})
    assert resolved["resident"] is False and resolved["epochs"] == 250
    assert set(resolved) == {"epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "scheduler",
                             "plateau_factor", "plateau_patience", "min_lr", "eval_every", "resident", "analyses"}
    with pytest.raises(UsageError, match="unknown protocol 'edge-batch'"):
        PROTOCOLS.get("edge-batch")
