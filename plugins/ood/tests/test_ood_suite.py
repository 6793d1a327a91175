"""The ood-calibration suite end to end on real Cora, reduced (one run, few epochs): every cell filled, the
cross-reporting present, numbers consistent where they must agree, identical on a rerun, leaderboard tables
and the reliability plot drawn."""

from __future__ import annotations

import re

import pytest

from bench_gnn.api import run
from bench_gnn.leaderboard import render
from bench_gnn.store import read_records
from bench_gnn.sweep import Sweep

CALIBRATORS = ("uncalibrated", "TS", "VS", "ETS", "CaGCN", "GATS")
DETECTORS = ("MSP", "ODIN", "Mahalanobis", "Energy", "GNNSafe", "OE", "Energy-FT", "GNNSafe++")
SHIFTS = ("structure", "feature", "label")
REDUCED = [f"protocol_args.calibrator_args.{name}.epochs=60" for name in CALIBRATORS[1:]]


def _run(plugins, data_dir, folder, cache):
    sweep = Sweep("ood-calibration", datasets=["cora-gats", "cora"], models=["GATS-GCN", "GNNSafe-GCN"], splits=1,
                  steps=40, overrides=REDUCED, results=folder, data_dir=data_dir, cache_dir=cache, device="cpu",
                  offline=True)
    summary, suite = run(sweep, progress=False, plugins=plugins)
    assert summary.failed == 0 and summary.ok == 2
    return suite, {r["identity"]["dataset"]: r for r in read_records(folder / "ood-calibration")}


@pytest.fixture(scope="module")
def reduced(plugins_module, data_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    first = _run(plugins_module, data_dir, tmp_path_factory.mktemp("first"), cache)
    second = _run(plugins_module, data_dir, tmp_path_factory.mktemp("second"), cache)
    return first, second


@pytest.fixture(scope="module")
def plugins_module():
    from bench_gnn.plugin_manager import load_plugins

    return load_plugins()


def test_every_calibrator_fills_its_cell_on_one_trained_backbone(reduced):
    (suite, records), _ = reduced
    record = records["cora-gats"]
    cells = record["results"]["cells"]
    assert list(cells) == sorted(CALIBRATORS) and all(c["status"] == "ok" for c in cells.values())
    assert record["variant"].startswith("reduced: ") and "epochs=40" in record["variant"]
    assert record["results"]["extras"]["split"] == 0 and record["results"]["extras"]["fold"] == 0
    # one backbone: the uncalibrated cell's accuracy is the record's own test accuracy (computed apart)
    assert cells["uncalibrated"]["metrics"]["acc"] == pytest.approx(record["results"]["metrics"]["test"], abs=1e-6)
    for name in ("TS", "ETS", "CaGCN", "GATS"):  # calibrators that keep each node's argmax keep the accuracy
        assert cells[name]["metrics"]["acc"] == pytest.approx(cells["uncalibrated"]["metrics"]["acc"], abs=1e-6)
    for cell in cells.values():
        m = cell["metrics"]
        assert 0 <= m["ece"] <= m["mce"] <= 1 and 0 < m["nll"] and 0 <= m["brier"] <= 2
        assert all(0 <= m[f"ece@{shift}"] <= 1 and 0 <= m[f"acc@{shift}"] <= 1 for shift in ("structure", "feature"))
        assert set(cell["extras"]["reliability"]) == {"clean", "structure", "feature"}
        assert sum(cell["extras"]["reliability"]["clean"]["count"]) == 1957  # Cora's GATS test set
    # a structure-shifted graph hurts a GCN: accuracy drops on it
    assert cells["uncalibrated"]["metrics"]["acc@structure"] < cells["uncalibrated"]["metrics"]["acc"] - 0.1
    # the identity carries every calibrator's arguments, per backbone where they depend on it
    args = record["identity"]["protocol_args"]
    assert args["calibrator_args"]["GATS"]["weight_decay"] == {"GATS-GCN": 0.005, "GATS-GAT": 0.01}
    assert args["calibrator_args"]["TS"] == {"lr": 0.01, "epochs": 60, "patience": 100, "weight_decay": 0.0}


def test_every_detector_fills_a_cell_per_shift_with_its_backbones_numbers(reduced):
    (_, records), _ = reduced
    record = records["cora"]
    cells = record["results"]["cells"]
    assert set(cells) == {f"{s}/{d}" for s in SHIFTS for d in DETECTORS}
    assert all(c["status"] == "ok" and c["kind"] == "detector" for c in cells.values())
    for cell in cells.values():
        m = cell["metrics"]
        assert all(0 <= m[k] <= 1 for k in ("auroc", "aupr", "fpr95", "fpr95_gnnsafe", "id_score", "id_ece"))
    for shift in SHIFTS:  # detectors of one training regime share one model, so its in-distribution numbers
        assert cells[f"{shift}/MSP"]["metrics"]["id_score"] == cells[f"{shift}/ODIN"]["metrics"]["id_score"]
        assert cells[f"{shift}/Energy"]["metrics"]["id_ece"] == cells[f"{shift}/GNNSafe"]["metrics"]["id_ece"]
    assert record["results"]["extras"]["seeds"] == {"structure": {"shift": 0}, "feature": {"shift": 0}, "label": {}}
    assert record["results"]["extras"]["shift_args"]["label"] == {
        "id_classes": [4, 5, 6], "ood_train_classes": [3], "ood_test_classes": [0, 1, 2]}


def test_a_rerun_gives_identical_numbers(reduced):
    (_, first), (_, second) = reduced
    for dataset in ("cora-gats", "cora"):
        a, b = first[dataset]["results"], second[dataset]["results"]
        assert a["metrics"] == b["metrics"]
        assert {k: c["metrics"] for k, c in a["cells"].items()} == {k: c["metrics"] for k, c in b["cells"].items()}


def test_the_leaderboard_has_the_calibration_cross_and_ood_tables(reduced):
    (suite, records), _ = reduced
    page = render(suite, list(records.values()))
    for title in ("### Calibration (GATS protocol)", "### Calibration under distribution shift (cross-reporting)",
                  "### OOD detection (GNNSafe protocol)"):
        assert title in page
    assert "ref ECE" not in page  # a reduced run is never compared with the reference numbers
    ts = records["cora-gats"]["results"]["cells"]["TS"]["metrics"]["ece"] * 100
    assert f"| cora-gats | GATS-GCN | TS | 1 | {ts:.2f} |" in re.sub(" +", " ", page)  # one run: no std


def test_reliability_diagrams_are_drawn_from_the_records(reduced, bench_main, tmp_path):
    (suite, records), _ = reduced
    folder = tmp_path / "records"
    (folder / "ood-calibration").mkdir(parents=True)
    import json

    for record in records.values():
        (folder / "ood-calibration" / f"{record['key']}.json").write_text(json.dumps(record))
    png = tmp_path / "reliability.png"
    code, out, err = bench_main("plot", "reliability", "--suite", "ood-calibration", "--records", str(folder),
                                "--out", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
