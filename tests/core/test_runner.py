"""The runner: failures become records and the sweep goes on; finished jobs are skipped; runs are deterministic."""

from __future__ import annotations

import json
import types

import torch
import yaml

from bench_gnn import ModelSpec, hookimpl
from bench_gnn.api import run
from bench_gnn.errors import ExitCode
from bench_gnn.plugin_manager import load_plugins


class Exploding(torch.nn.Module):
    def __init__(self, task, hparams):
        super().__init__()
        self.lin = torch.nn.Linear(task.in_dim, task.out_dim)
        self.mode = hparams["mode"]

    def forward(self, data):
        if self.mode == "raise":
            raise RuntimeError("model bug on purpose")
        if self.mode == "oom":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        out = self.lin(data.x)
        return out * float("nan") if self.mode == "nan" else out


def _plugins():
    module = types.ModuleType("test_models")
    module.bench_models = hookimpl(lambda: [ModelSpec("Exploding", Exploding, defaults={"mode": "ok"})])
    return load_plugins(extra=[("test-models", module)])


def _suite(tmp_path, models, steps=5):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({
        "name": "t", "version": 1, "protocol": "node-full-batch",
        "protocol_args": {"steps": steps, "lr": 0.01}, "splits": 2,
        "datasets": ["csbm-mixed"], "models": models,
    }))
    return str(path)


def _records(folder):
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_failures_are_isolated_records_and_the_sweep_goes_on(tmp_path):
    suite = _suite(tmp_path, {"GCN": {"hparams": {"hidden": 8}}, "Exploding": {"grid": {"mode": ["raise", "nan", "oom"]}}})
    summary, _ = run(suite, results=tmp_path / "r", device="cpu", progress=False, plugins=_plugins())
    assert (summary.ok, summary.failed) == (2, 6)
    assert summary.exit_code == ExitCode.JOBS_FAILED
    errors = {r["hparams"].get("mode"): r["error"] for r in _records(tmp_path / "r" / "t") if r["status"] == "failed"}
    assert errors["raise"]["type"] == "RuntimeError" and "model bug on purpose" in errors["raise"]["traceback"]
    assert errors["nan"]["type"] == "NonFiniteLossError" and "loss is nan at step 1" in errors["nan"]["message"]
    assert errors["oom"]["type"] == "OutOfMemory"


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    suite = _suite(tmp_path, {"Exploding": {"hparams": {"mode": "raise"}}, "GCN": {}})
    summary, _ = run(suite, results=tmp_path / "r", device="cpu", progress=False, fail_fast=True, plugins=_plugins())
    assert (summary.failed, summary.ok, summary.not_run) == (1, 0, 3)


def test_rerun_skips_finished_jobs_and_retries_failed_ones(tmp_path):
    plugins = _plugins()
    suite = _suite(tmp_path, {"GCN": {"hparams": {"hidden": 8}}, "Exploding": {"hparams": {"mode": "raise"}}})
    run(suite, results=tmp_path / "r", device="cpu", progress=False, plugins=plugins)
    again, _ = run(suite, results=tmp_path / "r", device="cpu", progress=False, plugins=plugins)
    assert (again.skipped, again.ok, again.failed) == (2, 0, 2)
    forced, _ = run(suite, results=tmp_path / "r", device="cpu", progress=False, plugins=plugins, force=True)
    assert forced.ok == 2 and len(_records(tmp_path / "r" / "t")) == 4


def test_same_job_twice_gives_identical_metrics(tmp_path, plugins):
    suite = _suite(tmp_path, {"GAT-sep": {"hparams": {"hidden": 16, "heads": 2}}, "SAGE": {"hparams": {"hidden": 16}}}, steps=15)
    run(suite, results=tmp_path / "a", device="cpu", progress=False, plugins=plugins)
    run(suite, results=tmp_path / "b", device="cpu", progress=False, plugins=plugins)
    first, second = _records(tmp_path / "a" / "t"), _records(tmp_path / "b" / "t")
    assert [r["key"] for r in first] == [r["key"] for r in second]
    assert [r["metrics"] for r in first] == [r["metrics"] for r in second]
    assert [r["best_step"] for r in first] == [r["best_step"] for r in second]


def test_record_carries_what_a_reviewer_needs(tmp_path, plugins):
    suite = _suite(tmp_path, {"GCN": {"hparams": {"hidden": 8}}})
    run(suite, results=tmp_path / "r", device="cpu", progress=False, plugins=plugins, splits=1)
    (record,) = _records(tmp_path / "r" / "t")
    for key in ("metrics", "num_params", "wall_seconds", "seconds_per_step", "peak_memory_bytes", "device",
                "versions", "git_commit", "variant", "protocol_args", "hparams", "dataset_files", "suite_version"):
        assert key in record, key
    assert set(record["metrics"]) == {"train", "val", "test"}
    assert record["versions"]["torch"] == torch.__version__.split("+")[0] or record["versions"]["torch"].startswith(
        torch.__version__.split("+")[0])
    assert record["num_params"] == sum(
        p.numel() for p in
        plugins.models.get("GCN").spec.build(
            __import__("bench_gnn").TaskInfo("node", 16, 3), {**plugins.models.get("GCN").spec.defaults, "hidden": 8}
        ).parameters()
    )
