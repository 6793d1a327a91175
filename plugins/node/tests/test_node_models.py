"""Tests for the heterophily node models (bench_gnn_node/models.py) on tiny hand-built graphs."""

from __future__ import annotations

import math
import re

import pluggy
import pytest
import torch
from bench_gnn_node import hooks as node_hooks
from bench_gnn_node import layers as node_layers
from bench_gnn_node import models as node_models
from bench_gnn_node.hparams import DEFAULTS, check_hparams
from bench_gnn_node.layers import Graph
from bench_gnn_node.models import build_model
from torch_geometric.data import Data
from torch_geometric.nn import TransformerConv

from bench_gnn import ConfigError, TaskInfo, UsageError, hookspecs

NAMES = ["ResNet", "GCN", "SAGE", "GAT", "GAT-sep", "GT", "GT-sep"]
SMALL = {"hidden": 16, "heads": 4}


def undirected(*edges: tuple[int, int]) -> torch.Tensor:
    src, dst = zip(*edges, strict=True)
    return torch.tensor([src + dst, dst + src])


def small_graph(num_features: int = 3) -> Data:
    """Path 0-1-2-3 with a chord 1-3; node 4 is isolated."""
    edge_index = undirected((0, 1), (1, 2), (2, 3), (1, 3))
    return Data(x=torch.randn(5, num_features, generator=torch.Generator().manual_seed(1)), edge_index=edge_index)


def build(name: str, in_dim: int = 3, out_dim: int = 2, **hparams) -> torch.nn.Module:
    return build_model(name, TaskInfo(task="node", in_dim=in_dim, out_dim=out_dim), {**SMALL, **hparams})


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_hook_contributes_the_seven_models():
    manager = pluggy.PluginManager("bench")
    manager.add_hookspecs(hookspecs)
    manager.register(node_hooks)
    (specs,) = manager.hook.bench_models()
    assert [spec.name for spec in specs] == NAMES
    for spec in specs:
        assert spec.tasks == {"node"}
        assert dict(spec.defaults) == {
            "hidden": 512,
            "num_layers": 1,
            "dropout": 0.2,
            "heads": 8,
            "hidden_dim_multiplier": 1,
        }
        assert spec.description
        model = spec.build(TaskInfo(task="node", in_dim=3, out_dim=2), {"hidden": 16})
        assert model(small_graph()).shape == (5, 2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("out_dim", [1, 4])
def test_output_shape(name, out_dim):
    model = build(name, out_dim=out_dim)
    assert model(small_graph()).shape == (5, out_dim)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_grow_with_layers(name):
    assert (
        num_params(build(name, num_layers=1))
        < num_params(build(name, num_layers=2))
        < num_params(build(name, num_layers=3))
    )


def test_blocks_per_layer():
    assert len(build("GCN", num_layers=3).blocks) == 3
    assert len(build("GT", num_layers=3).blocks) == 6
    assert len(build("GT-sep", num_layers=2).blocks) == 4


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_finite_gradient(name):
    torch.manual_seed(0)
    model = build(name, num_layers=2)
    model(small_graph()).square().sum().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{name}: {param_name} gets no gradient"
        assert torch.isfinite(param.grad).all(), param_name
    assert model.input[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_isolated_node_and_edgeless_graph_are_finite(name):
    model = build(name).eval()
    graph = small_graph()
    out = model(graph)
    assert torch.isfinite(out).all()
    no_edges = Data(x=graph.x, edge_index=torch.empty(2, 0, dtype=torch.long))
    assert torch.isfinite(model(no_edges)).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output(name):
    graph = small_graph()

    def run() -> torch.Tensor:
        torch.manual_seed(123)
        model = build(name, num_layers=2)  # train mode: dropout is active
        return model(graph)

    assert torch.equal(run(), run())


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_cached_across_graphs(name):
    model = build(name, num_layers=2).eval()
    other = Data(x=torch.randn(7, 3), edge_index=undirected((0, 6), (1, 2), (2, 3), (3, 4)))
    fresh = model(other)
    model(small_graph())
    assert torch.equal(model(other), fresh)


def test_gcn_aggregation_is_symmetric_normalised_sum_without_self_loops():
    # Path 0-1-2-3 and isolated node 4: degrees 1, 2, 2, 1, 0.
    edge_index = undirected((0, 1), (1, 2), (2, 3))
    s = 1 / math.sqrt(2)
    expected = torch.tensor(  # D^-1/2 A D^-1/2, written out by hand
        [
            [0.0, s, 0.0, 0.0, 0.0],
            [s, 0.0, 0.5, 0.0, 0.0],
            [0.0, 0.5, 0.0, s, 0.0],
            [0.0, 0.0, s, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    x = torch.randn(5, 16)
    block = build("GCN").blocks[0].block
    out = block.aggregate(x, Graph(edge_index, 5, x.dtype))
    torch.testing.assert_close(out, expected @ x)
    torch.testing.assert_close(block.aggregate(torch.eye(5), Graph(edge_index, 5, torch.float)), expected)


def test_sage_aggregation_is_ego_then_neighbour_mean():
    edge_index = undirected((0, 1), (0, 2), (0, 3))
    x = torch.randn(5, 16)
    out = build("SAGE").blocks[0].block.aggregate(x, Graph(edge_index, 5, x.dtype))
    assert out.shape == (5, 32)
    torch.testing.assert_close(out[:, :16], x)
    expected = torch.stack([x[1:4].mean(0), x[0], x[0], x[0], torch.zeros(16)])
    torch.testing.assert_close(out[:, 16:], expected)


@pytest.mark.parametrize("separate", [False, True])
def test_transformer_attention_matches_pyg_transformer_conv(separate):
    torch.manual_seed(0)
    graph = small_graph(num_features=16)
    attention = build("GT-sep" if separate else "GT").blocks[0].block
    conv = TransformerConv(16, 4, heads=4, root_weight=False)
    with torch.no_grad():
        for ours, theirs in [
            (attention.query, conv.lin_query),
            (attention.key, conv.lin_key),
            (attention.value, conv.lin_value),
        ]:
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    out = attention.aggregate(graph.x, Graph(graph.edge_index, 5, graph.x.dtype))
    expected = conv(graph.x, graph.edge_index)
    if separate:
        torch.testing.assert_close(out[:, :16], graph.x)
        out = out[:, 16:]
    torch.testing.assert_close(out, expected)


def test_gat_sep_concatenates_ego_and_gat_message():
    graph = small_graph(num_features=16)
    block = build("GAT-sep").blocks[0].block
    out = block.aggregate(graph.x, Graph(graph.edge_index, 5, graph.x.dtype))
    torch.testing.assert_close(out[:, :16], graph.x)
    torch.testing.assert_close(out[:, 16:], block.attention(graph.x, graph.edge_index))
    assert block.attention.heads == 4 and not block.attention.add_self_loops


def homophilous_graph(num_classes: int = 3, per_class: int = 20) -> Data:
    """Each node links to three random nodes of its own class; features carry a weak class signal."""
    gen = torch.Generator().manual_seed(0)
    n = num_classes * per_class
    y = torch.arange(n) // per_class
    signal = torch.nn.functional.one_hot(y, 8).float()
    x = 0.5 * signal + torch.randn(n, 8, generator=gen)
    src = torch.arange(n).repeat_interleave(3)
    same_class = y[src] * per_class + torch.randint(per_class, (3 * n,), generator=gen)
    keep = src != same_class
    edge_index = torch.stack([src[keep], same_class[keep]])
    return Data(x=x, y=y, edge_index=torch.cat([edge_index, edge_index.flip(0)], dim=1))


@pytest.mark.parametrize("name", NAMES)
def test_fits_a_small_homophilous_graph(name):
    torch.manual_seed(0)
    data = homophilous_graph()
    model = build(name, in_dim=data.num_features, out_dim=3, hidden=32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)

    def loss() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(model(data), data.y)

    model.eval()
    with torch.no_grad():
        before = loss().item()
    model.train()
    for _ in range(50):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after = loss().item()
    assert after < 0.5 * before, f"{name}: loss {before:.3f} -> {after:.3f}"


@pytest.mark.parametrize(
    "name, hparams, culprit",
    [
        ("GAT", {"hidden": 30, "heads": 8}, "hidden (30) must be divisible by heads (8)"),
        ("GT-sep", {"hidden": 12, "heads": 8}, "hidden=16"),
        ("GCN", {"hidden": 0}, "hidden must be an integer >= 1"),
        ("SAGE", {"hidden": 32.0}, "hidden must be an integer"),
        ("GT", {"num_layers": 0}, "num_layers must be"),
        ("ResNet", {"num_layers": True}, "num_layers must be"),
        ("GAT-sep", {"heads": -8}, "heads must be"),
        ("GCN", {"dropout": 1.0}, "dropout must be a number in [0, 1)"),
        ("GCN", {"dropout": -0.1}, "dropout must be"),
        ("GCN", {"dropout": "0.2"}, "dropout must be"),
        ("GCN", {"dropout": float("nan")}, "dropout must be"),
        ("SAGE", {"hidden_dim_multiplier": 0}, "hidden_dim_multiplier"),
        ("SAGE", {"hidden_dim_multiplier": float("inf")}, "hidden_dim_multiplier"),
        ("ResNet", {"hiden": 64}, "'hiden'"),
    ],
)
def test_invalid_hparams_raise_config_error(name, hparams, culprit):
    with pytest.raises(ConfigError) as excinfo:
        build_model(name, TaskInfo(task="node", in_dim=3, out_dim=2), hparams)
    assert str(excinfo.value).startswith(f"model {name!r}: ")
    assert culprit in str(excinfo.value)
    spec = {spec.name: spec for spec in node_models.model_specs()}[name]
    with pytest.raises(ConfigError, match=re.escape(culprit)):
        spec.check({**spec.defaults, **hparams})  # the same rules, without torch, when a suite loads


def test_check_accepts_the_defaults_and_the_names_match_the_layers():
    assert node_models.NAMES == tuple(node_layers.LAYERS)
    for spec in node_models.model_specs():
        spec.check(dict(spec.defaults))


def test_suite_with_bad_hparams_fails_at_load_before_training(bench_main, tmp_path):
    code, out, err = bench_main(
        "run", "--suite", "heterophily", "--model", "GAT", "--dataset", "minesweeper", "--no-progress",
        "models.GAT.hparams.hidden=100", "--results", str(tmp_path),
    )
    assert code == 4, err
    assert "'GAT'" in err and "hidden (100) must be divisible by heads (8)" in err
    assert not any(tmp_path.rglob("*.json"))  # nothing ran


def test_heads_only_constrain_attention_models():
    assert build("ResNet", hidden=30, heads=8)(small_graph()).shape == (5, 2)
    assert build("SAGE", hidden=30, heads=8)(small_graph()).shape == (5, 2)


def test_defaults_fill_missing_hparams():
    hp = check_hparams("GT", {"hidden": 64})
    assert (hp.hidden, hp.num_layers, hp.dropout, hp.heads, hp.hidden_dim_multiplier) == (64, 1, 0.2, 8, 1.0)
    assert check_hparams("GT", {}).hidden == DEFAULTS["hidden"]


def test_rejects_graph_tasks_and_bad_dims():
    with pytest.raises(UsageError, match="node tasks only"):
        build_model("GCN", TaskInfo(task="graph", in_dim=3, out_dim=2), {})
    with pytest.raises(UsageError, match="out_dim"):
        build_model("GCN", TaskInfo(task="node", in_dim=3, out_dim=0), {})
