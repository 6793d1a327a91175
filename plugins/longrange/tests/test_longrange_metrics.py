"""Long-range metrics against independent references: sklearn, ogb's Evaluator, a loop MRR."""

from __future__ import annotations

import doctest
import math

import bench_gnn_longrange.metric_classes as lmt
import bench_gnn_longrange.metrics as lm
import numpy as np
import pytest
import torch
from bench_gnn_longrange.ogb_import import import_ogb
from sklearn.metrics import average_precision_score, f1_score, mean_absolute_error

from bench_gnn import MetricSpec


def ogb_evaluator(name: str):
    return import_ogb("ogb.graphproppred").Evaluator(name)  # without ogb's PyPI query: tests stay offline


def specs() -> dict[str, MetricSpec]:
    return {spec.name: spec for spec in lm.metric_specs()}


def multilabel_inputs(rows: int, labels: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(rows, labels, generator=gen)
    target = (torch.rand(rows, labels, generator=gen) < 0.3).float()
    target[torch.rand(rows, labels, generator=gen) < 0.2] = math.nan
    target[:, 1] = torch.where(torch.isnan(target[:, 1]), target[:, 1], torch.zeros(rows))  # no positives
    target[:, 2] = torch.where(torch.isnan(target[:, 2]), target[:, 2], torch.ones(rows))  # no negatives
    target[:, 3] = math.nan  # nothing labelled
    return scores, target


def test_registers_the_six_metrics_with_their_directions():
    found = specs()
    assert sorted(found) == ["ap", "f1_macro", "mae", "mrr_filtered", "mrr_filtered_no_self", "mrr_raw"]
    assert not found["mae"].higher_is_better
    assert all(found[n].higher_is_better for n in found if n != "mae")


def test_docstring_examples_run():
    result = doctest.testmod(lmt, raise_on_error=False)
    assert result.attempted >= 3 and result.failed == 0


def test_ap_matches_ogb_evaluator_and_sklearn_per_label():
    scores, target = multilabel_inputs(rows=300, labels=128, seed=0)
    metric = specs()["ap"].factory(128)
    for chunk in range(3):  # accumulated over batches
        metric.update(scores[chunk * 100:(chunk + 1) * 100], target[chunk * 100:(chunk + 1) * 100])
    ours = float(metric.compute())

    ogb_ap = ogb_evaluator("ogbg-molpcba").eval({"y_true": target.numpy(), "y_pred": scores.numpy()})["ap"]
    assert ours == pytest.approx(ogb_ap, abs=1e-6)

    y, p = target.numpy(), scores.numpy()
    per_label = []
    for label in range(y.shape[1]):
        keep = ~np.isnan(y[:, label])
        column = y[keep, label]
        if (column == 1).any() and (column == 0).any():
            per_label.append(average_precision_score(column, p[keep, label]))
    assert len(per_label) == 125  # the all-negative, all-positive and unlabelled columns are skipped
    assert ours == pytest.approx(float(np.mean(per_label)), abs=1e-6)

    as_long = specs()["ap"].factory(128)  # the graph protocol's encoding: long targets, -1 = unlabelled
    as_long.update(scores, torch.where(torch.isnan(target), torch.full_like(target, -1), target).long())
    assert float(as_long.compute()) == pytest.approx(ours, abs=1e-7)


def test_ap_with_tied_scores_matches_sklearn():
    gen = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 4, (200, 3), generator=gen).float() / 4
    target = (torch.rand(200, 3, generator=gen) < 0.4).float()
    metric = lmt.LabelwiseAveragePrecision(num_labels=3)
    metric.update(scores, target)
    expected = np.mean([average_precision_score(target[:, j], scores[:, j]) for j in range(3)])
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-6)


def test_ap_is_nan_without_a_scorable_label_and_checks_its_inputs():
    metric = lmt.LabelwiseAveragePrecision(num_labels=2)
    metric.update(torch.rand(4, 2), torch.zeros(4, 2))
    assert math.isnan(float(metric.compute()))
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        metric.update(torch.rand(4, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="0, 1, or NaN or -1"):
        metric.update(torch.rand(4, 2), torch.full((4, 2), 2.0))


def test_mae_matches_sklearn_and_skips_nan_targets():
    gen = torch.Generator().manual_seed(1)
    preds, target = torch.randn(50, 11, generator=gen), torch.randn(50, 11, generator=gen)
    metric = specs()["mae"].factory(11)
    metric.update(preds[:20], target[:20])
    metric.update(preds[20:], target[20:])
    assert float(metric.compute()) == pytest.approx(mean_absolute_error(target, preds), rel=1e-5)

    target[0, :5] = math.nan
    masked = specs()["mae"].factory(11)
    masked.update(preds, target)
    keep = ~torch.isnan(target)
    assert float(masked.compute()) == pytest.approx(float((preds[keep] - target[keep]).abs().mean()), rel=1e-5)


def test_f1_macro_matches_sklearn_including_absent_classes():
    gen = torch.Generator().manual_seed(2)
    probs = torch.softmax(torch.randn(400, 21, generator=gen), dim=-1)
    probs[:, 20] = 0.0  # never predicted
    target = torch.randint(0, 19, (400,), generator=gen)  # classes 19 and 20 never occur
    metric = specs()["f1_macro"].factory(21)
    metric.update(probs[:150], target[:150])
    metric.update(probs[150:], target[150:])
    expected = f1_score(target.numpy(), probs.argmax(-1).numpy(), average="macro", zero_division=0)
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-6)


# --------------------------------------------------------------------------- MRR


def loop_mrr(graphs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Reference in LRGB's form: mask with -inf, sort descending, read off the true edge's position."""
    result = {}
    for variant in lm.MRR_VARIANTS:
        per_graph = []
        for scores, target in graphs:
            n = scores.shape[0]
            reciprocal = []
            for s in range(n):
                for d in range(n):
                    if not target[s, d]:
                        continue
                    candidates = []
                    for c in range(n):
                        if c == d:
                            continue
                        if variant != "raw" and target[s, c]:
                            continue
                        if variant == "filtered_no_self" and c == s:
                            continue
                        candidates.append(scores[s, c])
                    ordered = sorted([scores[s, d]] + candidates, reverse=True)
                    reciprocal.append(1.0 / (ordered.index(scores[s, d]) + 1))
            if reciprocal:
                per_graph.append(sum(reciprocal) / len(reciprocal))
        result[variant] = sum(per_graph) / len(per_graph)
    return result


def random_graphs(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        n = int(rng.integers(3, 9))
        emb = rng.normal(size=(n, 4))
        scores = emb @ emb.T  # LRGB's dot-product decoder: the diagonal (self) scores high
        target = rng.random((n, n)) < 0.25
        np.fill_diagonal(target, False)
        graphs.append((scores, target))
    graphs.append((graphs[0][0], np.zeros_like(graphs[0][1])))  # a graph without true edges: skipped
    return graphs


@pytest.mark.parametrize("variant", lm.MRR_VARIANTS)
def test_mrr_matches_a_loop_reference_per_graph(variant):
    graphs = random_graphs(12, seed=variant.__len__())
    metric = specs()[f"mrr_{variant}"].factory(1)
    for scores, target in graphs:
        metric.update(torch.tensor(scores), torch.tensor(target))
    assert float(metric.compute()) == pytest.approx(loop_mrr(graphs)[variant], rel=1e-9)


def test_mrr_variants_differ_and_batched_padded_input_agrees():
    graphs = random_graphs(6, seed=7)
    n = max(s.shape[0] for s, _ in graphs)
    scores = torch.full((len(graphs), n, n), math.nan, dtype=torch.float64)
    target = torch.zeros(len(graphs), n, n, dtype=torch.bool)
    for b, (s, t) in enumerate(graphs):
        scores[b, : len(s), : len(s)] = torch.tensor(s)
        target[b, : len(s), : len(s)] = torch.tensor(t)
    reference = loop_mrr(graphs)
    values = {}
    for variant in lm.MRR_VARIANTS:
        metric = lmt.LinkMRR(variant)
        metric.update(scores, target)
        values[variant] = float(metric.compute())
        assert values[variant] == pytest.approx(reference[variant], rel=1e-9)
    assert values["raw"] < values["filtered"] < values["filtered_no_self"]


def test_mrr_per_source_rows_with_self_index_and_tie_handling():
    scores = torch.tensor([[0.5, 0.5, 0.9, 0.1]])  # one source; candidates 0..3; the source is column 2
    target = torch.tensor([[True, False, False, False]])
    metric = lmt.LinkMRR("filtered_no_self")
    metric.update(scores, target, self_index=torch.tensor([2]))
    assert float(metric.compute()) == pytest.approx(1 / 1.5)  # one tie counts half a rank
    with pytest.raises(ValueError, match="self_index"):
        lmt.LinkMRR("raw").update(scores, target)
    with pytest.raises(ValueError, match="variant"):
        lmt.LinkMRR("filtered-no-self")
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert math.isnan(float(lmt.LinkMRR("raw").compute()))
