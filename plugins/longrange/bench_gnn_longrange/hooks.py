"""The long-range family's entry point (torch-free): each hook returns the specs of one kind."""

from __future__ import annotations

from bench_gnn import hookimpl
from bench_gnn_longrange import analyses, lrgb, metrics, models, probes, protocol


@hookimpl
def bench_models():
    return models.model_specs()


@hookimpl
def bench_datasets():
    return lrgb.dataset_specs() + probes.dataset_specs()


@hookimpl
def bench_metrics():
    return metrics.metric_specs()


@hookimpl
def bench_protocols():
    return protocol.protocol_specs()


@hookimpl
def bench_analyses():
    return analyses.analysis_specs()


@hookimpl
def bench_suites():
    return lrgb.suite_sources()
