"""Training regimes of the GNNSafe protocol (full batch, Adam, best epoch by in-distribution validation loss).

Reference: qitianwu/GraphOOD-GNNSafe@ba73d8fd ``GNNSafe/main.py`` (training loop), ``GNNSafe/gnnsafe.py``
(``GNNSafe.loss_compute``) and ``GNNSafe/baselines.py`` (``MSP``/``ODIN``/``Mahalanobis``/``OE.loss_compute``).

Regimes (``CE`` = cross-entropy on the in-distribution training nodes)

    ==========  ==========================================================  =========================
    regime      loss                                                        used by
    ==========  ==========================================================  =========================
    plain       CE; the OOD graph is never seen                             MSP, ODIN, Mahalanobis
    energy      CE, and the OOD-train graph is forwarded in train mode       Energy, GNNSafe
    oe          CE + oe_weight * CE-to-uniform on OOD-train nodes            OE
    energy_ft   CE + lam * reg(E_in, E_out)                                  Energy-FT
    gnnsafe++   CE + lam * reg(propagated E_in, propagated E_out)            GNNSafe++
    ==========  ==========================================================  =========================

    ``reg = mean(relu(E_in - m_in)^2 + relu(m_out - E_out)^2)`` with ``E = -T logsumexp(logits / T)``.

The "energy" regime is not "plain": GNNSafe's model always runs the encoder on the OOD-train graph in train
mode (even without the regulariser), which updates BatchNorm's running statistics; the reference's Energy and
GNNSafe numbers come from that model. As in the reference, the in-distribution graph is forwarded first.

The regulariser follows the reference's pairing: ``E_in`` over the in-distribution training nodes and
``E_out`` over the OOD-train nodes, each (after propagation for GNNSafe++) taken in node order and truncated to
the shorter of the two, then averaged over the pairs. Deviation: for Energy-FT (no propagation) the reference
indexes ``E_out`` with the in-distribution training indices (``energy_out[train_in_idx]``), i.e. arbitrary OOD-
graph nodes, and under label shift the in-distribution training nodes themselves; here ``E_out`` is taken over
the OOD-train nodes, as for GNNSafe++ and as the paper describes.

Each epoch ends with an evaluation pass (eval mode) on the in-distribution graph; the state (weights and
BatchNorm statistics) of the epoch with the lowest validation cross-entropy (first one on ties) is restored at
the end, as the reference reports the epoch of minimal validation loss.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from bench_gnn import ConfigError, JobError, NonFiniteLossError, unknown_name
from bench_gnn_ood.detectors import propagate
from bench_gnn_ood.ood_models import GNNSafeGCN
from bench_gnn_ood.shifts import OODSetting
from bench_gnn_ood.training import TrainResult

__all__ = ["REGIMES", "TrainResult", "energy_regulariser", "train_ood"]

REGIMES = ("plain", "energy", "oe", "energy_ft", "gnnsafe++")


def energy_regulariser(e_in: Tensor, e_out: Tensor, m_in: float, m_out: float) -> Tensor:
    """``mean(relu(e_in - m_in)^2 + relu(m_out - e_out)^2)`` over pairs, truncated to the shorter side."""
    n = min(e_in.shape[0], e_out.shape[0])
    return torch.mean(F.relu(e_in[:n] - m_in) ** 2 + F.relu(m_out - e_out[:n]) ** 2)


def _snapshot(model: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _labels(setting: OODSetting) -> Tensor:
    return setting.ind.y.view(-1).long()


def train_ood(
    model: GNNSafeGCN,
    setting: OODSetting,
    *,
    regime: str,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float = 0.01,
    m_in: float = -5.0,
    m_out: float = -1.0,
    lam: float = 0.01,
    T: float = 1.0,
    oe_weight: float = 0.5,
    K: int = 2,
    alpha: float = 0.5,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place under ``regime`` and restore its best epoch; see the module docstring.

    ``on_epoch(epoch, train_loss, val_loss)`` is called after every epoch (1-based). Raises
    :class:`NonFiniteLossError` on a NaN or infinite loss and :class:`ConfigError` for an unknown regime.
    """
    if regime not in REGIMES:
        raise ConfigError(str(unknown_name("OOD training regime", regime, REGIMES)))
    if epochs < 1:
        raise ConfigError(f"train_ood: epochs must be at least 1, got {epochs}")
    ind, ood = setting.ind, setting.ood_train
    y = _labels(setting)
    train, val = ind.train_mask.view(-1).bool(), ind.val_mask.view(-1).bool()
    if not bool(train.any()) or not bool(val.any()):
        raise JobError(f"train_ood: shift {setting.shift!r} leaves no in-distribution training or validation nodes")
    ood_mask = ood.node_mask.view(-1).bool()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_loss, best_epoch, best_state = math.inf, 0, _snapshot(model)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        logits_in = model(ind)
        loss = F.cross_entropy(logits_in[train], y[train])
        if regime != "plain":
            logits_out = model(ood)  # train mode: updates BatchNorm statistics even when unused below
            if regime == "oe":
                out = logits_out[ood_mask]
                loss = loss + oe_weight * -(out.mean(dim=1) - torch.logsumexp(out, dim=1)).mean()
            elif regime in ("energy_ft", "gnnsafe++"):
                e_in = -T * torch.logsumexp(logits_in / T, dim=-1)
                e_out = -T * torch.logsumexp(logits_out / T, dim=-1)
                if regime == "gnnsafe++":
                    e_in = propagate(e_in, ind.edge_index, int(ind.num_nodes), K, alpha)
                    e_out = propagate(e_out, ood.edge_index, int(ood.num_nodes), K, alpha)
                loss = loss + lam * energy_regulariser(e_in[train], e_out[ood_mask], m_in, m_out)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"GNNSafe {regime} training on shift {setting.shift!r}: loss is {float(loss)} at epoch {epoch} "
                f"(lr {lr}, weight decay {weight_decay}); lower the learning rate"
            )
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(F.cross_entropy(model(ind)[val], y[val]))
        if val_loss < best_loss:
            best_loss, best_epoch, best_state = val_loss, epoch, _snapshot(model)
        if on_epoch is not None:
            on_epoch(epoch, float(loss.detach()), val_loss)
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(best_epoch=best_epoch, epochs=epochs, seconds=time.perf_counter() - start, first_epoch=1,
                       val_loss=best_loss)
