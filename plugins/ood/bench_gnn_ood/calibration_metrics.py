"""Calibration metrics of node classifiers: nodewise ECE/MCE/NLL/Brier/accuracy and edgewise ECE.

Definitions follow PROTOCOLS.md "Calibration and OOD" and the authors' code:

* **ECE** (GATS): top-label confidence, 15 equal-width bins (bin ``floor(15 conf)``, conf 1 in the last), L1:
  ``sum_b (n_b / N) |acc_b - conf_b|``. This is torchmetrics ``MulticlassCalibrationError(n_bins=15, norm="l1")``
  and GATS's ``ECE``, computed here in float64 (torchmetrics works in float32: differences ~1e-7; a test checks the
  two agree). **MCE**: the largest ``|acc_b - conf_b|`` over non-empty bins (torchmetrics ``norm="max"``).
* **NLL**: mean ``-log p_y``. **Brier**: mean over nodes of ``sum_c (p_c - onehot_c)^2`` -- GATS's
  ``NodewiseBrier`` (``mean(sum p^2 - 2 p_y) + 1``) is this quantity, not divided by the number of classes.
* **Edgewise ECE** (structured uncertainty, Hsu et al.): edges with both endpoints in the mask, confidence
  ``conf_i * conf_j``, correct when both endpoint predictions are; same 15-bin L1 ECE over edges. ``agree`` /
  ``disagree``: the edges whose endpoints have equal / different true labels. Edges are taken as ``edge_index``
  lists them, as the reference code does: a symmetric ``edge_index`` counts each undirected edge twice, which gives
  the same ECE as counting it once (every bin's count doubles). No such edge -> ``nan`` for that metric.

All values are fractions (not x100), computed in float64 on CPU, deterministic.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

N_BINS = 15

__all__ = ["N_BINS", "binned_ece", "calibration_metrics", "reliability"]


def _prepare(probs: Tensor, labels: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    if probs.dim() != 2:
        raise ValueError(f"probs must be [N, C], got shape {list(probs.shape)}")
    n = probs.shape[0]
    labels = labels.view(-1)
    mask = mask.view(-1).to(torch.bool)
    if labels.numel() != n or mask.numel() != n:
        raise ValueError(f"probs has {n} rows but labels has {labels.numel()} and mask {mask.numel()} entries")
    return probs.detach().to("cpu", torch.float64), labels.detach().to("cpu", torch.long), mask.detach().cpu()


def _bins(conf: Tensor, correct: Tensor, n_bins: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-bin sums of confidence and correctness and counts; bin = floor(conf * n_bins), conf 1 in the last bin."""
    idx = (conf * n_bins).long().clamp_(0, n_bins - 1)
    count = torch.bincount(idx, minlength=n_bins).to(torch.float64)
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx, conf.to(torch.float64))
    acc_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx, correct.to(torch.float64))
    return conf_sum, acc_sum, count


def binned_ece(conf: Tensor, correct: Tensor, n_bins: int = N_BINS, norm: str = "l1") -> float:
    """Equal-width binned calibration error of confidences ``conf`` [M] against 0/1 ``correct`` [M].

    ``norm="l1"``: ECE; ``norm="max"``: MCE. ``nan`` when ``M == 0``.
    """
    if conf.numel() == 0:
        return float("nan")
    conf_sum, acc_sum, count = _bins(conf, correct, n_bins)
    nonempty = count > 0
    gap = (conf_sum[nonempty] - acc_sum[nonempty]).abs() / count[nonempty]
    if norm == "max":
        return float(gap.max())
    if norm != "l1":
        raise ValueError(f"norm must be 'l1' or 'max', got {norm!r}")
    return float((gap * count[nonempty]).sum() / count.sum())


def calibration_metrics(probs: Tensor, labels: Tensor, edge_index: Tensor, mask: Tensor) -> dict[str, float]:
    """Nodewise and edgewise calibration metrics of ``probs`` [N, C] on the nodes of ``mask`` [N] (bool).

    Keys: ``ece``, ``mce``, ``nll``, ``brier``, ``acc``, ``edge_ece``, ``edge_ece_agree``, ``edge_ece_disagree``;
    unscaled fractions. Node metrics are ``nan`` for an empty mask; an edge metric is ``nan`` when no edge of
    its kind has both endpoints in the mask.
    """
    probs, labels, mask = _prepare(probs, labels, mask)
    nan = float("nan")
    out: dict[str, float] = dict.fromkeys(
        ("ece", "mce", "nll", "brier", "acc", "edge_ece", "edge_ece_agree", "edge_ece_disagree"), nan
    )
    conf_all, pred_all = probs.max(dim=1)
    correct_all = pred_all == labels
    p, y = probs[mask], labels[mask]
    if p.shape[0] > 0:
        out["ece"] = binned_ece(conf_all[mask], correct_all[mask])
        out["mce"] = binned_ece(conf_all[mask], correct_all[mask], norm="max")
        p_y = p.gather(1, y.view(-1, 1)).view(-1)
        out["nll"] = float(-p_y.clamp_min(torch.finfo(torch.float64).tiny).log().mean())
        out["brier"] = float((p.square().sum(dim=1) - 2.0 * p_y + 1.0).mean())
        out["acc"] = float(correct_all[mask].to(torch.float64).mean())
    ei = edge_index.detach().cpu().long()
    if ei.numel():
        both = mask[ei[0]] & mask[ei[1]]
        src, dst = ei[0][both], ei[1][both]
        edge_conf = conf_all[src] * conf_all[dst]
        edge_correct = correct_all[src] & correct_all[dst]
        agree = labels[src] == labels[dst]
        out["edge_ece"] = binned_ece(edge_conf, edge_correct)
        out["edge_ece_agree"] = binned_ece(edge_conf[agree], edge_correct[agree])
        out["edge_ece_disagree"] = binned_ece(edge_conf[~agree], edge_correct[~agree])
    return out


def reliability(probs: Tensor, labels: Tensor, mask: Tensor, n_bins: int = N_BINS) -> dict[str, Any]:
    """Reliability-diagram data on the masked nodes: per equal-width bin, mean confidence, accuracy and count.

    Returns ``{"bin_edges": [n_bins + 1 floats], "confidence": [...], "accuracy": [...], "count": [...]}``;
    empty bins have ``None`` confidence and accuracy (JSON-safe).
    """
    probs, labels, mask = _prepare(probs, labels, mask)
    conf, pred = probs[mask].max(dim=1)
    conf_sum, acc_sum, count = _bins(conf, pred == labels[mask], n_bins)
    counts = [int(c) for c in count]
    return {
        "bin_edges": [i / n_bins for i in range(n_bins + 1)],
        "confidence": [float(s / c) if c else None for s, c in zip(conf_sum, counts)],
        "accuracy": [float(s / c) if c else None for s, c in zip(acc_sum, counts)],
        "count": counts,
    }
