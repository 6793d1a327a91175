"""Built-in analyses of trained models, registered through the ``bench_analyses`` hook.

``influence``
    The Jacobian influence profile ``I_h`` by hop distance and the influence-weighted receptive
    field ``R`` (:func:`bench_gnn.graph.influence.influence_profile`), on the test graphs of a
    graph dataset (at each graph's root where it has one) or on sampled test nodes of a node
    dataset. Arguments: ``hops`` (the last hop ``H`` of the profile) and ``nodes`` (output nodes
    sampled). Its cell holds ``R`` as a metric and the whole profile as extras; the leaderboard
    shows ``R``, and ``bench plot influence`` (the plot this analysis declares) draws the profiles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_gnn import AnalysisSpec, Column, check_int

if TYPE_CHECKING:
    from bench_gnn import TrainedModel


def influence(trained: TrainedModel, args: Mapping[str, Any]) -> dict[str, Any]:
    import copy

    from torch import Tensor

    from bench_gnn import influence_profile

    data = trained.data
    level = getattr(data, "level", None)
    node_attr = "root_mask" if level == "root" else None
    test_mask = getattr(data, "test_mask", None)
    if node_attr is None and isinstance(test_mask, Tensor):  # a node task: sample the split's test nodes only
        mask = test_mask[:, trained.split] if test_mask.dim() == 2 else test_mask
        data = copy.copy(data)  # the caller's graph keeps its attributes
        data.influence_candidates = mask.bool()
        node_attr = "influence_candidates"
    profile = influence_profile(
        trained.model, data, args["hops"], args["nodes"], seed=trained.seed,
        node_attr=node_attr, split="test", device=trained.device,
    )
    return {"metrics": {"R": profile["R"]}, "extras": profile}


def influence_plot(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """``bench plot influence``: the influence profiles of the records' ``influence`` cells against hop distance,
    one curve per dataset and model (averaged over runs)."""
    from bench_gnn import UsageError, plot_influence

    rows = [
        {"model": r["identity"]["model"], "dataset": r["identity"]["dataset"], "influence": cell["extras"]}
        for r in records
        if (cell := (r["results"].get("cells") or {}).get("influence")) and cell["status"] == "ok" and cell["extras"]
    ]
    if not rows:
        raise UsageError("no record has an influence measurement; run the suite first")
    return plot_influence(rows, path)


def analysis_specs():
    return [
        AnalysisSpec(
            name="influence", run=influence, defaults={"hops": 5, "nodes": 32},
            checks={"hops": partial(check_int, minimum=1), "nodes": partial(check_int, minimum=1)},
            columns=(Column("R", "R", digits=2),),
            plots={"influence": influence_plot},
            description="Jacobian influence by hop distance and the influence-weighted receptive field R",
        ),
    ]
