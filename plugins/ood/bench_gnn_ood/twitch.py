"""Twitch (MUSAE) graphs read offline from the raw files, and GNNSafe's Twitch OOD setting.

Files (``datasets/twitch.yaml``), as LINKX's ``load_twitch(lang)`` reads them (CUAI/Non-Homophily-Large-Scale
``load_data.py``): ``twitch/<LANG>/musae_<LANG>_target.csv`` (header ``id,days,mature,views,partner,new_id``;
node id = ``new_id``, label = ``mature == "True"``; FR repeats two ``new_id`` rows, of which the first is kept,
as in LINKX), ``musae_<LANG>_edges.csv`` (``from,to``, each undirected edge once; stored here in both
directions) and ``musae_<LANG>_features.json`` (``{node id: [active feature ids]}``, ids below 3170; ids of
nodes beyond the target file are ignored, as in LINKX). Features are the 3,170 binary game indicators in one
common column space for every language (LINKX drops all-zero columns per language, which would give each
graph its own width and so cannot feed one model across graphs).

GNNSafe (qitianwu/GraphOOD-GNNSafe@ba73d8fd ``dataset.py``/``main.py``) uses PyG's ``Twitch`` graphs instead
(128-d features, a different release): DE is in-distribution with a random 10/10/80 train/val/test split
(``rand_splits``, seed 123), EN is the OOD exposure graph, ES, FR and RU are the OOD test graphs (all nodes
OOD), features row-normalised (``NormalizeFeatures``). :func:`twitch_setting` builds the same setting on these
files: an approximation, not comparable with the published numbers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from bench_gnn import DataContext, DataError
from bench_gnn_ood.shifts import OODSetting

__all__ = [
    "FEATURES",
    "LANGS",
    "SETTING_LANGS",
    "load_twitch",
    "load_twitch_graph",
    "normalize_rows",
    "twitch_raw_paths",
    "twitch_setting",
]

LANGS = ("DE", "ENGB", "ES", "FR", "PTBR", "RU")
#: The languages GNNSafe's setting uses (PyG calls ENGB "EN"), and those the card lists.
SETTING_LANGS = ("DE", "ENGB", "ES", "FR", "RU")
FEATURES = 3170
_TARGET_HEADER = ["id", "days", "mature", "views", "partner", "new_id"]


def twitch_raw_paths(lang: str) -> list[str]:
    """The three raw files of ``lang``, relative to the data dir."""
    if lang not in LANGS:
        raise DataError(f"unknown Twitch language {lang!r}; expected one of {', '.join(LANGS)}")
    return [f"twitch/{lang}/musae_{lang}_{part}" for part in ("target.csv", "edges.csv", "features.json")]


def _read_targets(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Node ids (``new_id``, first occurrence) and their labels, in file order."""
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != _TARGET_HEADER:
                raise DataError(f"{path}: header {header} is not the MUSAE target header {_TARGET_HEADER}")
            ids: list[int] = []
            labels: list[int] = []
            seen: set[int] = set()
            for line, row in enumerate(reader, start=2):
                if len(row) != len(_TARGET_HEADER):
                    raise DataError(f"{path}:{line}: {len(row)} fields, expected {len(_TARGET_HEADER)}")
                node = int(row[5])
                if node not in seen:  # FR repeats some new_id rows: keep the first, as LINKX does
                    seen.add(node)
                    ids.append(node)
                    labels.append(int(row[2] == "True"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read Twitch targets {path}: {exc}") from exc
    return np.asarray(ids, dtype=np.int64), np.asarray(labels, dtype=np.int64)


def _read_edges(path: Path, n: int) -> Tensor:
    try:
        edges = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read Twitch edges {path}: {exc}") from exc
    if edges.shape[1] != 2 or (edges.size and (edges.min() < 0 or edges.max() >= n)):
        raise DataError(f"{path}: edges must be pairs of node ids in 0..{n - 1}")
    return torch.from_numpy(edges.T.copy())


def _read_features(path: Path, n: int) -> Tensor:
    try:
        with path.open() as f:
            raw = json.load(f)
        x = torch.zeros(n, FEATURES)
        for node, feats in raw.items():
            i = int(node)
            if i >= n:  # LINKX ignores feature rows of nodes beyond the target file
                continue
            cols = torch.as_tensor(feats, dtype=torch.long)
            if cols.numel() and (int(cols.min()) < 0 or int(cols.max()) >= FEATURES):
                raise DataError(f"{path}: node {node} has feature ids outside 0..{FEATURES - 1}")
            x[i, cols] = 1.0
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"cannot read Twitch features {path}: {exc}") from exc
    return x


def load_twitch_graph(folder: Path, lang: str) -> Data:
    """One MUSAE graph from ``folder/<lang>/musae_<lang>_*``: binary ``x`` [N, 3170], ``y`` [N], edges both ways."""
    folder = Path(folder)
    target, edges, features = (folder / p.split("/", 1)[1] for p in twitch_raw_paths(lang))
    for path in (target, edges, features):
        if not path.is_file():
            raise DataError(f"Twitch {lang}: raw file {path} is missing")
    ids, labels = _read_targets(target)
    n = ids.shape[0]
    if not np.array_equal(np.sort(ids), np.arange(n)):
        raise DataError(f"{target}: new_id values are not 0..{n - 1} (got {n} distinct ids up to {ids.max()})")
    y = torch.zeros(n, dtype=torch.long)
    y[torch.from_numpy(ids)] = torch.from_numpy(labels)
    edge_index = to_undirected(_read_edges(edges, n), num_nodes=n)
    return Data(x=_read_features(features, n), edge_index=edge_index, y=y, num_nodes=n)


def load_twitch(ctx: DataContext, langs: tuple[str, ...] = SETTING_LANGS) -> dict[str, Data]:
    """The Twitch graphs of ``langs`` (default DE, ENGB, ES, FR, RU) from files verified against the card."""
    graphs = {}
    for lang in langs:
        paths = [ctx.raw_file(p) for p in twitch_raw_paths(lang)]
        folders = {p.parent for p in paths}
        if len(folders) != 1:
            raise DataError(f"Twitch {lang}: raw files came from different folders: {sorted(map(str, folders))}")
        graphs[lang] = load_twitch_graph(folders.pop().parent, lang)
    return graphs


def normalize_rows(x: Tensor) -> Tensor:
    """PyG's ``NormalizeFeatures``: every row divided by its sum (all-zero rows stay zero)."""
    return x / x.sum(dim=-1, keepdim=True).clamp(min=1.0)


def _graph(graphs: Mapping[str, Data], *names: str) -> Data:
    for name in names:
        if name in graphs:
            return graphs[name]
    raise DataError(f"Twitch setting needs the {names[0]} graph; got {', '.join(sorted(graphs)) or 'none'}")


def twitch_setting(graphs: Mapping[str, Data], seed: int = 123) -> OODSetting:
    """GNNSafe's Twitch setting: DE in-distribution (random 10/10/80 split), EN OOD-train, ES/FR/RU OOD-test.

    Features are row-normalised as GNNSafe's ``NormalizeFeatures`` does. The split is drawn from a
    ``torch.Generator`` seeded with ``seed`` (GNNSafe: numpy with seed 123), recorded in ``seeds["split"]``.
    """
    de = _graph(graphs, "DE")
    n = int(de.num_nodes)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    n_train, n_val = int(n * 0.1), int(n * 0.1)
    masks = {}
    for name, idx in (("train_mask", perm[:n_train]), ("val_mask", perm[n_train:n_train + n_val]),
                      ("test_mask", perm[n_train + n_val:])):
        masks[name] = torch.zeros(n, dtype=torch.bool)
        masks[name][idx] = True
    ind = Data(x=normalize_rows(de.x), edge_index=de.edge_index, y=de.y, num_nodes=n, **masks)

    def ood(graph: Data) -> Data:
        m = int(graph.num_nodes)
        return Data(x=normalize_rows(graph.x), edge_index=graph.edge_index, y=graph.y, num_nodes=m,
                    node_mask=torch.ones(m, dtype=torch.bool))

    return OODSetting(
        ind=ind,
        ood_train=ood(_graph(graphs, "ENGB", "EN")),
        ood_test=[ood(_graph(graphs, lang)) for lang in ("ES", "FR", "RU")],
        shift="twitch",
        seeds={"split": int(seed)},
        args={"ind": "DE", "ood_train": "ENGB", "ood_test": ["ES", "FR", "RU"]},
    )
