"""Tests for plugins.longrange_models on tiny hand-built molecular-like graphs (no data files)."""

from __future__ import annotations

import math
from collections import deque

import pytest
import torch
from bench_gnn_longrange import layers as lrl
from bench_gnn_longrange import models as lr
from torch_geometric.data import Batch, Data
from torch_geometric.utils import get_laplacian, to_dense_adj

from bench_gnn import LAPPE_MISSING, ConfigError, ModelSpec, TaskInfo, UsageError, laplacian_pe, random_walk_se

NAMES = ["LRGB-GCN", "GINE", "GatedGCN", "GPS", "Transformer-LapPE", "DRew-GCN"]
SPECS = {spec.name: spec for spec in lr.model_specs()}
BUDGET = 500_000
ATOM_VOCAB = [119, 5, 12, 12, 10, 6, 6, 2, 2]  # ogb get_atom_feature_dims()
BOND_VOCAB = [5, 6, 2]  # ogb get_bond_feature_dims()
# Small widths keep the functional tests fast; the budget test uses the real defaults.
SMALL = {"hidden": 32, "layers": 3, "pe_dim": 8, "pe_k": 4, "dropout": 0.0}


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny graphs: one intra-op thread avoids contention on shared CI cores (10-100x faster here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def peptides_task(level: str = "graph", out_dim: int = 10) -> TaskInfo:
    extras = {"x_dtype": "long", "edge_dtype": "long", "level": level}
    return TaskInfo(task="graph", in_dim=9, out_dim=out_dim, edge_dim=3, extras=extras)


def undirected(pairs: list[tuple[int, int]]) -> torch.Tensor:
    edge_index = torch.tensor(pairs, dtype=torch.long).t()
    return torch.cat([edge_index, edge_index.flip(0)], dim=1)


def molecule(n: int, seed: int, ring: bool = True) -> Data:
    """A chain of ``n`` atoms, optionally closed into a ring, with one branch atom."""
    gen = torch.Generator().manual_seed(seed)
    pairs = [(i, i + 1) for i in range(n - 1)] + ([(0, n - 1)] if ring and n > 2 else []) + [(n // 2, n)]
    edge_index = undirected(pairs)
    x = torch.stack([torch.randint(0, v, (n + 1,), generator=gen) for v in ATOM_VOCAB], dim=1)
    edge_attr = torch.stack([torch.randint(0, v, (edge_index.size(1),), generator=gen) for v in BOND_VOCAB], dim=1)
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, y=torch.rand(1, 10, generator=gen))


def molecule_batch() -> Batch:
    return Batch.from_data_list([molecule(n, seed) for seed, n in enumerate([5, 8, 2, 12, 6])])


def small(name: str, **extra) -> dict:
    hp = dict(SMALL, **extra)
    if name == "DRew-GCN":
        hp["max_hops"] = 3
    return hp


# --------------------------------------------------------------------------- registration and budget


def test_bench_models_registers_all_graph_models():
    assert sorted(SPECS) == sorted(NAMES)
    for spec in SPECS.values():
        assert isinstance(spec, ModelSpec)
        assert spec.tasks == frozenset({"graph"})
        assert spec.description


@pytest.mark.parametrize("name", NAMES)
def test_default_parameter_count_within_budget(name):
    model = SPECS[name].build(peptides_task(), SPECS[name].defaults)
    count = sum(p.numel() for p in model.parameters())
    print(f"{name}: {count} parameters at defaults")
    assert 0.7 * BUDGET < count <= BUDGET


def test_ogb_vocabularies_are_used_for_long_features():
    model = SPECS["GINE"].build(peptides_task(), {})
    assert [t.num_embeddings for t in model.node_encoder.features.tables] == ATOM_VOCAB
    assert [t.num_embeddings for t in model.edge_encoder.features.tables] == BOND_VOCAB


# --------------------------------------------------------------------------- forward, gradients, determinism


@pytest.mark.parametrize("level", ["graph", "node", "root"])
@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes(name, level):
    batch = molecule_batch()
    model = SPECS[name].build(peptides_task(level), small(name))
    model.eval()
    out = model(batch)
    rows = batch.num_graphs if level == "graph" else batch.num_nodes
    assert out.shape == (rows, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_float_features_without_edge_features(name):
    task = TaskInfo(task="graph", in_dim=14, out_dim=21, edge_dim=None, extras={"x_dtype": "float", "level": "node"})
    data = molecule(7, 0)
    data.x, data.edge_attr = torch.randn(data.num_nodes, 14), None
    model = SPECS[name].build(task, small(name))
    assert model(data).shape == (data.num_nodes, 21)  # a single Data without .batch works too


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = SPECS[name].build(peptides_task(), small(name))
    model(molecule_batch()).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    # The edge stream's normalisation in the last GatedGCN layer feeds nothing downstream.
    last = small(name)["layers"] - 1
    allowed = {f"edge_norms.{last}.weight", f"edge_norms.{last}.bias",
               f"layers.{last}.conv.norm_e.weight", f"layers.{last}.conv.norm_e.bias"}
    assert set(missing) <= allowed, missing
    assert model.node_encoder.features.tables[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_with_seed(name):
    batch = molecule_batch()
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = SPECS[name].build(peptides_task(), small(name, dropout=0.2))
        model.train()  # dropout and LapPE sign flips draw from the seeded generator too
        outs.append(model(batch))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_loss_decreases_on_learnable_task(name):
    """Target: which of the first two atom types occurs most in the graph (mean-poolable)."""
    torch.manual_seed(0)
    graphs = []
    for seed in range(16):
        g = molecule(6 + seed % 5, seed)
        g.x[:, 0] = torch.randint(0, 2, (g.num_nodes,), generator=torch.Generator().manual_seed(seed))
        share = g.x[:, 0].float().mean()
        g.y = torch.tensor([[float(share > 0.5), float(share <= 0.5)]])
        graphs.append(g)
    batch = Batch.from_data_list(graphs)
    model = SPECS[name].build(peptides_task(out_dim=2), small(name, layers=2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0], losses


# --------------------------------------------------------------------------- positional encodings


def dense_rwse(edge_index: torch.Tensor, n: int, k: int) -> torch.Tensor:
    adj = to_dense_adj(edge_index, max_num_nodes=n)[0].double()
    walk = adj / adj.sum(1, keepdim=True).clamp(min=1)
    return torch.stack([torch.linalg.matrix_power(walk, t).diagonal() for t in range(1, k + 1)], dim=1)


def test_rwse_matches_dense_matrix_powers():
    batch = molecule_batch()
    got = random_walk_se(batch.edge_index, batch.num_nodes, 6, batch.batch)
    expected = torch.cat([dense_rwse(g.edge_index, g.num_nodes, 6) for g in batch.to_data_list()])
    torch.testing.assert_close(got.double(), expected, atol=1e-5, rtol=1e-5)
    # On a path (bipartite) no walk returns after an odd number of steps; end 0 returns in 2 with p = 1/2.
    path = random_walk_se(undirected([(0, 1), (1, 2), (2, 3)]), 4, 3)
    assert path[:, [0, 2]].abs().max() == 0 and path[0, 1] == 0.5


def test_lappe_eigenvectors_are_orthonormal_eigenpairs():
    k = 4
    batch = molecule_batch()  # includes a 3-node graph: one missing frequency
    vecs, vals = laplacian_pe(batch.edge_index, batch.num_nodes, k, batch.batch)
    assert vecs.shape == vals.shape == (batch.num_nodes, k)
    for i, g in enumerate(batch.to_data_list()):
        nodes = batch.batch == i
        v, lam = vecs[nodes].double(), vals[nodes][0].double()
        present = lam >= 0
        assert int(present.sum()) == min(k, g.num_nodes)
        assert torch.all(lam[~present] == LAPPE_MISSING) and torch.all(v[:, ~present] == 0)
        v = v[:, present]
        torch.testing.assert_close(v.t() @ v, torch.eye(v.size(1), dtype=v.dtype), atol=1e-5, rtol=0)
        lap_index, lap_weight = get_laplacian(g.edge_index, normalization="sym", num_nodes=g.num_nodes)
        lap = to_dense_adj(lap_index, edge_attr=lap_weight, max_num_nodes=g.num_nodes)[0].double()
        torch.testing.assert_close(lap @ v, v * lam[present], atol=1e-5, rtol=0)
        assert torch.all(lam[present][1:] >= lam[present][:-1]) and abs(float(lam[0])) < 1e-5


def test_lappe_sign_flip_only_in_training():
    batch = molecule_batch()
    enc = lrl.LapPEEncoder(k=4, dim=8)
    enc.eval()
    torch.testing.assert_close(enc(batch), enc(batch))
    # The DeepSet is not sign-invariant, so training-mode flips change the output.
    enc.train()
    torch.manual_seed(0)
    assert not torch.allclose(enc(batch), enc(batch))


@pytest.mark.parametrize("kind", ["rwse", "lappe"])
def test_precomputed_encodings_match_on_the_fly(kind):
    name = "GINE" if kind == "rwse" else "GPS"
    torch.manual_seed(0)
    model = SPECS[name].build(peptides_task(), small(name, pe=kind, pe_k=4))
    model.eval()
    plain = [molecule(n, seed) for seed, n in enumerate([5, 8, 2, 12])]
    pre = Batch.from_data_list([lrl.add_positional_encodings(g, kind, 4) for g in plain])
    assert not hasattr(plain[0], kind if kind == "rwse" else "lappe_vec")  # the input is not modified
    # Eigenvector signs may differ between the two computations, so compare the sign-free parts.
    if kind == "lappe":
        on_the_fly = laplacian_pe(pre.edge_index, pre.num_nodes, 4, pre.batch)
        torch.testing.assert_close(pre.lappe_val, on_the_fly[1])
        torch.testing.assert_close(pre.lappe_vec.abs(), on_the_fly[0].abs(), atol=1e-4, rtol=0)
    else:
        torch.testing.assert_close(model(pre), model(Batch.from_data_list(plain)))
    with pytest.raises(UsageError, match="pe_k"):
        SPECS[name].build(peptides_task(), small(name, pe=kind, pe_k=5)).eval()(pre)


# --------------------------------------------------------------------------- DRew


def bfs_distances(edge_index: torch.Tensor, n: int) -> dict[tuple[int, int], int]:
    neighbours = {i: [] for i in range(n)}
    for s, t in edge_index.t().tolist():
        neighbours[s].append(t)
    dist = {}
    for start in range(n):
        seen, queue = {start: 0}, deque([start])
        while queue:
            node = queue.popleft()
            for nxt in neighbours[node]:
                if nxt not in seen:
                    seen[nxt] = seen[node] + 1
                    queue.append(nxt)
        dist.update({(start, end): d for end, d in seen.items() if d > 0})
    return dist


def test_hop_edge_sets_equal_bfs_distances_on_path_and_batch():
    path = Data(edge_index=undirected([(i, i + 1) for i in range(6)]), num_nodes=7)
    other = molecule(5, 0)
    batch = Batch.from_data_list([path, Data(edge_index=other.edge_index, num_nodes=other.num_nodes)])
    expected = bfs_distances(batch.edge_index, batch.num_nodes)
    sets = lrl.hop_edge_sets(batch.edge_index, batch.num_nodes, 8, batch.batch)
    assert len(sets) == 8
    got = {(s, t): k for k, es in enumerate(sets, start=1) for s, t in es.t().tolist()}
    assert got == expected
    assert sets[6].numel() == 0 and sets[5].t().tolist() in ([[0, 6], [6, 0]], [[6, 0], [0, 6]])
    truncated = lrl.hop_edge_sets(path.edge_index, 7, 2)
    assert [es.size(1) for es in truncated] == [12, 10]


def test_drew_delay_and_layer_hops():
    task = peptides_task()
    delayed = SPECS["DRew-GCN"].build(task, small("DRew-GCN", layers=4, max_hops=3, nu=1))
    assert [delayed.delay(k) for k in (1, 2, 3)] == [0, 1, 2]
    assert [len(convs) for convs in delayed.convs] == [1, 2, 3, 3]
    for nu in ("inf", None):
        undelayed = SPECS["DRew-GCN"].build(task, small("DRew-GCN", nu=nu))
        assert [undelayed.delay(k) for k in (1, 2, 3)] == [0, 0, 0]
    assert SPECS["DRew-GCN"].build(task, small("DRew-GCN", nu=2)).delay(3) == 1


def test_drew_receptive_field_grows_one_hop_per_layer_with_full_delay():
    """With nu=1 information from hop k first arrives at layer k, as in plain message passing."""
    n = 8
    data = Data(x=torch.zeros(n, 9, dtype=torch.long), edge_index=undirected([(i, i + 1) for i in range(n - 1)]))
    for layers, reach in ((2, 2), (4, 4)):
        torch.manual_seed(0)
        hp = small("DRew-GCN", layers=layers, max_hops=layers, nu=1, pe="none")
        model = SPECS["DRew-GCN"].build(peptides_task("node"), hp).eval()
        h0 = torch.randn(n, hp["hidden"], requires_grad=True)
        model.node_encoder.forward = lambda _data, h0=h0: h0
        model(data)[0].sum().backward()
        influenced = (h0.grad.abs().sum(1) > 0).nonzero().flatten().tolist()
        assert influenced == list(range(reach + 1))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "name,bad,match",
    [
        ("LRGB-GCN", {"layers": 0}, "layers"),
        ("LRGB-GCN", {"layers": True}, "layers"),
        ("GINE", {"dropout": 1.5}, "dropout"),
        ("GatedGCN", {"pe": "signnet"}, "pe"),
        ("GatedGCN", {"batch_norm": "yes"}, "batch_norm"),
        ("GPS", {"hidden": 78}, "divisible"),
        ("GPS", {"local_model": "gat"}, "local_model"),
        ("Transformer-LapPE", {"pe_dim": 200}, "pe_dim"),
        ("DRew-GCN", {"nu": 0}, "nu"),
        ("DRew-GCN", {"max_hops": 0}, "max_hops"),
        ("LRGB-GCN", {"width": 64}, "unknown hyper-parameters"),
    ],
)
def test_invalid_hparams_raise_config_error(name, bad, match):
    with pytest.raises(ConfigError, match=f"^model {name!r}: .*{match}"):
        SPECS[name].build(peptides_task(), bad)
    with pytest.raises(ConfigError, match=match):  # the same rules, without torch, when a suite loads
        SPECS[name].check({**SPECS[name].defaults, **bad})


def test_check_accepts_the_defaults_and_parses_nu():
    for spec in SPECS.values():
        spec.check(dict(spec.defaults))
    assert lr.resolve_hparams("DRew-GCN", {"nu": "inf"})["nu"] == math.inf
    assert math.isinf(lr.parse_nu(float("inf"))) and lr.parse_nu(None) == math.inf and lr.parse_nu(2) == 2
    with pytest.raises(ConfigError, match="nu must be an integer >= 1, got 0.5 .*; or 'inf'"):
        lr.parse_nu(0.5)


def test_suite_with_bad_hparams_fails_at_load_before_training(bench_main, tmp_path):
    code, _, err = bench_main(
        "run", "--suite", "gnn-longrange", "--model", "GPS", "--dataset", "ring-transfer", "--no-progress",
        "models.GPS.hparams.hidden=78", "--results", str(tmp_path),
    )
    assert code == 4, err
    assert "'GPS'" in err and "hidden (78) must be divisible by heads (4)" in err
    assert not any(tmp_path.rglob("*.json"))


def test_invalid_task_raises_usage_error():
    with pytest.raises(UsageError, match="level"):
        SPECS["GINE"].build(peptides_task("edge"), {})
    with pytest.raises(UsageError, match="x_vocab"):
        SPECS["GINE"].build(TaskInfo("graph", 4, 2, 3, extras={"x_dtype": "long", "edge_dtype": "long"}), {})
    with pytest.raises(UsageError, match="graph"):
        SPECS["GINE"].build(TaskInfo("node", 9, 2, 3, extras={"x_dtype": "long", "edge_dtype": "long"}), {})


def test_gps_with_gine_local_model():
    model = SPECS["GPS"].build(peptides_task(), small("GPS", local_model="gine"))
    assert model(molecule_batch()).shape == (5, 10)
