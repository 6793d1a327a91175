"""Post-hoc calibrators of a frozen node classifier, as in GATS (hans66hsu/GATS ``src/calibrator/``).

Each ``fit_x(inputs, args) -> Calibrated`` learns on the backbone's logits only (the backbone is frozen and never
called again): the calibration loss is the NLL on ``inputs.fit_mask`` (the validation fold), Adam (lr 0.01) for up
to ``epochs`` epochs, early-stopped on the NLL of ``inputs.stop_mask`` (the training nodes) with ``patience``; the
parameters of the epoch with the lowest stopping NLL (``<=``, so the latest of equal ones) are kept. A
:class:`Calibrated` maps ``(logits, edge_index, train_mask)`` to probabilities, so a calibrator fitted on one graph
can be applied to the same model's logits on another (a structure-shifted copy): graph calibrators rebuild their
graph quantities (normalised adjacency, degrees, distance to the training nodes) from the given graph.

Methods (defaults of the GATS code / PROTOCOLS.md):

* **TS**: ``z / T``, one temperature, init 1. **VS**: ``z * s``, one scale per class, init 1 (GATS's VS also adds a
  bias that it never trains and that is the same for every class, so it cancels in the softmax; left out). VS can
  change the predicted class.
* **ETS**: TS first, then weights ``w`` of ``w1 softmax(z/T) + w2 softmax(z) + w3 / K`` minimising the fit-set NLL
  with ``w`` in [0, 1]^3, sum 1, by SLSQP (scipy), from ``(1, 0, 0)``.
* **CaGCN**: a GCN ``K -> 16 -> 1`` (ReLU, dropout 0.5) on the logits gives a per-node ``t_v``;
  ``z * softplus(t_v)``; weight decay 5e-3.
* **GATS**: per-node temperature from attention over neighbours' logits (8 heads, self-loops), scaled by learnable
  coefficients for training nodes and their 1-hop neighbours (nodes 2+ hops away keep 1), plus confidence
  smoothing and a bias (init 1): ``z / t_v``. Weight decay: 5e-3 for a GCN backbone, 1e-2 for GAT (caller passes).

Randomness (CaGCN's dropout, weight initialisation) comes from torch's global generator: seed it before fitting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.utils import add_self_loops, remove_self_loops, scatter

from bench_gnn import CalibrationInputs, JobError, NonFiniteLossError
from bench_gnn_ood.gats_models import SparsePair, dropout, gcn_adjacency
from bench_gnn_ood.gats_training import adam
from bench_gnn_ood.planetoid import distance_to_train

__all__ = [
    "FITTERS",
    "Calibrated",
    "CalibrationInputs",
    "fit_cagcn",
    "fit_ets",
    "fit_gats",
    "fit_ts",
    "fit_vs",
    "uncalibrated",
]


# ----------------------------------------------------------------------------------------------- results


class Calibrated:
    """A fitted calibrator: ``calibrated(logits [N, C], edge_index [2, E], train_mask [N]) -> probs [N, C]``.

    ``params`` holds the fitted scalars worth reporting (temperature, ETS weights, epochs run).
    """

    name = "uncalibrated"

    def __init__(self, params: Mapping[str, float] | None = None) -> None:
        self.params: dict[str, float] = dict(params or {})

    def logits(self, logits: Tensor, edge_index: Tensor, train_mask: Tensor) -> Tensor:
        """Calibrated logits (any tensor whose softmax is the calibrated probabilities)."""
        return logits

    @torch.no_grad()
    def __call__(self, logits: Tensor, edge_index: Tensor, train_mask: Tensor) -> Tensor:
        return torch.softmax(self.logits(logits.detach(), edge_index, train_mask), dim=1)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"{type(self).__name__}({self.name}{': ' if shown else ''}{shown})"


#: softmax of the backbone's logits
uncalibrated = Calibrated()


class _ModuleCalibrated(Calibrated):
    """A calibrator defined by a module: ``module(logits, module.prepare(logits, graph...)) -> calibrated logits``."""

    def __init__(self, name: str, module: _GraphModule, params: Mapping[str, float]) -> None:
        super().__init__(params)
        self.name = name
        self.module = module.eval()

    def logits(self, logits: Tensor, edge_index: Tensor, train_mask: Tensor) -> Tensor:
        self.module.eval()
        return self.module(logits, self.module.prepare(logits, edge_index, train_mask.view(-1).to(torch.bool), None))


class _ETSCalibrated(Calibrated):
    name = "ETS"

    def __init__(self, temperature: float, weights: np.ndarray, num_classes: int, params: Mapping[str, float]):
        super().__init__(params)
        self.temperature = temperature
        self.weights = [float(w) for w in weights]
        self.num_classes = num_classes

    def probs(self, logits: Tensor) -> Tensor:
        w1, w2, w3 = self.weights
        return (
            w1 * torch.softmax(logits / self.temperature, dim=1)
            + w2 * torch.softmax(logits, dim=1)
            + w3 / self.num_classes
        )

    def logits(self, logits: Tensor, edge_index: Tensor, train_mask: Tensor) -> Tensor:
        return self.probs(logits).clamp_min(torch.finfo(logits.dtype).tiny).log()

    @torch.no_grad()
    def __call__(self, logits: Tensor, edge_index: Tensor, train_mask: Tensor) -> Tensor:
        return self.probs(logits.detach())


# ----------------------------------------------------------------------------------------------- modules


class _GraphModule(nn.Module):
    """Base of the calibration modules.

    ``prepare(logits, edge_index, train_mask, dist)`` computes once what does not depend on the parameters (graph
    quantities, and functions of the fixed logits); ``forward(logits, prepared)`` returns calibrated logits.
    """

    #: whether train mode differs from eval mode (dropout)
    stochastic = False

    def prepare(self, logits: Tensor, edge_index: Tensor, train_mask: Tensor, dist: Tensor | None) -> Any:
        return None

    def forward(self, logits: Tensor, prepared: Any) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class _TS(_GraphModule):
    def __init__(self) -> None:
        super().__init__()
        self.temperature = nn.Parameter(torch.ones(1))

    def forward(self, logits: Tensor, prepared: Any) -> Tensor:
        return logits / self.temperature


class _VS(_GraphModule):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(num_classes))

    def forward(self, logits: Tensor, prepared: Any) -> Tensor:
        return logits * self.scale


class _CaGCN(_GraphModule):
    """CaGCN's temperature network: GCN K -> hidden -> 1 on the logits (glorot weights, zero biases, as GCNConv).

    The first layer ``adj @ (z W1)`` is computed as ``(adj @ z) W1`` with ``adj @ z`` prepared once (the logits
    are fixed): the same function, one sparse product fewer per step.
    """

    stochastic = True

    def __init__(self, num_classes: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.lin1 = Linear(num_classes, hidden, bias=False, weight_initializer="glorot")
        self.bias1 = nn.Parameter(torch.zeros(hidden))
        self.lin2 = Linear(hidden, 1, bias=False, weight_initializer="glorot")
        self.bias2 = nn.Parameter(torch.zeros(1))

    def prepare(
        self, logits: Tensor, edge_index: Tensor, train_mask: Tensor, dist: Tensor | None
    ) -> tuple[SparsePair, Tensor]:
        adj = gcn_adjacency(edge_index, logits.shape[0])
        adj = adj.with_values(adj.mat.values().to(logits.dtype))
        return adj, adj @ logits

    def forward(self, logits: Tensor, prepared: Any) -> Tensor:
        adj, adj_logits = prepared
        h = F.relu(self.lin1(adj_logits) + self.bias1)
        h = dropout(h, self.dropout, self.training)
        t = adj @ self.lin2(h) + self.bias2
        return logits * F.softplus(t)


#: attention scores this far below their target's maximum get weight 0 (exp(-80) ~ 1.8e-35 of the maximum's)
_SOFTMAX_FLOOR = -80.0


def _edge_softmax(score: Tensor, dst: Tensor, num_nodes: int) -> Tensor:
    """``torch_geometric.utils.softmax(score, dst)``, with scores more than 80 below their group's maximum set to
    weight 0 instead of ``exp(-80 - x)``.

    GATS's scores can reach 1e7 (a distance coefficient near 0 divides the logit products), and ``exp`` of such
    large negative numbers, and arithmetic on the subnormal results, runs 30-100x slower on CPU; the weights
    dropped are below 1e-35 of the largest and their gradients are as small.
    """
    top = scatter(score.detach(), dst, 0, dim_size=num_nodes, reduce="max")
    shifted = score - top.index_select(0, dst)
    keep = shifted >= _SOFTMAX_FLOOR
    weight = shifted.clamp_min(_SOFTMAX_FLOOR).exp() * keep
    total = torch.zeros(num_nodes, dtype=score.dtype, device=score.device).index_add(0, dst, weight) + 1e-16
    return weight / total.index_select(0, dst)


@dataclass
class _GATSPrepared:
    src: Tensor  # [E'] sources, one self-loop per node included
    dst: Tensor  # [E'] targets
    dist: Tensor  # [N] long, hops to the nearest training node (capped)
    sorted_logits: Tensor  # [N, C] each row min-max normalised, sorted ascending
    dot: Tensor  # [E'] <z_src, z_dst>
    dconf: Tensor  # [N] sum over in-edges of (conf_i - conf_j), divided by the out-degree (0 where it is 0)


class _GATS(_GraphModule):
    """GATS's calibration attention layer (``CalibAttentionLayer``), vectorised over edges.

    Per node ``i`` (edges ``j -> i``, self-loops included, ``a`` = ``train_a`` / ``dist1_a`` / 1 for nodes 0 / 1 /
    2+ hops from a training node, ``conf`` = max softmax):
    ``alpha_ij = softmax_j(leaky_relu(<z_j / a_j, z_i / a_i>))``,
    ``t_i = mean_h softplus(sum_j alpha_ij a_j (W sort(norm(z_j)))_h + conf_coef * sum_j (conf_i - conf_j) / deg_i)
    + bias`` and the output is ``z_i / t_i``. Everything that depends only on the fixed logits is prepared once.
    """

    def __init__(self, num_classes: int, heads: int, bias: float, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.heads = heads
        self.negative_slope = negative_slope
        self.temp_lin = Linear(num_classes, heads, bias=False, weight_initializer="glorot")
        self.conf_coef = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.ones(1) * bias)
        self.train_a = nn.Parameter(torch.ones(1))
        self.dist1_a = nn.Parameter(torch.ones(1))

    def prepare(self, logits: Tensor, edge_index: Tensor, train_mask: Tensor, dist: Tensor | None) -> _GATSPrepared:
        n = logits.shape[0]
        if dist is None:
            dist = distance_to_train(edge_index, train_mask, n, max_hops=2)
        ei, _ = remove_self_loops(edge_index.to(logits.device))
        ei, _ = add_self_loops(ei, num_nodes=n)
        src, dst = ei[0], ei[1]
        lo, hi = logits.min(dim=1, keepdim=True)[0], logits.max(dim=1, keepdim=True)[0]
        sorted_logits = torch.sort((logits - lo) / (hi - lo), dim=1)[0]
        conf = torch.softmax(logits, dim=1).amax(dim=1)
        deg = torch.bincount(src, minlength=n).to(logits.dtype)
        deg_inv = torch.where(deg > 0, 1.0 / deg, torch.zeros_like(deg))
        dconf = torch.zeros(n, dtype=logits.dtype, device=logits.device).index_add_(0, dst, conf[dst] - conf[src])
        return _GATSPrepared(
            src=src, dst=dst, dist=dist.view(-1).to(logits.device), sorted_logits=sorted_logits,
            dot=(logits[src] * logits[dst]).sum(dim=1), dconf=dconf * deg_inv,
        )

    def forward(self, logits: Tensor, prepared: Any) -> Tensor:
        p: _GATSPrepared = prepared
        n = logits.shape[0]
        one = torch.ones((), dtype=logits.dtype, device=logits.device)
        a = torch.where(p.dist == 0, self.train_a, torch.where(p.dist == 1, self.dist1_a, one))  # [N]
        score = F.leaky_relu(p.dot / (a.index_select(0, p.src) * a.index_select(0, p.dst)), self.negative_slope)
        alpha = _edge_softmax(score, p.dst, n)  # [E']
        temp = self.temp_lin(p.sorted_logits) * a.unsqueeze(1)  # [N, H]
        sim = torch.zeros(n, self.heads, dtype=logits.dtype, device=logits.device)
        sim = sim.index_add(0, p.dst, temp.index_select(0, p.src) * alpha.unsqueeze(1))
        t = F.softplus(sim + self.conf_coef * p.dconf.unsqueeze(1)).mean(dim=1) + self.bias
        return logits / t.unsqueeze(1)


# ----------------------------------------------------------------------------------------------- fitting


def _arg(args: Mapping[str, Any], key: str, default: float) -> float:
    value = args.get(key, default)
    return default if value is None else float(value)


def _fit(module: _GraphModule, inputs: CalibrationInputs, graph: Any, args: Mapping[str, Any], wd: float) -> int:
    """GATS's ``fit_calibration``: NLL on the fit set, early stopping on the stop set; keeps the best parameters.

    Each epoch takes one Adam step on the fit-set NLL (train mode), then evaluates the stop-set NLL (eval mode);
    a stop NLL ``<=`` the best so far saves the parameters, ``patience`` epochs without one end the fit, and so
    does a non-finite fit loss (as in GATS's code, the best parameters so far are kept). For a
    module without dropout (``module.stochastic`` false) train and eval mode compute the same function, so the
    evaluation after step ``e`` is the forward pass of step ``e + 1``: one forward per epoch, same result.
    Returns the number of epochs run.
    """
    lr = _arg(args, "lr", 0.01)
    epochs = int(_arg(args, "epochs", 2000))
    patience = int(_arg(args, "patience", 100))
    weight_decay = _arg(args, "weight_decay", wd)
    logits, labels = inputs.logits.detach(), inputs.labels
    fit_idx = inputs.fit_mask.view(-1).nonzero().view(-1)
    stop_idx = inputs.stop_mask.view(-1).nonzero().view(-1)
    if fit_idx.numel() == 0 or stop_idx.numel() == 0:
        raise JobError(
            f"calibration needs non-empty fit and stop sets, got {fit_idx.numel()} and {stop_idx.numel()} nodes"
        )
    y_fit, y_stop = labels[fit_idx], labels[stop_idx]
    optimizer = adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state, bad, done = math.inf, None, 0, 0

    def stopped(stop_loss: float) -> bool:
        """Early-stopping bookkeeping for the parameters after ``done`` steps; True when patience ran out."""
        nonlocal best, best_state, bad
        if stop_loss <= best:
            best, bad = stop_loss, 0
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return False
        bad += 1
        return bad >= patience

    module.train()
    out = module(logits, graph)
    while done < epochs:
        loss = F.cross_entropy(out.index_select(0, fit_idx), y_fit)
        if not torch.isfinite(loss):
            # GATS's loop has no check: the NaN reaches the parameters, no later stop loss beats the best, and
            # patience restores the best parameters. Stopping here gives that same result.
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        done += 1
        if module.stochastic:
            module.eval()
            with torch.no_grad():
                stop_loss = float(F.cross_entropy(module(logits, graph).index_select(0, stop_idx), y_stop))
            module.train()
            if stopped(stop_loss) or done == epochs:
                break
            out = module(logits, graph)
        else:
            out = module(logits, graph)
            if stopped(float(F.cross_entropy(out.detach().index_select(0, stop_idx), y_stop))):
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return done


_M = TypeVar("_M", bound=_GraphModule)


def _to(module: _M, inputs: CalibrationInputs) -> _M:
    return module.to(device=inputs.logits.device, dtype=inputs.logits.dtype)


def fit_ts(inputs: CalibrationInputs, args: Mapping[str, Any]) -> Calibrated:
    """Temperature scaling: ``logits / T``."""
    module = _to(_TS(), inputs)
    epochs = _fit(module, inputs, None, args, wd=0.0)
    return _ModuleCalibrated("TS", module, {"temperature": float(module.temperature.detach()), "epochs": epochs})


def fit_vs(inputs: CalibrationInputs, args: Mapping[str, Any]) -> Calibrated:
    """Vector scaling: ``logits * s`` with one scale per class (may change the predicted class)."""
    module = _to(_VS(inputs.num_classes), inputs)
    epochs = _fit(module, inputs, None, args, wd=0.0)
    return _ModuleCalibrated("VS", module, {"epochs": epochs})


def _ets_weights(logits: np.ndarray, labels: np.ndarray, temperature: float, num_classes: int) -> np.ndarray:
    """SLSQP weights of (softmax(z/T), softmax(z), uniform) minimising the NLL, in [0, 1], summing to 1."""

    def softmax_np(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    rows = np.arange(labels.shape[0])
    p0 = softmax_np(logits / temperature)[rows, labels]
    p1 = softmax_np(logits)[rows, labels]
    p2 = np.full_like(p0, 1.0 / num_classes)

    def nll(w: np.ndarray) -> float:
        p = w[0] * p0 + w[1] * p1 + w[2] * p2
        return float(-np.mean(np.log(np.maximum(p, np.finfo(np.float64).tiny))))

    result = minimize(
        nll, np.array([1.0, 0.0, 0.0]), method="SLSQP", bounds=[(0.0, 1.0)] * 3,
        constraints={"type": "eq", "fun": lambda w: np.sum(w) - 1.0}, tol=1e-12, options={"disp": False},
    )
    weights = np.clip(np.asarray(result.x, dtype=np.float64), 0.0, 1.0)
    if not np.all(np.isfinite(weights)) or weights.sum() <= 0:
        raise NonFiniteLossError(f"ETS weight fit failed: {result.message}")
    return weights / weights.sum()


def fit_ets(inputs: CalibrationInputs, args: Mapping[str, Any]) -> Calibrated:
    """Ensemble temperature scaling: TS, then SLSQP weights of calibrated / uncalibrated / uniform on the fit set."""
    ts = fit_ts(inputs, args)
    temperature = ts.params["temperature"]
    fit = inputs.fit_mask.view(-1).to(torch.bool)
    logits = inputs.logits.detach()[fit].to("cpu", torch.float64).numpy()
    labels = inputs.labels[fit].to("cpu").numpy()
    weights = _ets_weights(logits, labels, temperature, inputs.num_classes)
    params = {"temperature": temperature, "w1": float(weights[0]), "w2": float(weights[1]), "w3": float(weights[2]),
              "epochs": ts.params["epochs"]}
    return _ETSCalibrated(temperature, weights, inputs.num_classes, params)


def fit_cagcn(inputs: CalibrationInputs, args: Mapping[str, Any]) -> Calibrated:
    """CaGCN: ``logits * softplus(GCN(logits))`` (GCN K -> 16 -> 1, dropout 0.5, weight decay 5e-3)."""
    module = _to(_CaGCN(inputs.num_classes, int(_arg(args, "hidden", 16)), _arg(args, "dropout", 0.5)), inputs)
    graph = module.prepare(inputs.logits.detach(), inputs.edge_index, inputs.train_mask, None)
    epochs = _fit(module, inputs, graph, args, wd=5e-3)
    return _ModuleCalibrated("CaGCN", module, {"epochs": epochs})


def fit_gats(inputs: CalibrationInputs, args: Mapping[str, Any]) -> Calibrated:
    """GATS: ``logits / t_v`` with graph-attention temperatures (8 heads, bias init 1, weight decay 5e-3 by default;
    pass ``weight_decay=1e-2`` for a GAT backbone)."""
    module = _to(_GATS(inputs.num_classes, int(_arg(args, "heads", 8)), _arg(args, "bias", 1.0)), inputs)
    train_mask = inputs.train_mask.view(-1).to(torch.bool)
    graph = module.prepare(inputs.logits.detach(), inputs.edge_index, train_mask, inputs.dist_to_train)
    epochs = _fit(module, inputs, graph, args, wd=5e-3)
    params = {name: float(getattr(module, name).detach()) for name in ("train_a", "dist1_a", "conf_coef", "bias")}
    params["epochs"] = epochs
    return _ModuleCalibrated("GATS", module, params)


FITTERS: dict[str, Callable[[CalibrationInputs, Mapping[str, Any]], Calibrated]] = {
    "TS": fit_ts,
    "VS": fit_vs,
    "ETS": fit_ets,
    "CaGCN": fit_cagcn,
    "GATS": fit_gats,
}
