"""The runner: failures become records and the sweep goes on; finished jobs are skipped; runs are deterministic;
datasets are held one at a time; bad protocol arguments stop a run before any job."""

from __future__ import annotations

import json
import os
import types
import weakref

import pytest
import torch
import yaml
from torch_geometric.data import Data

import bench_gnn
from bench_gnn import DatasetSpec, ModelSpec, hookimpl
from bench_gnn import record as bench_record
from bench_gnn.api import run
from bench_gnn.data.context import DataContext
from bench_gnn.errors import DataError, ExitCode
from bench_gnn.jobs import expand
from bench_gnn.plugin_manager import load_plugins
from bench_gnn.runner import RunOptions, run_jobs
from bench_gnn.store import Store
from bench_gnn.sweep import Sweep, load_suite


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
    suite = _suite(
        tmp_path, {"GCN": {"hparams": {"hidden": 8}}, "Exploding": {"grid": {"mode": ["raise", "nan", "oom"]}}}
    )
    summary, _ = run(Sweep(suite, results=tmp_path / "r", device="cpu"), progress=False, plugins=_plugins())
    assert (summary.ok, summary.failed) == (2, 6)
    assert summary.exit_code == ExitCode.JOBS_FAILED
    errors = {r["identity"]["hparams"].get("mode"): r["results"]["error"] for r in _records(tmp_path / "r" / "t")
              if r["results"]["status"] == "failed"}
    assert errors["raise"]["type"] == "RuntimeError" and "model bug on purpose" in errors["raise"]["traceback"]
    assert errors["nan"]["type"] == "NonFiniteLossError" and "loss is nan at step 1" in errors["nan"]["message"]
    assert errors["oom"] == {**errors["oom"], "type": "OutOfMemory",
                             "message": "CUDA out of memory. Tried to allocate 20.00 GiB; try a smaller model or batch"}
    assert errors["oom"]["traceback"].startswith("Traceback (most recent call last):")


def test_an_error_is_recorded_with_its_type_message_and_the_end_of_its_traceback():
    from bench_gnn.runner import _describe_error

    def raised(exc):
        try:
            raise exc
        except BaseException as caught:  # noqa: BLE001 - the test hands every kind to the runner's description
            return _describe_error(caught)

    plain = raised(ValueError("bad hidden size"))
    assert (plain["type"], plain["message"]) == ("ValueError", "bad hidden size")
    assert plain["traceback"].startswith("Traceback (most recent call last):\n  File \"")
    assert plain["traceback"].endswith("ValueError: bad hidden size\n")
    long = raised(RuntimeError("x" * 20000))
    assert len(long["traceback"]) == 8000 and long["traceback"].endswith("x" * 7000 + "\n")  # the end is kept
    hint = "; try a smaller model or batch"
    assert raised(MemoryError())["type"] == "OutOfMemory" and raised(MemoryError())["message"] == "out of memory" + hint
    said = raised(RuntimeError("CUDA Out Of Memory (allocator)\nsecond line"))  # no OOM class, the words suffice
    assert (said["type"], said["message"]) == ("OutOfMemory", "CUDA Out Of Memory (allocator)" + hint)
    cuda = raised(torch.cuda.OutOfMemoryError("Tried to allocate 2 GiB"))  # the class suffices
    assert (cuda["type"], cuda["message"]) == ("OutOfMemory", "Tried to allocate 2 GiB" + hint)


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    suite = _suite(tmp_path, {"Exploding": {"hparams": {"mode": "raise"}}, "GCN": {}})
    sweep = Sweep(suite, results=tmp_path / "r", device="cpu")
    summary, _ = run(sweep, progress=False, fail_fast=True, plugins=_plugins())
    assert (summary.failed, summary.ok, summary.not_run) == (1, 0, 3)


def test_rerun_skips_finished_jobs_and_retries_failed_ones(tmp_path):
    plugins = _plugins()
    suite = _suite(tmp_path, {"GCN": {"hparams": {"hidden": 8}}, "Exploding": {"hparams": {"mode": "raise"}}})
    run(Sweep(suite, results=tmp_path / "r", device="cpu"), progress=False, plugins=plugins)
    again, _ = run(Sweep(suite, results=tmp_path / "r", device="cpu"), progress=False, plugins=plugins)
    assert (again.skipped, again.ok, again.failed) == (2, 0, 2)
    forced, _ = run(Sweep(suite, results=tmp_path / "r", device="cpu"), progress=False, plugins=plugins, force=True)
    assert forced.ok == 2 and len(_records(tmp_path / "r" / "t")) == 4


def test_same_job_twice_gives_identical_metrics(tmp_path, plugins):
    models = {"GAT-sep": {"hparams": {"hidden": 16, "heads": 2}}, "SAGE": {"hparams": {"hidden": 16}}}
    suite = _suite(tmp_path, models, steps=15)
    run(Sweep(suite, results=tmp_path / "a", device="cpu"), progress=False, plugins=plugins)
    run(Sweep(suite, results=tmp_path / "b", device="cpu"), progress=False, plugins=plugins)
    first, second = _records(tmp_path / "a" / "t"), _records(tmp_path / "b" / "t")
    assert [r["key"] for r in first] == [r["key"] for r in second]
    assert [r["results"]["metrics"] for r in first] == [r["results"]["metrics"] for r in second]
    assert [r["results"]["best_step"] for r in first] == [r["results"]["best_step"] for r in second]


def test_record_carries_what_a_reviewer_needs(tmp_path, plugins, monkeypatch):
    from datetime import datetime, timezone

    suite = _suite(tmp_path, {"GCN": {"hparams": {"hidden": 8}}})
    argv = ["bench", "run", "--suite", str(tmp_path / "suite.yaml"), "--splits", "1"]
    monkeypatch.setattr("sys.argv", argv)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    run(Sweep(suite, results=tmp_path / "r", device="cpu", splits=1), progress=False, plugins=plugins)
    after = datetime.now(timezone.utc)
    (record,) = _records(tmp_path / "r" / "t")
    started, finished = (datetime.fromisoformat(record["provenance"][k]) for k in ("started_at", "finished_at"))
    assert before <= started <= finished <= after and started.utcoffset().total_seconds() == 0
    assert record["provenance"]["command"] == argv
    assert bench_record.problem(record) is None and bench_record.key_problem(record) is None
    identity, provenance, results = record["identity"], record["provenance"], record["results"]
    assert (identity["suite"], identity["suite_version"], identity["protocol"]) == ("t", "1", "node-full-batch")
    assert (identity["model"], identity["dataset"], identity["metric"]) == ("GCN", "csbm-mixed", "accuracy")
    assert (identity["split"], identity["seed"], identity["max_params"]) == (0, 0, None)
    # the suite's steps and lr over the protocol's defaults (README: "all its arguments")
    assert identity["protocol_args"] == {"steps": 5, "lr": 0.01, "weight_decay": 0.0, "eval_every": 1,
                                         "analyses": {}}
    # the model's documented defaults (bench_gnn_node.models) with the suite's hidden over them
    assert identity["hparams"] == {"hidden": 8, "num_layers": 1, "dropout": 0.2, "heads": 8,
                                   "hidden_dim_multiplier": 1}
    assert identity["grid_keys"] == [] and identity["dataset_files"] == {}  # generated: no raw files
    assert identity["model_plugin"] == identity["dataset_plugin"] == ["bench-gnn", bench_gnn.__version__]
    assert set(results["metrics"]) == {"train", "val", "test"} and results["peak_memory_bytes"] > 0
    assert all(0.0 <= v <= 1.0 for v in results["metrics"].values())
    assert results["status"] == "ok" and results["steps"] == 5 and 1 <= results["best_step"] <= 5
    assert (results["higher_is_better"], results["metric_scale"]) == (True, 100.0)
    assert results["wall_seconds"] >= results["train_seconds"] > 0
    assert results["seconds_per_step"] == pytest.approx(results["train_seconds"] / 5)
    # GCN, hidden 8, one layer, on 16 features and 3 classes, counted by hand:
    # W_in 16*8+8; LayerNorm 2*8; feed-forward 2 * (8*8+8); output LayerNorm 2*8 and W_out 8*3+3
    assert results["num_params"] == 136 + 16 + 144 + 16 + 27
    assert provenance["bench"] == bench_gnn.__version__ and provenance["device"].startswith("cpu (")
    assert provenance["git"] is not None and len(provenance["git"]["commit"]) == 40  # run from this checkout
    assert provenance["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert provenance["plugins"]["bench-gnn"] == bench_gnn.__version__
    assert provenance["model_entry_point"] and "node" in provenance["model_entry_point"]
    assert record["variant"] == "full"
    scheduling = record["scheduling"]
    assert scheduling["own_share"] is True and scheduling["shard"] is None and scheduling["launcher"] is None
    assert scheduling["pid"] == os.getpid() and scheduling["worker"] == f"{scheduling['host']}:{os.getpid()}"


# --- datasets by need --------------------------------------------------------------------------


class TinyGraph(Data):
    """A node dataset object the tests can hold a weak reference to."""


class Linear(torch.nn.Module):
    def __init__(self, task, hparams):
        super().__init__()
        EVENTS.append(("job", task.in_dim))
        self.lin = torch.nn.Linear(task.in_dim, task.out_dim)

    def forward(self, data):
        return self.lin(data.x)


EVENTS: list[tuple] = []
LOADED: dict[str, weakref.ref] = {}
FEATURES = {"tiny-a": 3, "tiny-b": 5, "tiny-flaky": 7}


def _tiny_load(ctx):
    name = ctx.dataset
    EVENTS.append(("load", name, {other: ref() is not None for other, ref in LOADED.items()}))
    if name == "tiny-flaky":
        raise DataError(f"dataset {name!r}: the file is corrupted on purpose")
    gen = torch.Generator().manual_seed(0)
    n = 24
    masks = torch.zeros(n, 3, 2, dtype=torch.bool)
    masks[torch.arange(n), torch.arange(n) % 3, :] = True
    data = TinyGraph(x=torch.randn(n, FEATURES[name], generator=gen), edge_index=torch.zeros(2, 0, dtype=torch.long),
                     y=torch.arange(n) % 3, train_mask=masks[:, 0], val_mask=masks[:, 1], test_mask=masks[:, 2])
    LOADED[name] = weakref.ref(data)
    return data


def _tiny_card(name, files=()):
    return {"name": name, "source": "generated in tests", "license": "none", "citation": "none", "files": list(files)}


def _tiny_plugins():
    module = types.ModuleType("tiny_datasets")
    specs = [DatasetSpec(name, "node", _tiny_load, card=_tiny_card(name)) for name in FEATURES]
    specs.append(DatasetSpec("tiny-missing", "node", _tiny_load,
                             card=_tiny_card("tiny-missing", [{"path": "tiny/missing.npz", "sha256": "0" * 64}])))
    module.bench_datasets = hookimpl(lambda: specs)
    module.bench_models = hookimpl(lambda: [ModelSpec("Linear", Linear)])
    return load_plugins(extra=[("tiny-datasets", module)])


def _sweep(tmp_path, datasets, **kw):
    """Run a two-split suite over ``datasets`` with run_jobs directly; returns (summary, echoed lines)."""
    plugins = _tiny_plugins()
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny", "version": 1, "protocol": "node-full-batch", "protocol_args": {"steps": 2, "lr": 0.01},
        "splits": 2, "datasets": datasets, "models": ["Linear"],
    }))
    suite, published = load_suite(plugins, str(path))
    jobs = expand(suite, plugins, published=published)
    options = RunOptions(torch.device("cpu"), data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", progress=False,
                         **kw)
    EVENTS.clear()
    LOADED.clear()
    lines: list[str] = []

    def echo(line):
        lines.append(line)
        EVENTS.append(("echo", line))

    return run_jobs(jobs, suite, plugins, Store(tmp_path / "r", suite.name), options, echo=echo), lines


def test_each_dataset_is_loaded_for_its_first_job_and_released_after_its_last(tmp_path):
    summary, _ = _sweep(tmp_path, ["tiny-a", "tiny-b"])
    assert (summary.ok, summary.failed, summary.not_run) == (4, 0, 0)
    steps = [e[:2] for e in EVENTS if e[0] != "echo"]
    assert steps == [("load", "tiny-a"), ("job", 3), ("job", 3), ("load", "tiny-b"), ("job", 5), ("job", 5)]
    load_b = next(e for e in EVENTS if e[:2] == ("load", "tiny-b"))
    assert load_b[2] == {"tiny-a": False}  # tiny-a was garbage-collected before tiny-b was loaded
    assert all(ref() is None for ref in LOADED.values())  # nothing is held after the sweep


def test_unavailable_datasets_are_reported_before_any_job(tmp_path):
    summary, lines = _sweep(tmp_path, ["tiny-a", "tiny-missing", "tiny-b"])
    message = summary.unavailable["tiny-missing"]
    assert message.startswith("dataset 'tiny-missing': raw file 'tiny/missing.npz' is missing: ")
    assert str(tmp_path / "data" / "tiny" / "missing.npz") in message and "Place the file at" in message
    assert EVENTS[0] == ("echo", f"unavailable: {message}")  # before the first load and the first job
    assert all(e[1] != "tiny-missing" for e in EVENTS if e[0] == "load")  # never loaded
    assert (summary.ok, summary.not_run, summary.exit_code) == (4, 2, ExitCode.OK)
    assert sum(line.startswith("unavailable") for line in lines) == 1


def test_missing_files_match_what_loading_would_say(tmp_path):
    from bench_gnn.data.cards import load_card

    some = "0" * 64
    card = load_card(_tiny_card("tiny-missing", [{"path": "a.bin", "sha256": some},
                                                 {"path": "b.bin", "sha256": some, "url": "https://example.org/b"},
                                                 {"path": "c.bin", "sha256": some}]), "tiny-missing")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "c.bin").write_bytes(b"c")
    online = DataContext("tiny-missing", card, tmp_path / "data", tmp_path / "cache")
    offline = DataContext("tiny-missing", card, tmp_path / "data", tmp_path / "cache", allow_download=False)
    assert list(online.missing_files()) == ["a.bin"] and list(offline.missing_files()) == ["a.bin", "b.bin"]
    for path, message in offline.missing_files().items():
        with pytest.raises(DataError) as info:
            offline.raw_file(path)
        assert str(info.value) == message
    (tmp_path / "cache" / "raw").mkdir(parents=True)
    (tmp_path / "cache" / "raw" / "a.bin").write_bytes(b"a")
    assert list(offline.missing_files()) == ["b.bin"]


def test_a_data_error_at_load_time_makes_the_dataset_unavailable_and_the_sweep_goes_on(tmp_path):
    summary, lines = _sweep(tmp_path, ["tiny-flaky", "tiny-b"])
    assert summary.unavailable == {"tiny-flaky": "dataset 'tiny-flaky': the file is corrupted on purpose"}
    assert (summary.ok, summary.failed, summary.not_run) == (2, 0, 2)
    assert [e[1] for e in EVENTS if e[0] == "load"] == ["tiny-flaky", "tiny-b"]  # loaded once, not per job
    assert "unavailable: dataset 'tiny-flaky': the file is corrupted on purpose" in lines
    assert [r["identity"]["dataset"] for r in _records(tmp_path / "r" / "tiny")] == ["tiny-b", "tiny-b"]


def test_finished_datasets_are_not_loaded_again(tmp_path):
    _sweep(tmp_path, ["tiny-a", "tiny-b"])
    summary, _ = _sweep(tmp_path, ["tiny-a", "tiny-b"])
    assert summary.skipped == 4 and not [e for e in EVENTS if e[0] == "load"]


# --- protocol arguments are checked when the suite loads ---------------------------------------


@pytest.mark.parametrize("override,message", [
    ("protocol_args.steps=abc", "node-full-batch: protocol_args.steps must be an integer >= 1, got 'abc' (str)"),
    ("protocol_args.steps=2.7", "node-full-batch: protocol_args.steps must be an integer >= 1, got 2.7 (float)"),
    ("protocol_args.lr=fast", "node-full-batch: protocol_args.lr must be a finite number >= 0, got 'fast' (str)"),
])
def test_bad_protocol_args_stop_the_run_before_any_job(tmp_path, bench_main, override, message):
    code, _, err = bench_main("run", "--suite", "smoke", "--no-progress", "--results", str(tmp_path), override)
    assert code == ExitCode.USAGE_ERROR
    assert message in err
    assert not list(tmp_path.rglob("*.json"))


def test_bad_graph_protocol_args_name_the_protocol(tmp_path, bench_main):
    code, _, err = bench_main("run", "--suite", "gnn-longrange", "--no-progress", "--results", str(tmp_path),
                              "datasets.ring-transfer.protocol_args.epochs=2.7")
    assert code == ExitCode.USAGE_ERROR
    assert "graph-minibatch: protocol_args.epochs must be an integer >= 1, got 2.7 (float)" in err
    assert not list(tmp_path.rglob("*.json"))
