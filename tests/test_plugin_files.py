"""`--plugin PATH.py` (and $BENCH_PLUGINS): a model file runs without packaging, through the same hooks and
isolation as an installed plugin; the file's sha256 is in the identity of its models' jobs, its path in their
provenance."""

from __future__ import annotations

import json
from pathlib import Path

from bench_gnn.errors import ExitCode
from bench_gnn.report import PLUGINS_ENV
from bench_gnn.sweep import Sweep

MODEL_FILE = '''
import torch
from torch_geometric.nn import GCNConv

from bench_gnn import ModelSpec, hookimpl


class TwoLayerGCN(torch.nn.Module):
    def __init__(self, in_dim, out_dim, hidden):
        super().__init__()
        self.conv1, self.conv2 = GCNConv(in_dim, hidden), GCNConv(hidden, out_dim)

    def forward(self, data):
        return self.conv2(torch.relu(self.conv1(data.x, data.edge_index)), data.edge_index)


@hookimpl
def bench_models():
    return [ModelSpec("MyGNN", build=lambda task, hp: TwoLayerGCN(task.in_dim, task.out_dim, hp["hidden"]),
                      defaults={"hidden": 16}, description="two GCN layers, from a file")]
'''
SWEEP = ("--suite", "smoke", "models.MyGNN={}", "--model", "MyGNN", "--dataset", "csbm-homophilous", "--splits", "1",
         "--steps", "20", "--no-progress", "--no-leaderboard")


def _records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / "smoke").glob("*.json"))]


def test_a_model_file_runs_and_its_content_is_in_the_jobs_identity(bench_main, tmp_path):
    model = tmp_path / "my_gnn.py"
    model.write_text(MODEL_FILE)
    results = tmp_path / "results"
    code, _, err = bench_main("run", *SWEEP, "--plugin", str(model), "--results", str(results))
    assert code == ExitCode.OK, err
    (record,) = _records(results)
    sha = __import__("hashlib").sha256(model.read_bytes()).hexdigest()
    assert record["identity"]["model_plugin"] == ["file:my_gnn.py", f"sha256:{sha}"]
    assert record["provenance"]["model_entry_point"] == str(model.resolve())
    assert record["results"]["status"] == "ok" and record["results"]["metrics"]["test"] > 0.5  # homophilous graph
    code, _, err = bench_main("run", *SWEEP, "--plugin", str(model), "--results", str(results))
    assert code == ExitCode.OK and "skipping 1 finished job" in err  # the same file: the same job
    model.write_text(MODEL_FILE + "\n# tuned\n")
    code, _, err = bench_main("run", *SWEEP, "--plugin", str(model), "--results", str(results))
    assert code == ExitCode.OK and "skipping" not in err  # another version of the file: another job
    assert len({r["key"] for r in _records(results)}) == 2


def test_the_environment_variable_names_plugin_files_too(bench_main, tmp_path, monkeypatch):
    model = tmp_path / "my_gnn.py"
    model.write_text(MODEL_FILE)
    monkeypatch.setenv(PLUGINS_ENV, str(model))
    code, out, _ = bench_main("list", "models")
    assert code == ExitCode.OK and "MyGNN" in out and f"{model.resolve()} (file:my_gnn.py sha256:" in out


def test_a_broken_or_missing_file_is_reported_like_a_broken_plugin(bench_main, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('not ready yet')\n")
    code, out, err = bench_main("list", "models", "--plugin", str(broken))
    assert code == ExitCode.OK and "GCN" in out  # the others keep working
    assert f"plugin {broken.resolve()}" in err and "import failed: RuntimeError: not ready yet" in err
    code, _, err = bench_main("--strict", "list", "models", "--plugin", str(tmp_path / "missing.py"))
    assert code == ExitCode.PLUGIN_ERROR and "cannot read plugin file" in err and "missing.py" in err


def test_a_launch_hands_its_plugin_files_to_every_worker(tmp_path):
    model = tmp_path / "my_gnn.py"
    sweep = Sweep("smoke", plugin_files=[model])
    assert sweep.worker_args() == ("--plugin", str(model.resolve()))
    assert f"--plugin {model}" in sweep.status_command()
