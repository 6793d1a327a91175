"""Facts about the machine and software a record was produced with."""

from __future__ import annotations

import functools
import gc
import platform
import resource
import subprocess
from pathlib import Path
from typing import Any

import torch

from bench_gnn.errors import UsageError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was requested but no CUDA device is available; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({cpu_name()}, {torch.get_num_threads()} threads)"


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the checkout bench runs from; None for an installed wheel (no checkout)."""
    root = Path(__file__).resolve().parents[2]  # <checkout>/harness/bench_gnn/environment.py
    if not (root / "pyproject.toml").is_file() or not (root / "harness" / "bench_gnn").is_dir():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": out.stdout.strip(), "dirty": bool(dirty)}


def peak_memory_bytes(device: torch.device) -> tuple[int, str]:
    """Peak memory and what it measures: CUDA allocations, or the process's max RSS on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "process_max_rss"


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def release_memory(device: torch.device) -> None:
    """Return memory freed by dropped references: collect cycles, then CUDA's cached blocks."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
