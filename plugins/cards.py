"""Where the first-party dataset cards live: the top-level ``datasets/`` folder."""

from __future__ import annotations

from pathlib import Path

from harness.errors import PluginError

CARDS = Path(__file__).resolve().parents[1] / "datasets"


def card_path(name: str) -> Path:
    path = CARDS / f"{name}.yaml"
    if not path.exists():
        raise PluginError(
            f"dataset card {path} is missing; install bench from its source tree (pip install -e .) so that "
            f"datasets/ is available"
        )
    return path
