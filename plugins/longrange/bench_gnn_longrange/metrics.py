"""Metrics of the long-range benchmarks (LRGB, Dwivedi et al. 2022; Tönshoff et al. 2023), on torchmetrics.

===========================  =====================================================  ==============
name                         definition                                             used by
===========================  =====================================================  ==============
``ap``                       mean over labels of the average precision of each      Peptides-func
                             label, on its labelled rows (ogb's Evaluator)
``mae``                      mean absolute error over every labelled entry          Peptides-struct
``f1_macro``                 unweighted mean of per-class F1 (classes present in    PascalVOC-SP,
                             targets or predictions)                                COCO-SP
``mrr_raw``                  mean reciprocal rank of true edges, every other node   PCQM-Contact
                             a negative
``mrr_filtered``             ... other true edges removed from the negatives        PCQM-Contact
``mrr_filtered_no_self``     ... and the source node itself removed as well         PCQM-Contact
===========================  =====================================================  ==============

Inputs follow the bench metric contract: ``update(scores, target)`` with probabilities (or
sigmoid scores) for classification and raw values for regression.

This module (the ``longrange-metrics`` entry point) holds the specs and factories and imports no
torch; the ``Metric`` classes are in :mod:`bench_gnn_longrange.metric_classes`.
"""

from __future__ import annotations

from typing import Any

from bench_gnn import MetricSpec
from bench_gnn_longrange.constants import MRR_VARIANTS


def average_precision(num_labels: int) -> Any:
    from bench_gnn_longrange.metric_classes import LabelwiseAveragePrecision

    return LabelwiseAveragePrecision(num_labels=num_labels)


def mean_absolute_error(out_dim: int) -> Any:
    from bench_gnn_longrange.metric_classes import MaskedMeanAbsoluteError

    return MaskedMeanAbsoluteError()


def f1_macro(num_classes: int) -> Any:
    from torchmetrics.classification import MulticlassF1Score

    return MulticlassF1Score(num_classes=num_classes, average="macro")


def _mrr_factory(variant: str):
    def factory(out_dim: int) -> Any:
        from bench_gnn_longrange.metric_classes import LinkMRR

        return LinkMRR(variant=variant)

    factory.__name__ = f"mrr_{variant}"
    return factory


UNIT = (0.0, 1.0)


def metric_specs():
    return [
        MetricSpec("ap", average_precision, higher_is_better=True, bounds=UNIT,
                   description="average precision, macro over labels, NaN labels ignored (ogb Evaluator)"),
        MetricSpec("mae", mean_absolute_error, higher_is_better=False, bounds=(0.0, None),
                   description="mean absolute error over labelled entries"),
        MetricSpec("f1_macro", f1_macro, higher_is_better=True, bounds=UNIT, description="multi-class macro F1"),
        *(
            MetricSpec(f"mrr_{variant}", _mrr_factory(variant), higher_is_better=True, bounds=UNIT,
                       description=f"mean reciprocal rank of true edges ({variant.replace('_', ' ')}, LRGB)")
            for variant in MRR_VARIANTS
        ),
    ]
