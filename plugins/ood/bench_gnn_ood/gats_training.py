"""Backbone training of the GATS calibration protocol (hans66hsu/GATS ``src/train.py``).

Adam, full batch, cross-entropy on the training nodes, up to ``max_epochs``. After every step the model is
evaluated (eval mode) on the validation nodes, and GATS's early-stopping rule applies:

* the checkpoint is replaced when val accuracy >= best accuracy **and** val NLL <= best NLL;
* the patience counter resets when either improves (accuracy >= best **or** NLL <= best), and both bests are then
  updated to the better of old and new; otherwise it grows, and training stops once it reaches ``patience``.

The best checkpoint is restored at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench_gnn import NonFiniteLossError
from bench_gnn_ood.training import TrainResult

__all__ = ["TrainResult", "adam", "train_backbone"]


def adam(params: Any, lr: float, weight_decay: float) -> torch.optim.Adam:
    """``torch.optim.Adam`` with the fused kernel where it applies (CPU/CUDA floating parameters): the same update,
    one kernel instead of a Python loop over parameters (3x less overhead for the tiny calibrators)."""
    params = [p for p in params if p.requires_grad]
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def train_backbone(
    model: nn.Module,
    data: Any,
    train_mask: Tensor,
    val_mask: Tensor,
    *,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    max_epochs: int = 2000,
    patience: int = 100,
    on_epoch: Callable[[], None] | None = None,
) -> TrainResult:
    """Train ``model`` (``model(data) -> logits``) on the nodes of ``train_mask`` [N] with GATS's early stopping.

    Restores the best checkpoint before returning. Raises :class:`NonFiniteLossError` when the training loss is
    NaN or infinite. ``on_epoch()`` is called once per epoch (progress bars).
    """
    start = time.perf_counter()
    train_idx = train_mask.view(-1).nonzero().view(-1)
    val_idx = val_mask.view(-1).nonzero().view(-1)
    y_train, y_val = data.y[train_idx], data.y[val_idx]
    optimizer = adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_acc, best_nll = 0.0, float("inf")
    best_state: dict[str, Tensor] | None = None
    best_epoch, bad, epoch = 0, 0, -1
    for epoch in range(max_epochs):
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data).index_select(0, train_idx), y_train)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"backbone training loss became {loss.item()} at epoch {epoch}")
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(data).index_select(0, val_idx)
            val_acc = float((logits.argmax(dim=1) == y_val).float().mean())
            val_nll = float(F.cross_entropy(logits, y_val))
        if val_acc >= best_acc or val_nll <= best_nll:
            if val_acc >= best_acc and val_nll <= best_nll:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best_epoch = epoch
            best_acc, best_nll = max(best_acc, val_acc), min(best_nll, val_nll)
            bad = 0
        else:
            bad += 1
        if on_epoch is not None:
            on_epoch()
        if bad >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(best_epoch=best_epoch, epochs=epoch + 1, seconds=time.perf_counter() - start, first_epoch=0)
