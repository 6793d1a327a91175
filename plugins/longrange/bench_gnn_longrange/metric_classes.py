"""The torchmetrics ``Metric`` classes of the long-range benchmarks; their specs are in
:mod:`bench_gnn_longrange.metrics`, which imports this module when a metric is made.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_average_precision
from torchmetrics.regression import MeanAbsoluteError
from torchmetrics.utilities import dim_zero_cat

from bench_gnn_longrange.constants import MRR_VARIANTS


class LabelwiseAveragePrecision(Metric):
    r"""Average precision per label, averaged over labels, as ogb's ``Evaluator`` computes it.

    .. math:: \mathrm{AP} = \frac{1}{|L'|} \sum_{l \in L'} \sum_n (R_{l,n} - R_{l,n-1}) P_{l,n}

    where :math:`P_{l,n}, R_{l,n}` are precision and recall of label :math:`l` at the
    :math:`n`-th threshold, over the rows where label :math:`l` is not NaN, and :math:`L'`
    are the labels with at least one positive and one negative row (others are skipped, as
    ogb skips them). ``compute()`` is NaN when no label qualifies (ogb raises instead).

    Args:
        num_labels: number of label columns ``L``.

    ``update(scores, target)``: ``scores`` ``[N, L]`` probabilities; ``target`` ``[N, L]`` with
    values 0, 1, or NaN or -1 for unlabelled entries (float targets with NaN as in the data, or
    long targets with torchmetrics' ``ignore_index=-1`` convention). ``[N]`` is accepted when
    ``L == 1``.

    Example:
        >>> metric = LabelwiseAveragePrecision(num_labels=2)
        >>> metric.update(torch.tensor([[0.9, 0.2], [0.1, 0.8], [0.6, 0.4]]),
        ...               torch.tensor([[1.0, 0.0], [0.0, float("nan")], [1.0, 1.0]]))
        >>> round(float(metric.compute()), 4)
        1.0
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    # states registered by add_state in __init__ (declared so mypy does not see Module.__getattr__'s type)
    scores: list[Tensor]
    target: list[Tensor]

    def __init__(self, num_labels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}")
        self.num_labels = num_labels
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, scores: Tensor, target: Tensor) -> None:
        scores, target = _as_columns(scores, self.num_labels, "scores"), _as_columns(target, self.num_labels, "target")
        if scores.shape != target.shape:
            raise ValueError(f"scores {tuple(scores.shape)} and target {tuple(target.shape)} must have the same shape")
        target = target.float()
        target = torch.where(target == -1, torch.full_like(target, math.nan), target)
        labelled = target[~torch.isnan(target)]
        if not bool(((labelled == 0) | (labelled == 1)).all()):
            raise ValueError("target must hold 0, 1, or NaN or -1 for unlabelled entries")
        self.scores.append(scores.detach().float())
        self.target.append(target.detach())

    def compute(self) -> Tensor:
        scores, target = dim_zero_cat(self.scores), dim_zero_cat(self.target)
        per_label = []
        for label in range(self.num_labels):
            column = target[:, label]
            if bool((column == 1).any()) and bool((column == 0).any()):
                keep = ~torch.isnan(column)
                per_label.append(binary_average_precision(scores[keep, label], column[keep].long()))
        if not per_label:
            return torch.tensor(math.nan)
        return torch.stack(per_label).mean()


def _as_columns(tensor: Tensor, num_labels: int, name: str) -> Tensor:
    if tensor.dim() == 1 and num_labels == 1:
        tensor = tensor.unsqueeze(-1)
    if tensor.dim() != 2 or tensor.size(1) != num_labels:
        raise ValueError(f"{name} must have shape [N, {num_labels}], got {tuple(tensor.shape)}")
    return tensor


class MaskedMeanAbsoluteError(MeanAbsoluteError):
    """torchmetrics' ``MeanAbsoluteError`` over every entry whose target is not NaN.

    ``update(preds, target)``: any matching shapes (``[N, T]`` for Peptides-struct); the mean
    runs over all labelled entries, i.e. sklearn's ``mean_absolute_error`` with uniform
    averaging when nothing is missing.

    Example:
        >>> metric = MaskedMeanAbsoluteError()
        >>> metric.update(torch.tensor([[1.0, 2.0], [3.0, 5.0]]), torch.tensor([[1.5, float("nan")], [3.0, 4.0]]))
        >>> float(metric.compute())
        0.5
    """

    def update(self, preds: Tensor, target: Tensor) -> None:
        if preds.shape != target.shape:
            raise ValueError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} must have the same shape")
        keep = ~torch.isnan(target)
        super().update(preds[keep], target[keep])


class LinkMRR(Metric):
    r"""Mean reciprocal rank of true edges against candidate destinations (LRGB PCQM-Contact).

    For every true edge :math:`(s, d)` with score :math:`p`, the rank is
    :math:`1 + |\{n \in N : x_n > p\}| + \tfrac12 |\{n \in N : x_n = p\}|` over the negatives
    :math:`N` of the variant:

    * ``raw``: every candidate of source :math:`s` except :math:`d` (other true destinations
      of :math:`s` and :math:`s` itself count as negatives);
    * ``filtered``: candidates that are not true destinations of :math:`s`;
    * ``filtered_no_self``: as ``filtered``, without :math:`s` itself.

    A graph's MRR is the mean of :math:`1/\mathrm{rank}` over its true edges; ``compute()`` is
    the mean over graphs that have true edges (NaN when none had).

    ``update(scores, target, self_index=None)``, per graph (one update call, or one slice of a
    3-D batch, is one graph):

    * ``scores`` ``[S, M]``: row ``s`` holds a source node's scores for ``M`` candidate
      destinations (higher = more likely an edge); NaN marks a padded entry that is no
      candidate. The usual input is a graph's all-pairs matrix ``[n, n]`` (e.g. the dot
      products of node embeddings), where row ``i`` and column ``i`` are the same node;
      ``[B, n, n]`` stacks ``B`` such graphs, padded with NaN (``to_dense_batch`` layout).
    * ``target`` (bool or 0/1, same shape): the true-edge mask, ``target[s, d]`` true when
      ``(s, d)`` is a true edge. Rows without true edges contribute nothing.
    * ``self_index`` (``[S]`` long, 2-D input only): the column of each source node among the
      candidates, ``-1`` when absent. Required unless the input is square, where the diagonal
      is the source node.

    Matches ``toenshoff/LRGB`` ``graphgps/head/inductive_edge.py`` (raw, ``_filt``,
    ``_filt_self``) when scores have no ties; with ties LRGB's argsort ranks the true edge
    first, which rewards constant scores, while ties here count half (ogb's convention).
    LRGB averages per-graph MRR over each batch and weights batches by their edge count,
    scoring graphs without true edges as 0; here every graph with true edges weighs the same,
    independent of batching.

    Example:
        >>> scores = torch.tensor([[9.0, 0.5, 0.7], [0.2, 9.0, 0.3], [0.4, 0.6, 9.0]])
        >>> target = torch.tensor([[False, True, True], [False, False, False], [False, False, False]])
        >>> [round(float(LinkMRR(v)(scores, target)), 4) for v in MRR_VARIANTS]
        [0.4167, 0.5, 1.0]
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    # states registered by add_state in __init__ (declared so mypy does not see Module.__getattr__'s type)
    mrr_sum: Tensor
    graphs: Tensor

    def __init__(self, variant: str = "filtered", **kwargs) -> None:
        super().__init__(**kwargs)
        if variant not in MRR_VARIANTS:
            raise ValueError(f"variant must be one of {MRR_VARIANTS}, got {variant!r}")
        self.variant = variant
        self.add_state("mrr_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("graphs", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, scores: Tensor, target: Tensor, self_index: Tensor | None = None) -> None:
        if scores.shape != target.shape:
            raise ValueError(f"scores {tuple(scores.shape)} and target {tuple(target.shape)} must have the same shape")
        if scores.dim() == 3:
            if self_index is not None:
                raise ValueError("self_index is for 2-D input; 3-D input must be square all-pairs matrices")
            if scores.size(1) != scores.size(2):
                raise ValueError(f"3-D scores must be [B, n, n] all-pairs matrices, got {tuple(scores.shape)}")
            diagonal = torch.arange(scores.size(1), device=scores.device)
            for graph in range(scores.size(0)):
                self._update_graph(scores[graph], target[graph], diagonal)
            return
        if scores.dim() != 2:
            raise ValueError(f"scores must be [S, M] or [B, n, n], got {tuple(scores.shape)}")
        if self_index is None:
            if scores.size(0) != scores.size(1):
                raise ValueError(
                    f"scores {tuple(scores.shape)} are not square: pass self_index, the column of each source "
                    "node among the candidates (-1 when absent)"
                )
            self_index = torch.arange(scores.size(0), device=scores.device)
        self_index = torch.as_tensor(self_index, device=scores.device).long().reshape(-1)
        if self_index.numel() != scores.size(0):
            raise ValueError(f"self_index has {self_index.numel()} entries for {scores.size(0)} source rows")
        self._update_graph(scores, target, self_index)

    def _update_graph(self, scores: Tensor, target: Tensor, self_index: Tensor) -> None:
        target = target.bool()
        src, dst = target.nonzero(as_tuple=True)
        if src.numel() == 0:
            return
        rows = scores[src].float()  # [P, M]: the source's candidates, for each true edge
        positive = rows[torch.arange(src.numel(), device=rows.device), dst]
        if bool(torch.isnan(positive).any()):
            raise ValueError("a true edge has a NaN score; NaN marks padding, not a candidate")
        negative = ~torch.isnan(rows)
        edge = torch.arange(src.numel(), device=rows.device)
        if self.variant == "raw":
            negative[edge, dst] = False
        else:
            negative &= ~target[src]
            if self.variant == "filtered_no_self":
                own = self_index[src]
                present = own >= 0
                negative[edge[present], own[present]] = False
        above = ((rows > positive[:, None]) & negative).sum(1)
        tied = ((rows == positive[:, None]) & negative).sum(1)
        rank = 1.0 + above.double() + 0.5 * tied.double()
        self.mrr_sum += (1.0 / rank).mean()
        self.graphs += 1

    def compute(self) -> Tensor:
        if int(self.graphs) == 0:
            return torch.tensor(math.nan, dtype=torch.float64)
        return self.mrr_sum / self.graphs
