"""Planetoid Cora / CiteSeer, read offline from their raw files, with the public split or the GATS splits.

Two flavours:

* :func:`load_public`: PyG's ``Planetoid(root, name)`` equivalent (row-normalised features, public split
  140/500/1000 for Cora, 120/500/1000 for CiteSeer), as one mask column ``[N, 1]``.
* :func:`load_gats`: the fixed ``5_3f_85`` calibration splits of GATS (Hsu et al., NeurIPS 2022), 5 splits x 3
  folds = 15 mask columns, column ``c = split * 3 + fold``: validation = fold ``f``, training = the two other folds,
  test = the split's test nodes. Features stay **raw** (binary): GATS passes ``NormalizeFeatures`` but trains on
  ``dataset.data``, which skips the transform, and its reference numbers come from raw features.

Every split and distance file is validated against the graph before it is used (:func:`check_gats_split`), so a
split made for another node order or another graph is refused with a :class:`~bench_gnn.errors.DataError` that
names the file, rather than silently evaluating on the wrong nodes.

:func:`distance_to_train` recomputes GATS's "hop distance to the nearest training node" for any graph (the GATS
calibrator needs it on structure-shifted copies). GATS only distinguishes 0, 1 and "2 or more" hops, so distances
are capped at ``max_hops``; the shipped ``dist_to_train`` files hold exact distances (``inf`` when unreachable) and
are capped the same way when loaded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.io import read_planetoid_data
from torch_geometric.transforms import NormalizeFeatures

from bench_gnn import DataContext, DataError

#: bench name -> (Planetoid folder and file prefix, GATS folder name)
NAMES = {"cora": ("Cora", "Cora"), "citeseer": ("CiteSeer", "Citeseer")}
RAW_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
NUM_SPLITS = 5
NUM_FOLDS = 3
SPLIT_TYPE = "5_3f_85"
#: GATS uses the distance to the training nodes only as 0, 1 or "2 or more" hops.
DIST_CAP = 2


def _check_name(name: str) -> tuple[str, str]:
    if name not in NAMES:
        raise DataError(f"unknown Planetoid dataset {name!r}; expected one of {sorted(NAMES)}")
    return NAMES[name]


def planetoid_raw_paths(name: str) -> list[str]:
    """The 8 raw Planetoid files of ``name`` ("cora" | "citeseer"), relative to the data dir."""
    folder, _ = _check_name(name)
    return [f"planetoid/{folder}/raw/ind.{name}.{suffix}" for suffix in RAW_SUFFIXES]


def gats_split_path(name: str, split: int) -> str:
    """The GATS split file of ``split`` (0..4), relative to the data dir."""
    _, gats = _check_name(name)
    return f"gats/split/{gats}/{SPLIT_TYPE}/{name}_split_{split}.npz"


def gats_dist_path(name: str, split: int, fold: int) -> str:
    """The GATS distance-to-training-node file of ``split`` / ``fold``, relative to the data dir."""
    _, gats = _check_name(name)
    return f"gats/dist_to_train/{gats}/{SPLIT_TYPE}/split_{split}/{name}_dist_to_train_f{fold}.npy"


def _read_raw(ctx: DataContext, name: str) -> Data:
    """Read the verified raw files into PyG's Planetoid ``Data`` (no download, no processed cache)."""
    paths = [ctx.raw_file(p) for p in planetoid_raw_paths(name)]
    folders = {p.parent for p in paths}
    if len(folders) == 1:
        folder = folders.pop()
    else:  # the files came from different places: gather them (links, else copies) in one folder
        folder = ctx.work_dir / "planetoid_raw"
        folder.mkdir(parents=True, exist_ok=True)
        for path in paths:
            target = folder / path.name
            if target.exists() or target.is_symlink():
                target.unlink()
            try:
                os.symlink(path, target)
            except OSError:
                shutil.copyfile(path, target)
    try:
        data = read_planetoid_data(str(folder), name)
    except (OSError, ValueError, EOFError, IndexError) as exc:
        raise DataError(f"dataset {ctx.dataset!r}: cannot read the Planetoid files in {folder}: {exc}") from exc
    data.x = data.x.float()
    return data


def load_public(ctx: DataContext, name: str) -> Data:
    """Planetoid ``name`` with the public split and row-normalised features (PyG's ``NormalizeFeatures``).

    Masks are ``[N, 1]`` (one split). ``data.name`` is ``name``.
    """
    data = _read_raw(ctx, name)
    data = NormalizeFeatures()(data)
    for key in ("train_mask", "val_mask", "test_mask"):
        data[key] = data[key].view(-1, 1)
    data.name = name
    return data


def _load_npz(path: Path, shown: str) -> tuple[np.ndarray, np.ndarray]:
    # allow_pickle: CiteSeer's folds have unequal sizes (166/166/165) and are stored as an object array. The file
    # was verified against the card's sha256 by DataContext.raw_file before it gets here.
    try:
        with np.load(path, allow_pickle=True) as raw:
            missing = [k for k in ("k_fold_indices", "test_indices") if k not in raw.files]
            if missing:
                raise DataError(
                    f"{shown}: lacks array(s) {missing} (has {sorted(raw.files)}); is it a GATS split file?"
                )
            return raw["k_fold_indices"], raw["test_indices"]
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{shown}: cannot read it as a GATS split .npz ({exc})") from exc


def _as_index_array(value: object, what: str, shown: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object:
        try:
            array = array.astype(np.int64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{shown}: {what} must hold integer node ids ({exc})") from exc
    if array.ndim != 1:
        raise DataError(f"{shown}: {what} must be one-dimensional, got shape {list(array.shape)}")
    if array.size == 0:
        raise DataError(f"{shown}: {what} is empty")
    if not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{shown}: {what} must hold integer node ids, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _examples(values: np.ndarray, k: int = 3) -> str:
    return ", ".join(str(int(v)) for v in values[:k])


def check_gats_split(
    path: str | Path, k_fold_indices: object, test_indices: object, num_nodes: int, num_folds: int = NUM_FOLDS
) -> tuple[list[np.ndarray], np.ndarray]:
    """Validate one GATS split against a graph of ``num_nodes`` nodes; return ``(folds, test)`` as int64 arrays.

    ``k_fold_indices`` is ``[num_folds, n]`` or an object array of ``num_folds`` 1-D arrays (unequal fold sizes);
    ``test_indices`` is 1-D. Refused, with a :class:`DataError` naming ``path`` and the problem: a wrong shape or
    dtype, an index outside ``[0, num_nodes)``, a node listed twice in one fold or in the test set, and a node
    shared by two folds or by a fold and the test set.
    """
    shown = str(path)
    folds_raw = np.asarray(k_fold_indices) if not isinstance(k_fold_indices, Sequence) else k_fold_indices
    if isinstance(folds_raw, np.ndarray) and folds_raw.dtype != object and folds_raw.ndim != 2:
        raise DataError(
            f"{shown}: k_fold_indices must have shape [{num_folds}, n] (one row per fold), got {list(folds_raw.shape)}"
        )
    if len(folds_raw) != num_folds:
        raise DataError(f"{shown}: k_fold_indices has {len(folds_raw)} folds, expected {num_folds}")
    folds = [_as_index_array(f, f"k_fold_indices[{i}]", shown) for i, f in enumerate(folds_raw)]
    test = _as_index_array(test_indices, "test_indices", shown)
    named = [(f"k_fold_indices[{i}]", f) for i, f in enumerate(folds)] + [("test_indices", test)]
    for what, idx in named:
        bad = idx[(idx < 0) | (idx >= num_nodes)]
        if bad.size:
            raise DataError(
                f"{shown}: {what} has {bad.size} node id(s) outside [0, {num_nodes}) (e.g. {_examples(bad)}); "
                "the split does not match this graph"
            )
        uniq, counts = np.unique(idx, return_counts=True)
        dups = uniq[counts > 1]
        if dups.size:
            raise DataError(f"{shown}: {what} lists {dups.size} node(s) more than once (e.g. {_examples(dups)})")
    for a in range(len(named)):
        for b in range(a + 1, len(named)):
            shared = np.intersect1d(named[a][1], named[b][1])
            if shared.size:
                raise DataError(
                    f"{shown}: {named[b][0]} and {named[a][0]} share {shared.size} node(s) (e.g. {_examples(shared)}); "
                    "the split does not match this graph"
                )
    return folds, test


def _read_dist(ctx: DataContext, rel: str, num_nodes: int, train_mask: Tensor) -> Tensor:
    path = ctx.raw_file(rel)
    try:
        dist = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{rel}: cannot read it as a .npy array ({exc})") from exc
    if dist.ndim != 1 or dist.shape[0] != num_nodes:
        raise DataError(f"{rel}: has shape {list(dist.shape)}, expected [{num_nodes}] (one distance per node)")
    if not np.issubdtype(dist.dtype, np.number):
        raise DataError(f"{rel}: distances must be numbers, got dtype {dist.dtype}")
    finite = np.isfinite(dist)
    if np.isnan(dist).any() or (dist < 0).any() or (dist[finite] != np.round(dist[finite])).any():
        raise DataError(f"{rel}: distances must be non-negative whole numbers or inf")
    capped = torch.from_numpy(np.minimum(dist.astype(np.float64), DIST_CAP)).long()
    at_zero = capped == 0
    if not torch.equal(at_zero, train_mask):
        wrong = (at_zero != train_mask).nonzero().view(-1)
        raise DataError(
            f"{rel}: distance 0 marks {int(at_zero.sum())} nodes but the split trains on {int(train_mask.sum())} "
            f"({wrong.numel()} nodes differ, e.g. {_examples(wrong.numpy())}); the file does not match the split"
        )
    return capped


def load_gats(ctx: DataContext, name: str) -> Data:
    """Planetoid ``name`` with GATS's 15 calibration split columns and **raw** (unnormalised) features.

    Masks ``train_mask``/``val_mask``/``test_mask`` are ``[N, 15]`` bool, column ``c = split * 3 + fold``;
    ``data.dist_to_train`` is ``[N, 15]`` long (0, 1, or 2 meaning "2 or more hops / unreachable").
    """
    data = _read_raw(ctx, name)
    num_nodes = int(data.num_nodes)
    columns = NUM_SPLITS * NUM_FOLDS
    train = torch.zeros(num_nodes, columns, dtype=torch.bool)
    val = torch.zeros_like(train)
    test = torch.zeros_like(train)
    dist = torch.zeros(num_nodes, columns, dtype=torch.long)
    for split in range(NUM_SPLITS):
        rel = gats_split_path(name, split)
        folds_raw, test_raw = _load_npz(ctx.raw_file(rel), rel)
        folds, test_idx = check_gats_split(rel, folds_raw, test_raw, num_nodes)
        for fold in range(NUM_FOLDS):
            c = split * NUM_FOLDS + fold
            val[torch.from_numpy(folds[fold]), c] = True
            for other in range(NUM_FOLDS):
                if other != fold:
                    train[torch.from_numpy(folds[other]), c] = True
            test[torch.from_numpy(test_idx), c] = True
            dist[:, c] = _read_dist(ctx, gats_dist_path(name, split, fold), num_nodes, train[:, c])
    data.train_mask, data.val_mask, data.test_mask = train, val, test
    data.dist_to_train = dist
    data.name = ctx.dataset
    return data


def distance_to_train(edge_index: Tensor, train_mask: Tensor, num_nodes: int, max_hops: int = DIST_CAP) -> Tensor:
    """Hop distance of every node to the nearest training node, capped at ``max_hops``: LongTensor ``[N]``.

    0 for training nodes, ``h < max_hops`` for nodes ``h`` hops away (following edges source -> target, as GATS's
    BFS does), and ``max_hops`` for nodes further away or unreachable. Vectorised BFS: ``max_hops - 1`` frontier
    expansions over the edge list, no loop over nodes.
    """
    if max_hops < 1:
        raise ValueError(f"max_hops must be >= 1, got {max_hops}")
    train_mask = train_mask.to(torch.bool).view(-1)
    if train_mask.numel() != num_nodes:
        raise ValueError(f"train_mask has {train_mask.numel()} entries for a graph of {num_nodes} nodes")
    device = train_mask.device
    dist = torch.full((num_nodes,), max_hops, dtype=torch.long, device=device)
    dist[train_mask] = 0
    reached = train_mask.clone()
    frontier = train_mask
    src, dst = edge_index[0].to(device), edge_index[1].to(device)
    for hop in range(1, max_hops):
        nxt = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        nxt[dst[frontier[src]]] = True
        frontier = nxt & ~reached
        dist[frontier] = hop
        reached |= frontier
    return dist
