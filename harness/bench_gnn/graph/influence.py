"""Jacobian influence of input node features on a model's node outputs, by hop distance.

For a sampled node ``v`` with output ``y_v`` and input node features ``x_u``::

    I_h(v) = sum_{u : dist(u, v) = h} sum_{i, j} |d y_{v,i} / d x_{u,j}|

The profile reported is ``I_h = mean_v I_h(v) / mean_v I_0(v)`` for ``h = 0..max_hops``,
and the influence-weighted receptive field is ``R = mean_v sum_h h I_h(v) / sum_h I_h(v)``
(City-Networks, 2025; PyG ``torch_geometric.utils.influence``).

Unlike the PyG reference, the Jacobian is taken on the *full* graph (for graph datasets: the
whole graph containing ``v``), never on a ``max_hops`` subgraph, so models deeper than
``max_hops`` and global attention are measured on the graph they were trained on. Nothing is
dropped: influence from reachable nodes farther than ``max_hops`` is reported as
``I_beyond``, influence from nodes with no path to ``v`` (other components; only global
attention or virtual nodes produce it) as ``I_unreachable``. Every bucket is normalised by
the same ``mean_v I_0(v)``.

``dist(u, v)`` is the length of the shortest directed path ``u -> ... -> v`` along
``edge_index`` (the direction messages flow in PyG's default ``source_to_target``); for
undirected graphs (both directions stored) it is the usual hop distance.

Model contract
    * Input: the Jacobian is taken w.r.t. ``data.x``, which must be floating point. A model
      whose input is not differentiable (embedding lookups on integer features) exposes two
      methods, and the Jacobian is then taken w.r.t. the node-encoder output ``h``::

          encode(data) -> h                      # [num_nodes, d], the node embeddings
          forward_from_embedding(h, data) -> out # same result as forward(data) given h

    * Output: ``forward(data)`` (or ``forward_from_embedding``) returns one row per node,
      ``[num_nodes, out_dim]`` (``[num_nodes]`` is read as one output). A model returning one
      row per graph is accepted only for graphs with a boolean ``root_mask`` (the row is then
      the root's output, as in Tree-NeighborsMatch); a pooled graph-level output has no node
      ``v`` and is refused with a :class:`~bench_gnn.errors.UsageError`.
    * The model runs in ``eval()`` mode (restored afterwards); in eval mode its output at
      ``v`` must not depend on other graphs in the batch (true of every GNN without
      train-mode batch statistics).

Single graphs (node tasks) are passed to the model as the ``Data`` itself; graphs of a graph
dataset are passed one at a time as a one-graph ``Batch``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import shortest_path
from torch import Tensor

from bench_gnn.errors import UsageError

GRAD_BUDGET = 1 << 24  # elements of batched gradients held at once (64 MiB in float32)


def hop_distances(edge_index: Tensor, num_nodes: int, targets: Sequence[int] | Tensor) -> Tensor:
    """Shortest-path hop counts ``dist(u, v)`` from every node ``u`` to each node ``v`` in ``targets``.

    Paths follow edge direction (``u -> ... -> v``). Returns a float tensor
    ``[len(targets), num_nodes]``; ``inf`` marks nodes with no path to ``v``.
    """
    targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
    src, dst = edge_index.detach().cpu().numpy()
    # Row v of the reversed adjacency lists the nodes with an edge into v; a breadth-first
    # search from v over it walks the original edges backwards.
    reversed_adj = sp.csr_matrix((np.ones(len(src)), (dst, src)), shape=(num_nodes, num_nodes))
    dist = shortest_path(reversed_adj, directed=True, unweighted=True, indices=targets.numpy())
    return torch.from_numpy(np.atleast_2d(dist)).float()


def node_influence(model: torch.nn.Module, data: Any, nodes: Sequence[int] | Tensor) -> Tensor:
    """Jacobian L1 mass ``sum_{i,j} |d y_{v,i} / d x_{u,j}|`` on the full graph ``data``.

    Args:
        model: a model following the contract in the module docstring.
        data: one graph (``Data`` or a one-graph ``Batch``), as ``model`` expects it.
        nodes: the output nodes ``v``.

    Returns:
        ``[len(nodes), num_nodes]``: row ``k`` is the influence of every node ``u`` on ``nodes[k]``.
    """
    nodes = torch.as_tensor(nodes, dtype=torch.long).reshape(-1)
    was_training = model.training
    model.eval()
    try:
        inputs, out = _forward(model, data)
        rows = _output_rows(out, data, nodes)
        return _jacobian_l1(out, inputs, rows).detach().cpu()
    finally:
        model.train(was_training)


def influence_profile(
    model: torch.nn.Module,
    data: Any,
    max_hops: int,
    num_samples: int | None = 100,
    *,
    seed: int = 0,
    nodes: Sequence[int] | Tensor | None = None,
    node_attr: str | None = None,
    split: str | None = "test",
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Influence profile ``I_0..I_H``, ``I_beyond``, ``I_unreachable`` and ``R`` of ``model``.

    Args:
        model: a model following the contract in the module docstring.
        data: one graph (a PyG ``Data``: node task), a sequence of graphs, or a
            :class:`~bench_gnn.specs.GraphTaskData` (its ``split`` graphs, or all when
            ``split`` is ``None``).
        max_hops: ``H``, the last hop reported on its own.
        num_samples: number of output nodes ``v`` (``None``: every candidate node of a single
            graph, one node of every graph of a dataset). For graph datasets the graphs are drawn
            uniformly and nodes uniformly within them; a graph is drawn again only when
            ``num_samples`` exceeds the number of graphs.
        seed: seed of the sampling; the same seed draws the same nodes.
        nodes: explicit output nodes of a single graph (overrides sampling).
        node_attr: name of a 1-D boolean node attribute restricting the candidates
            (e.g. ``"root_mask"``).
        split: for a ``GraphTaskData``, which split's graphs to use.
        device: where to run; by default the device of the model's parameters.

    Returns:
        ``{"I": [I_0, ..., I_H], "I_beyond": float, "I_unreachable": float, "R": float,
        "R_within": float, "I0_raw": float, "nodes": int, "max_hops": H}``. ``I*`` are
        normalised by ``I0_raw = mean_v I_0(v)`` (``nan`` when that is 0). ``R`` weighs every
        reachable node by its exact hop distance on the full graph; ``R_within`` keeps hops
        ``0..H`` only, as the PyG reference does (the two agree when ``I_beyond`` is 0).
        Nodes with no influence at all are left out of the ``R`` means.
    """
    if not isinstance(max_hops, int) or isinstance(max_hops, bool) or max_hops < 0:
        raise UsageError(f"max_hops must be a non-negative integer, got {max_hops!r}")
    if num_samples is not None and (not isinstance(num_samples, int) or num_samples < 1):
        raise UsageError(f"num_samples must be a positive integer or None, got {num_samples!r}")
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(seed)

    if _is_single_graph(data):  # a node task: the model takes the Data itself
        jobs = [(data, _single_graph_nodes(data, num_samples, nodes, node_attr, generator), False)]
    else:
        if nodes is not None:
            raise UsageError("nodes= selects nodes of a single graph; for graph datasets use num_samples and node_attr")
        graphs = _graphs_of(data, split)
        jobs = _dataset_jobs(graphs, num_samples or len(graphs), node_attr, generator)
    if not jobs or all(len(graph_nodes) == 0 for _, graph_nodes, _ in jobs):
        where = f" (node_attr={node_attr!r})" if node_attr else ""
        raise UsageError(f"influence: no candidate nodes to sample{where}")

    rows = []  # one per sampled node: [bucket 0..H, beyond, unreachable, R numerator, R_within numerator]
    was_training = model.training
    model.eval()
    try:
        for graph, graph_nodes, as_batch in jobs:
            rows.append(_profile_graph(model, graph, graph_nodes, max_hops, device, as_batch))
    finally:
        model.train(was_training)
    return _summarise(torch.cat(rows), max_hops)


# --------------------------------------------------------------------------- sampling


def _is_single_graph(data: Any) -> bool:
    from torch_geometric.data.data import BaseData

    return isinstance(data, BaseData)


class _Subset:
    """Lazy view of ``dataset`` restricted to ``indices`` (graphs are built only when drawn)."""

    def __init__(self, dataset: Any, indices: Any):
        self.dataset, self.indices = dataset, torch.as_tensor(indices, dtype=torch.long).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> Any:
        return self.dataset[int(self.indices[k])]


def _graphs_of(data: Any, split: str | None) -> Any:
    if hasattr(data, "splits") and hasattr(data, "dataset"):  # GraphTaskData
        if split is None:
            return data.dataset
        if split not in data.splits:
            raise UsageError(f"split {split!r} is not one of {sorted(data.splits)}")
        return _Subset(data.dataset, data.splits[split])
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return data
    raise UsageError(f"influence needs a PyG Data, a sequence of Data or a GraphTaskData, got {type(data).__name__}")


def _candidates(graph: Any, node_attr: str | None) -> Tensor:
    if node_attr is None:
        return torch.arange(int(graph.num_nodes))
    mask = getattr(graph, node_attr, None)
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.dim() != 1:
        raise UsageError(f"node_attr={node_attr!r} must name a 1-D boolean node attribute of the graph")
    return mask.nonzero().view(-1).cpu()


def _single_graph_nodes(
    data: Any, num_samples: int | None, nodes: Any, node_attr: str | None, generator: torch.Generator
) -> Tensor:
    if nodes is not None:
        nodes = torch.as_tensor(nodes)
        chosen: Tensor = nodes.nonzero().view(-1) if nodes.dtype == torch.bool else nodes.long().view(-1)
        return chosen
    candidates = _candidates(data, node_attr)
    if num_samples is None or num_samples >= len(candidates):
        return candidates
    return candidates[torch.randperm(len(candidates), generator=generator)[:num_samples]]


def _dataset_jobs(
    graphs: Any, num_samples: int, node_attr: str | None, generator: torch.Generator
) -> list[Any]:
    num_graphs = len(graphs)
    if num_graphs == 0:
        raise UsageError("influence: the dataset has no graphs")
    rounds = math.ceil(num_samples / num_graphs)
    order = torch.cat([torch.randperm(num_graphs, generator=generator) for _ in range(rounds)])[:num_samples]
    counts = torch.bincount(order, minlength=num_graphs)
    jobs = []
    for g in torch.unique(order).tolist():
        graph = graphs[g]
        if not _is_single_graph(graph):
            raise UsageError(f"influence: expected the dataset to hold PyG Data graphs, got {type(graph).__name__}")
        candidates = _candidates(graph, node_attr)
        if len(candidates) == 0:
            continue
        take = torch.randperm(len(candidates), generator=generator)[: int(counts[g])]
        jobs.append((graph, candidates[take], True))
    return jobs


# --------------------------------------------------------------------------- Jacobians


def _forward(model: torch.nn.Module, data: Any) -> tuple[Tensor, Tensor]:
    """Run ``model`` with a differentiable node input; return ``(input, output)``."""
    encode = getattr(model, "encode", None)
    from_embedding = getattr(model, "forward_from_embedding", None)
    if callable(encode) and callable(from_embedding):
        inputs = encode(data).detach().requires_grad_(True)
        return inputs, from_embedding(inputs, data)
    x = getattr(data, "x", None)
    if not isinstance(x, Tensor) or not x.is_floating_point():
        kind = "missing" if not isinstance(x, Tensor) else f"of dtype {x.dtype}"
        raise UsageError(
            f"influence needs floating-point node features, but data.x is {kind}. For a model that embeds "
            "integer features, expose encode(data) -> h and forward_from_embedding(h, data) -> out so the "
            "Jacobian is taken w.r.t. the node embeddings h."
        )
    inputs = x.detach().requires_grad_(True)
    data = copy.copy(data)
    data.x = inputs
    return inputs, model(data)


def _output_rows(out: Tensor, data: Any, nodes: Tensor) -> Tensor:
    """Map output nodes ``v`` to rows of ``out``; checks ``out`` has one row per node (or per root)."""
    if not isinstance(out, Tensor):
        raise UsageError(f"influence needs the model to return a tensor, got {type(out).__name__}")
    num_nodes = int(data.num_nodes)
    if out.dim() >= 1 and out.size(0) == num_nodes:
        return nodes
    root_mask = getattr(data, "root_mask", None)
    if isinstance(root_mask, Tensor) and out.dim() >= 1 and out.size(0) == int(root_mask.sum()):
        roots = root_mask.nonzero().view(-1).cpu()
        position = {int(r): k for k, r in enumerate(roots)}
        missing = [int(v) for v in nodes if int(v) not in position]
        if missing:
            raise UsageError(
                f"the model returns one row per root, so influence is defined at root nodes only; "
                f"nodes {missing[:5]} are not roots (pass node_attr='root_mask')"
            )
        return torch.tensor([position[int(v)] for v in nodes], dtype=torch.long)
    raise UsageError(
        f"influence needs one output row per node, but the model returned shape {tuple(out.shape)} for a graph "
        f"of {num_nodes} nodes (a pooled graph-level readout has no output node v). Expose "
        "forward_from_embedding(h, data) returning node-level outputs, or measure a node-level variant."
    )


def _jacobian_l1(out: Tensor, inputs: Tensor, rows: Tensor) -> Tensor:
    """``[len(rows), num_nodes]``: ``sum_{i,j} |d out[row, i] / d inputs[u, j]|`` for every node ``u``.

    One backward pass per (row, output channel). On accelerators the passes are batched
    (``is_grads_batched``); on CPUs batching often costs more than it saves, so the first pass
    runs alone and the first batch is timed against it.
    """
    out = out.reshape(out.size(0), -1)
    num_out = out.size(1)
    rows = rows.to(out.device)
    pairs = len(rows) * num_out
    result = torch.zeros(len(rows), inputs.size(0), dtype=inputs.dtype, device=inputs.device)
    if not out.requires_grad:  # the output does not depend on the input at all
        return result
    chunk = max(1, min(pairs, GRAD_BUDGET // max(inputs.numel() + out.numel(), 1)))
    batched: bool | None = None if chunk > 1 else False  # None: not decided yet
    if batched is None and out.device.type != "cpu":
        batched = True
    single_seconds = math.inf
    start = 0
    while start < pairs:
        size = chunk if batched or (batched is None and start > 0) else 1
        stop = min(pairs, start + size)
        tic = time.perf_counter()
        try:
            grad = _backward(out, inputs, rows, start, stop)
        except RuntimeError:
            if stop - start == 1:
                raise
            batched = False  # an operator without a batching rule: one pass per output
            continue
        seconds = (time.perf_counter() - tic) / (stop - start)
        if start == 0 and stop - start == 1:
            single_seconds = seconds
        elif batched is None:
            batched = seconds < single_seconds
        pair = torch.arange(start, stop, device=out.device)
        result.index_add_(0, pair // num_out, grad.abs().reshape(stop - start, inputs.size(0), -1).sum(-1))
        start = stop
    return result


def _backward(out: Tensor, inputs: Tensor, rows: Tensor, start: int, stop: int) -> Tensor:
    """Gradients of ``out[rows[p // C], p % C]`` w.r.t. ``inputs`` for pairs ``p`` in ``start..stop-1``."""
    num_out = out.size(1)
    pair = torch.arange(start, stop, device=out.device)
    one_hot = torch.zeros(len(pair), *out.shape, dtype=out.dtype, device=out.device)
    one_hot[torch.arange(len(pair), device=out.device), rows[pair // num_out], pair % num_out] = 1.0
    if len(pair) == 1:
        (grad,) = torch.autograd.grad(out, inputs, one_hot[0], retain_graph=True, allow_unused=True)
        grad = None if grad is None else grad.unsqueeze(0)
    else:
        (grad,) = torch.autograd.grad(
            out, inputs, one_hot, retain_graph=True, is_grads_batched=True, allow_unused=True
        )
    if grad is None:  # the input does not reach the output
        grad = torch.zeros(len(pair), *inputs.shape, dtype=inputs.dtype, device=inputs.device)
    return grad


def _profile_graph(
    model: Any, graph: Any, nodes: Tensor, max_hops: int, device: torch.device | str, as_batch: bool
) -> Tensor:
    """Per sampled node: hop buckets ``0..H``, beyond, unreachable, and the two ``R`` numerators."""
    graph = _as_batch(graph) if as_batch else copy.copy(graph)  # .to() below must not move the caller's data
    graph = graph.to(device)
    inputs, out = _forward(model, graph)
    influence = _jacobian_l1(out, inputs, _output_rows(out, graph, nodes)).detach().cpu().double()
    dist = hop_distances(graph.edge_index, int(graph.num_nodes), nodes).double()
    reachable = torch.isfinite(dist)
    buckets = [(influence * (dist == h)).sum(1) for h in range(max_hops + 1)]
    beyond = (influence * (reachable & (dist > max_hops))).sum(1)
    unreachable = (influence * ~reachable).sum(1)
    weighted = (influence * torch.where(reachable, dist, torch.zeros_like(dist))).sum(1)
    within = dist <= max_hops
    weighted_within = (influence * torch.where(within, dist, torch.zeros_like(dist))).sum(1)
    return torch.stack([*buckets, beyond, unreachable, weighted, weighted_within], dim=1)


def _as_batch(graph: Any) -> Any:
    from torch_geometric.data import Batch

    return Batch.from_data_list([graph])


def _summarise(rows: Tensor, max_hops: int) -> dict[str, Any]:
    hops = rows[:, : max_hops + 1]
    beyond, unreachable = rows[:, max_hops + 1], rows[:, max_hops + 2]
    weighted, weighted_within = rows[:, max_hops + 3], rows[:, max_hops + 4]
    i0 = float(hops[:, 0].mean())
    scale = 1.0 / i0 if i0 > 0 else math.nan

    reachable_total = hops.sum(1) + beyond
    within_total = hops.sum(1)
    return {
        "I": [float(v) * scale for v in hops.mean(0)],
        "I_beyond": float(beyond.mean()) * scale,
        "I_unreachable": float(unreachable.mean()) * scale,
        "R": _ratio_mean(weighted, reachable_total),
        "R_within": _ratio_mean(weighted_within, within_total),
        "I0_raw": i0,
        "nodes": int(rows.size(0)),
        "max_hops": max_hops,
    }


def _ratio_mean(numerator: Tensor, denominator: Tensor) -> float:
    keep = denominator > 0
    if not bool(keep.any()):
        return math.nan
    return float((numerator[keep] / denominator[keep]).mean())


def is_profile(value: Any) -> bool:
    """Whether ``value`` looks like the dict :func:`influence_profile` returns."""
    return isinstance(value, Mapping) and "I" in value and "I_beyond" in value
