"""Epoch time of one model fed by PyG's DataLoader, by the resident batcher, and by nothing.

Measures, in one run and on the same shuffled batches:

* ``DataLoader``: ``torch_geometric.loader.DataLoader`` over the dataset, each batch
  moved to the device, then a training step;
* ``resident``: :class:`bench_gnn.graph.batching.ResidentGraphs` (dataset collated once, on
  the device), then the same training step;
* ``model only``: the same training steps over batches built beforehand;
* the two batching paths alone, without the model.

Data: synthetic molecule-like graphs shaped like Peptides-func (about 150 nodes and
300 directed edges per graph, 9 integer node features, 3 integer edge features,
10 binary labels; 15,535 graphs by default), or the real Peptides-func train split
with ``--data-dir`` (see :func:`load_peptides`).

    python benchmarks/resident_batching.py --device cuda --epochs 3
    python benchmarks/resident_batching.py --device cpu --graphs 2000 --epochs 2 --threads 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch_geometric
from torch import nn
from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GCNConv, global_mean_pool

from bench_gnn.environment import cpu_name
from bench_gnn.graph.batching import ResidentGraphs

NODE_VOCAB, EDGE_VOCAB, NUM_LABELS = 17, 5, 10  # synthetic value ranges
EMBEDDING_ROWS = 128  # per node feature: covers OGB's atom features (atomic number < 119)


class GraphList(InMemoryDataset):
    """An in-memory dataset over a list of graphs, stored the way PyG datasets store theirs."""

    def __init__(self, graphs: list[Data]) -> None:
        super().__init__(root=None)
        self.data, self.slices = self.collate(graphs)


def synthetic_peptides(count: int, seed: int = 0) -> GraphList:
    """Peptide-shaped graphs: a backbone chain with a few ring closures (~150 nodes, ~300 edges)."""
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(count):
        n = int(torch.randint(100, 201, (1,), generator=gen))
        src = torch.arange(n - 1)
        extra = torch.randint(0, n - 6, (n // 40,), generator=gen)  # ring closures, i -> i + 5
        a = torch.cat([src, extra])
        b = torch.cat([src + 1, extra + 5])
        edge_index = torch.cat([torch.stack([a, b]), torch.stack([b, a])], dim=1)
        graphs.append(Data(
            x=torch.randint(0, NODE_VOCAB, (n, 9), generator=gen),
            edge_index=edge_index,
            edge_attr=torch.randint(0, EDGE_VOCAB, (edge_index.size(1), 3), generator=gen),
            y=torch.randint(0, 2, (1, NUM_LABELS), generator=gen).float(),
        ))
    return GraphList(graphs)


def load_peptides(data_dir: Path):
    """The Peptides-func train split from ``data_dir``.

    Hook for real data: this uses PyG's ``LRGBDataset``, which reads an already
    processed copy under ``data_dir/peptides-func`` (and would otherwise try to
    download). To benchmark the harness's own loader instead (the ``peptides-func``
    dataset plugin, whose ``GraphTaskData.dataset`` is an ``InMemoryDataset``),
    return that dataset indexed by its train split here; nothing else changes.
    """
    from torch_geometric.datasets import LRGBDataset

    return LRGBDataset(root=str(data_dir), name="Peptides-func", split="train")


class AtomGCN(nn.Module):
    """LRGB-style GCN: summed embeddings of the integer node features, GCN layers, mean pool, MLP head."""

    def __init__(self, hidden: int, layers: int, out_dim: int) -> None:
        super().__init__()
        self.embed = nn.ModuleList(nn.Embedding(EMBEDDING_ROWS, hidden) for _ in range(9))
        self.convs = nn.ModuleList(GCNConv(hidden, hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, data) -> torch.Tensor:
        h = sum(embed(data.x[:, i]) for i, embed in enumerate(self.embed))
        for conv, norm in zip(self.convs, self.norms):
            h = h + nn.functional.gelu(norm(conv(h, data.edge_index)))
        return self.head(global_mean_pool(h, data.batch, size=data.num_graphs))


def timed_epochs(epochs: int, device: torch.device, one_epoch: Callable[[], None]) -> list[float]:
    """Seconds per epoch after one untimed warm-up epoch."""
    one_epoch()
    times = []
    for _ in range(epochs):
        _sync(device)
        start = time.perf_counter()
        one_epoch()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per path, after one warm-up")
    parser.add_argument("--graphs", type=int, default=15_535, help="number of graphs (a prefix of the data)")
    parser.add_argument("--data-dir", type=Path, default=None, help="real Peptides-func instead of synthetic")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=235)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--batching-only", action="store_true", help="time the two batching paths without a model")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    start = time.perf_counter()
    if args.data_dir is not None:
        dataset = load_peptides(args.data_dir)
        dataset = dataset[: min(args.graphs, len(dataset))]
        source = f"Peptides-func train split from {args.data_dir}"
    else:
        dataset = synthetic_peptides(args.graphs)
        source = "synthetic Peptides-like graphs"
    prepare_seconds = time.perf_counter() - start
    start = time.perf_counter()
    resident = ResidentGraphs(dataset).to(device)
    _sync(device)
    collate_seconds = time.perf_counter() - start

    torch.manual_seed(0)
    model = AtomGCN(args.hidden, args.layers, NUM_LABELS).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(batch) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.binary_cross_entropy_with_logits(model(batch), batch.y)
        loss.backward()
        optimizer.step()

    def pyg_loader() -> DataLoader:
        return DataLoader(dataset, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))

    def resident_loader():
        return resident.loader(batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))

    loader_a, loader_b = pyg_loader(), resident_loader()
    prebuilt = [] if args.batching_only else list(resident_loader())

    def dataloader_epoch(train: bool = True) -> None:
        for batch in loader_a:
            batch = batch.to(device, non_blocking=True)
            if train:
                step(batch)

    def resident_epoch(train: bool = True) -> None:
        for batch in loader_b:
            if train:
                step(batch)

    def model_epoch() -> None:
        for batch in prebuilt:
            step(batch)

    model.train()
    results = {}
    if not args.batching_only:
        results["PyG DataLoader + model"] = timed_epochs(args.epochs, device, dataloader_epoch)
        results["resident batcher + model"] = timed_epochs(args.epochs, device, resident_epoch)
        results["model only (pre-built batches)"] = timed_epochs(args.epochs, device, model_epoch)
    results["PyG DataLoader alone"] = timed_epochs(args.epochs, device, lambda: dataloader_epoch(train=False))
    results["resident batcher alone"] = timed_epochs(args.epochs, device, lambda: resident_epoch(train=False))
    report(args, device, source, len(dataset), results, prepare_seconds, collate_seconds, resident.nbytes)


def report(args, device, source, num_graphs, results, prepare_seconds, collate_seconds, nbytes) -> None:
    seconds = {name: statistics.median(times) for name, times in results.items()}
    model_only = seconds.get("model only (pre-built batches)")
    baseline = {"resident batcher + model": "PyG DataLoader + model", "resident batcher alone": "PyG DataLoader alone"}
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"{cpu_name()}, {torch.get_num_threads()} torch threads"
    print(f"# Resident batching benchmark ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)\n")
    print(f"- device: {device} ({hardware})")
    print(f"- torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, "
          f"python {platform.python_version()}, {platform.system()} {platform.machine()}")
    print(f"- data: {num_graphs} {source}; batch size {args.batch_size}; "
          f"model: GCN, {args.layers} layers, width {args.hidden}")
    print(f"- median of {args.epochs} timed epochs after one warm-up epoch; "
          f"building the data took {prepare_seconds:.1f} s, collating it for the resident path "
          f"{collate_seconds:.2f} s ({nbytes / 2**20:.0f} MiB)\n")
    print("| path | s / epoch | / model only | speed-up vs the DataLoader row |")
    print("|---|---:|---:|---:|")
    for name, value in seconds.items():
        speedup = f"{seconds[baseline[name]] / value:.2f}x" if name in baseline else "-"
        ratio = f"{value / model_only:.2f}" if model_only else "-"
        print(f"| {name} | {value:.3f} | {ratio} | {speedup} |")


if __name__ == "__main__":
    main()
