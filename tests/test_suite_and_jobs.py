"""Suites are validated before any training; job keys identify results; variants are derived."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_gnn.errors import ConfigError, UsageError
from bench_gnn.jobs import FULL, expand
from bench_gnn.suite import apply_overrides, read_suite_file, validate_suite
from bench_gnn.sweep import load_suite

SMOKE = Path(__file__).resolve().parents[1] / "plugins" / "smoke" / "bench_gnn_smoke" / "suites" / "smoke.yaml"


def _raw(plugins):
    return dict(plugins.suites.get("smoke").spec[1])


def test_unknown_top_level_key_suggests_the_right_one(plugins):
    raw = {**_raw(plugins), "protocl_args": {}}
    with pytest.raises(ConfigError, match="unknown suite key 'protocl_args'. Did you mean 'protocol_args'"):
        validate_suite(raw, plugins)


def test_unknown_model_dataset_metric_and_hparam_are_named(plugins):
    raw = _raw(plugins)
    with pytest.raises(ConfigError, match="unknown model 'GCNN'. Did you mean 'GCN'"):
        validate_suite({**raw, "models": ["GCNN"]}, plugins)
    with pytest.raises(ConfigError, match="unknown dataset 'csbm-mix'"):
        validate_suite({**raw, "datasets": ["csbm-mix"]}, plugins)
    with pytest.raises(ConfigError, match="unknown metric 'acc'"):
        validate_suite({**raw, "datasets": {"csbm-mixed": {"metric": "acc"}}}, plugins)
    with pytest.raises(ConfigError, match="unknown hyper-parameter 'hiden'. Did you mean 'hidden'"):
        validate_suite({**raw, "models": {"GCN": {"hparams": {"hiden": 3}}}}, plugins)


def test_malformed_yaml_is_a_config_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodels: [GCN\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        read_suite_file(bad)


def test_suite_file_on_the_command_line(plugins, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(SMOKE.read_text().replace("name: smoke", "name: mine"))
    suite, _ = load_suite(plugins, str(path))
    assert suite.name == "mine" and suite.models["GCN"]["hparams"]["hidden"] == 32


def test_overrides_use_omegaconf_dotlist_and_reject_unknown_keys(plugins):
    raw = _raw(plugins)
    merged = apply_overrides(raw, ["protocol_args.steps=7", "models.GCN.hparams.hidden=8"])
    suite = validate_suite(merged, plugins)
    assert suite.protocol_args["steps"] == 7 and suite.models["GCN"]["hparams"]["hidden"] == 8
    with pytest.raises(UsageError, match="unknown suite key 'modles'"):
        apply_overrides(raw, ["modles.GCN.hparams.hidden=8"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(raw, ["protocol_args.steps"])
    with pytest.raises(ConfigError, match="unknown protocol_args"):
        load_suite(plugins, "smoke", ["protocol_args.stesp=3"])


def test_job_keys_are_stable_and_change_with_what_determines_a_result(plugins):
    suite, published = load_suite(plugins, "smoke")
    jobs = expand(suite, plugins, published=published)
    assert len(jobs) == 3 * 3 * 2 and len({j.key for j in jobs}) == len(jobs)
    assert [j.key for j in expand(suite, plugins, published=published)] == [j.key for j in jobs]
    assert all(j.variant == FULL for j in jobs)
    reduced, _ = load_suite(plugins, "smoke", steps=10)
    reduced_jobs = expand(reduced, plugins, published=published)
    assert not {j.key for j in reduced_jobs} & {j.key for j in jobs}
    assert {j.variant for j in reduced_jobs} == {"reduced: steps=10"}
    bigger, _ = load_suite(plugins, "smoke", ["models.GCN.hparams.hidden=64"])
    variants = {j.model: j.variant for j in expand(bigger, plugins, published=published)}
    assert variants["GCN"] == "reduced: hidden=64" and variants["SAGE"] == FULL


def test_split_subset_and_filters_keep_full_protocol_jobs(plugins):
    suite, published = load_suite(plugins, "smoke")
    jobs = expand(suite, plugins, models=["GCN"], datasets=["csbm-mixed"], max_runs=1, published=published)
    assert [(j.model, j.dataset, j.split, j.variant) for j in jobs] == [("GCN", "csbm-mixed", 0, FULL)]
    with pytest.raises(UsageError, match="unknown model 'gcn'.*Did you mean 'GCN'"):
        expand(suite, plugins, models=["gcn"])


def test_grid_expands_per_model_and_dataset(plugins):
    suite, published = load_suite(plugins, "heterophily")
    jobs = expand(suite, plugins, models=["GCN"], datasets=["minesweeper"], published=published)
    assert len(jobs) == 5 * 10
    assert sorted({j.hparams["num_layers"] for j in jobs}) == [1, 2, 3, 4, 5]
    assert len({j.config_id for j in jobs}) == 5
    assert jobs[0].identity["dataset_files"] == {
        "heterophilous/minesweeper/raw/minesweeper.npz":
            "e664c8dacf1e8ac466c2c09ed4b237bd2c5541f47a6eae9c6092cb87f16412b3"
    }


def test_reference_scores_and_cells_read_in_each_form_a_suite_may_write(plugins):
    """A bare score, [mean], [mean, null] and [mean, std]: the std is known only in the last form."""
    forms = {"csbm-homophilous": 0.9, "csbm-mixed": [0.8], "csbm-heterophilous": [0.7, None]}
    reference = {"scores": {"GCN": {**forms, "csbm-mixed": [0.8, 0.05]}, "SAGE": forms},
                 "cells": {"csbm-mixed": {"GCN": {"full": {"acc": [0.6, 0.02], "ece": [0.1], "nll": 2,
                                                           "brier": [0.3, None]}}}}}
    suite = validate_suite({**_raw(plugins), "reference": reference}, plugins)
    assert suite.reference_score("GCN", "csbm-mixed") == (0.8, 0.05)
    assert [suite.reference_score("SAGE", d) for d in forms] == [(0.9, None), (0.8, None), (0.7, None)]
    assert suite.reference_score("ResNet", "csbm-mixed") is None
    assert suite.reference_score("GCN", "no-such-dataset") is None
    assert [suite.reference_cell("csbm-mixed", "GCN", "full", c) for c in ("acc", "ece", "nll", "brier")] == [
        (0.6, 0.02), (0.1, None), (2.0, None), (0.3, None)]
    assert suite.reference_cell("csbm-mixed", "GCN", "full", "auroc") is None
    assert suite.reference_cell("csbm-mixed", "SAGE", "full", "acc") is None
    assert suite.reference_cell("csbm-homophilous", "GCN", "full", "acc") is None


def test_a_reference_cell_that_is_no_score_is_named_by_its_path(plugins):
    where = "reference.cells.csbm-mixed.GCN.full"
    for value, message in (("high", f"{where}.acc must be a finite number, got 'high'"),
                           (["high", 0.1], f"{where}.acc must be a finite number, got 'high'"),
                           ([0.6, -0.1], f"{where}.acc (std) must be a number"),
                           ([0.6, 0.1, 0.2], f"{where}.acc must be a score or [mean, std], got [0.6, 0.1, 0.2]")):
        reference = {"cells": {"csbm-mixed": {"GCN": {"full": {"acc": value}}}}}
        with pytest.raises(ConfigError) as err:
            validate_suite({**_raw(plugins), "reference": reference}, plugins)
        assert message in str(err.value), (value, str(err.value))
    unknown = {"cells": {"csbm-mixed": {"GCN": {"full": {"acc": None, "ece": 0.1}}}}}  # a score not yet known
    suite = validate_suite({**_raw(plugins), "reference": unknown}, plugins)
    assert suite.reference_cell("csbm-mixed", "GCN", "full", "acc") is None
