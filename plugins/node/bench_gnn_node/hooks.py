"""The node family's entry point (torch-free): each hook returns the specs of one kind."""

from __future__ import annotations

from bench_gnn import hookimpl
from bench_gnn_node import heterophily, metrics, models, protocol


@hookimpl
def bench_models():
    return models.model_specs()


@hookimpl
def bench_datasets():
    return heterophily.dataset_specs()


@hookimpl
def bench_metrics():
    return metrics.metric_specs()


@hookimpl
def bench_protocols():
    return protocol.protocol_specs()


@hookimpl
def bench_suites():
    return heterophily.suite_sources()
