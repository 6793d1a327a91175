"""Shared fixtures of the whole test suite: the core's tests (tests/) and each plugin family's (plugins/*/tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from snapshots import snapshot

# Two pytest-xdist workers on a 2-core machine: one intra-op thread each. More threads per
# process oversubscribe the cores and make small graphs 10x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared datasets folder (``shared/datasets``), named by the ``BENCH_DATA_DIR`` environment variable.

    Tests on real data fail, never skip, when it is missing: CI always sets it.
    """
    value = os.environ.get("BENCH_DATA_DIR")
    if not value:
        pytest.fail("set BENCH_DATA_DIR to the shared datasets folder", pytrace=False)
    path = Path(value).resolve()
    if not path.is_dir():
        pytest.fail(
            f"BENCH_DATA_DIR={value!r} is not a folder; set BENCH_DATA_DIR to the shared datasets folder",
            pytrace=False,
        )
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own writable cache; nothing is written outside tmp."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("BENCH_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def plugins():
    from bench_gnn.plugin_manager import load_plugins

    return load_plugins()


@pytest.fixture
def bench_cli():
    """Run ``bench`` in a subprocess, as a user would; returns the CompletedProcess."""
    import subprocess
    import sys

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 300):
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "bench_gnn.cli", *args], capture_output=True, text=True, env=full_env, cwd=cwd,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )

    return run


@pytest.fixture
def bench_main(capsys):
    """Run ``bench`` in this process (fast); returns (exit code, stdout, stderr)."""
    from bench_gnn.cli import main

    def run(*args: str):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


PEPTIDES_SNAPSHOTS = "data-folder-snapshots.json"


@pytest.fixture(scope="session")
def peptides_cache(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding processed Peptides-func (about 26 s of CPU), built once per test run.

    pytest-xdist workers of one run share it under a lock: the first processes, the others reload. The
    processing worker snapshots the data folder's Peptides-func files before and after, into
    ``PEPTIDES_SNAPSHOTS`` in the cache (the promise that processing never writes into the data folder).
    """
    import fcntl

    from bench_gnn.plugin_manager import load_plugins
    from bench_gnn.runner import RunOptions, load_dataset

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = shared / "peptides-cache"
    report = cache / PEPTIDES_SNAPSHOTS
    raw = data_dir / "lrgb" / "peptides-functional"
    with open(shared / "peptides-cache.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not report.exists():  # this worker processes: record the data folder before and after
            before = snapshot(raw)
            load_dataset(load_plugins(), "peptides-func", RunOptions(torch.device("cpu"), data_dir, cache))
            report.write_text(json.dumps({"before": before, "after": snapshot(raw)}))
    return cache


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need processed Peptides-func (about 40 s to build once) are slow, however short themselves."""
    for item in items:
        if "peptides_cache" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
