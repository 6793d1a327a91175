"""The ``ood-calibration`` family's entry point (torch-free): each hook returns the specs of one kind."""

from __future__ import annotations

from bench_gnn import hookimpl
from bench_gnn_ood import backbones, calibration, datasets, detection


@hookimpl
def bench_protocols():
    return [calibration.protocol_spec(), detection.protocol_spec()]


@hookimpl
def bench_calibrators():
    return calibration.calibrator_specs()


@hookimpl
def bench_detectors():
    return detection.detector_specs()


@hookimpl
def bench_models():
    return backbones.model_specs()


@hookimpl
def bench_datasets():
    return datasets.dataset_specs()


@hookimpl
def bench_suites():
    return datasets.suite_sources()
