"""Expand a suite into jobs: one (dataset, model, hyper-parameters, split or seed) each.

A job's key is a content hash of everything that determines its result, so a
finished job is never run twice and different settings never share a record.
A job is *full protocol* exactly when the unmodified suite would produce the same
key; anything else carries a variant label that says what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench_gnn.data.cards import load_card
from bench_gnn.errors import UsageError, unknown_name
from bench_gnn.plugin_manager import Plugins
from bench_gnn.record import config_id_of, content_hash
from bench_gnn.suite import Suite, grid_points

FULL = "full"


@dataclass(frozen=True)
class Job:
    dataset: str
    model: str
    metric: str
    hparams: dict[str, Any]
    split: int
    seed: int
    identity: dict[str, Any] = field(repr=False)
    key: str = ""
    config_id: str = ""
    variant: str = FULL

    @property
    def label(self) -> str:
        tuned = ",".join(f"{k}={v}" for k, v in sorted(self.hparams.items()) if k in self.identity.get("grid_keys", ()))
        return f"{self.model} on {self.dataset} split {self.split}" + (f" [{tuned}]" if tuned else "")


def _cell_jobs(suite: Suite, plugins: Plugins, dataset: str, model: str, runs: Sequence[tuple[int, int]]) -> list[Job]:
    dataset_spec = plugins.datasets.get(dataset)
    model_entry = plugins.models.get(model)
    card = load_card(dataset_spec.spec.card, dataset) if dataset_spec.spec.card is not None else None
    metric = suite.datasets[dataset]["metric"]
    base, grid = suite.models[model]["hparams"], suite.models[model]["grid"]
    jobs = []
    for point in grid_points(grid):
        hparams = {**base, **point}
        config_id = config_id_of(model, hparams)
        for split, seed in runs:
            identity = {
                "suite": suite.name,
                "suite_version": suite.version,
                "protocol": suite.protocol_for(dataset),
                "protocol_args": suite.protocol_args_for(dataset),  # defaults merged: a new default is a new key
                "max_params": suite.max_params,
                "dataset": dataset,
                "dataset_files": card.checksums() if card else {},
                "dataset_plugin": [dataset_spec.plugin.distribution, dataset_spec.plugin.version],
                "model": model,
                "model_plugin": [model_entry.plugin.distribution, model_entry.plugin.version],
                "hparams": hparams,
                "grid_keys": sorted(grid),
                "metric": metric,
                "split": split,
                "seed": seed,
            }
            jobs.append(Job(dataset, model, metric, hparams, split, seed, identity, content_hash(identity), config_id))
    return jobs


def expand(
    suite: Suite,
    plugins: Plugins,
    *,
    models: Sequence[str] = (),
    datasets: Sequence[str] = (),
    max_runs: int | None = None,
    published: Suite | None = None,
) -> list[Job]:
    """Jobs of ``suite``, filtered by model/dataset names and limited to ``max_runs`` splits or seeds.

    ``published`` is the suite as shipped (before flags and overrides); jobs whose
    key it would not produce get a variant label naming the difference.
    """
    for name in models:
        if name not in suite.models:
            raise unknown_name("model", name, suite.models, hint=f"(models of suite {suite.name!r}; an installed "
                               "model whose tasks fit the suite's datasets runs too: see `bench list models`)")
    for name in datasets:
        if name not in suite.datasets:
            raise unknown_name("dataset", name, suite.datasets, hint=f"(datasets of suite {suite.name!r})")
    if max_runs is not None and max_runs < 1:
        raise UsageError("--splits/--seeds must be at least 1")
    jobs = [
        job
        for dataset in suite.datasets
        if not datasets or dataset in datasets
        for model in suite.models_for(dataset)
        if not models or model in models
        for job in _cell_jobs(suite, plugins, dataset, model, suite.runs(dataset)[:max_runs])
    ]
    reference = published or suite
    full_jobs = [
        job
        for dataset in reference.datasets
        for model in reference.models_for(dataset)
        for job in _cell_jobs(reference, plugins, dataset, model, reference.runs(dataset))
    ]
    full_keys = {job.key for job in full_jobs}
    full_settings = {comparability_key(job.identity) for job in full_jobs}
    return [
        job if _is_full(job, reference, full_keys, full_settings)
        else _with_variant(job, describe_variant(suite, reference, job))
        for job in jobs
    ]


#: What a job's identity says about its model alone: it never changes comparability (variant = comparability).
MODEL_FIELDS = ("model", "model_plugin", "hparams", "grid_keys")


def comparability_key(identity: dict[str, Any]) -> str:
    """The hash of everything in a job's identity that makes its numbers comparable with the published suite's:
    the identity without the model and its hyper-parameters (protocol and arguments, dataset and its files,
    budget, metric, split and seed)."""
    return content_hash({k: v for k, v in identity.items() if k not in MODEL_FIELDS})


def _is_full(job: Job, published: Suite, full_keys: set[str], full_settings: set[str]) -> bool:
    """A job of one of the published suite's models is full when the published suite has that very job (its
    grid point included); a job of any other model when it runs under settings one of the published jobs has."""
    if job.model in published.models:
        return job.key in full_keys
    return comparability_key(job.identity) in full_settings


def _with_variant(job: Job, variant: str) -> Job:
    return Job(job.dataset, job.model, job.metric, job.hparams, job.split, job.seed, job.identity, job.key,
               job.config_id, variant)


def describe_variant(suite: Suite, published: Suite, job: Job) -> str:
    """Say how a job departs from the published protocol, e.g. ``reduced: steps=200``."""
    parts = []
    ours = suite.protocol_args_for(job.dataset)
    theirs = published.protocol_args_for(job.dataset) if job.dataset in published.datasets else {}
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key) != theirs.get(key):
            parts.append(f"{key}={ours.get(key)}")
    if suite.max_params != published.max_params:
        parts.append(f"max_params={suite.max_params}")
    if job.model in published.models:
        reference = published.models[job.model]
        allowed = {**reference["hparams"], **{k: None for k in reference["grid"]}}
        for key, value in sorted(job.hparams.items()):
            if key in reference["grid"]:
                if value not in reference["grid"][key]:
                    parts.append(f"{key}={value}")
            elif allowed.get(key) != value:
                parts.append(f"{key}={value}")
    if job.metric != published.datasets.get(job.dataset, {}).get("metric", job.metric):
        parts.append(f"metric={job.metric}")
    if job.dataset in published.datasets and suite.protocol_for(job.dataset) != published.protocol_for(job.dataset):
        parts.append(f"protocol={suite.protocol_for(job.dataset)}")
    theirs_runs = published.runs(job.dataset) if job.dataset in published.datasets else []
    if theirs_runs and suite.splits is not None and job.split >= len(theirs_runs):
        parts.append(f"split={job.split}")
    return "reduced: " + ", ".join(parts) if parts else "reduced"
