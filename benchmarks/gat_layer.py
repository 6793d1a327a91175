"""GATS's GAT backbone on Cora: bench's implementation against the same model built from PyG's ``GATConv``.

One epoch = a train step (forward, cross-entropy on the first GATS split's training nodes, backward, Adam) and
an eval forward, as the GATS protocol does every epoch. One thread; 10 warm-up epochs, then 50 timed.

    python benchmarks/gat_layer.py [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_gnn_ood.gats_models import build_gats_model
from torch_geometric.nn import GATConv

from bench_gnn import TaskInfo
from bench_gnn.plugin_manager import load_plugins
from bench_gnn.runner import RunOptions, load_dataset


class PyGGAT(torch.nn.Module):
    """The same architecture from PyG's layers (8 heads × 8 hidden, ELU, dropout 0.5 on inputs and attention)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.conv1 = GATConv(in_dim, 8, heads=8, dropout=0.5)
        self.conv2 = GATConv(64, out_dim, heads=1, dropout=0.5)

    def forward(self, data):
        x = F.dropout(data.x, 0.5, self.training)
        x = F.dropout(F.elu(self.conv1(x, data.edge_index)), 0.5, self.training)
        return self.conv2(x, data.edge_index)


def ms_per_epoch(model: torch.nn.Module, data, train: torch.Tensor, epochs: int = 50, warmup: int = 10) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for epoch in range(warmup + epochs):
        if epoch == warmup:
            start = time.perf_counter()
        model.train()
        loss = F.cross_entropy(model(data)[train], data.y[train])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            model(data)
    return (time.perf_counter() - start) / epochs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("BENCH_DATA_DIR", "../shared/datasets")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        options = RunOptions(device=torch.device("cpu"), data_dir=args.data_dir, cache_dir=Path(cache),
                             allow_download=False)
        data = load_dataset(load_plugins(), "cora-gats", options)
    train = data.train_mask[:, 0]
    torch.manual_seed(0)
    ours = build_gats_model(TaskInfo("node", data.x.size(1), 7), {"arch": "GAT", "hidden": 8, "heads": 8,
                                                                   "dropout": 0.5})
    torch.manual_seed(0)
    theirs = PyGGAT(data.x.size(1), 7)
    a, b = ms_per_epoch(ours, data, train), ms_per_epoch(theirs, data, train)
    print(f"bench GATS-GAT {a:.1f} ms/epoch, PyG GATConv {b:.1f} ms/epoch: {b / a:.1f}x")


if __name__ == "__main__":
    main()
