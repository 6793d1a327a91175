"""`bench export wandb|tensorboard`: finished records replayed into the trackers, read back from their files."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import pytest

from bench_gnn.cli import main
from bench_gnn.store import read_records


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three smoke records (GCN on the three smoke datasets, split 0, 3 steps), made once for the module."""
    results = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        code = main(["run", "--suite", "smoke", "--model", "GCN", "--splits", "1", "--steps", "3", "--no-progress",
                     "--no-leaderboard", "--threads", "1", "--results", str(results)])
    assert code == 0
    return results


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_tensorboard_writes_one_run_per_record_with_the_exact_values(bench_main, records_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
    from tensorboard.util.tensor_util import make_ndarray

    before = snapshot(records_dir)
    out = tmp_path / "tb"
    code, stdout, err = bench_main("export", "tensorboard", "--suite", "smoke", "--records", str(records_dir),
                                   "--out", str(out))
    assert code == 0, err
    assert "exported 3 record(s) of smoke" in err and f"tensorboard --logdir {out}" in err
    assert snapshot(records_dir) == before  # read-only

    records = {r["key"]: r for r in read_records(records_dir / "smoke")}
    runs = {path.parent for path in out.rglob("events.out.tfevents.*")}
    assert sorted(runs) == sorted(Path(line) for line in stdout.splitlines())
    assert {run.name for run in runs} == set(records)
    for run in runs:
        record = records[run.name]
        assert run == out / "smoke" / "GCN" / record["identity"]["dataset"] / "split0" / record["key"]
        events = EventAccumulator(str(run), size_guidance={"tensors": 0})
        events.Reload()
        for tag, expected in [("metrics/test", record["results"]["metrics"]["test"]),
                              ("metrics/val", record["results"]["metrics"]["val"]),
                              ("cost/num_params", record["results"]["num_params"])]:
            (point,) = events.Tensors(tag)
            assert point.step == record["results"]["best_step"]
            assert make_ndarray(point.tensor_proto).item() == expected  # float64: exactly the record's value
        start = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hparams = HParamsPluginData.FromString(start).session_start_info.hparams
        assert hparams["model"].string_value == "GCN" and hparams["key"].string_value == record["key"]
        assert hparams["hparams.hidden"].number_value == record["identity"]["hparams"]["hidden"]
        assert hparams["provenance.host"].string_value == record["provenance"]["host"]

    again = bench_main("export", "tensorboard", "--suite", "smoke", "--records", str(records_dir), "--out", str(out))
    assert again[0] == 0
    assert all(len(list(run.glob("events.out.tfevents.*"))) == 1 for run in runs)  # replaced, not appended


def test_failed_records_are_skipped_and_counted(bench_main, records_dir, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(records_dir, copy)
    path = sorted((copy / "smoke").glob("*.json"))[0]
    record = json.loads(path.read_text())
    record["results"].update(status="failed", metrics=None, error={"type": "RuntimeError", "message": "boom"})
    path.write_text(json.dumps(record))
    out = tmp_path / "tb"
    code, stdout, err = bench_main("export", "tensorboard", "--suite", "smoke", "--records", str(copy),
                                   "--out", str(out))
    assert code == 0, err
    assert "exported 2 record(s)" in err and "skipped 1 failed record(s)" in err
    assert len(stdout.splitlines()) == 2 and record["key"] not in stdout


def wandb_log(path: Path) -> list:
    """The records of a W&B transaction log (``run-<id>.wandb``): W&B's LevelDB-style log of protobuf records.

    Offline runs keep config and summary only there (``files/`` is filled when ``wandb sync`` uploads).
    """
    from wandb.proto import wandb_internal_pb2

    data, block, pos = path.read_bytes(), 32768, 7  # 7 header bytes: ":W&B", magic 0xBEE1, version
    assert data[:4] == b":W&B"
    records, chunks = [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            break
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            records.append(record)
            chunks = b""
    return records


@pytest.fixture
def wandb_home(tmp_path, monkeypatch):
    """W&B's own settings, cache and data folders inside tmp; nothing from the user's W&B settings."""
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    for name in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_API_KEY", "WANDB_DIR", "WANDB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)


def test_wandb_offline_runs_hold_the_records_config_and_summary(bench_main, records_dir, tmp_path, wandb_home):
    before = snapshot(records_dir)
    out = tmp_path / "wb"
    code, stdout, err = bench_main("export", "wandb", "--suite", "smoke", "--records", str(records_dir),
                                   "--out", str(out), "--project", "my-project")
    assert code == 0, err
    assert "exported 3 record(s) of smoke" in err and f"wandb sync {out / 'wandb'}/offline-run-*" in err
    assert snapshot(records_dir) == before

    records = {r["key"]: r for r in read_records(records_dir / "smoke")}
    runs = [Path(line) for line in stdout.splitlines()]
    assert len(runs) == 3 and all(run.parent == out / "wandb" and run.name.startswith("offline-run-") for run in runs)
    for run in runs:
        (log,) = run.glob("run-*.wandb")
        entries = wandb_log(log)
        (start,) = [e.run for e in entries if e.WhichOneof("record_type") == "run"]
        record = records[start.run_id]  # the record's key is the run id
        identity = record["identity"]
        assert start.project == "my-project" and start.run_group == "smoke"
        assert start.display_name == f"GCN/{identity['dataset']}/split0 [reduced: steps=3]"
        assert list(start.tags) == ["smoke", "smoke@1", "reduced"]
        config = {item.key: json.loads(item.value_json) for item in start.config.update}
        assert config["hparams"] == identity["hparams"] and config["protocol_args"] == identity["protocol_args"]
        assert (config["model"], config["dataset"], config["split"], config["seed"]) == (
            "GCN", identity["dataset"], 0, identity["seed"])
        assert config["key"] == record["key"] and config["variant"] == "reduced: steps=3"
        assert config["provenance"]["git"] == record["provenance"]["git"]
        summary = {item.key: json.loads(item.value_json)
                   for e in entries if e.WhichOneof("record_type") == "summary" for item in e.summary.update}
        assert summary["metrics/test"] == record["results"]["metrics"]["test"]
        assert summary["metrics/val"] == record["results"]["metrics"]["val"]
        assert summary["cost/num_params"] == record["results"]["num_params"]
        assert summary["cost/seconds_per_step"] == record["results"]["seconds_per_step"]


def test_wandb_runs_go_to_the_bench_suite_project_unless_told(bench_main, records_dir, tmp_path, wandb_home):
    out = tmp_path / "wb"
    code, stdout, err = bench_main("export", "wandb", "--suite", "smoke", "--records", str(records_dir),
                                   "--out", str(out))
    assert code == 0, err
    runs = [Path(line) for line in stdout.splitlines()]
    projects = {e.run.project for run in runs for e in wandb_log(next(run.glob("run-*.wandb")))
                if e.WhichOneof("record_type") == "run"}
    assert len(runs) == 3 and projects == {"bench-smoke"}


@pytest.mark.parametrize("tracker, module", [("tensorboard", "tensorboard"), ("wandb", "wandb")])
def test_a_missing_tracker_names_the_pip_install(bench_main, records_dir, tmp_path, monkeypatch, tracker, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import <module>` now raises ImportError
    for name in [name for name in sys.modules if name.startswith(("torch.utils.tensorboard", f"{module}."))]:
        monkeypatch.delitem(sys.modules, name)
    code, stdout, err = bench_main("export", tracker, "--suite", "smoke", "--records", str(records_dir),
                                   "--out", str(tmp_path / "out"))
    assert code == 4 and stdout == ""
    label = {"tensorboard": "TensorBoard", "wandb": "W&B"}[tracker]
    assert f"exporting to {label} needs the {module} package: pip install 'bench-gnn[{module}]'" in err


def test_an_unknown_tracker_is_a_usage_error(bench_main, records_dir):
    code, _, err = bench_main("export", "mlflow", "--suite", "smoke", "--records", str(records_dir))
    assert code == 4 and "invalid choice: 'mlflow'" in err and "wandb" in err and "tensorboard" in err


def test_no_records_and_wandb_options_for_tensorboard_are_usage_errors(bench_main, records_dir, tmp_path):
    code, _, err = bench_main("export", "tensorboard", "--suite", "smoke", "--records", str(tmp_path / "empty"))
    assert code == 4 and "no records of suite smoke" in err and "bench run --suite smoke" in err
    code, _, err = bench_main("export", "tensorboard", "--suite", "smoke", "--records", str(records_dir),
                              "--out", str(tmp_path / "tb"), "--online")
    assert code == 4 and "--project and --online are W&B options" in err
