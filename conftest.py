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


@pytest.fixture(scope="session")
def bench_process():
    """Start ``bench ARGS`` in a subprocess (``Popen``, text pipes, no stdin), as a user or a launcher would: a
    sweep in a subprocess, so every test that uses this fixture, directly or through another one, is slow
    (``SLOW_FIXTURES``). ``env`` replaces the environment (default: this one with OMP_NUM_THREADS=1); other
    keywords go to ``Popen``. A process still running at the end of the session is killed."""
    import subprocess
    import sys

    started: list[subprocess.Popen] = []

    def start(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench_gnn.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, stdin=subprocess.DEVNULL, env=env if env is not None else {**os.environ, "OMP_NUM_THREADS": "1"},
            **kw,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def real_data_run(bench_main, data_dir: Path):
    """``bench run ARGS --data-dir <shared datasets>`` in this process: training on the real files, so every test
    that uses this fixture is slow (``SLOW_FIXTURES``); returns (exit code, stdout, stderr)."""

    def run(*args: str):
        return bench_main("run", *args, "--data-dir", str(data_dir))

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


#: The rule of the slow marker: a test that uses one of these fixtures, directly or through another fixture, is
#: marked slow (``pytest -m "not slow"`` leaves it out). Each trains on real data or starts sweeps in
#: subprocesses: Peptides-func's processing (about 60 s to build once here, the tests on it train or read 15,535
#: graphs), training through ``bench run`` on the shared datasets, ``bench`` sweeps in subprocesses. Other slow
#: tests carry ``@pytest.mark.slow`` themselves. tests/test_slow_marker.py checks the rule through pytest.
SLOW_FIXTURES = ("peptides_cache", "real_data_run", "bench_process")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests of ``SLOW_FIXTURES`` slow, and runs the tests on processed Peptides-func first.

    First, in collection order among themselves: pytest-xdist's load scheduling hands each worker a first batch of
    consecutive tests, so one worker builds the Peptides-func cache and runs every test on it (about 100 s in
    all, the longest chain of the suite, started at once), while the other worker runs the rest instead of
    waiting on the cache's lock. The order is the same in every worker, as xdist requires.
    """
    for item in items:
        if set(SLOW_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    peptides = [item for item in items if "peptides_cache" in getattr(item, "fixturenames", ())]
    if peptides:
        rest = [item for item in items if "peptides_cache" not in getattr(item, "fixturenames", ())]
        items[:] = peptides + rest
