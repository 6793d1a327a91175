"""Reading the heterophilous-graph ``.npz`` files (Platonov et al. 2023) into PyG ``Data``.

Imported by :mod:`bench_gnn_node.heterophily` when a dataset is loaded; the file format is
described there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from bench_gnn import DataError

KEYS = ("node_features", "node_labels", "edges", "train_masks", "val_masks", "test_masks")


def read_npz(path: Path, name: str) -> Data:
    """Read one heterophilous ``.npz`` into a PyG ``Data`` with ``[N, 10]`` split masks."""
    try:
        with np.load(path) as raw:
            missing = [k for k in KEYS if k not in raw]
            if missing:
                raise DataError(f"dataset {name!r}: {path} lacks arrays {missing}; is it the right file?")
            arrays = {k: raw[k] for k in KEYS}
    except (OSError, ValueError) as exc:
        raise DataError(f"dataset {name!r}: cannot read {path} as .npz ({exc}); replace the file") from exc
    x = torch.from_numpy(arrays["node_features"]).float()
    edges = torch.from_numpy(arrays["edges"]).long().t().contiguous()
    data = Data(
        x=x,
        y=torch.from_numpy(arrays["node_labels"]).long(),
        edge_index=to_undirected(edges, num_nodes=x.size(0)),
        train_mask=torch.from_numpy(arrays["train_masks"]).bool().t().contiguous(),
        val_mask=torch.from_numpy(arrays["val_masks"]).bool().t().contiguous(),
        test_mask=torch.from_numpy(arrays["test_masks"]).bool().t().contiguous(),
    )
    return data
