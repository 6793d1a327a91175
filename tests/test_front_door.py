"""The first-party entry-point modules stay cheap: importing them and calling their hooks loads no torch.

``bench list ...``, ``bench --help`` and suite validation import every entry point; the heavy
code (torch modules, torchmetrics metrics, PyG datasets, loaders) lives in implementation
modules imported by the build/load/factory functions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# the first-party families' hook modules, as pyproject.toml registers them
ENTRY_POINTS = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["bench"].values())
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
    manager.register(__import__(name, fromlist=["_"]))
hooks = [name for name in dir(manager.hook) if name.startswith("bench_")]
specs = [s for hook in hooks for result in getattr(manager.hook, hook)() for s in result]
for spec in (s for result in manager.hook.bench_models() for s in result):
    if spec.check is not None:
        spec.check(dict(spec.defaults))
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"specs": len(specs), "heavy": heavy}}))
"""


def test_entry_points_import_and_register_without_heavy_modules():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["specs"] > 50
    assert result["heavy"] == [], f"entry-point modules import {result['heavy']}"


