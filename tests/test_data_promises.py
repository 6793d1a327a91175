"""README "Data": downloads verified before use, --offline, nothing prompts, read-only data folder, default cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from snapshots import snapshot

from bench_gnn.data.cards import Card, CardFile
from bench_gnn.data.context import DataContext
from bench_gnn.errors import DataError

MINESWEEPER = "heterophilous/minesweeper/raw/minesweeper.npz"


def _card(url: str, sha256: str) -> Card:
    """The minesweeper card, its file served from ``url`` instead of GitHub."""
    return Card("minesweeper", "test", "MIT", "test", files=(CardFile(MINESWEEPER, sha256, None, url),))


@pytest.fixture
def minesweeper_bytes(data_dir: Path) -> bytes:
    return (data_dir / MINESWEEPER).read_bytes()


def test_download_when_online_is_verified_and_loaded(httpserver, minesweeper_bytes, plugins, tmp_path):
    httpserver.expect_request("/minesweeper.npz").respond_with_data(minesweeper_bytes)
    sha = hashlib.sha256(minesweeper_bytes).hexdigest()
    ctx = DataContext("minesweeper", _card(httpserver.url_for("/minesweeper.npz"), sha), None, tmp_path / "cache")
    assert ctx.missing_files() == {}
    data = plugins.datasets.get("minesweeper").spec.load(ctx)
    assert len(httpserver.log) == 1
    cached = tmp_path / "cache" / "raw" / MINESWEEPER
    assert cached.read_bytes() == minesweeper_bytes
    assert data.num_nodes == 10000  # the card's stats: the downloaded file is the one read


def test_download_with_wrong_checksum_is_refused_naming_both(httpserver, minesweeper_bytes, tmp_path):
    corrupted = bytearray(minesweeper_bytes)
    corrupted[len(corrupted) // 2] ^= 0xFF
    httpserver.expect_request("/minesweeper.npz").respond_with_data(bytes(corrupted))
    expected = hashlib.sha256(minesweeper_bytes).hexdigest()
    got = hashlib.sha256(corrupted).hexdigest()
    ctx = DataContext("minesweeper", _card(httpserver.url_for("/minesweeper.npz"), expected), None, tmp_path / "cache")
    with pytest.raises(DataError) as excinfo:
        ctx.raw_file(MINESWEEPER)
    assert expected in str(excinfo.value) and got in str(excinfo.value)
    assert len(httpserver.log) == 1
    # refused before anything reads it: no file, complete or partial, is left where loaders look
    raw = tmp_path / "cache" / "raw"
    assert not raw.exists() or [p for p in raw.rglob("*") if p.is_file()] == []


def test_offline_never_contacts_the_server(httpserver, minesweeper_bytes, tmp_path):
    httpserver.expect_request("/minesweeper.npz").respond_with_data(minesweeper_bytes)
    url = httpserver.url_for("/minesweeper.npz")
    sha = hashlib.sha256(minesweeper_bytes).hexdigest()
    ctx = DataContext("minesweeper", _card(url, sha), None, tmp_path / "cache", allow_download=False)
    assert MINESWEEPER in ctx.missing_files()
    with pytest.raises(DataError, match="--offline") as excinfo:
        ctx.raw_file(MINESWEEPER)
    assert url in str(excinfo.value)
    assert httpserver.log == []


def _bench_holding_stdin(*args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    """``bench`` with stdin an open pipe that is never written nor closed: a prompt would hang until timeout.

    Not ``communicate()``: it closes stdin, and a prompt would then end with EOFError instead of waiting.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bench_gnn.cli", *args], stdin=subprocess.PIPE,
                                stdout=out, stderr=err, text=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"bench {' '.join(args)} did not finish in {timeout} s with stdin open: it waits for input")
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())


def test_nothing_prompts_with_stdin_held_open(data_dir, tmp_path):
    verify = _bench_holding_stdin("data", "verify", "peptides-func", "--data-dir", str(data_dir))
    assert verify.returncode == 0, verify.stderr
    # Peptides-struct's archive has no checksum on its card (and is not in an empty data folder, and --offline
    # forbids the download): PyG's loader must not be reached (it would ask before overwriting), the run
    # reports a data error.
    empty = tmp_path / "empty"
    empty.mkdir()
    run = _bench_holding_stdin("run", "--suite", "gnn-longrange", "--dataset", "peptides-struct", "--offline",
                               "--splits", "1", "--steps", "1", "--data-dir", str(empty),
                               "--results", str(tmp_path / "results"), "--no-progress")
    assert run.returncode == 5, run.stdout + run.stderr  # ExitCode.DATA_ERROR: nothing ran, the data is missing
    assert "raw file 'lrgb/peptidesstruct.zip' (downloaded from https://www.dropbox.com/" in run.stderr
    assert "has no sha256 on the dataset card" in run.stderr


def test_data_folder_is_left_unchanged_and_cache_gets_the_files(data_dir, bench_main, isolated_cache, tmp_path):
    copy = tmp_path / "datasets"
    shutil.copytree(data_dir / "heterophilous" / "minesweeper", copy / "heterophilous" / "minesweeper")
    before = snapshot(copy)
    code, out, err = bench_main("data", "stats", "minesweeper", "--data-dir", str(copy), "--offline")
    assert code == 0, err
    assert snapshot(copy) == before
    cached = isolated_cache / "raw" / MINESWEEPER
    assert cached.read_bytes() == (copy / MINESWEEPER).read_bytes()


def test_default_cache_is_home_cache_bench(data_dir, bench_main, monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    code, out, err = bench_main("data", "stats", "minesweeper", "--data-dir", str(data_dir), "--offline")
    assert code == 0, err
    cached = tmp_path / "home" / ".cache" / "bench" / "raw" / MINESWEEPER
    assert cached.read_bytes() == (data_dir / MINESWEEPER).read_bytes()
    assert os.listdir(tmp_path / "home") == [".cache"]


def test_processing_leaves_the_data_folder_unchanged_and_writes_to_the_cache(data_dir, plugins, peptides_cache):
    """Peptides-func is processed once per test run (the session's ``peptides_cache``, about 30 s), from the real
    data folder: the worker that processed it snapshotted that folder before and after."""
    import torch

    from bench_gnn.runner import RunOptions, load_dataset

    report = json.loads((peptides_cache / "data-folder-snapshots.json").read_text())
    raw = data_dir / "lrgb" / "peptides-functional"
    assert len([p for p in report["before"] if not p.endswith("/")]) >= 2  # the csv.gz and the split pickle
    assert report["after"] == report["before"] == snapshot(raw)
    processed = [p for p in (peptides_cache / "processed" / "peptides-func").rglob("*") if p.is_file()]
    assert processed and all(p.stat().st_size > 0 for p in processed)
    options = RunOptions(torch.device("cpu"), data_dir, peptides_cache, allow_download=False)
    assert len(load_dataset(plugins, "peptides-func", options).dataset) == 15535  # the card's graph count
    assert snapshot(raw) == report["before"]
