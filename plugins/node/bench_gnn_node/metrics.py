"""First-party classification metrics for node tasks, on torchmetrics.

- ``accuracy``: fraction of correct predictions (top-1 for multi-class, threshold
  0.5 for binary scores).
- ``roc_auc``: area under the ROC curve of binary scores (Platonov et al. 2023 use
  it for minesweeper, tolokers and questions).

Both report in percent in leaderboards (``scale=100``), as papers do. torchmetrics is imported
by the factories, when a metric is made, not when the plugin loads.
"""

from __future__ import annotations

from bench_gnn import MetricSpec


def accuracy(num_classes: int):
    from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

    if num_classes == 2:
        return BinaryAccuracy()
    return MulticlassAccuracy(num_classes=num_classes, average="micro")


def roc_auc(num_classes: int):
    from torchmetrics.classification import BinaryAUROC, MulticlassAUROC

    if num_classes == 2:
        return BinaryAUROC()
    return MulticlassAUROC(num_classes=num_classes, average="macro")


def metric_specs():
    return [
        MetricSpec("accuracy", accuracy, higher_is_better=True, scale=100.0, bounds=(0.0, 1.0),
                   description="accuracy (%)"),
        MetricSpec("roc_auc", roc_auc, higher_is_better=True, scale=100.0, bounds=(0.0, 1.0),
                   description="ROC-AUC (%)"),
    ]
