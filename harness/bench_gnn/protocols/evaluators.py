"""What calibrators and OOD detectors receive (the contract of :class:`~bench_gnn.specs.CalibratorSpec`
and :class:`~bench_gnn.specs.DetectorSpec`). Protocols that run them build these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor


@dataclass
class CalibrationInputs:
    """A frozen model's outputs, for a calibrator to fit on.

    Attributes:
        logits: ``[N, C]`` logits of every node, detached.
        labels: ``[N]`` true classes.
        edge_index: ``[2, E]`` the graph (both directions).
        fit_mask: ``[N]`` bool, the nodes to fit on (the validation nodes: the calibration set).
        stop_mask: ``[N]`` bool, the nodes whose NLL may early-stop the fit (the training nodes).
        train_mask: ``[N]`` bool, the model's training nodes (e.g. for distances to them).
        num_classes: ``C``.
        dist_to_train: ``[N]`` hop distance to the nearest training node, when the dataset ships it.
        hidden: ``[N, H]`` penultimate features, given to calibrators with ``uses_hidden=True``.
    """

    logits: Tensor
    labels: Tensor
    edge_index: Tensor
    fit_mask: Tensor
    stop_mask: Tensor
    train_mask: Tensor
    num_classes: int
    dist_to_train: Tensor | None = None
    hidden: Tensor | None = None


@dataclass
class DetectorInputs:
    """What a detector scores: a trained model (eval mode), the graph to score and the model's logits on it,
    and the in-distribution graph with its training nodes (for detectors that fit statistics on them)."""

    model: Any  # the trained model (an nn.Module of the protocol's backbone), in eval mode
    graph: Any  # a PyG Data
    logits: Tensor
    reference: Any  # a PyG Data
    train_mask: Tensor
    num_classes: int
