"""Hand-built result records for tests, in the current schema (see bench_gnn.record)."""

from __future__ import annotations

from typing import Any

from bench_gnn import record as bench_record


def identity(**changes: Any) -> dict[str, Any]:
    base = {
        "suite": "smoke", "suite_version": "1", "protocol": "node-full-batch", "protocol_args": {},
        "max_params": None, "dataset": "csbm-mixed", "dataset_files": {}, "dataset_plugin": ["bench-gnn", "0"],
        "model": "GCN", "model_plugin": ["bench-gnn", "0"], "hparams": {}, "grid_keys": [], "metric": "accuracy",
        "split": 0, "seed": 0,
    }
    return {**base, **changes}


def ok_results(val: float = 0.5, test: float = 0.5, **changes: Any) -> dict[str, Any]:
    return {"status": "ok", "higher_is_better": True, "metric_scale": 100.0,
            "metrics": {"train": 1.0, "val": val, "test": test}, "num_params": 10, "seconds_per_step": 0.01,
            "best_step": 1, "extras": {}, **changes}


def failed_results(message: str = "broken on purpose") -> dict[str, Any]:
    return {"status": "failed", "higher_is_better": True, "metric_scale": 100.0,
            "error": {"type": "RuntimeError", "message": message, "traceback": ""}}


def make(results: dict[str, Any] | None = None, variant: str = "full", **identity_changes: Any) -> dict[str, Any]:
    """A valid record: its key is the hash of its identity."""
    return bench_record.new(identity(**identity_changes), results or ok_results(), variant=variant)
