"""Which models a leaderboard cannot tell apart from the best, and how sure an average rank is.

- :func:`compare_with_best`: per dataset, each model's test scores are paired with the best
  model's over the splits or seeds both ran; a two-sided paired t-test (``scipy.stats.ttest_rel``)
  gives a p-value per model, Holm's step-down procedure corrects them across the dataset's
  models, and a model whose corrected p-value is at least ``alpha`` is "not distinguishable
  from the best". Fewer than :data:`MIN_PAIRS` shared runs: no verdict.
- :func:`rank_intervals`: a percentile bootstrap over datasets (resampled with replacement,
  a fixed seed, so the interval is the same on every render) of each model's average rank.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

ALPHA = 0.05
MIN_PAIRS = 3
RESAMPLES = 1000
BEST, TIED, WORSE = "best", "≈", "<"

Scores = Mapping[tuple[int, int], float]


def compare_with_best(scores: Mapping[str, Scores], best: str, alpha: float = ALPHA) -> dict[str, str]:
    """``{model: "best" | "≈" | "<" | ""}`` for the models of one dataset; ``best`` is the top-ranked model."""
    from scipy.stats import ttest_rel

    verdicts = {best: BEST}
    p_values: dict[str, float] = {}
    for model, runs in scores.items():
        if model == best:
            continue
        shared = sorted(set(runs) & set(scores[best]))
        if len(shared) < MIN_PAIRS:
            verdicts[model] = ""
            continue
        ours, theirs = [runs[k] for k in shared], [scores[best][k] for k in shared]
        if all(math.isclose(a, b) for a, b in zip(ours, theirs)):
            p_values[model] = 1.0
        else:
            p = float(ttest_rel(ours, theirs).pvalue)
            p_values[model] = 1.0 if math.isnan(p) else p
    for model, p in holm(p_values).items():
        verdicts[model] = TIED if p >= alpha else WORSE
    return verdicts


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1)."""
    ordered = sorted(p_values.items(), key=lambda kv: kv[1])
    adjusted, running = {}, 0.0
    for i, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - i) * p))
        adjusted[name] = running
    return adjusted


def rank_intervals(
    ranks: Mapping[str, Mapping[str, float]], models: Sequence[str], level: float = 0.95, seed: int = 0
) -> dict[str, tuple[float, float] | None]:
    """Bootstrap interval of each model's average rank over ``ranks[dataset][model]``.

    A model ranked on fewer than two datasets gets None (nothing to resample).
    """
    import numpy as np

    datasets = sorted(ranks)
    out: dict[str, tuple[float, float] | None] = {}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(datasets), size=(RESAMPLES, len(datasets))) if datasets else None
    for model in models:
        values = np.array([ranks[d].get(model, np.nan) for d in datasets], dtype=float)
        if draws is None or np.count_nonzero(~np.isnan(values)) < 2:
            out[model] = None
            continue
        sample = values[draws]
        counts = np.sum(~np.isnan(sample), axis=1)
        means = np.nansum(sample, axis=1)[counts > 0] / counts[counts > 0]
        tail = (1 - level) / 2 * 100
        lo, hi = np.percentile(means, [tail, 100 - tail])
        out[model] = (float(lo), float(hi))
    return out
