"""The GATS calibration building blocks: data loading and split validation, metrics, calibrators, backbones."""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from bench_gnn_ood import CARDS
from bench_gnn_ood import calibrators as ci
from bench_gnn_ood.calibration_metrics import binned_ece, calibration_metrics, reliability
from bench_gnn_ood.gats_models import GATSGAT, GATSGCN, build_gats_model
from bench_gnn_ood.gats_training import train_backbone
from bench_gnn_ood.planetoid import (
    check_gats_split,
    distance_to_train,
    gats_dist_path,
    gats_split_path,
    load_gats,
    load_public,
)
from torch_geometric.data import Data
from torch_geometric.nn import GATConv, GCNConv
from torchmetrics.functional.classification import multiclass_calibration_error

from bench_gnn.data.cards import load_card
from bench_gnn.data.context import DataContext
from bench_gnn.errors import DataError, NonFiniteLossError
from bench_gnn.specs import TaskInfo


def _ctx(name: str, data_dir: Path, cache: Path, card: dict | None = None) -> DataContext:
    loaded = load_card(card, name) if card is not None else load_card(CARDS / f"{name}.yaml", name)
    return DataContext(name, loaded, data_dir, cache, allow_download=False)


@pytest.fixture(scope="module")
def cora(data_dir, tmp_path_factory) -> Data:
    return load_gats(_ctx("cora-gats", data_dir, tmp_path_factory.mktemp("cora")), "cora")


# --------------------------------------------------------------------------------------------------- data


def test_gats_masks_have_the_protocol_sizes(cora, data_dir, isolated_cache):
    assert cora.train_mask.shape == cora.val_mask.shape == cora.test_mask.shape == (2708, 15)
    assert cora.val_mask.sum(0).tolist() == [134] * 15
    assert cora.train_mask.sum(0).tolist() == [268] * 15
    assert cora.test_mask.sum(0).tolist() == [1957] * 15
    assert int((cora.train_mask.int() + cora.val_mask.int() + cora.test_mask.int()).max()) == 1
    # column c = split * 3 + fold: the three folds of one split are its three validation sets, covering train
    split1 = cora.val_mask[:, 3] | cora.val_mask[:, 4] | cora.val_mask[:, 5]
    assert torch.equal(split1, cora.train_mask[:, 3] | cora.val_mask[:, 3])
    assert torch.equal(cora.test_mask[:, 3], cora.test_mask[:, 5])
    # raw binary features (GATS trains on un-normalised features)
    assert set(cora.x.unique().tolist()) == {0.0, 1.0} and cora.x.sum(1).max() > 1
    citeseer = load_gats(_ctx("citeseer-gats", data_dir, isolated_cache), "citeseer")
    assert citeseer.val_mask.sum(0).tolist()[:3] == [166, 166, 165]
    assert citeseer.test_mask.sum(0).tolist() == [2402] * 15
    assert citeseer.dist_to_train.shape == (3327, 15)


def test_public_split_is_row_normalised_with_one_column(data_dir, isolated_cache):
    data = load_public(_ctx("cora", data_dir, isolated_cache), "cora")
    assert (data.train_mask.sum().item(), data.val_mask.sum().item(), data.test_mask.sum().item()) == (140, 500, 1000)
    assert data.train_mask.shape == (2708, 1) and data.edge_index.shape == (2, 10556)
    assert torch.allclose(data.x.sum(1), torch.ones(2708)) and data.name == "cora"


def test_distance_to_train_reproduces_the_shipped_files(cora, data_dir):
    for split, fold in [(0, 0), (2, 1), (4, 2)]:
        column = split * 3 + fold
        shipped = np.load(data_dir / gats_dist_path("cora", split, fold))  # exact hops, inf when unreachable
        ours = distance_to_train(cora.edge_index, cora.train_mask[:, column], cora.num_nodes)
        assert ours.tolist() == np.minimum(shipped, 2).astype(int).tolist()
        assert torch.equal(ours, cora.dist_to_train[:, column])
    deeper = distance_to_train(cora.edge_index, cora.train_mask[:, 0], cora.num_nodes, max_hops=4)
    shipped = np.load(data_dir / gats_dist_path("cora", 0, 0))
    assert deeper.tolist() == np.minimum(shipped, 4).astype(int).tolist()


def test_distance_to_train_by_hand():
    path = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])  # 0 - 1 - 2 - 3, and 4 isolated
    train = torch.tensor([True, False, False, False, False])
    assert distance_to_train(path, train, 5).tolist() == [0, 1, 2, 2, 2]
    assert distance_to_train(path, train, 5, max_hops=3).tolist() == [0, 1, 2, 3, 3]


GOOD_FOLDS = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])


@pytest.mark.parametrize(
    ("folds", "test", "message"),
    [
        (GOOD_FOLDS, np.array([9, 10, 20]), r"x\.npz: test_indices has 1 node id\(s\) outside \[0, 20\) \(e\.g\. 20\)"),
        (np.array([[0, 1, 2], [3, 4, -1], [6, 7, 8]]), np.array([9]), r"x\.npz: k_fold_indices\[1\] has 1 node id"),
        (GOOD_FOLDS, np.array([9, 1, 4, 17]), r"x\.npz: test_indices and k_fold_indices\[0\] share 1 node"),
        (np.array([[0, 1, 2], [3, 4, 2], [6, 4, 8]]), np.array([9]),
         r"k_fold_indices\[1\] and k_fold_indices\[0\] share 1 node\(s\) \(e\.g\. 2\); the split does not match"),
        (GOOD_FOLDS, np.array([9, 9, 10]), r"test_indices lists 1 node\(s\) more than once \(e\.g\. 9\)"),
        (GOOD_FOLDS[:2], np.array([9]), r"x\.npz: k_fold_indices has 2 folds, expected 3"),
        (GOOD_FOLDS.reshape(-1), np.array([9]), r"x\.npz: k_fold_indices must have shape \[3, n\]"),
        (GOOD_FOLDS, np.array([[9, 10]]), r"x\.npz: test_indices must be one-dimensional, got shape \[1, 2\]"),
        (GOOD_FOLDS.astype(float), np.array([9]), r"must hold integer node ids, got dtype float64"),
    ],
)
def test_bad_split_arrays_are_refused_naming_the_file(folds, test, message):
    with pytest.raises(DataError, match=message):
        check_gats_split("x.npz", folds, test, num_nodes=20)


def test_unequal_folds_are_accepted():
    folds = np.empty(3, dtype=object)
    folds[:] = [np.array([0, 1]), np.array([2, 3]), np.array([4])]
    parsed, test = check_gats_split("x.npz", folds, np.array([5, 6]), num_nodes=7)
    assert [f.tolist() for f in parsed] == [[0, 1], [2, 3], [4]] and test.tolist() == [5, 6]


def _patched_card(data_dir: Path, tmp_path: Path, replace: dict[str, bytes]) -> tuple[dict, Path]:
    """The cora-gats card and a data dir of links to the real files, with some files replaced (and re-hashed)."""
    card = yaml.safe_load((CARDS / "cora-gats.yaml").read_text())
    root = tmp_path / "data"
    for entry in card["files"]:
        target = root / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry["path"] in replace:
            target.write_bytes(replace[entry["path"]])
            entry.update(sha256=hashlib.sha256(replace[entry["path"]]).hexdigest(), bytes=len(replace[entry["path"]]))
        else:
            target.symlink_to(data_dir / entry["path"])
    return card, root


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_load_gats_refuses_a_split_file_that_does_not_match_the_graph(data_dir, tmp_path, isolated_cache):
    rel = gats_split_path("cora", 2)
    with np.load(data_dir / rel) as real:
        folds, test = real["k_fold_indices"].copy(), real["test_indices"].copy()
    test[:3] = folds[1][:3]
    card, root = _patched_card(data_dir, tmp_path, {rel: _npz(k_fold_indices=folds, test_indices=test)})
    with pytest.raises(DataError, match=r"gats/split/Cora/5_3f_85/cora_split_2\.npz: test_indices and k_fold_indices"
                                        r"\[1\] share 3 node\(s\)"):
        load_gats(_ctx("cora-gats", root, isolated_cache, card), "cora")
    card, root = _patched_card(data_dir, tmp_path / "b", {rel: _npz(folds=folds, test_indices=test)})
    with pytest.raises(DataError, match=r"cora_split_2\.npz: lacks array\(s\) \['k_fold_indices'\]"):
        load_gats(_ctx("cora-gats", root, isolated_cache / "b", card), "cora")


def test_load_gats_refuses_a_distance_file_of_the_wrong_length_or_split(data_dir, tmp_path, isolated_cache):
    rel = gats_dist_path("cora", 1, 2)
    short = np.load(data_dir / rel)[:-1]
    buffer = io.BytesIO()
    np.save(buffer, short)
    card, root = _patched_card(data_dir, tmp_path, {rel: buffer.getvalue()})
    with pytest.raises(DataError, match=r"cora_dist_to_train_f2\.npy: has shape \[2707\], expected \[2708\]"):
        load_gats(_ctx("cora-gats", root, isolated_cache, card), "cora")
    other = np.load(data_dir / gats_dist_path("cora", 1, 0))  # another fold's distances
    buffer = io.BytesIO()
    np.save(buffer, other)
    card, root = _patched_card(data_dir, tmp_path / "b", {rel: buffer.getvalue()})
    with pytest.raises(DataError, match=r"cora_dist_to_train_f2\.npy: distance 0 marks 268 nodes.*does not match"):
        load_gats(_ctx("cora-gats", root, isolated_cache / "b", card), "cora")


# --------------------------------------------------------------------------------------------------- metrics

# 4 nodes, 2 classes; confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.55 (right), node 4 masked out
PROBS = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.55, 0.45], [0.5, 0.5]], dtype=torch.float64)
LABELS = torch.tensor([0, 1, 1, 0, 1])
MASK = torch.tensor([True, True, True, True, False])


def test_node_metrics_by_hand():
    m = calibration_metrics(PROBS, LABELS, torch.empty(2, 0, dtype=torch.long), MASK)
    # bins of width 1/15: 0.9 -> bin 13 (acc 1/2), 0.6 -> bin 9 (acc 1), 0.55 -> bin 8 (acc 1)
    assert m["ece"] == pytest.approx(2 / 4 * 0.4 + 1 / 4 * 0.4 + 1 / 4 * 0.45)
    assert m["mce"] == pytest.approx(0.45)
    assert m["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.1) + math.log(0.6) + math.log(0.55)) / 4)
    assert m["brier"] == pytest.approx((2 * 0.1**2 + 2 * 0.9**2 + 2 * 0.4**2 + 2 * 0.45**2) / 4)
    assert m["acc"] == pytest.approx(0.75)
    assert all(math.isnan(m[k]) for k in ("edge_ece", "edge_ece_agree", "edge_ece_disagree"))


def test_edge_metrics_by_hand():
    # edges (both directions): 0-1 (labels 0/1: disagree), 2-3 (1/0: disagree), 0-3 (0/0: agree), 3-4 (4 masked)
    pairs = torch.tensor([(0, 1), (2, 3), (0, 3), (3, 4)]).t()
    edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)
    m = calibration_metrics(PROBS, LABELS, edge_index, MASK)
    # edge confidence = conf_i * conf_j, correct iff both are: 0-1: 0.81 wrong (bin 12); 2-3: 0.33 right (bin 4);
    # 0-3: 0.495 right (bin 7). Each counted twice, which does not change the ratios.
    assert m["edge_ece"] == pytest.approx((0.81 + (1 - 0.33) + (1 - 0.495)) / 3)
    assert m["edge_ece_agree"] == pytest.approx(1 - 0.495)
    assert m["edge_ece_disagree"] == pytest.approx((0.81 + 0.67) / 2)
    only_masked = torch.tensor([[3, 4], [4, 3]])
    assert math.isnan(calibration_metrics(PROBS, LABELS, only_masked, MASK)["edge_ece"])


def test_ece_equals_torchmetrics_and_reliability_adds_up():
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 6, generator=gen, dtype=torch.float64), dim=1)
    labels = torch.randint(0, 6, (500,), generator=gen)
    mask = torch.rand(500, generator=gen) < 0.7
    m = calibration_metrics(probs, labels, torch.empty(2, 0, dtype=torch.long), mask)
    conf, pred = probs[mask].max(1)
    assert m["ece"] == pytest.approx(binned_ece(conf, pred == labels[mask]), abs=1e-12)
    assert m["mce"] == pytest.approx(binned_ece(conf, pred == labels[mask], norm="max"), abs=1e-12)
    expected = float(multiclass_calibration_error(probs[mask], labels[mask], 6, n_bins=15, norm="l1"))
    assert m["ece"] == pytest.approx(expected, abs=1e-6)  # torchmetrics works in float32
    expected = float(multiclass_calibration_error(probs[mask], labels[mask], 6, n_bins=15, norm="max"))
    assert m["mce"] == pytest.approx(expected, abs=1e-6)
    r = reliability(probs, labels, mask)
    assert sum(r["count"]) == int(mask.sum()) and len(r["confidence"]) == 15
    ece = sum(c * abs(a - f) for c, a, f in zip(r["count"], r["accuracy"], r["confidence"]) if c) / sum(r["count"])
    assert ece == pytest.approx(m["ece"])
    assert r["confidence"][0] is None  # no top-label confidence below 1/15 with 6 classes


# --------------------------------------------------------------------------------------------------- calibrators


def _synthetic(scale: float, n: int = 3000, classes: int = 5, seed: int = 0) -> ci.CalibrationInputs:
    """Labels drawn from softmax(z); the "backbone" reports scale * z: over-confident by ``scale``."""
    gen = torch.Generator().manual_seed(seed)
    z = 1.5 * torch.randn(n, classes, generator=gen)
    labels = torch.multinomial(torch.softmax(z, 1), 1, generator=gen).view(-1)
    src = torch.randint(0, n, (4 * n,), generator=gen)
    dst = torch.randint(0, n, (4 * n,), generator=gen)
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
    part = torch.arange(n) % 3
    return ci.CalibrationInputs(
        logits=scale * z, labels=labels, edge_index=edge_index, fit_mask=part == 0, stop_mask=part == 1,
        train_mask=part == 1, num_classes=classes,
    )


def test_temperature_scaling_recovers_the_temperature():
    cal = ci.fit_ts(_synthetic(4.0, n=1500), {"lr": 0.05, "epochs": 500})  # lr 0.05: fewer steps from T = 1
    assert cal.params["temperature"] == pytest.approx(4.0, rel=0.15)


@pytest.mark.parametrize("name", list(ci.FITTERS))
def test_calibrators_return_probabilities_and_keep_the_prediction(name):
    inputs = _synthetic(3.0, n=600)
    torch.manual_seed(0)
    cal = ci.FITTERS[name](inputs, {"epochs": 60})
    probs = cal(inputs.logits, inputs.edge_index, inputs.train_mask)
    assert probs.shape == inputs.logits.shape and bool((probs >= 0).all())
    assert torch.allclose(probs.sum(1), torch.ones(600), atol=1e-5)
    same = probs.argmax(1) == inputs.logits.argmax(1)
    if name == "VS":  # per-class scales may change the predicted class
        assert same.float().mean() > 0.8
    else:
        assert bool(same.all())
    assert ci.uncalibrated(inputs.logits, inputs.edge_index, inputs.train_mask).allclose(inputs.logits.softmax(1))


@pytest.mark.parametrize("name", ["CaGCN", "GATS"])
def test_graph_calibrators_use_the_graph_they_are_applied_to(name):
    inputs = _synthetic(3.0, n=600)
    torch.manual_seed(0)
    cal = ci.FITTERS[name](inputs, {"epochs": 60})
    on_fit_graph = cal(inputs.logits, inputs.edge_index, inputs.train_mask)
    shifted = inputs.edge_index[:, torch.randperm(inputs.edge_index.shape[1])[:500]]
    on_shifted = cal(inputs.logits, shifted, inputs.train_mask)
    assert torch.allclose(on_shifted.sum(1), torch.ones(600), atol=1e-5)
    assert not torch.allclose(on_fit_graph, on_shifted)
    assert torch.allclose(on_fit_graph, cal(inputs.logits, inputs.edge_index.clone(), inputs.train_mask))


def test_one_forward_per_epoch_fits_the_same_parameters():
    """GATS has no dropout: the fused loop (one forward per epoch) must equal the two-forward loop."""
    inputs = _synthetic(3.0, n=600)
    fitted = []
    for stochastic in (False, True):
        torch.manual_seed(0)
        module = ci._GATS(inputs.num_classes, heads=8, bias=1.0)
        module.stochastic = stochastic
        prepared = module.prepare(inputs.logits, inputs.edge_index, inputs.train_mask, None)
        epochs = ci._fit(module, inputs, prepared, {"epochs": 80, "patience": 5}, wd=5e-3)
        fitted.append((epochs, [p.detach().clone() for p in module.parameters()]))
    assert fitted[0][0] == fitted[1][0]
    assert all(torch.equal(a, b) for a, b in zip(fitted[0][1], fitted[1][1]))


def test_a_non_finite_fit_loss_ends_the_fit_with_the_best_parameters_so_far():
    """As in GATS's loop (no check there: the NaN reaches the parameters, nothing beats the best stop loss, and
    patience restores the best): with a NaN from the first epoch, TS keeps its initial temperature 1."""
    inputs = _synthetic(1.0, n=300)
    clean = inputs.logits.clone()
    inputs.logits[0, 0] = float("nan")
    inputs.fit_mask[0] = True
    calibrated = ci.fit_ts(inputs, {})
    probs = calibrated(clean, inputs.edge_index, inputs.train_mask)
    assert torch.allclose(probs, torch.softmax(clean, dim=1))


# --------------------------------------------------------------------------------------------------- backbones


def test_backbones_compute_what_pyg_layers_compute_on_any_graph(cora):
    torch.manual_seed(0)
    gcn, gat = GATSGCN(1433, 7).eval(), GATSGAT(1433, 7).eval()
    c1, c2 = GCNConv(1433, 64), GCNConv(64, 7)
    c1.load_state_dict(gcn.conv1.state_dict())
    c2.load_state_dict(gcn.conv2.state_dict())
    a1, a2 = GATConv(1433, 8, heads=8), GATConv(64, 7, heads=1, concat=False)
    a1.load_state_dict(gat.conv1.state_dict())
    a2.load_state_dict(gat.conv2.state_dict())
    half = Data(x=cora.x, edge_index=cora.edge_index[:, ::2], num_nodes=cora.num_nodes)  # a second graph
    for graph in (cora, half, cora):
        ei = graph.edge_index
        assert torch.allclose(gcn(graph), c2(torch.relu(c1(graph.x, ei)), ei), atol=1e-5)
        assert torch.allclose(gat(graph), a2(torch.nn.functional.elu(a1(graph.x, ei)), ei), atol=1e-5)
    assert gcn.embed(cora).shape == gat.embed(cora).shape == (2708, 64)


def test_training_restores_the_best_checkpoint_and_refuses_nan(cora):
    torch.manual_seed(0)
    task = TaskInfo(task="node", in_dim=1433, out_dim=7)
    model = build_gats_model(task, {"arch": "GCN"})
    calls = []
    result = train_backbone(model, cora, cora.train_mask[:, 0], cora.val_mask[:, 0], max_epochs=40, patience=5,
                            on_epoch=lambda: calls.append(1))
    assert len(calls) == result.epochs <= 40 and result.best_epoch < result.epochs
    with torch.no_grad():
        pred = model(cora).argmax(1)
    val = cora.val_mask[:, 0]
    assert float((pred[val] == cora.y[val]).float().mean()) > 0.6
    bad = Data(x=cora.x.clone(), edge_index=cora.edge_index, y=cora.y, num_nodes=cora.num_nodes)
    bad.x[0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError):
        train_backbone(build_gats_model(task, {"arch": "GAT"}), bad, cora.train_mask[:, 0] | True,
                       cora.val_mask[:, 0], max_epochs=3)
