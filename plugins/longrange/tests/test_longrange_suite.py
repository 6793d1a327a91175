"""A reduced gnn-longrange run through the CLI: Peptides-func from the data folder and the probes."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from bench_gnn.cli import main

LABEL_FREQUENCY_AP = 0.1647  # AP of constant train-label-frequency scores on the test split (computed below)


@pytest.fixture(scope="module")
def longrange_run(data_dir, peptides_cache, tmp_path_factory):
    """One reduced run shared by this module's tests (one epoch at lr 1e-2, one seed, small models): on
    Peptides-func it clears the label-frequency AP by about 0.06 (two epochs at 3e-3 did about the same in
    three times the time)."""
    tmp_path = tmp_path_factory.mktemp("longrange")
    common = ("--suite", "gnn-longrange", "--seeds", "1", "--steps", "1", "protocol_args.warmup_epochs=0",
              "protocol_args.lr=1e-2", "datasets.ring-transfer.protocol_args.analyses.influence.nodes=4",
              "protocol_args.analyses.influence.nodes=4", "--no-progress", "--data-dir", str(data_dir),
              "--cache-dir", str(peptides_cache), "--results", str(tmp_path))
    code, out, err = _main(
        "run", *common, "--dataset", "peptides-func", "--dataset", "ring-transfer", "--model", "LRGB-GCN",
        "models.LRGB-GCN.hparams.hidden=32", "models.LRGB-GCN.hparams.layers=3", "models.LRGB-GCN.hparams.pe=none",
    )
    drew = _main(
        "run", *common, "--dataset", "ring-transfer", "--model", "DRew-GCN",
        "models.DRew-GCN.hparams.hidden=16", "models.DRew-GCN.hparams.layers=5", "models.DRew-GCN.hparams.max_hops=5",
    )
    code, err = max(code, drew[0]), err + drew[2]
    records = [json.loads(p.read_text()) for p in (tmp_path / "gnn-longrange").glob("*.json")]
    return code, out, err, {(r["identity"]["model"], r["identity"]["dataset"]): r for r in records}, tmp_path


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_reduced_run_learns_and_records_influence(longrange_run):
    code, out, err, records, _ = longrange_run
    assert code == 0, err
    assert len(records) == 3 and all(r["results"]["status"] == "ok" for r in records.values())
    peptides = records[("LRGB-GCN", "peptides-func")]
    assert peptides["variant"].startswith("reduced: ") and "epochs=1" in peptides["variant"]
    assert peptides["results"]["metrics"]["test"] > LABEL_FREQUENCY_AP + 0.03
    assert peptides["results"]["num_params"] < 500_000 and peptides["results"]["extras"]["resident"] is True
    layers = {"LRGB-GCN": 3, "DRew-GCN": 5}
    for (model, dataset), record in records.items():
        cell = record["results"]["cells"]["influence"]
        assert cell["kind"] == "analysis" and cell["status"] == "ok"
        influence = cell["extras"]
        hops = 10 if dataset == "peptides-func" else 5  # the suite's influence hops per dataset
        assert (influence["nodes"], influence["max_hops"], len(influence["I"])) == (4, hops, hops + 1)  # as asked
        # k message-passing layers reach k hops: no influence beyond, and R (a mean hop distance) at most k
        assert influence["I_beyond"] == 0.0 and influence["I_unreachable"] == 0.0
        assert 0.0 < influence["R"] <= layers[model] and cell["metrics"]["R"] == influence["R"]
        assert record["identity"]["protocol_args"]["analyses"] == {"influence": {"hops": hops, "nodes": 4}}
    # DRew reaches 5 hops with 5 layers; a 3-layer GCN has no influence beyond hop 3.
    profile = {model: records[(model, "ring-transfer")]["results"]["cells"]["influence"]["extras"]["I"]
               for model in ("LRGB-GCN", "DRew-GCN")}
    assert all(v == 0.0 for v in profile["LRGB-GCN"][4:]) and any(v > 0.0 for v in profile["DRew-GCN"][4:])
    assert "| R " in out or "R    " in out


def test_influence_plot_from_the_records(longrange_run, bench_main, tmp_path):
    png = tmp_path / "influence.png"
    code, out, err = bench_main("plot", "influence", "--suite", "gnn-longrange", "--records", str(longrange_run[4]),
                                "--out", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_label_frequency_ap_of_peptides_func_is_what_the_labels_give(data_dir, peptides_cache):
    """The baseline the reduced run is held against (README: 0.165), recomputed with sklearn from the test labels:
    per task, every test graph scores the task's train-label frequency; AP is the mean over the ten tasks."""
    import numpy as np
    import torch
    from sklearn.metrics import average_precision_score

    from bench_gnn.plugin_manager import load_plugins
    from bench_gnn.runner import RunOptions, load_dataset

    data = load_dataset(load_plugins(), "peptides-func", RunOptions(torch.device("cpu"), data_dir, peptides_cache))
    labels = {name: np.stack([data.dataset[int(i)].y.numpy().reshape(-1) for i in data.splits[name]])
              for name in ("train", "test")}
    assert labels["train"].shape == (10873, 10) and labels["test"].shape == (2331, 10)  # LRGB's split sizes
    frequency = labels["train"].mean(0)
    ap = np.mean([average_precision_score(labels["test"][:, t], np.full(len(labels["test"]), frequency[t]))
                  for t in range(10)])
    assert ap == pytest.approx(LABEL_FREQUENCY_AP, abs=5e-5) and round(ap, 3) == 0.165


def test_over_budget_model_is_refused_and_can_be_recorded(bench_main, tmp_path):
    args = ["run", "--suite", "gnn-longrange", "--dataset", "tree-neighbors-match-r2", "--model", "LRGB-GCN",
            "--seeds", "1", "--steps", "1", "models.LRGB-GCN.hparams.hidden=260", "models.LRGB-GCN.hparams.pe=none",
            "datasets.tree-neighbors-match-r2.protocol_args.analyses={}", "--no-progress",
            "--results", str(tmp_path)]
    code, _, refused = bench_main(*args)
    (failed,) = [json.loads(p.read_text()) for p in (tmp_path / "gnn-longrange").glob("*.json")]
    assert code == 1 and failed["results"]["status"] == "failed"
    assert failed["results"]["error"]["type"] == "OverBudgetError" and failed["results"].get("steps") is None
    code, _, err = bench_main(*args, "--allow-over-budget", "--force")
    assert code == 0, err
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "gnn-longrange").glob("*.json")]
    results = record["results"]
    assert results["status"] == "ok" and results["extras"]["over_budget"] is True and results["num_params"] > 500_000
    assert (f"model 'LRGB-GCN' has {results['num_params']:,} parameters, over the suite budget of 500,000; make it "
            "smaller or pass --allow-over-budget to record it as out of budget") in refused


def test_unavailable_online_datasets_are_reported_not_hung(bench_main, tmp_path):
    code, _, err = bench_main("run", "--suite", "gnn-longrange", "--dataset", "peptides-struct", "--model", "GINE",
                              "--seeds", "1", "--steps", "1", "--offline", "--no-progress", "--results", str(tmp_path))
    assert code == 5 and "unavailable: peptides-struct" in err
