"""What the OOD family's training loops return (:func:`bench_gnn_ood.gats_training.train_backbone`,
:func:`bench_gnn_ood.ood_training.train_ood`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TrainResult"]


@dataclass(frozen=True)
class TrainResult:
    """The epoch ``best_epoch`` whose state was restored, counted from ``first_epoch`` (the number the loop gives
    its first epoch: 0 for GATS's backbone training, 1 for GNNSafe's, as the references count and as the records'
    ``best_step`` keeps them), ``epochs`` run, wall ``seconds``, and the restored epoch's validation loss where the
    loop selects on it."""

    best_epoch: int
    epochs: int
    seconds: float
    first_epoch: int
    val_loss: float = math.nan
