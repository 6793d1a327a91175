"""Where the first-party dataset cards live: the package data ``bench_gnn.datasets``.

In the repository they are the top-level ``datasets/`` folder; an installed wheel
carries them as ``bench_gnn/datasets/*.yaml``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bench_gnn import PluginError


def cards_folder() -> Path:
    return Path(str(resources.files("bench_gnn.datasets")))


def card_path(name: str) -> Path:
    path = cards_folder() / f"{name}.yaml"
    if not path.exists():
        raise PluginError(f"dataset card {path} is missing from the installed bench-gnn; reinstall it")
    return path
