"""Facts about the machine and software a record was produced with."""

from __future__ import annotations

import functools
import gc
import platform
import re
import resource
import subprocess
from pathlib import Path
from typing import Any

import torch

from bench_gnn.errors import UsageError

DEVICE_FORMS = "auto, cpu, cuda, cuda:N or mps"


def visible_devices() -> list[str]:
    """The devices torch sees here: ``cpu``, then ``cuda:0`` ... and ``mps`` where available."""
    devices = ["cpu"] + [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(name: str) -> torch.device:
    """``--device``: auto (the first CUDA device, else the CPU), cpu, cuda, cuda:N or mps; a device torch does
    not see is a usage error naming those it sees."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None and name not in ("cpu", "mps"):
        raise UsageError(f"unknown device {name!r}; use {DEVICE_FORMS}")
    seen = visible_devices()
    if match is not None:
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name} was requested but no CUDA device is available (torch sees "
                             f"{', '.join(seen)}); use --device cpu or auto")
        if f"cuda:{int(match.group(1) or 0)}" not in seen:
            raise UsageError(f"--device {name}: no such CUDA device; torch sees {', '.join(seen)}")
    elif name not in seen:
        raise UsageError(f"--device {name}: not available here; torch sees {', '.join(seen)}")
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
