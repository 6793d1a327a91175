"""The README's "Suites shipped" table, checked against the jobs each installed suite expands to."""

from __future__ import annotations

from collections import Counter

import pytest

from bench_gnn.jobs import expand
from bench_gnn.sweep import load_suite


@pytest.fixture(scope="module")
def jobs_of(plugins):
    def jobs(name):
        suite, published = load_suite(plugins, name)
        return expand(suite, plugins, published=published)

    return jobs


def _cells(jobs):
    return Counter((job.dataset, job.model) for job in jobs)


def test_smoke_is_three_csbm_graphs_by_three_models_100_steps_2_splits(jobs_of):
    jobs = jobs_of("smoke")
    assert {job.model for job in jobs} == {"ResNet", "GCN", "SAGE"}
    assert len({job.dataset for job in jobs}) == 3
    assert set(_cells(jobs).values()) == {2} and {job.split for job in jobs} == {0, 1}
    assert {job.identity["protocol"] for job in jobs} == {"node-full-batch"}
    assert {job.identity["protocol_args"]["steps"] for job in jobs} == {100}
    assert all(job.variant == "full" for job in jobs)


def test_heterophily_is_the_platonov_grid_of_2450_jobs(jobs_of):
    jobs = jobs_of("heterophily")
    assert len(jobs) == 2450 == 7 * 7 * 5 * 10
    assert {job.dataset for job in jobs} == {"roman-empire", "amazon-ratings", "minesweeper", "tolokers", "questions",
                                            "chameleon-filtered", "squirrel-filtered"}
    assert {job.model for job in jobs} == {"ResNet", "GCN", "SAGE", "GAT", "GAT-sep", "GT", "GT-sep"}
    assert {job.split for job in jobs} == set(range(10))
    assert {job.hparams["num_layers"] for job in jobs} == {1, 2, 3, 4, 5}
    assert all(job.identity["grid_keys"] == ["num_layers"] for job in jobs)
    args = {(job.identity["protocol_args"]["lr"], job.identity["protocol_args"]["steps"]) for job in jobs}
    assert args == {(3e-5, 1000)}


def test_gnn_longrange_is_the_retuned_lrgb_protocol_with_influence(jobs_of):
    jobs = jobs_of("gnn-longrange")
    assert {job.model for job in jobs} == {"LRGB-GCN", "GINE", "GatedGCN", "GPS", "Transformer-LapPE", "DRew-GCN"}
    assert {"peptides-func", "peptides-struct", "pascalvoc-sp", "coco-sp", "ring-transfer"} <= {j.dataset for j in jobs}
    assert {f"tree-neighbors-match-r{r}" for r in range(2, 9)} <= {job.dataset for job in jobs}
    assert set(_cells(jobs).values()) == {4} and {job.seed for job in jobs} == {0, 1, 2, 3}
    for job in jobs:
        args = job.identity["protocol_args"]
        assert job.identity["max_params"] == 500_000
        assert args["scheduler"] == "cosine" and args["warmup_epochs"] == 5
        assert "influence" in args["analyses"]
        if job.dataset.startswith("peptides"):
            assert (args["epochs"], args["batch_size"]) == (250, 200)


def test_ood_calibration_has_75_runs_per_calibration_cell_and_5_per_ood_cell(jobs_of):
    jobs = jobs_of("ood-calibration")
    cells = _cells(jobs)
    calibration = {cell: n for cell, n in cells.items() if cell[1] in ("GATS-GCN", "GATS-GAT")}
    ood = {cell: n for cell, n in cells.items() if cell[1] == "GNNSafe-GCN"}
    assert set(calibration) == {(d, m) for d in ("cora-gats", "citeseer-gats") for m in ("GATS-GCN", "GATS-GAT")}
    assert set(calibration.values()) == {75}
    assert {d for d, _ in ood} == {"cora", "citeseer", "twitch"} and set(ood.values()) == {5}
    assert len(jobs) == 4 * 75 + 3 * 5 == 315
    by_model = {job.model: job.identity for job in jobs}
    assert set(by_model["GATS-GCN"]["protocol_args"]["calibrators"]) == {"uncalibrated", "TS", "VS", "ETS", "CaGCN",
                                                                        "GATS"}
    detectors = {job.dataset: job.identity["protocol_args"]["detectors"] for job in jobs if job.model == "GNNSafe-GCN"}
    assert {"MSP", "ODIN", "Mahalanobis", "Energy", "GNNSafe", "OE", "Energy-FT", "GNNSafe++"} <= set(detectors["cora"])


def test_splits_k_takes_the_first_k_splits_or_seeds_and_stays_full_protocol(plugins):
    for name, k, field in (("heterophily", 3, "split"), ("gnn-longrange", 2, "seed")):
        suite, published = load_suite(plugins, name)
        jobs = expand(suite, plugins, models=["GCN" if name == "heterophily" else "LRGB-GCN"], max_runs=k,
                      published=published)
        assert {getattr(job, field) for job in jobs} == set(range(k)), name
        assert set(_cells(jobs).values()) == {k * (5 if name == "heterophily" else 1)}, name
        assert all(job.variant == "full" for job in jobs), name  # fewer splits is not a reduced protocol
