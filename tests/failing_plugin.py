"""A throwaway third-party plugin whose model "Boom" always fails to build, and a suite that uses it.

``install(folder, splits)`` writes the module and a ``*.dist-info`` with its ``bench`` entry point into
``folder / "site"`` (put it on ``PYTHONPATH``) and returns that folder and the suite file.
"""

from __future__ import annotations

from pathlib import Path

MODULE = '''
from bench_gnn import ModelSpec, hookimpl


def _boom(task, hp):
    raise RuntimeError("Boom model cannot be built")


@hookimpl
def bench_models():
    return [ModelSpec("Boom", _boom, defaults={}, description="always fails (test plugin)")]
'''


def install(folder: Path, splits: int = 1) -> tuple[Path, Path]:
    site = folder / "site"
    info = site / "boomplug-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: boomplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[bench]\nboomplug = boomplug\n")
    (site / "boomplug.py").write_text(MODULE)
    suite = folder / "failing.yaml"
    suite.write_text("name: failing\nversion: 1\ntask: node\nprotocol: node-full-batch\nprotocol_args: {steps: 1}\n"
                     f"splits: {splits}\ndatasets: [csbm-homophilous]\nmodels: [Boom]\n")
    return site, suite
