"""OOD-detection metrics of the GNNSafe protocol, as unscaled fractions.

In-distribution nodes are the positive class and scores are in-distribution-high.

* ``auroc``: area under the ROC curve (torchmetrics ``BinaryAUROC``, equal to sklearn's).
* ``aupr``: average precision with in-distribution positive, "AUPR-In" (torchmetrics
  ``BinaryAveragePrecision``, equal to sklearn's ``average_precision_score``).
* ``fpr95``: the share of OOD nodes accepted at the highest threshold that accepts at least 95% of the
  in-distribution nodes, ``1 - BinarySpecificityAtSensitivity(0.95)``.
* ``fpr95_gnnsafe``: GNNSafe's variant (Hendrycks et al.'s ``fpr_and_fdr_at_recall``, in
  ``GNNSafe/data_utils.py``): over the distinct score thresholds, from the one that first reaches full
  recall upwards, take the threshold whose recall is NEAREST to 0.95 (ties: the higher recall), and return the
  share of OOD nodes scoring at or above it. Its recall may fall below 0.95, so it can be lower or higher
  than ``fpr95``.

torchmetrics passes scores outside [0, 1] through a sigmoid, which in float32 turns large scores (energies
of 15 and more) into ties. The scores are therefore replaced by their dense ranks scaled into [0, 1], which
leaves every metric unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_specificity_at_sensitivity,
)

from bench_gnn import JobError

__all__ = ["fpr_at_recall_gnnsafe", "ood_metrics"]

RECALL_LEVEL = 0.95


def _check(id_scores: Tensor, ood_scores: Tensor) -> tuple[Tensor, Tensor]:
    """Flatten both sides to float64 and refuse empty, NaN and constant scores."""
    id_scores = torch.as_tensor(id_scores).detach().reshape(-1).double().cpu()
    ood_scores = torch.as_tensor(ood_scores).detach().reshape(-1).double().cpu()
    for side, scores in (("in-distribution", id_scores), ("OOD", ood_scores)):
        if scores.numel() == 0:
            raise JobError(f"OOD metrics: no {side} scores (empty node set)")
        if torch.isnan(scores).any():
            raise JobError(f"OOD metrics: {int(torch.isnan(scores).sum())} {side} scores are NaN")
    both = torch.cat([id_scores, ood_scores])
    if bool((both == both[0]).all()):
        raise JobError(f"OOD metrics: all {both.numel()} scores equal {float(both[0])!r}: the detector is constant")
    return id_scores, ood_scores


def fpr_at_recall_gnnsafe(id_scores: Tensor, ood_scores: Tensor, recall_level: float = RECALL_LEVEL) -> float:
    """GNNSafe's FPR at the threshold whose in-distribution recall is nearest ``recall_level``."""
    scores = torch.cat([id_scores, ood_scores]).double()
    positive = torch.cat([torch.ones(id_scores.numel()), torch.zeros(ood_scores.numel())]).double()
    order = torch.argsort(scores, descending=True, stable=True)
    scores, positive = scores[order], positive[order]
    # the last position of every run of equal scores: one point per distinct threshold
    last = torch.nonzero(scores[1:] != scores[:-1]).view(-1)
    last = torch.cat([last, torch.tensor([scores.numel() - 1])])
    tps = torch.cumsum(positive, 0)[last]
    fps = (last + 1).double() - tps
    recall = tps / tps[-1]
    full = int(torch.nonzero(tps == tps[-1])[0])  # first threshold reaching full recall
    recall, fps = recall[: full + 1].flip(0), fps[: full + 1].flip(0)  # from full recall upwards
    cutoff = int(torch.argmin((recall - recall_level).abs()))  # first minimum: the higher recall on ties
    return float(fps[cutoff] / ood_scores.numel())


def _dense_rank01(scores: Tensor) -> Tensor:
    """Dense ranks of ``scores`` scaled into [0, 1] (order and ties kept)."""
    _, rank = torch.unique(scores, sorted=True, return_inverse=True)
    return rank.double() / max(int(rank.max()), 1)


def ood_metrics(id_scores: Tensor, ood_scores: Tensor) -> dict[str, float]:
    """``auroc``, ``aupr``, ``fpr95`` and ``fpr95_gnnsafe`` (fractions) for in-distribution-high scores.

    Raises :class:`JobError` if either side is empty, any score is NaN, or all scores are equal.
    """
    id_scores, ood_scores = _check(id_scores, ood_scores)
    preds = _dense_rank01(torch.cat([id_scores, ood_scores]))
    target = torch.cat([torch.ones(id_scores.numel()), torch.zeros(ood_scores.numel())]).long()
    specificity, _ = binary_specificity_at_sensitivity(preds, target, min_sensitivity=RECALL_LEVEL)
    return {
        "auroc": float(binary_auroc(preds, target)),
        "aupr": float(binary_average_precision(preds, target)),
        "fpr95": float(1.0 - specificity),
        "fpr95_gnnsafe": fpr_at_recall_gnnsafe(id_scores, ood_scores),
    }
