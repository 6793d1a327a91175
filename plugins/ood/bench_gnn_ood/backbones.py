"""The backbones of the two protocols: GATS's GCN and GAT, GNNSafe's GCN (specs and checks, torch-free; the
modules are in :mod:`bench_gnn_ood.gats_models` and :mod:`bench_gnn_ood.ood_models`)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from bench_gnn import (
    ModelSpec,
    check_choice,
    check_int,
    check_number,
)

if TYPE_CHECKING:
    from bench_gnn import TaskInfo


def build_gats(task: TaskInfo, hparams: Mapping[str, Any]) -> Any:
    from bench_gnn_ood.gats_models import build_gats_model

    return build_gats_model(task, hparams)


def build_gnnsafe(task: TaskInfo, hparams: Mapping[str, Any]) -> Any:
    from bench_gnn_ood.ood_models import build_gnnsafe_gcn

    return build_gnnsafe_gcn(task, hparams)


def model_specs():
    gats = {"hidden": 64, "heads": 8, "dropout": 0.5}
    return [
        ModelSpec(name="GATS-GCN", build=build_gats, defaults={"arch": "GCN", **gats},
                  check=partial(_check_arch, arch="GCN"), description="GATS's 2-layer GCN (hidden 64, dropout 0.5)"),
        ModelSpec(name="GATS-GAT", build=build_gats, defaults={"arch": "GAT", **gats, "hidden": 8},
                  check=partial(_check_arch, arch="GAT"),
                  description="GATS's 2-layer GAT (8 heads × 8 hidden, ELU, dropout 0.5)"),
        ModelSpec(name="GNNSafe-GCN", build=build_gnnsafe, defaults={"hidden": 64, "dropout": 0.0, "use_bn": True},
                  description="GNNSafe's 2-layer GCN backbone (hidden 64, BatchNorm, no dropout)"),
    ]


def _check_arch(hparams: Mapping[str, Any], arch: str) -> None:
    check_choice("arch", hparams["arch"], (arch,))
    check_int("hidden", hparams["hidden"], 1)
    check_int("heads", hparams["heads"], 1)
    check_number("dropout", hparams["dropout"], 0, 1)
