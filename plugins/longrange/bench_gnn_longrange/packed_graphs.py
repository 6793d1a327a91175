"""Many graphs stored as a few tensors, and batches of them built with tensor operations only.

:class:`PackedGraphs` is the layout of a collated PyG ``InMemoryDataset`` (per-graph pointers into
concatenated node and edge tensors); :class:`PackedGraphDataset` is such a dataset over it, so
``bench_gnn.graph.batching.ResidentGraphs`` reuses the storage as is. Used by the LRGB loaders
(:mod:`bench_gnn_longrange.lrgb_loaders`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch_geometric.data import Batch, Data, InMemoryDataset

from bench_gnn import GraphTaskData, random_walk_se


@dataclass(frozen=True)
class PackedGraphs:
    """Many graphs stored as a few tensors (the layout of a collated ``InMemoryDataset``).

    Graph ``g`` owns nodes ``node_ptr[g]:node_ptr[g+1]`` and edges ``edge_ptr[g]:edge_ptr[g+1]``;
    ``edge_index`` holds node indices local to each graph (0-based per graph).

    Shapes (N nodes, E directed edges, G graphs in all):
        x ``[N, F]``, edge_index ``[2, E]`` long, edge_attr ``[E, D]`` or None,
        y ``[G, T]`` (``level="graph"``) or ``[N]`` (``level="node"``),
        node_ptr ``[G+1]`` long, edge_ptr ``[G+1]`` long,
        node_extras: further per-node tensors ``[N, ...]`` (e.g. ``rwse``), batched like ``x``.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor | None
    y: torch.Tensor
    node_ptr: torch.Tensor
    edge_ptr: torch.Tensor
    level: str = "graph"
    node_extras: Mapping[str, torch.Tensor] = field(default_factory=dict)

    @property
    def num_graphs(self) -> int:
        return self.node_ptr.numel() - 1

    def to(self, device: torch.device | str) -> PackedGraphs:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        extras: dict[str, Any] = {k: move(v) for k, v in self.node_extras.items()}
        tensors: dict[str, Any] = {k: move(getattr(self, k)) for k in _TENSOR_FIELDS}
        return replace(self, node_extras=extras, **tensors)

    def gather(self, idx: torch.Tensor) -> Batch:
        """Batch graphs ``idx`` (1-D long, on the tensors' device) without a Python loop.

        Returns a PyG ``Batch`` with ``x``, ``edge_index`` (re-indexed into the batch),
        ``edge_attr``, ``y``, ``batch`` and ``ptr``, equal to ``Batch.from_data_list`` of the
        same graphs in the same order. One host sync (the batch's node and edge totals).
        """
        idx = idx.to(self.node_ptr.device, torch.long)
        node_src, node_graph, new_ptr = _ranges(self.node_ptr, idx)
        edge_src, edge_graph, _ = _ranges(self.edge_ptr, idx)
        edge_index = self.edge_index[:, edge_src] + new_ptr[edge_graph]
        y = self.y[node_src] if self.level == "node" else self.y[idx]
        return Batch(
            x=self.x[node_src],
            edge_index=edge_index,
            edge_attr=None if self.edge_attr is None else self.edge_attr[edge_src],
            y=y,
            batch=node_graph,
            ptr=new_ptr,
            **{name: values[node_src] for name, values in self.node_extras.items()},
        )


_TENSOR_FIELDS = ("x", "edge_index", "edge_attr", "y", "node_ptr", "edge_ptr")


def _ranges(ptr: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows ``ptr[i]:ptr[i+1]`` for every ``i`` in ``idx``, concatenated.

    Returns ``(rows, owner, new_ptr)``: the source rows, the position in ``idx`` each row
    belongs to, and the pointers of the concatenated ranges.
    """
    start = ptr[idx]
    counts = ptr[idx + 1] - start
    new_ptr = torch.zeros(idx.numel() + 1, dtype=torch.long, device=ptr.device)
    torch.cumsum(counts, 0, out=new_ptr[1:])
    total = int(new_ptr[-1])
    owner = torch.repeat_interleave(torch.arange(idx.numel(), device=ptr.device), counts, output_size=total)
    rows = torch.arange(total, device=ptr.device) - new_ptr[owner] + start[owner]
    return rows, owner, new_ptr


class PackedGraphDataset(InMemoryDataset):
    """An ``InMemoryDataset`` over :class:`PackedGraphs`: ``dataset[i]`` is a PyG ``Data``.

    ``dataset.packed`` exposes the packed tensors of the whole dataset (also on an index view
    such as ``dataset[split_idx]``: positions in ``packed`` are positions in the full dataset).
    """

    def __init__(self, packed: PackedGraphs, name: str = "") -> None:
        super().__init__(root=None, log=False)
        self.name = name
        self.level = packed.level
        y_slices = packed.node_ptr if packed.level == "node" else torch.arange(packed.num_graphs + 1)
        data = Data(x=packed.x, edge_index=packed.edge_index, y=packed.y)
        self.slices = {"x": packed.node_ptr, "edge_index": packed.edge_ptr, "y": y_slices}
        if packed.edge_attr is not None:
            data.edge_attr = packed.edge_attr
            self.slices["edge_attr"] = packed.edge_ptr
        for name, values in packed.node_extras.items():
            data[name] = values
            self.slices[name] = packed.node_ptr
        self.extra_keys = tuple(packed.node_extras)
        self._data = data

    @property
    def packed(self) -> PackedGraphs:
        data = self._data
        return PackedGraphs(
            x=data.x,
            edge_index=data.edge_index,
            edge_attr=data.edge_attr if "edge_attr" in data else None,
            y=data.y,
            node_ptr=self.slices["x"],
            edge_ptr=self.slices["edge_index"],
            level=self.level,
            node_extras={name: data[name] for name in self.extra_keys},
        )

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.name!r}, {len(self)} graphs)"


def standardize_features(task_data: GraphTaskData, inplace: bool = False) -> GraphTaskData:
    """Standardise node features ``x`` and edge features ``edge_attr`` with train-split statistics.

    ``z = (v - mean) / std`` per feature column, where mean and (population) std are taken
    over the nodes (edges) of the training graphs only; a column with std 0 is only centred.
    Validation and test graphs never influence the statistics. Returns a new
    :class:`GraphTaskData`; with ``inplace=True`` the dataset's tensors are overwritten
    (no copy, for large datasets such as COCO-SP).
    """
    packed = task_data.dataset.packed
    train = torch.as_tensor(task_data.splits["train"], dtype=torch.long)
    new = {}
    for name, ptr in (("x", packed.node_ptr), ("edge_attr", packed.edge_ptr)):
        values = getattr(packed, name)
        if values is None:
            continue
        mask = torch.zeros(values.size(0), dtype=torch.bool, device=values.device)
        mask[_ranges(ptr.to(values.device), train.to(values.device))[0]] = True
        mean, std = _masked_mean_std(values, mask)
        out = values if inplace else values.clone()
        new[name] = out.sub_(mean.to(out.dtype)).div_(std.to(out.dtype))
    dataset = PackedGraphDataset(replace(packed, **new), name=getattr(task_data.dataset, "name", ""))
    return replace(task_data, dataset=dataset)


def _masked_mean_std(values: torch.Tensor, mask: torch.Tensor, chunk: int = 1 << 22):
    """Column mean and std of ``values[mask]`` in float64, in chunks (no copy of ``values``)."""
    total = torch.zeros(values.size(1), dtype=torch.float64, device=values.device)
    squares = torch.zeros_like(total)
    for start in range(0, values.size(0), chunk):
        rows = values[start : start + chunk].double()
        weight = mask[start : start + chunk].double()
        total += weight @ rows
        squares += weight @ (rows * rows)
    count = max(int(mask.sum()), 1)
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def random_walk_se_packed(packed: PackedGraphs, steps: int, graphs_per_chunk: int = 64) -> torch.Tensor:
    """RWSE ``[N, steps]`` of every graph, computed once at processing time (about 14 s on one
    CPU thread for Peptides-func) so that models need not compute it per batch. Graphs go in
    chunks of similar size, which keeps the dense walk state of :func:`random_walk_se` small."""
    out = torch.empty(packed.x.size(0), steps)
    order = torch.argsort(packed.node_ptr.diff(), stable=True)
    for start in range(0, order.numel(), graphs_per_chunk):
        idx = order[start : start + graphs_per_chunk]
        batch = packed.gather(idx)
        rows, _, _ = _ranges(packed.node_ptr, idx)
        out[rows] = random_walk_se(batch.edge_index, batch.num_nodes, steps, batch.batch)
    return out
