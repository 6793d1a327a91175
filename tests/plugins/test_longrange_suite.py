"""A reduced gnn-longrange run through the CLI: Peptides-func from the data folder and the probes."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from bench_gnn.cli import main

LABEL_FREQUENCY_AP = 0.1647  # AP of constant train-label-frequency scores on the test split


@pytest.fixture(scope="module")
def longrange_run(data_dir, peptides_cache, tmp_path_factory):
    """One reduced run shared by this module's tests (two epochs, one seed, small models)."""
    tmp_path = tmp_path_factory.mktemp("longrange")
    common = ("--suite", "gnn-longrange", "--seeds", "1", "--steps", "2", "protocol_args.warmup_epochs=0",
              "protocol_args.lr=3e-3", "datasets.ring-transfer.protocol_args.analyses.influence.nodes=4",
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


@pytest.mark.slow
def test_reduced_run_learns_and_records_influence(longrange_run):
    code, out, err, records, _ = longrange_run
    assert code == 0, err
    assert len(records) == 3 and all(r["results"]["status"] == "ok" for r in records.values())
    peptides = records[("LRGB-GCN", "peptides-func")]
    assert peptides["variant"].startswith("reduced: ") and "epochs=2" in peptides["variant"]
    assert peptides["results"]["metrics"]["test"] > LABEL_FREQUENCY_AP + 0.03
    assert peptides["results"]["num_params"] < 500_000 and peptides["results"]["extras"]["resident"] is True
    for record in records.values():
        cell = record["results"]["cells"]["influence"]
        assert cell["kind"] == "analysis" and cell["status"] == "ok"
        influence = cell["extras"]
        assert influence["I"][0] == pytest.approx(1.0) and influence["R"] >= 0.0
        assert cell["metrics"]["R"] == influence["R"]
    # DRew reaches 5 hops with 5 layers; a 3-layer GCN has no influence beyond hop 3.
    profile = {model: records[(model, "ring-transfer")]["results"]["cells"]["influence"]["extras"]["I"]
               for model in ("LRGB-GCN", "DRew-GCN")}
    assert all(v == 0.0 for v in profile["LRGB-GCN"][4:]) and any(v > 0.0 for v in profile["DRew-GCN"][4:])
    assert "| R " in out or "R    " in out


@pytest.mark.slow
def test_influence_plot_from_the_records(longrange_run, bench_main, tmp_path):
    png = tmp_path / "influence.png"
    code, out, err = bench_main("plot", "influence", "--suite", "gnn-longrange", "--records", str(longrange_run[4]),
                                "--out", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_over_budget_model_is_refused_and_can_be_recorded(bench_main, tmp_path):
    args = ["run", "--suite", "gnn-longrange", "--dataset", "tree-neighbors-match-r2", "--model", "LRGB-GCN",
            "--seeds", "1", "--steps", "1", "models.LRGB-GCN.hparams.hidden=260", "models.LRGB-GCN.hparams.pe=none",
            "datasets.tree-neighbors-match-r2.protocol_args.analyses={}", "--no-progress",
            "--results", str(tmp_path)]
    code, _, err = bench_main(*args)
    assert code == 1 and "over the suite budget of 500,000" in err and "--allow-over-budget" in err
    code, _, err = bench_main(*args, "--allow-over-budget", "--force")
    assert code == 0, err
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "gnn-longrange").glob("*.json")]
    results = record["results"]
    assert results["status"] == "ok" and results["extras"]["over_budget"] is True and results["num_params"] > 500_000


def test_unavailable_online_datasets_are_reported_not_hung(bench_main, tmp_path):
    code, _, err = bench_main("run", "--suite", "gnn-longrange", "--dataset", "peptides-struct", "--model", "GINE",
                              "--seeds", "1", "--steps", "1", "--offline", "--no-progress", "--results", str(tmp_path))
    assert code == 5 and "unavailable: peptides-struct" in err
