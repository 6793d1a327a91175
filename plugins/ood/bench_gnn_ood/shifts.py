"""GNNSafe's synthetic distribution shifts on one graph (Cora, CiteSeer), with explicit seeds.

Reference: qitianwu/GraphOOD-GNNSafe@ba73d8fd ``GNNSafe/dataset.py`` (``load_graph_dataset``,
``create_sbm_dataset``, ``create_feat_noise_dataset``). As there:

* The in-distribution graph is the input graph; detection scores its **test** nodes (public split).
* OOD-train (exposure) and OOD-test are **two independent generations** of the same shift; every
  node of a generated graph is OOD (``node_mask`` all true).
* ``structure``: a stochastic block model replaces the edges. One block per class (``C = max(y) + 1``),
  blocks of ``N // C`` consecutive node ids (the last takes the rest), assigned by node index, not by
  class; ``p_in = 1.5 d`` within and ``p_out = 0.5 d`` between blocks with ``d = E / (N (N - 1))``, ``E``
  the directed edge count. Every unordered pair is drawn once and stored in both directions, no
  self-loops (``torch_geometric.utils.stochastic_blockmodel_graph``). Features and labels are kept.
* ``feature``: node ``v`` gets ``w x_i + (1 - w) x_j`` for two uniformly drawn nodes ``i, j`` and
  ``w ~ U(0, 1)``; edges and labels are kept.
* ``label`` (class leave-out): in-distribution = classes ``id_classes`` (default 4, 5, 6): the public
  train/val/test masks restricted to them. OOD-train = nodes of ``ood_train_classes`` (3), OOD-test =
  nodes of ``ood_test_classes`` (0, 1, 2), all on the original graph. The classifier keeps all C outputs.
  On Cora: ID train 60, ID test 316, OOD-train 426, OOD-test 986 nodes.

Seeds. The reference draws from the global RNG once per process, so its five runs share one pair of OOD
graphs. Here a ``torch.Generator`` seeded with ``seed`` draws OOD-train first, then OOD-test, and touches no
global RNG: the same seed gives the same graphs, and the seed is recorded in ``OODSetting.seeds``.
The label shift draws nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from bench_gnn import ConfigError, JobError, unknown_name

__all__ = ["SHIFTS", "OODSetting", "feature_shift", "make_setting", "sbm_shift"]

SHIFTS = ("structure", "feature", "label")

_LABEL_DEFAULTS: dict[str, tuple[int, ...]] = {
    "id_classes": (4, 5, 6),
    "ood_train_classes": (3,),
    "ood_test_classes": (0, 1, 2),
}


@dataclass
class OODSetting:
    """One OOD-detection problem: an in-distribution graph, an exposure graph and OOD test graphs.

    ``ind`` carries 1-D boolean ``train_mask``, ``val_mask``, ``test_mask`` and ``y``; detection scores
    ``ind``'s test nodes as in-distribution and each ``ood_test`` graph's ``node_mask`` nodes as OOD.
    ``ood_train.node_mask`` marks the nodes the exposure losses (OE, Energy-FT, GNNSafe++) treat as OOD.
    """

    ind: Data
    ood_train: Data
    ood_test: list[Data]
    shift: str
    seeds: dict[str, int]
    args: dict[str, Any] = field(default_factory=dict)


def _mask(data: Data, name: str) -> Tensor:
    mask = getattr(data, name, None)
    if not isinstance(mask, Tensor):
        raise JobError(f"the in-distribution graph has no {name}; GNNSafe's shifts need the public split masks")
    if mask.dim() == 2:
        mask = mask[:, 0]
    return mask.to(torch.bool)


def _base(data: Data) -> Data:
    """The in-distribution graph with 1-D masks and 1-D labels."""
    y = data.y.view(-1) if data.y.dim() == 2 and data.y.shape[1] == 1 else data.y
    return Data(
        x=data.x, edge_index=data.edge_index, y=y, num_nodes=data.num_nodes,
        train_mask=_mask(data, "train_mask"), val_mask=_mask(data, "val_mask"), test_mask=_mask(data, "test_mask"),
    )


def _all_ood(x: Tensor, edge_index: Tensor, y: Tensor) -> Data:
    n = x.shape[0]
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=n, node_mask=torch.ones(n, dtype=torch.bool))


def sbm_shift(data: Data, generator: torch.Generator, p_in: float = 1.5, p_out: float = 0.5) -> Data:
    """GNNSafe's structure shift: ``data`` with its edges replaced by an SBM graph drawn from ``generator``."""
    n = int(data.num_nodes)
    num_blocks = int(data.y.max()) + 1
    density = data.edge_index.shape[1] / n / (n - 1)
    size = n // num_blocks
    block = torch.clamp(torch.arange(n) // size, max=num_blocks - 1)  # last block takes the rest
    probs = torch.full((num_blocks, num_blocks), p_out * density)
    probs.fill_diagonal_(p_in * density)
    row, col = torch.triu_indices(n, n, offset=1)
    keep = torch.rand(row.shape[0], generator=generator) < probs[block[row], block[col]]
    row, col = row[keep], col[keep]
    edge_index = torch.stack([torch.cat([row, col]), torch.cat([col, row])])
    order = torch.argsort(edge_index[0] * n + edge_index[1])
    return _all_ood(data.x, edge_index[:, order], data.y)


def feature_shift(data: Data, generator: torch.Generator) -> Data:
    """GNNSafe's feature shift: every node's features become a random mix of two random nodes' features."""
    n = int(data.num_nodes)
    idx = torch.randint(0, n, (n, 2), generator=generator)
    w = torch.rand(n, generator=generator).unsqueeze(1)
    x = data.x[idx[:, 0]] * w + data.x[idx[:, 1]] * (1 - w)
    return _all_ood(x, data.edge_index, data.y)


def _classes(arg: str, value: Any, num_classes: int) -> tuple[int, ...]:
    if isinstance(value, int):
        value = (value,)
    if not isinstance(value, Sequence) or not value or not all(isinstance(c, int) for c in value):
        raise ConfigError(f"label shift: {arg} must be a non-empty list of class ids, got {value!r}")
    bad = [c for c in value if not 0 <= c < num_classes]
    if bad:
        raise ConfigError(f"label shift: {arg} has class ids {bad} outside 0..{num_classes - 1}")
    return tuple(int(c) for c in value)


def make_setting(data: Data, shift: str, seed: int, *, dataset: str, **shift_args: Any) -> OODSetting:
    """Build GNNSafe's OOD setting for ``shift`` on ``data`` (a Planetoid graph with public split masks).

    ``shift_args``: for ``label``, ``id_classes``, ``ood_train_classes`` and ``ood_test_classes``; for
    ``structure``, ``p_in`` and ``p_out`` (multiples of the edge density, default 1.5 and 0.5); none for
    ``feature``. Raises :class:`ConfigError` for an unknown shift or argument and :class:`JobError` when the
    setting has no in-distribution test nodes or no OOD nodes.
    """
    if shift not in SHIFTS:
        raise ConfigError(str(unknown_name("OOD shift", shift, SHIFTS)))
    known = {"label": set(_LABEL_DEFAULTS), "structure": {"p_in", "p_out"}, "feature": set()}[shift]
    unknown = sorted(set(shift_args) - known)
    if unknown:
        raise ConfigError(
            f"{dataset}: shift {shift!r} takes no argument(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known)) or '(none)'}"
        )
    ind = _base(data)
    seeds: dict[str, int] = {}
    args: dict[str, Any] = dict(shift_args)
    if shift == "label":
        num_classes = int(ind.y.max()) + 1
        cls = {k: _classes(k, shift_args.get(k, v), num_classes) for k, v in _LABEL_DEFAULTS.items()}
        args = {k: list(v) for k, v in cls.items()}
        is_id = torch.isin(ind.y, torch.tensor(cls["id_classes"]))
        for name in ("train_mask", "val_mask", "test_mask"):
            ind[name] = ind[name] & is_id
        ood_train = Data(x=ind.x, edge_index=ind.edge_index, y=ind.y, num_nodes=ind.num_nodes,
                         node_mask=torch.isin(ind.y, torch.tensor(cls["ood_train_classes"])))
        ood_test = Data(x=ind.x, edge_index=ind.edge_index, y=ind.y, num_nodes=ind.num_nodes,
                        node_mask=torch.isin(ind.y, torch.tensor(cls["ood_test_classes"])))
    else:
        generator = torch.Generator().manual_seed(int(seed))
        seeds["shift"] = int(seed)
        if shift == "structure":
            p_in, p_out = float(shift_args.get("p_in", 1.5)), float(shift_args.get("p_out", 0.5))
            ood_train, ood_test = (sbm_shift(ind, generator, p_in, p_out) for _ in range(2))
        else:
            ood_train, ood_test = (feature_shift(ind, generator) for _ in range(2))
    setting = OODSetting(ind=ind, ood_train=ood_train, ood_test=[ood_test], shift=shift, seeds=seeds, args=args)
    _check_nonempty(setting, dataset)
    return setting


def _check_nonempty(setting: OODSetting, dataset: str) -> None:
    """Refuse a setting that leaves nothing to train on or score."""
    counts = {
        "in-distribution train": int(setting.ind.train_mask.sum()),
        "in-distribution test": int(setting.ind.test_mask.sum()),
        "OOD-train": int(setting.ood_train.node_mask.sum()),
        **{f"OOD-test {i}": int(g.node_mask.sum()) for i, g in enumerate(setting.ood_test)},
    }
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        raise JobError(
            f"{dataset}: shift {setting.shift!r} leaves no OOD test nodes to compare: no {', '.join(empty)} nodes "
            f"(args {setting.args or '{}'}; node counts {counts}). Choose classes that exist in {dataset} and "
            "overlap its public split."
        )
