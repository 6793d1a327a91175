"""Built-in analyses of trained models, registered through the ``bench_analyses`` hook.

``influence``
    The Jacobian influence profile ``I_h`` by hop distance and the influence-weighted receptive
    field ``R`` (:func:`bench_gnn.graph.influence.influence_profile`), on the test graphs of a
    graph dataset (at each graph's root where it has one) or on sampled nodes of a node
    dataset. Arguments: ``hops`` (the last hop ``H`` of the profile) and ``nodes`` (output nodes
    sampled). Its cell holds ``R`` as a metric and the whole profile as extras; the leaderboard
    shows ``R``, and ``bench plot influence`` draws the profiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from bench_gnn import AnalysisSpec, Column, check_int, hookimpl


def influence(trained: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    from bench_gnn.graph.influence import influence_profile

    data = trained.data
    level = getattr(data, "level", None)
    profile = influence_profile(
        trained.model, data, args["hops"], args["nodes"], seed=trained.seed,
        node_attr="root_mask" if level == "root" else None, split="test",
        device=trained.device,
    )
    return {"metrics": {"R": profile["R"]}, "extras": profile}


@hookimpl
def bench_analyses():
    return [
        AnalysisSpec(
            name="influence", run=influence, defaults={"hops": 5, "nodes": 32},
            checks={"hops": partial(check_int, minimum=1), "nodes": partial(check_int, minimum=1)},
            columns=(Column("R", "R", digits=2),),
            description="Jacobian influence by hop distance and the influence-weighted receptive field R",
        ),
    ]
