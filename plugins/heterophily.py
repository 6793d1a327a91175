"""Heterophilous node-classification datasets and the ``heterophily`` suite.

Paper: Platonov et al., "A critical look at the evaluation of GNNs under
heterophily: are we really making progress?", ICLR 2023.

==================  =======  =========  ========  =======  ========
name                nodes    edges      features  classes  metric
==================  =======  =========  ========  =======  ========
roman-empire        22,662   32,927     300       18       accuracy
amazon-ratings      24,492   93,050     300       5        accuracy
minesweeper         10,000   39,402     7         2        roc_auc
tolokers            11,758   519,000    10        2        roc_auc
questions           48,921   153,540    301       2        roc_auc
chameleon-filtered  890      8,854      2,325     5        accuracy
squirrel-filtered   2,223    46,998     2,089     5        accuracy
chameleon           2,277    31,371     2,325     5        accuracy
squirrel            5,201    198,353    2,089     5        accuracy
==================  =======  =========  ========  =======  ========

Edges are counted undirected. All files share one format (``node_features``,
``node_labels``, ``edges`` stored once, ``train/val/test_masks`` of shape
``(10, N)``), read from ``<data dir>/heterophilous/<name>/raw/<name>.npz`` and
verified against ``datasets/<name>.yaml``; when missing and online, the file is
downloaded from the authors' repository. The unfiltered chameleon and squirrel
are here for ``bench data stats`` (they contain duplicate nodes that leak test
data into training); the suite uses the filtered versions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from bench_gnn import DatasetSpec, SuiteSource, hookimpl
from bench_gnn.data.context import DataContext
from bench_gnn.errors import DataError
from bench_gnn.plugins.cards import card_path

NAMES = (
    "roman-empire", "amazon-ratings", "minesweeper", "tolokers", "questions",
    "chameleon-filtered", "squirrel-filtered", "chameleon", "squirrel",
)
BINARY = {"minesweeper", "tolokers", "questions"}
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


def _loader(name: str):
    file_name = name.replace("-", "_")

    def load(ctx: DataContext) -> Data:
        return read_npz(ctx.raw_file(f"heterophilous/{file_name}/raw/{file_name}.npz"), name)

    return load


@hookimpl
def bench_datasets():
    return [
        DatasetSpec(
            name=name,
            task="node",
            load=_loader(name),
            card=card_path(name),
            metric="roc_auc" if name in BINARY else "accuracy",
            description=f"heterophilous node classification (Platonov et al. 2023): {name}",
        )
        for name in NAMES
    ]


@hookimpl
def bench_suites():
    return [SuiteSource(path=Path(__file__).parent / "suites" / "heterophily.yaml")]
