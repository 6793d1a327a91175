"""The heterophily datasets on the real files, and a reduced protocol run that must learn."""

from __future__ import annotations

import json

import pytest
import torch

from bench_gnn.data.cards import load_card
from bench_gnn.runner import RunOptions, load_dataset

LOCAL = ["minesweeper", "tolokers", "chameleon-filtered", "squirrel-filtered"]


@pytest.mark.parametrize("name", LOCAL)
def test_real_files_load_with_the_card_statistics(plugins, data_dir, isolated_cache, name):
    options = RunOptions(device=torch.device("cpu"), data_dir=data_dir, cache_dir=isolated_cache)
    data = load_dataset(plugins, name, options)
    stats = load_card(plugins.datasets.get(name).spec.card, name).stats
    assert data.num_nodes == stats["nodes"] and data.x.size(1) == stats["features"]
    assert int(data.y.max()) + 1 == stats["classes"]
    assert data.edge_index.size(1) == 2 * stats["edges"]  # both directions
    assert data.train_mask.shape == (stats["nodes"], 10)
    masks = data.train_mask.int() + data.val_mask.int() + data.test_mask.int()
    assert int(masks.max()) == 1  # splits are disjoint


def test_minesweeper_split_sizes_are_50_25_25(plugins, data_dir, isolated_cache):
    options = RunOptions(device=torch.device("cpu"), data_dir=data_dir, cache_dir=isolated_cache)
    data = load_dataset(plugins, "minesweeper", options)
    assert data.train_mask.sum(0).tolist() == [5000] * 10
    assert data.val_mask.sum(0).tolist() == [2500] * 10 and data.test_mask.sum(0).tolist() == [2500] * 10


def test_reduced_protocol_on_minesweeper_learns_where_the_graph_is_needed(real_data_run, tmp_path):
    """GCN must beat chance clearly on minesweeper; a graph-blind ResNet must not (published 50.89)."""
    code, out, err = real_data_run(
        "--suite", "heterophily", "--model", "GCN", "--model", "ResNet", "--dataset", "minesweeper",
        "--splits", "1", "--steps", "60", "protocol_args.lr=3e-3", "hparams.hidden=32", "grid.num_layers=[2]",
        "--no-progress", "--results", str(tmp_path),
    )
    assert code == 0, err
    files = (tmp_path / "heterophily").glob("*.json")
    records = {r["identity"]["model"]: r for r in (json.loads(p.read_text()) for p in files)}
    assert records["GCN"]["variant"] == "reduced: lr=0.003, steps=60, hidden=32"
    assert records["GCN"]["results"]["metrics"]["test"] > 0.80
    assert records["ResNet"]["results"]["metrics"]["test"] < 0.60
    assert "not comparable with published numbers" in out and "Full protocol" not in out
