"""The datasets of the ``ood-calibration`` suite (Cora, CiteSeer with GATS's splits, Twitch) and the suite
file (torch-free; the readers are :mod:`bench_gnn_ood.planetoid` and :mod:`bench_gnn_ood.twitch`)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_gnn import (
    DatasetSpec,
    SuiteSource,
)
from bench_gnn_ood import CARDS

if TYPE_CHECKING:
    from bench_gnn import DataContext


def load_planetoid(ctx: DataContext, name: str, gats: bool) -> Any:
    from bench_gnn_ood.planetoid import load_gats, load_public

    return load_gats(ctx, name) if gats else load_public(ctx, name)


def load_twitch(ctx: DataContext) -> Any:
    from bench_gnn_ood.gnnsafe_ood import load_twitch_dataset

    return load_twitch_dataset(ctx)


def dataset_specs():
    specs = []
    for name, title in (("cora", "Cora"), ("citeseer", "CiteSeer")):
        specs.append(DatasetSpec(
            name=name, task="node", load=partial(load_planetoid, name=name, gats=False), card=CARDS / f"{name}.yaml",
            metric="accuracy", description=f"Planetoid {title}, public split, NormalizeFeatures (GNNSafe)"))
        specs.append(DatasetSpec(
            name=f"{name}-gats", task="node", load=partial(load_planetoid, name=name, gats=True),
            card=CARDS / f"{name}-gats.yaml", metric="accuracy",
            description=f"Planetoid {title}, raw features, GATS's 5_3f_85 splits (5 splits × 3 folds)"))
    specs.append(DatasetSpec(
        name="twitch", task="node", load=load_twitch, card=CARDS / "twitch.yaml", metric="roc_auc",
        description="Twitch DE (10/10/80, seed 123) with ENGB, ES, FR, RU for OOD (raw MUSAE files)"))
    return specs


def suite_sources():
    return [SuiteSource(path=Path(__file__).parent / "suites" / "ood-calibration.yaml")]
