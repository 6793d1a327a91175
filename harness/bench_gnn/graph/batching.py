"""Device-resident mini-batching for datasets of many small graphs.

PyG's ``DataLoader`` builds every mini-batch in Python: it fetches each graph,
concatenates its tensors and copies the result to the device. For datasets of
many small graphs (Peptides, ZINC, molecules) that per-graph work, not the model,
often bounds the epoch time. Here the dataset is collated once, moved to the
device once, and each mini-batch is gathered with a handful of vectorised index
operations, the same for every attribute that shares a slice vector:

    counts     = node_counts[ids]                    # nodes of each chosen graph
    ptr        = [0, cumsum(counts)]
    batch      = repeat_interleave(arange(B), counts)  # graph of each output node
    src        = node_start[ids][batch] + arange(N) - ptr[batch]
    x          = x_all[src]                          # likewise pe, root_mask, ...
    edge_index = edge_index_local[:, edge_src] + ptr[edge_batch]
    y          = y_all[ids]                          # one row per graph

Output sizes come from host copies of the counts, so no step waits on the device.

The result is a :class:`torch_geometric.data.Batch` equal, attribute by attribute,
to the one ``DataLoader`` gives for the same graph order, including ``batch``,
``ptr``, per-node and per-graph extras, and the slice/increment bookkeeping that
``Batch.to_data_list()`` needs. Shuffling draws from the random number
generators exactly as ``torch.utils.data.DataLoader(shuffle=..., generator=...,
num_workers=0)`` does, so the same generator state gives the same order on
either path.

Typical use::

    loaders, resident = graph_loaders(dataset, splits, batch_size=200, device=device,
                                      generators={"train": torch.Generator().manual_seed(0)})
    for batch in loaders["train"]:          # a Batch already on `device`
        ...

    graphs = ResidentGraphs(dataset).to(device)   # or directly
    batch = graphs.batch([4, 0, 7])

Limits: homogeneous graphs only, tensor attributes only (drop others with
``exclude_keys``), no per-access ``transform``, and increments of 0 or the
number of nodes (PyG's defaults). ``resident="auto"`` falls back to
``DataLoader`` whenever one of these does not hold or the data does not fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data, InMemoryDataset
from torch_geometric.data.collate import collate
from torch_geometric.loader import DataLoader

from bench_gnn.errors import UsageError

__all__ = [
    "DEFAULT_MEMORY_FRACTION",
    "DeviceLoader",
    "ResidentGraphs",
    "ResidentLoader",
    "ResidentUnsupportedError",
    "epoch_permutation",
    "finish_epoch",
    "fits_on_device",
    "graph_loaders",
]

DEFAULT_MEMORY_FRACTION = 0.5
# Same preference order as ``torch_geometric.data.storage.N_KEYS`` uses to infer num_nodes.
_NODE_COUNT_KEYS = ("x", "feat", "pos", "batch", "node_type", "n_id", "tf")


class ResidentUnsupportedError(UsageError):
    """The dataset cannot be batched on the device; use ``resident="auto"`` or ``False``."""


def fits_on_device(nbytes: int, device: torch.device | str, fraction: float = DEFAULT_MEMORY_FRACTION) -> bool:
    """Whether ``nbytes`` fit in ``fraction`` of the free memory of ``device``.

    On the CPU the collated data already lives in host memory, so this is always true.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return nbytes <= fraction * free
    return True


def epoch_permutation(n: int, shuffle: bool, generator: torch.Generator | None) -> Tensor:
    """The graph order of one epoch, drawn as ``torch.utils.data.DataLoader`` draws it.

    The loader iterator first draws a 64-bit base seed for its workers (even with
    ``num_workers=0``); ``RandomSampler`` then draws a permutation from ``generator``,
    or, without one, from a fresh generator seeded from the global RNG. Call
    :func:`finish_epoch` when the epoch is exhausted.
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    if not shuffle:
        return torch.arange(n)
    if generator is None:
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)


def finish_epoch(n: int, shuffle: bool, generator: torch.Generator | None) -> None:
    """The draw ``RandomSampler`` makes when exhausted: a second, unused permutation.

    Without a generator that draw comes from the sampler's private generator and
    touches no shared state, so it is skipped.
    """
    if shuffle and generator is not None:
        torch.randperm(n, generator=generator)


@dataclass
class _Group:
    """Attributes that share one slice vector (e.g. all per-node or all per-edge tensors)."""

    slices: Tensor  # [G + 1], CPU: identifies the group
    starts: Tensor  # [G] on the device: first element of each graph
    counts: Tensor  # [G] on the device
    counts_cpu: Tensor  # [G], CPU, for output sizes without a device sync
    one_per_graph: bool  # slices == arange: gather by graph id directly


@dataclass
class _Attr:
    key: str
    value: Tensor  # all graphs, concatenated along cat_dim, not incremented
    cat_dim: int | None
    group: int
    add_node_offset: bool  # edge_index-like: shift by the node offset of its graph


class ResidentGraphs:
    """A dataset of graphs collated once, gathered into mini-batches by index.

    Args:
        dataset: a PyG ``InMemoryDataset`` (its collated storage is reused, subset
            views included) or any sequence of ``Data`` (collated once here).
        exclude_keys: attributes to leave out, as in ``DataLoader(exclude_keys=...)``.

    Raises:
        ResidentUnsupportedError: the dataset has something the gather cannot
            reproduce exactly; the message names it.
    """

    def __init__(self, dataset: Any, exclude_keys: Iterable[str] = ()) -> None:
        exclude = set(exclude_keys)
        storage, slices, graph_ids = _collated(dataset)
        node_counts = _node_counts(storage, slices, dataset[0])
        # Probe cat_dim/inc on the largest graph: an empty graph cannot tell "+num_nodes" from "+0".
        rows = torch.arange(len(dataset)) if graph_ids is None else graph_ids
        sample = dataset[int(node_counts[rows].argmax())]
        self._data_cls = sample.__class__
        # dataset position -> row in the storage (None for identity), on the host and on the device
        self._graph_ids_cpu = self._graph_ids = graph_ids
        self._num_graphs = len(dataset)
        self._explicit_num_nodes = "num_nodes" in sample.keys()
        groups: list[_Group] = [_group(_counts_to_slices(node_counts))]
        self._attrs: list[_Attr] = []
        for key in storage.keys():
            if key in exclude or key in ("num_nodes", "ptr"):
                continue
            value = storage[key]
            if not isinstance(value, Tensor) or key not in slices:
                raise ResidentUnsupportedError(
                    f"attribute {key!r} is a {type(value).__name__}, not a tensor; "
                    f"pass exclude_keys=[{key!r}] or use resident=False"
                )
            self._attrs.append(self._attr(key, value, slices[key], sample, groups))
        self._groups = groups
        self._node_group = 0

    @staticmethod
    def _attr(key: str, value: Tensor, key_slices: Tensor, sample: Any, groups: list[_Group]) -> _Attr:
        item = sample[key]
        cat_dim = sample.__cat_dim__(key, item)
        if not isinstance(cat_dim, int) and cat_dim is not None:
            raise ResidentUnsupportedError(f"attribute {key!r} concatenates along {cat_dim}; use resident=False")
        inc = sample.__inc__(key, item)
        inc = int(inc) if not isinstance(inc, Tensor) or inc.numel() == 1 else None
        if inc not in (0, sample.num_nodes):
            raise ResidentUnsupportedError(
                f"attribute {key!r} is incremented by {inc!r} per graph, not by 0 or the number of nodes; "
                "use resident=False"
            )
        key_slices = key_slices.to(torch.long)
        for i, group in enumerate(groups):  # noqa: B007 - i names the matching group below
            if group.slices.shape == key_slices.shape and torch.equal(group.slices, key_slices):
                break
        else:
            groups.append(_group(key_slices))
            i = len(groups) - 1
        return _Attr(key, value, cat_dim, i, add_node_offset=inc != 0)

    @property
    def device(self) -> torch.device:
        return self._groups[0].starts.device

    @property
    def nbytes(self) -> int:
        """Bytes the resident copy occupies: attribute values plus slice vectors."""
        tensors = [a.value for a in self._attrs] + [t for g in self._groups for t in (g.starts, g.counts)]
        if self._graph_ids is not None:
            tensors.append(self._graph_ids)
        return sum(t.numel() * t.element_size() for t in tensors)

    def __len__(self) -> int:
        return self._num_graphs

    def to(self, device: torch.device | str) -> ResidentGraphs:
        """Move the collated data to ``device`` (in place); returns ``self``."""
        device = torch.device(device)
        for attr in self._attrs:
            attr.value = attr.value.to(device)
        for group in self._groups:
            group.starts, group.counts = group.starts.to(device), group.counts.to(device)
        if self._graph_ids is not None:
            self._graph_ids = self._graph_ids.to(device)
        return self

    def loader(
        self,
        index: Tensor | Sequence[int] | None = None,
        batch_size: int = 1,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> ResidentLoader:
        """Iterate over the graphs ``index`` (dataset positions; default all) in mini-batches."""
        return ResidentLoader(self, index, batch_size, shuffle, generator)

    def batch(self, ids: Tensor | Sequence[int]) -> Batch:
        """The mini-batch of the graphs at dataset positions ``ids``, in that order."""
        ids_cpu = torch.as_tensor(ids, dtype=torch.long).cpu()
        # _graph_ids_cpu is None exactly when _graph_ids is
        rows_cpu = ids_cpu if self._graph_ids is None else cast(Tensor, self._graph_ids_cpu).index_select(0, ids_cpu)
        totals = [int(g.counts_cpu.index_select(0, rows_cpu).sum()) for g in self._groups]
        return self._gather(ids_cpu.to(self.device), rows_cpu, totals)

    def _gather(self, ids: Tensor, rows_cpu: Tensor, totals: list[int]) -> Batch:
        """Gather one mini-batch. ``ids`` on the device; ``rows_cpu`` and ``totals`` on the host."""
        rows = ids if self._graph_ids is None else self._graph_ids.index_select(0, ids)
        num = rows.numel()
        # Per group: source position of each output element, its graph (0..num-1), per-graph counts.
        gathered: list[tuple[Tensor, Tensor, Tensor | None]] = []
        for group, total in zip(self._groups, totals):
            if group.one_per_graph:
                gathered.append((rows, torch.arange(num, device=rows.device), None))
                continue
            counts = group.counts.index_select(0, rows)
            ends = torch.cumsum(counts, 0)
            seg = _segment_ids(ends, total)
            shift = group.starts.index_select(0, rows) - (ends - counts)
            src = torch.arange(total, device=rows.device) + shift.index_select(0, seg)
            gathered.append((src, seg, ends))

        _, node_seg, node_ends = gathered[self._node_group]
        ptr = torch.zeros(num + 1, dtype=torch.long, device=rows.device)
        if node_ends is None:  # every graph has exactly one node
            torch.arange(1, num + 1, out=ptr[1:])
        else:
            ptr[1:] = node_ends

        out = Batch(_base_cls=self._data_cls)
        slice_dict: dict[str, Tensor] = {}
        inc_dict: dict[str, Tensor] = {}
        # What Batch.to_data_list() needs, kept on the host as PyG keeps it.
        group_slices = [_counts_to_slices(g.counts_cpu.index_select(0, rows_cpu)) for g in self._groups]
        node_slices_cpu = group_slices[self._node_group]
        for attr in self._attrs:
            src, seg, _ = gathered[attr.group]
            if attr.cat_dim is None:
                value = attr.value.index_select(0, src)
            else:
                value = attr.value.index_select(attr.cat_dim, src)
            if attr.add_node_offset:
                shape = [1] * value.dim()
                shape[attr.cat_dim or 0] = -1
                value = (value + ptr[:-1].index_select(0, seg).view(shape)).to(value.dtype)
                inc_dict[attr.key] = node_slices_cpu[:-1]
            else:
                inc_dict[attr.key] = torch.zeros(num, dtype=torch.long)
            out[attr.key] = value
            slice_dict[attr.key] = group_slices[attr.group]
        if self._explicit_num_nodes:
            out._num_nodes = (node_slices_cpu[1:] - node_slices_cpu[:-1]).tolist()
            out.num_nodes = int(node_slices_cpu[-1])
        out.batch = node_seg
        out.ptr = ptr
        out._num_graphs = num
        out._slice_dict = slice_dict
        out._inc_dict = inc_dict
        return out


class ResidentLoader:
    """Mini-batches of a :class:`ResidentGraphs`, with ``DataLoader``'s shuffling semantics.

    Every epoch (each ``iter()``) draws a fresh order; the last partial batch is kept.
    """

    def __init__(
        self,
        graphs: ResidentGraphs,
        index: Tensor | Sequence[int] | None,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None,
    ) -> None:
        if batch_size < 1:
            raise UsageError(f"batch_size must be a positive integer, got {batch_size}")
        self.graphs = graphs
        self.index = torch.arange(len(graphs)) if index is None else _as_index(index)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self) -> int:
        return -(-self.index.numel() // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        graphs, size = self.graphs, self.batch_size
        ids_cpu = self.index.index_select(0, epoch_permutation(self.index.numel(), self.shuffle, self.generator))
        # _graph_ids_cpu is None exactly when _graph_ids is
        rows_cpu = (
            ids_cpu if graphs._graph_ids is None else cast(Tensor, graphs._graph_ids_cpu).index_select(0, ids_cpu)
        )
        ids = ids_cpu.to(graphs.device)
        # Output sizes of every batch of the epoch, computed on the host in one go.
        bounds = torch.arange(0, ids_cpu.numel() + size, size).clamp_(max=ids_cpu.numel())
        totals = []
        for group in graphs._groups:
            cum = _counts_to_slices(group.counts_cpu.index_select(0, rows_cpu))
            totals.append((cum.index_select(0, bounds[1:]) - cum.index_select(0, bounds[:-1])).tolist())
        n, num_batches = ids_cpu.numel(), len(self)
        for b in range(num_batches):
            lo, hi = b * size, min((b + 1) * size, n)
            batch = graphs._gather(ids[lo:hi], rows_cpu[lo:hi], [t[b] for t in totals])
            if b == num_batches - 1 and n % size:
                finish_epoch(n, self.shuffle, self.generator)  # DataLoader exhausts its sampler here
            yield batch
        if n % size == 0:
            finish_epoch(n, self.shuffle, self.generator)


class DeviceLoader:
    """PyG ``DataLoader`` batches moved to ``device``: the fallback when data cannot stay resident."""

    def __init__(self, loader: DataLoader, device: torch.device | str) -> None:
        self.loader = loader
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.loader:
            yield batch.to(self.device, non_blocking=True)


def graph_loaders(
    dataset: Any,
    splits: Mapping[str, Any],
    batch_size: int,
    device: torch.device | str,
    *,
    shuffle: Iterable[str] = ("train",),
    generators: Mapping[str, torch.Generator] | None = None,
    resident: bool | str = "auto",
    memory_fraction: float = DEFAULT_MEMORY_FRACTION,
    exclude_keys: Iterable[str] = (),
) -> tuple[dict[str, ResidentLoader | DeviceLoader], bool]:
    """One loader per split, resident on ``device`` when possible.

    Args:
        dataset: the whole dataset; ``splits`` index into it.
        splits: ``{name: index}`` with 1-D long (or bool mask) indices.
        shuffle: names of the splits to reshuffle every epoch.
        generators: per split, the generator that orders it (and that the fallback
            ``DataLoader`` draws its base seed from, leaving the global RNG alone).
        resident: ``True`` (required, raises if impossible), ``False`` (always
            ``DataLoader``) or ``"auto"`` (resident when supported and
            :func:`fits_on_device` says the collated data fits).
        memory_fraction: the share of free device memory the data may take.

    Returns:
        ``(loaders, resident)``: loaders yield batches already on ``device``.
    """
    if resident not in (True, False, "auto"):
        raise UsageError(f"resident must be true, false or 'auto', got {resident!r}")
    shuffle, generators, exclude = set(shuffle), dict(generators or {}), list(exclude_keys)
    graphs = None
    if resident is not False:
        try:
            graphs = ResidentGraphs(dataset, exclude_keys=exclude)
        except ResidentUnsupportedError:
            if resident is True:
                raise
        if graphs is not None and resident == "auto" and not fits_on_device(graphs.nbytes, device, memory_fraction):
            graphs = None
    if graphs is not None:
        graphs.to(device)
        loaders: dict[str, ResidentLoader | DeviceLoader] = {
            name: graphs.loader(idx, batch_size, name in shuffle, generators.get(name)) for name, idx in splits.items()
        }
        return loaders, True
    loaders = {
        name: DeviceLoader(
            DataLoader(
                torch.utils.data.Subset(dataset, _as_index(idx).tolist()),
                batch_size=batch_size,
                shuffle=name in shuffle,
                generator=generators.get(name),
                exclude_keys=exclude,
            ),
            device,
        )
        for name, idx in splits.items()
    }
    return loaders, False


def _as_index(index: Any) -> Tensor:
    index = torch.as_tensor(index).cpu()
    chosen: Tensor = index.nonzero().view(-1) if index.dtype == torch.bool else index.to(torch.long).view(-1)
    return chosen


def _collated(dataset: Any) -> tuple[Data, dict[str, Tensor], Tensor | None]:
    """(storage, slices, storage row of each dataset position or None for identity)."""
    if len(dataset) == 0:
        raise ResidentUnsupportedError("the dataset is empty")
    if not isinstance(dataset[0], Data):
        raise ResidentUnsupportedError(
            f"resident batching needs homogeneous torch_geometric Data graphs, got {type(dataset[0]).__name__}"
        )
    if isinstance(dataset, InMemoryDataset) and dataset.slices is not None:
        if dataset.transform is not None:
            raise ResidentUnsupportedError(
                "the dataset applies a transform on every access, which resident batching would skip; "
                "apply it as a pre_transform or use resident=False"
            )
        storage = dataset._data
        ids = None if dataset._indices is None else torch.as_tensor(list(dataset.indices()), dtype=torch.long)
        return storage, dict(dataset.slices), ids
    data_list = [dataset[i] for i in range(len(dataset))]  # once, at construction
    storage, slices, _ = collate(data_list[0].__class__, data_list=data_list, increment=False, add_batch=False)
    return storage, slices, None


def _node_counts(storage: Data, slices: Mapping[str, Tensor], sample: Any) -> Tensor:
    """Nodes per graph, inferred in the order PyG infers ``num_nodes``."""
    explicit = getattr(storage._store, "_num_nodes", None)
    if explicit is not None:
        return torch.as_tensor(explicit, dtype=torch.long)
    keys = [k for k in _NODE_COUNT_KEYS if k in slices] + [k for k in slices if "node" in k]
    for key in keys:
        if isinstance(storage[key], Tensor) and sample.__cat_dim__(key, sample[key]) is not None:
            return (slices[key][1:] - slices[key][:-1]).to(torch.long)
    raise ResidentUnsupportedError(
        "cannot tell the number of nodes of each graph (no 'x', 'pos' or '*node*' attribute); use resident=False"
    )


def _counts_to_slices(counts: Tensor) -> Tensor:
    return torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])


def _group(slices: Tensor) -> _Group:
    counts = slices[1:] - slices[:-1]
    one = bool((counts == 1).all())
    return _Group(slices=slices, starts=slices[:-1].clone(), counts=counts, counts_cpu=counts, one_per_graph=one)


def _segment_ids(ends: Tensor, total: int) -> Tensor:
    """``repeat_interleave(arange(len(ends)), counts)`` given ``ends = cumsum(counts)`` and its last value.

    Marks where each segment ends and counts the marks: no device sync, and unlike
    ``repeat_interleave`` on the CPU it does not enter a parallel region for small inputs.
    """
    marks = torch.zeros(total + 1, dtype=torch.long, device=ends.device)
    marks.index_add_(0, ends, torch.ones_like(ends))
    return torch.cumsum(marks[:-1], 0)

