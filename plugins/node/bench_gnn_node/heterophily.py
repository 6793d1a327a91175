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

This module (the ``heterophily`` entry point) imports neither numpy nor torch; the reader is
:func:`bench_gnn_node.npz.read_npz`, imported when a dataset is loaded.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from bench_gnn import DataContext, DatasetSpec, SuiteSource
from bench_gnn_node import CARDS

NAMES = (
    "roman-empire", "amazon-ratings", "minesweeper", "tolokers", "questions",
    "chameleon-filtered", "squirrel-filtered", "chameleon", "squirrel",
)
BINARY = {"minesweeper", "tolokers", "questions"}


def load(ctx: DataContext, name: str) -> Any:
    """Dataset ``name`` as a PyG ``Data``, from ``<data dir>/heterophilous/<file>/raw/<file>.npz``."""
    from bench_gnn_node.npz import read_npz

    file_name = name.replace("-", "_")
    return read_npz(ctx.raw_file(f"heterophilous/{file_name}/raw/{file_name}.npz"), name)


def dataset_specs():
    return [
        DatasetSpec(
            name=name,
            task="node",
            load=partial(load, name=name),
            card=CARDS / f"{name}.yaml",
            metric="roc_auc" if name in BINARY else "accuracy",
            description=f"heterophilous node classification (Platonov et al. 2023): {name}",
        )
        for name in NAMES
    ]


def suite_sources():
    return [SuiteSource(path=Path(__file__).parent / "suites" / "heterophily.yaml")]
