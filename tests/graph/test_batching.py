"""The resident batcher against PyG's DataLoader, attribute by attribute."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data, InMemoryDataset
from torch_geometric.loader import DataLoader

from bench_gnn.graph.batching import (
    DeviceLoader,
    ResidentGraphs,
    ResidentLoader,
    ResidentUnsupportedError,
    epoch_permutation,
    fits_on_device,
    graph_loaders,
)


def random_graph(gen: torch.Generator, max_nodes: int = 9) -> Data:
    n = int(torch.randint(1, max_nodes + 1, (1,), generator=gen))
    m = int(torch.randint(0, 3 * n, (1,), generator=gen))
    root = torch.zeros(n, dtype=torch.bool)
    root[int(torch.randint(0, n, (1,), generator=gen))] = True
    return Data(
        x=torch.randint(0, 50, (n, 9), generator=gen),
        edge_index=torch.randint(0, n, (2, m), generator=gen),
        edge_attr=torch.randint(0, 4, (m, 3), generator=gen),
        y=torch.rand(1, 10, generator=gen).round(),
        root_mask=root,
        pe=torch.randn(n, 4, generator=gen),
        graph_feat=torch.randn(1, 3, generator=gen),
        label=torch.randint(0, 5, (), generator=gen),  # 0-dim per-graph tensor (cat_dim None path)
    )


def random_graphs(count: int, seed: int = 0, max_nodes: int = 9) -> list[Data]:
    gen = torch.Generator().manual_seed(seed)
    return [random_graph(gen, max_nodes) for _ in range(count)]


class ListDataset(InMemoryDataset):
    def __init__(self, data_list: list[Data], transform=None) -> None:
        super().__init__(root=None, transform=transform)
        self.data, self.slices = self.collate(data_list)


def assert_same_batch(got: Batch, want: Batch) -> None:
    assert sorted(got.keys()) == sorted(want.keys())
    for key in want.keys():
        g, w = got[key], want[key]
        if isinstance(w, torch.Tensor):
            assert g.dtype == w.dtype, key
            assert g.shape == w.shape, key
            assert torch.equal(g, w), key
        else:
            assert g == w, key
    assert got.num_graphs == want.num_graphs
    assert got.num_nodes == want.num_nodes
    for a, b in zip(got.to_data_list(), want.to_data_list(), strict=True):
        assert sorted(a.keys()) == sorted(b.keys())
        for key in b.keys():
            if isinstance(b[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key


@pytest.fixture(scope="module")
def graphs() -> list[Data]:
    return random_graphs(300)


@pytest.mark.parametrize("kind", ["list", "in_memory", "in_memory_view"])
def test_batch_equals_pyg_collate(graphs, kind):
    if kind == "list":
        dataset = graphs
    elif kind == "in_memory":
        dataset = ListDataset(graphs)
    else:  # a subset view: dataset positions differ from storage rows
        dataset = ListDataset(graphs)[torch.randperm(300, generator=torch.Generator().manual_seed(3))[:200]]
    resident = ResidentGraphs(dataset)
    ids = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(1))
    for chunk in (ids[:1], ids[:37], ids[37:150], ids):
        assert_same_batch(resident.batch(chunk), Batch.from_data_list([dataset[int(i)] for i in chunk]))


def test_graphs_with_one_node_and_no_edges():
    gen = torch.Generator().manual_seed(0)
    data = [Data(x=torch.randn(1, 2, generator=gen), edge_index=torch.empty(2, 0, dtype=torch.long),
                 y=torch.tensor([i])) for i in range(10)]
    resident = ResidentGraphs(data)
    assert_same_batch(resident.batch([3, 1, 7]), Batch.from_data_list([data[3], data[1], data[7]]))


def test_explicit_num_nodes_and_int32_index():
    gen = torch.Generator().manual_seed(0)
    data = []
    for _ in range(20):
        n = int(torch.randint(1, 6, (1,), generator=gen))
        data.append(Data(edge_index=torch.randint(0, n, (2, 4), generator=gen).int(), num_nodes=n))
    resident = ResidentGraphs(data)
    ids = [5, 0, 19, 5]
    assert_same_batch(resident.batch(ids), Batch.from_data_list([data[i] for i in ids]))


@pytest.mark.parametrize("kind", ["list", "in_memory"])
@pytest.mark.parametrize("batch_size", [32, 50])  # 150 graphs: a partial last batch, then none
def test_shuffled_epochs_equal_dataloader(graphs, kind, batch_size):
    dataset = graphs if kind == "list" else ListDataset(graphs)
    index = torch.arange(0, 300, 2)
    gen_resident, gen_reference = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    resident = ResidentGraphs(dataset).loader(index, batch_size=batch_size, shuffle=True, generator=gen_resident)
    reference = DataLoader(torch.utils.data.Subset(dataset, index.tolist()), batch_size=batch_size, shuffle=True,
                           generator=gen_reference)
    assert len(resident) == len(reference) == -(-150 // batch_size)
    for _epoch in range(3):
        got, want = list(resident), list(reference)
        assert sum(b.num_graphs for b in got) == 150
        assert got[-1].num_graphs == 150 - (len(got) - 1) * batch_size  # last partial batch kept
        for g, w in zip(got, want, strict=True):
            assert_same_batch(g, w)
    assert torch.equal(gen_resident.get_state(), gen_reference.get_state())


def test_unshuffled_order_and_rng_draws_match_dataloader(graphs):
    torch.manual_seed(0)
    got = [b.y for b in ResidentGraphs(graphs).loader(batch_size=64)]
    after_resident = torch.rand(3)
    torch.manual_seed(0)
    want = [b.y for b in DataLoader(graphs, batch_size=64)]
    after_reference = torch.rand(3)
    assert torch.equal(torch.cat(got), torch.cat(want))
    assert torch.equal(after_resident, after_reference)  # same global-RNG consumption


def test_epoch_coverage_and_reproducibility(graphs):
    def epochs(seed: int) -> list[torch.Tensor]:
        loader = ResidentGraphs(graphs).loader(batch_size=50, shuffle=True,
                                               generator=torch.Generator().manual_seed(seed))
        # graph_feat is unique per graph, so it identifies the graph
        return [torch.cat([b.graph_feat for b in loader]) for _ in range(3)]

    first, again, other = epochs(0), epochs(0), epochs(1)
    reference = torch.stack([g.graph_feat[0] for g in graphs])
    for order in first:
        assert order.shape == reference.shape
        assert torch.equal(order.sort(0).values, reference.sort(0).values)  # every graph exactly once
    assert not torch.equal(first[0], first[1])  # a fresh permutation per epoch
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


def test_epoch_needs_no_per_graph_access():
    class Counting(list):
        calls = 0

        def __getitem__(self, i):
            Counting.calls += 1
            return super().__getitem__(i)

    gen = torch.Generator().manual_seed(2)
    sizes = torch.randint(1, 5, (20_000,), generator=gen).tolist()
    xs = torch.randn(sum(sizes), 2, generator=gen).split(sizes)
    ys = torch.randint(0, 2, (20_000, 1), generator=gen)
    data = Counting(Data(x=x, edge_index=torch.zeros(2, 1, dtype=torch.long), y=y) for x, y in zip(xs, ys))
    loader = ResidentGraphs(data).loader(batch_size=256, shuffle=True, generator=torch.Generator().manual_seed(0))
    Counting.calls = 0
    seen = sum(b.num_graphs for b in loader)
    assert seen == 20_000
    assert Counting.calls == 0


def test_unsupported_attributes_and_transforms(graphs):
    with_names = [Data(x=torch.zeros(2, 1), edge_index=torch.zeros(2, 0, dtype=torch.long), name=f"g{i}")
                  for i in range(4)]
    with pytest.raises(ResidentUnsupportedError, match="'name'"):
        ResidentGraphs(with_names)
    assert ResidentGraphs(with_names, exclude_keys=["name"]).batch([0, 1]).keys()
    with pytest.raises(ResidentUnsupportedError, match="transform"):
        ResidentGraphs(ListDataset(graphs[:5], transform=lambda d: d))


def test_graph_loaders_policy(graphs):
    splits = {"train": torch.arange(200), "val": torch.arange(200, 300)}
    loaders, resident = graph_loaders(graphs, splits, 32, "cpu")
    assert resident and isinstance(loaders["train"], ResidentLoader)
    loaders, resident = graph_loaders(graphs, splits, 32, "cpu", resident=False)
    assert not resident and isinstance(loaders["val"], DeviceLoader)
    assert sum(b.num_graphs for b in loaders["val"]) == 100
    with_names = [Data(x=torch.zeros(2, 1), edge_index=torch.zeros(2, 0, dtype=torch.long), name="g")] * 4
    _, resident = graph_loaders(with_names, {"train": torch.arange(4)}, 2, "cpu")
    assert not resident  # "auto" falls back
    with pytest.raises(ResidentUnsupportedError):
        graph_loaders(with_names, {"train": torch.arange(4)}, 2, "cpu", resident=True)


def test_fits_on_device_and_permutation():
    assert fits_on_device(10**15, "cpu")
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    sampler = torch.utils.data.RandomSampler(range(10), generator=gen_b)
    torch.empty((), dtype=torch.int64).random_(generator=gen_b)
    assert epoch_permutation(10, True, gen_a).tolist() == list(sampler)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_equal_dataloader(graphs):
    resident = ResidentGraphs(graphs).to("cuda")
    ids = torch.randperm(300)[:100]
    got = resident.batch(ids)
    assert got.x.is_cuda and got.ptr.is_cuda
    assert_same_batch(got.cpu(), Batch.from_data_list([graphs[int(i)] for i in ids]))


def _free_memory(monkeypatch, free: int) -> None:
    """Report ``free`` bytes of free device memory and treat the CPU as such a device: this machine may lack CUDA,
    so ``graph_loaders`` consults the real :func:`fits_on_device` as it would for a GPU with that much free."""
    from bench_gnn.graph import batching

    real = batching.fits_on_device
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 8 * free + 1))
    monkeypatch.setattr(batching, "fits_on_device", lambda nbytes, device, fraction: real(nbytes, "cuda", fraction))


def test_fits_on_device_is_half_the_free_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1000, 4000))
    assert fits_on_device(500, "cuda") and not fits_on_device(501, "cuda")


def test_dataloader_fallback_when_data_exceeds_half_free_memory(graphs, monkeypatch):
    nbytes = ResidentGraphs(graphs).nbytes
    splits = {"train": torch.arange(200), "val": torch.arange(200, 300)}

    def epoch(free: int):
        _free_memory(monkeypatch, free)
        loaders, resident = graph_loaders(graphs, splits, 32, "cpu", shuffle={"train"},
                                          generators={"train": torch.Generator().manual_seed(3)})
        return resident, loaders, [b for name in splits for b in loaders[name]]

    fits, fits_loaders, fits_batches = epoch(2 * nbytes)
    small, small_loaders, small_batches = epoch(2 * nbytes - 2)
    assert fits and isinstance(fits_loaders["train"], ResidentLoader)
    assert not small and isinstance(small_loaders["train"], DeviceLoader)
    assert len(small_batches) == len(fits_batches) == 7 + 4
    for got, want in zip(small_batches, fits_batches, strict=True):
        assert_same_batch(got, want)


def test_graph_protocol_falls_back_to_dataloader_with_the_same_results(monkeypatch):
    from bench_gnn_longrange import minibatch as graph_minibatch
    from torch_geometric.nn import GCNConv, global_mean_pool
    from torchmetrics.classification import MultilabelAveragePrecision

    from bench_gnn.plugin_manager import load_plugins
    from bench_gnn.protocols.base import ProtocolContext, run_seeded
    from bench_gnn.specs import GraphTaskData, MetricSpec, ModelSpec

    class Net(torch.nn.Module):
        def __init__(self, task, hidden):
            super().__init__()
            self.conv, self.head = GCNConv(task.in_dim, hidden), torch.nn.Linear(hidden, task.out_dim)

        def forward(self, data):
            h = self.conv(data.x.float(), data.edge_index).relu()
            return self.head(global_mean_pool(h, data.batch, size=data.num_graphs))

    gen = torch.Generator().manual_seed(0)
    data_list = []
    for _ in range(120):
        n = int(torch.randint(4, 9, (1,), generator=gen))
        x = torch.randn(n, 4, generator=gen)
        data_list.append(Data(x=x, edge_index=torch.randint(0, n, (2, 2 * n), generator=gen),
                              y=(x.mean(0)[:3] > 0).float().view(1, 3)))
    splits = {"train": torch.arange(80), "val": torch.arange(80, 100), "test": torch.arange(100, 120)}
    data = GraphTaskData(dataset=data_list, out_dim=3, target="multilabel", splits=splits)
    spec = load_plugins().protocols.get("graph-minibatch").spec
    model = ModelSpec(name="t-gcn", build=lambda task, hp: Net(task, hp["hidden"]), tasks={"graph"})
    metric = MetricSpec(name="ap", factory=lambda c: MultilabelAveragePrecision(num_labels=c))

    def run(free: int):
        _free_memory(monkeypatch, free)
        args = spec.resolve({"epochs": 3, "batch_size": 16, "lr": 1e-2, "warmup_epochs": 1})  # resident: "auto"
        ctx = ProtocolContext(data=data, model=model, hparams={"hidden": 16}, args=args, metric=metric, split=0,
                              seed=0, device=torch.device("cpu"))
        return run_seeded(graph_minibatch.run, ctx)

    nbytes = ResidentGraphs(data_list).nbytes
    resident, fallback = run(2 * nbytes), run(nbytes)
    assert resident.extras["resident"] is True and fallback.extras["resident"] is False
    assert fallback.metrics == resident.metrics and fallback.best_step == resident.best_step
