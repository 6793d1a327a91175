"""README "Set up and run": the smoke suite needs no data and no network; its graphs span homophily 0.8/0.5/0.2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bench_gnn.data.context import DataContext

NO_NETWORK = '''
import socket

def _refuse(*args, **kwargs):
    raise OSError("network disabled by the test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
'''

# README "Suites shipped": smoke = 3 generated CSBM graphs (homophily 0.8 / 0.5 / 0.2)
NOMINAL = {"csbm-homophilous": 0.8, "csbm-mixed": 0.5, "csbm-heterophilous": 0.2}


def _edge_homophily(edge_index: np.ndarray, y: np.ndarray) -> float:
    """Fraction of edges joining two nodes of the same label (Zhu et al. 2020)."""
    return float(np.mean(y[edge_index[0]] == y[edge_index[1]]))


def test_edge_homophily_by_hand_on_a_tiny_graph():
    # path 0-1-2-3 labelled a a b b, both directions: 0-1 and 2-3 join equal labels, 1-2 does not
    edges = np.array([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    assert _edge_homophily(edges, np.array([0, 0, 1, 1])) == pytest.approx(2 / 3)


def test_smoke_graphs_have_the_nominal_homophily_in_order(plugins, tmp_path):
    measured = {}
    for name in NOMINAL:
        data = plugins.datasets.get(name).spec.load(DataContext(name, None, None, tmp_path, allow_download=False))
        measured[name] = _edge_homophily(data.edge_index.numpy(), data.y.numpy())
    # ~3000 edges drawn per graph: binomial sd <= 0.01; duplicate draws, dropped by coalesce, are likelier
    # within a class (200 nodes) than across (400), which biases the measured value ~0.02 low. 0.04 covers both.
    for name, level in NOMINAL.items():
        assert measured[name] == pytest.approx(level, abs=0.04), measured
    assert measured["csbm-homophilous"] > measured["csbm-mixed"] > measured["csbm-heterophilous"]


def test_smoke_suite_runs_with_no_data_folder_and_no_network(bench_process, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_DATA_DIR", "PYTHONPATH")}
    env |= {"PYTHONPATH": str(site), "HOME": str(tmp_path / "home")}
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
                           env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert "network disabled by the test" in probe.stderr  # the block is in force in children
    results = tmp_path / "results"
    run = bench_process("run", "--suite", "smoke", "--splits", "1", "--steps", "5", "--results", str(results),
                        "--no-progress", "--threads", "1", env=env, cwd=tmp_path)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    records = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    jobs = {(r["identity"]["dataset"], r["identity"]["model"]) for r in records if r["results"]["status"] == "ok"}
    assert jobs == {(d, m) for d in NOMINAL for m in ("ResNet", "GCN", "SAGE")}
    assert len(records) == 9
