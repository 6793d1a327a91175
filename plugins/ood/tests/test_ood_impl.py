"""GNNSafe OOD-detection implementation: shifts, Twitch loading, scores and metrics (real assertions, real data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bench_gnn_ood import CARDS
from bench_gnn_ood.detectors import energy, gnnsafe, mahalanobis, msp, odin
from bench_gnn_ood.ood_metrics import ood_metrics
from bench_gnn_ood.ood_models import GNNSafeGCN
from bench_gnn_ood.ood_training import train_ood
from bench_gnn_ood.shifts import SHIFTS, make_setting
from bench_gnn_ood.twitch import load_twitch, load_twitch_graph, twitch_setting
from torch_geometric.data import Data

from bench_gnn.data.cards import load_card
from bench_gnn.data.context import DataContext
from bench_gnn.errors import ConfigError, JobError


@pytest.fixture(scope="module")
def cora(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Data:
    """Public-split Cora with row-normalised features, through the suite's loader."""
    from bench_gnn_ood.planetoid import load_public

    ctx = DataContext("cora", load_card(CARDS / "cora.yaml", "cora"), data_dir,
                      tmp_path_factory.mktemp("cora-cache"), allow_download=False)
    return load_public(ctx, "cora")


# ------------------------------------------------------------------------------------------------ metrics


def test_metrics_on_a_hand_computed_case_where_the_two_fpr95_differ():
    # 20 ID scores 3..22, OOD 3.5, 2.5, 0. Sorted: 19 ID (22..4), OOD 3.5, ID 3, OOD 2.5, OOD 0.
    ind, ood = torch.arange(3.0, 23.0), torch.tensor([3.5, 2.5, 0.0])
    m = ood_metrics(ind, ood)
    assert m["auroc"] == pytest.approx(59 / 60, abs=1e-6)  # one discordant pair (3.5 > 3) of 60
    assert m["aupr"] == pytest.approx(19 / 20 + (1 / 20) * (20 / 21), abs=1e-6)
    # standard: accepting >= 95% of ID (19 of 20) needs threshold 4, which accepts no OOD node
    assert m["fpr95"] == pytest.approx(0.0)
    # GNNSafe's variant: the lowest threshold with recall 0.95 is 3.5 (an OOD score): 1 of 3 OOD accepted
    assert m["fpr95_gnnsafe"] == pytest.approx(1 / 3)


def test_metrics_on_a_second_hand_case_and_large_scores():
    # ID 2..13 (12 nodes), OOD 2.5, 1.5, 0.5, -1: recall 11/12 is the nearest to 0.95 for GNNSafe's variant
    ind, ood = torch.arange(2.0, 14.0), torch.tensor([2.5, 1.5, 0.5, -1.0])
    m = ood_metrics(ind, ood)
    assert m["auroc"] == pytest.approx(47 / 48, abs=1e-6)
    assert m["aupr"] == pytest.approx(11 / 12 + 1 / 13, abs=1e-6)
    assert m["fpr95"] == pytest.approx(1 / 4)  # all 12 ID needed: threshold 2 accepts the OOD 2.5
    assert m["fpr95_gnnsafe"] == pytest.approx(1 / 4)  # threshold 2.5 (recall 11/12) accepts it too
    # energies of 20+ must not collapse into ties (torchmetrics would pass them through a sigmoid)
    shifted = ood_metrics(ind + 30.0, ood + 30.0)
    assert shifted == pytest.approx(m)


def test_perfect_and_inverted_detectors():
    assert ood_metrics(torch.tensor([5.0, 6.0]), torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(
        {"auroc": 1.0, "aupr": 1.0, "fpr95": 0.0, "fpr95_gnnsafe": 0.0})
    inverted = ood_metrics(torch.tensor([1.0, 2.0]), torch.tensor([5.0, 6.0]))
    assert inverted["auroc"] == pytest.approx(0.0) and inverted["fpr95"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("ind", "ood", "message"),
    [
        (torch.tensor([]), torch.tensor([1.0]), "no in-distribution scores"),
        (torch.tensor([1.0]), torch.tensor([]), "no OOD scores"),
        (torch.tensor([1.0, float("nan")]), torch.tensor([0.0]), "in-distribution scores are NaN"),
        (torch.tensor([1.0]), torch.tensor([float("nan")]), "OOD scores are NaN"),
        (torch.tensor([2.0, 2.0]), torch.tensor([2.0]), "detector is constant"),
    ],
)
def test_metrics_refuse_empty_nan_and_constant_scores(ind, ood, message):
    with pytest.raises(JobError, match=message):
        ood_metrics(ind, ood)


# ------------------------------------------------------------------------------------------------ scores


def test_gnnsafe_propagation_equals_a_hand_computation():
    # path 0 - 1 - 2 (both directions), logits chosen so the energies are 1, 2, 4 (T = 1)
    e0 = torch.tensor([1.0, 2.0, 4.0])
    logits = torch.stack([e0 - torch.log(torch.tensor(2.0))] * 2, dim=1)  # logsumexp of two equal logits = e0
    assert torch.allclose(energy(logits), e0)
    edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    # K=1, alpha=0.5: node0 .5*1+.5*2=1.5; node1 .5*2+.5*(1+4)/2=2.25; node2 .5*4+.5*2=3
    # K=2: node0 .5*1.5+.5*2.25=1.875; node1 .5*2.25+.5*(1.5+3)/2=2.25; node2 .5*3+.5*2.25=2.625
    out = gnnsafe(logits, edges, 3, K=2, alpha=0.5)
    assert torch.allclose(out, torch.tensor([1.875, 2.25, 2.625]))
    # an isolated node only keeps alpha^K of its own score (the reference's behaviour)
    assert torch.allclose(gnnsafe(logits, torch.tensor([[0, 1], [1, 0]]), 3, K=2)[2], torch.tensor(1.0))


def test_msp_and_energy_are_in_distribution_high():
    confident, flat = torch.tensor([[10.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 0.0]])
    assert msp(confident) > msp(flat) and energy(confident) > energy(flat)


# ------------------------------------------------------------------------------------------------ shifts


def test_label_shift_node_counts_on_cora(cora):
    s = make_setting(cora, "label", 0, dataset="cora")
    assert int(s.ind.test_mask.sum()) == 316 and int(s.ood_test[0].node_mask.sum()) == 986
    assert int(s.ind.train_mask.sum()) == 60 and int(s.ood_train.node_mask.sum()) == 818  # class 3
    assert s.ind.test_mask.dim() == 1 and bool((s.ind.y[s.ind.test_mask] >= 4).all())
    assert s.seeds == {} and s.args["id_classes"] == [4, 5, 6]


def test_structure_shift_is_an_sbm_by_node_index_and_seeded(cora):
    a = make_setting(cora, "structure", 7, dataset="cora")
    n = cora.num_nodes
    train_graph, test_graph = a.ood_train, a.ood_test[0]
    block = torch.clamp(torch.arange(n) // (n // 7), max=6)
    for g in (train_graph, test_graph):
        src, dst = g.edge_index
        assert bool((src != dst).all()) and bool(g.node_mask.all())
        assert torch.equal(g.x, cora.x) and torch.equal(g.y, cora.y.view(-1))
        # expected share of edges within blocks: p_in * in-block pairs / (p_in * in + p_out * out pairs)
        sizes = torch.bincount(block).double()
        inside = float((sizes * (sizes - 1)).sum() / 2)
        outside = n * (n - 1) / 2 - inside
        expected = 1.5 * inside / (1.5 * inside + 0.5 * outside)
        assert float((block[src] == block[dst]).double().mean()) == pytest.approx(expected, abs=0.03)
        # GNNSafe's density d = E / (N (N - 1)) over ordered pairs, applied to unordered pairs (both directions
        # stored): about 2 (1.5 d inside + 0.5 d outside) = 6,776 directed edges for Cora's 10,556
        d = cora.edge_index.shape[1] / n / (n - 1)
        assert g.edge_index.shape[1] == pytest.approx(2 * d * (1.5 * inside + 0.5 * outside), rel=0.05)
    assert not torch.equal(train_graph.edge_index, test_graph.edge_index)  # two independent draws
    again = make_setting(cora, "structure", 7, dataset="cora")
    assert torch.equal(again.ood_test[0].edge_index, test_graph.edge_index) and again.seeds == {"shift": 7}
    other = make_setting(cora, "structure", 8, dataset="cora")
    assert not torch.equal(other.ood_test[0].edge_index, test_graph.edge_index)


def test_feature_shift_keeps_edges_and_labels_and_mixes_rows(cora):
    s = make_setting(cora, "feature", 3, dataset="cora")
    g = s.ood_test[0]
    assert torch.equal(g.edge_index, cora.edge_index) and torch.equal(g.y, cora.y.view(-1))
    assert not torch.equal(g.x, cora.x) and not torch.equal(g.x, s.ood_train.x)
    assert torch.allclose(g.x.sum(1), cora.x.sum(1)[:1].expand(cora.num_nodes), atol=1e-5)  # mixes of unit rows
    assert torch.equal(make_setting(cora, "feature", 3, dataset="cora").ood_test[0].x, g.x)
    assert s.ind.test_mask.sum() == 1000


def test_empty_and_unknown_shifts_are_refused_by_name(cora):
    with pytest.raises(JobError, match=r"cora: shift 'label' leaves no OOD test nodes.*ood_test_classes"):
        make_setting(_without_class(cora, 2), "label", 0, dataset="cora", ood_test_classes=(2,))
    with pytest.raises(ConfigError, match="outside 0..6"):
        make_setting(cora, "label", 0, dataset="cora", id_classes=(5, 9))
    with pytest.raises(ConfigError, match="Did you mean 'structure'"):
        make_setting(cora, "strucure", 0, dataset="cora")
    assert SHIFTS == ("structure", "feature", "label")


def _without_class(data: Data, c: int) -> Data:
    """``data`` with class ``c`` relabelled to 0 (so no node has it)."""
    y = data.y.clone()
    y[y == c] = 0
    out = data.clone()
    out.y = y
    return out


# ------------------------------------------------------------------------------------------------ training


def test_energy_regime_changes_batchnorm_statistics_and_restores_the_best_epoch(cora):
    s = make_setting(cora, "structure", 0, dataset="cora")
    stats = {}
    for regime in ("plain", "energy"):
        torch.manual_seed(0)
        model = GNNSafeGCN(cora.num_features, 7)
        seen: list[float] = []
        result = train_ood(model, s, regime=regime, epochs=15,
                           on_epoch=lambda e, loss, val, seen=seen: seen.append(val))
        assert result.best_epoch == 1 + min(range(15), key=seen.__getitem__) and result.epochs == 15
        stats[regime] = model.bn.running_mean.clone()
        # the restored model reproduces the best validation loss
        with torch.no_grad():
            val = torch.nn.functional.cross_entropy(model(s.ind)[s.ind.val_mask], s.ind.y[s.ind.val_mask])
        assert float(val) == pytest.approx(result.val_loss, rel=1e-5)
    assert not torch.allclose(stats["plain"], stats["energy"])


def test_odin_and_mahalanobis_score_every_node(cora):
    s = make_setting(cora, "label", 0, dataset="cora")
    torch.manual_seed(0)
    model = GNNSafeGCN(cora.num_features, 7)
    train_ood(model, s, regime="plain", epochs=5)
    o = odin(model, s.ind, T=10.0, noise=0.01, node_mask=s.ind.test_mask)
    m0 = mahalanobis(model, s.ind, s.ind.train_mask, s.ind)
    m1 = mahalanobis(model, s.ind, s.ind.train_mask, s.ind, noise=1e-6, node_mask=s.ind.test_mask)
    for scores in (o, m0, m1):
        assert scores.shape == (cora.num_nodes,) and bool(torch.isfinite(scores).all())
    # a tiny step against the gradient raises the score (the test nodes' mean distance falls)
    assert bool((m0 <= 0).all()) and float(m1[s.ind.test_mask].mean()) > float(m0[s.ind.test_mask].mean())


# ------------------------------------------------------------------------------------------------ Twitch


@pytest.fixture(scope="module")
def twitch_de(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Data:
    """DE through the card (sha256-verified copies in a cache)."""
    ctx = DataContext("twitch", load_card(CARDS / "twitch.yaml", "twitch"), data_dir,
                      tmp_path_factory.mktemp("twitch-cache"), allow_download=False)
    return load_twitch(ctx, langs=("DE",))["DE"]


def test_twitch_graph_sizes_match_the_manifest(data_dir, twitch_de):
    de = twitch_de
    fr = load_twitch_graph(data_dir / "twitch", "FR")
    assert (de.num_nodes, de.edge_index.shape[1], de.x.shape[1]) == (9498, 2 * 153138, 3170)
    assert (fr.num_nodes, fr.edge_index.shape[1]) == (6549, 2 * 112666)  # 6,551 rows, 2 duplicated new_id
    assert set(de.y.unique().tolist()) == {0, 1} and float(de.x.max()) == 1.0
    assert int(de.y.sum()) == 5742  # mature == "True" rows of DE


def _tiny(n: int) -> Data:
    return Data(x=torch.eye(n, 3170), edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.zeros(n, dtype=torch.long),
                num_nodes=n)


def test_twitch_setting_splits_de_and_marks_every_other_graph_ood(twitch_de):
    graphs = {"DE": twitch_de, "ENGB": _tiny(5), "ES": _tiny(4), "FR": _tiny(3), "RU": _tiny(2)}
    s = twitch_setting(graphs, seed=123)
    assert (int(s.ind.train_mask.sum()), int(s.ind.val_mask.sum()), int(s.ind.test_mask.sum())) == (949, 949, 7600)
    assert not bool((s.ind.train_mask & s.ind.test_mask).any()) and s.ind.num_nodes == 9498
    assert [g.num_nodes for g in s.ood_test] == [4, 3, 2] and s.ood_train.num_nodes == 5
    assert all(bool(g.node_mask.all()) for g in [s.ood_train, *s.ood_test]) and s.seeds == {"split": 123}
    rows = s.ind.x.sum(1)
    assert torch.allclose(rows[rows > 0], torch.tensor(1.0))  # NormalizeFeatures
    assert torch.equal(twitch_setting(graphs, seed=123).ind.test_mask, s.ind.test_mask)
    assert not torch.equal(twitch_setting(graphs, seed=124).ind.test_mask, s.ind.test_mask)
