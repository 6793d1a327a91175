"""The first-party entry-point modules stay cheap: importing them and calling their hooks loads no torch.

``bench list ...``, ``bench --help`` and suite validation import every entry point; the heavy
code (torch modules, torchmetrics metrics, PyG datasets, loaders) lives in implementation
modules imported by the build/load/factory functions.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

ENTRY_POINTS = (
    "metrics", "node_models", "heterophily", "smoke", "lrgb", "longrange_models", "longrange_metrics", "probes",
    "launchers",
)
HEAVY = (
    "torch", "torch_geometric", "torchmetrics", "numpy", "scipy", "pandas", "ogb", "rdkit", "matplotlib",
    "submitit", "hydra", "ray",
)

PROBE = f"""
import json, sys
import pluggy
from bench_gnn import hookspecs
manager = pluggy.PluginManager("bench")
manager.add_hookspecs(hookspecs)
for name in {ENTRY_POINTS!r}:
    manager.register(__import__("bench_gnn.plugins." + name, fromlist=["_"]))
specs = [s for hook in ("bench_models", "bench_datasets", "bench_metrics", "bench_suites", "bench_launchers")
         for result in getattr(manager.hook, hook)() for s in result]
for spec in specs:
    if getattr(spec, "check", None) is not None:
        spec.check(dict(spec.defaults))
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"specs": len(specs), "heavy": heavy}}))
"""


def test_entry_points_import_and_register_without_heavy_modules():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["specs"] > 50
    assert result["heavy"] == [], f"entry-point modules import {result['heavy']}"


@pytest.mark.parametrize(
    "entry, name, implementation",
    [
        ("node_models", "NodeModel", "node_layers"),
        ("heterophily", "read_npz", "heterophily_npz"),
        ("smoke", "csbm", "csbm"),
        ("lrgb", "PackedGraphs", "packed_graphs"),
        ("lrgb", "RWSE_STEPS", "lrgb_loaders"),
        ("longrange_models", "add_positional_encodings", "longrange_layers"),
        ("longrange_metrics", "LinkMRR", "longrange_torchmetrics"),
        ("probes", "TreeNeighborsMatch", "probe_graphs"),
    ],
)
def test_moved_names_are_still_reachable_from_the_entry_point_modules(entry, name, implementation):
    module = importlib.import_module(f"bench_gnn.plugins.{entry}")
    assert getattr(module, name) is getattr(importlib.import_module(f"bench_gnn.plugins.{implementation}"), name)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018
