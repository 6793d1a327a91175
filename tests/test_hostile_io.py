"""Hostile input and hostile file systems: every probe ends in one clear line and the right exit code.

Each test reproduces a probe, checks the exit code, that the message names the culprit (path,
name or value) and that nothing outside the target folder changed. Tests run as root, where
chmod cannot make a folder read-only: read-only folders and full disks are simulated by
making ``os.open`` / ``os.mkdir`` / ``os.fsync`` fail for paths under the target folder.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import record_builders

from bench_gnn.errors import ExitCode, StorageError, UsageError
from bench_gnn.files import inside
from bench_gnn.store import Store, read_records

FAST = ["--model", "GCN", "--dataset", "csbm-mixed", "--no-progress", "--steps", "5", "--device", "cpu"]


def snapshot(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every path under ``root`` (outside ``skip``) with a digest of its content."""
    state = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        state[str(path.relative_to(root))] = (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
    return state


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A scratch working folder, made the current folder, so stray relative writes are caught."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_smoke(bench_main, results: Path, *extra: str, splits: str = "1"):
    return bench_main("run", "--suite", "smoke", *FAST, "--splits", splits, "--results", str(results), *extra)


def fail_under(folder: Path, monkeypatch, err: int, *names: str) -> None:
    """Make the ``os`` functions ``names`` raise ``err`` for any path at or under ``folder``."""
    folder = Path(os.path.abspath(folder))

    def under(path) -> bool:
        if isinstance(path, int):  # a file descriptor: where does it point?
            try:
                path = os.readlink(f"/proc/self/fd/{path}")
            except OSError:
                return False
        path = Path(os.path.abspath(os.fsdecode(path)))
        return path == folder or folder in path.parents

    for name in names:
        real = getattr(os, name)

        def fake(path, *args, _real=real, **kwargs):
            if under(path):
                raise OSError(err, os.strerror(err), None if isinstance(path, int) else os.fsdecode(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, fake)


# 1. usage errors exit 4, never 2 (interrupted)


@pytest.mark.parametrize("argv, culprit", [
    ([], "COMMAND"),
    (["run"], "--suite"),
    (["rn"], "'rn'"),
    (["run", "--suite", "smoke", "--splits", "abc"], "'abc'"),
    (["run", "--suite", "smoke", "--bogus"], "--bogus"),
    (["list", "nope"], "'nope'"),
    (["leaderboard", "render"], "--suite"),
    (["data", "stats"], "name"),
])
def test_argparse_errors_are_usage_errors(bench_main, work, argv, culprit):
    code, out, err = bench_main(*argv)
    assert code == ExitCode.USAGE_ERROR == 4
    assert "usage: bench" in err and "error:" in err and culprit in err and out == ""
    assert snapshot(work) == {}


def test_help_and_version_still_exit_0_and_cli_exits_4(bench_main, bench_cli, work):
    for argv in (["--help"], ["--version"], ["run", "--help"]):
        code, out, _ = bench_main(*argv)
        assert code == 0 and "bench" in out
    result = bench_cli(cwd=work)  # the real process exit status, not just main's return value
    assert result.returncode == 4 and "the following arguments are required: COMMAND" in result.stderr
    assert "8 cannot read or write a file or folder" in bench_cli("--help").stdout.replace("\n", " ")
    assert snapshot(work) == {}


# 2. counts are positive integers, checked at parse time


@pytest.mark.parametrize("flag, value", [
    ("--threads", "-1"), ("--threads", "0"), ("--splits", "0"), ("--splits", "-3"), ("--seeds", "0"),
    ("--steps", "0"), ("--steps", "-5"), ("--threads", "two"),
])
def test_counts_must_be_positive_integers(bench_main, work, flag, value):
    code, _, err = bench_main("run", "--suite", "smoke", flag, value, "--results", str(work / "results"))
    assert code == 4
    assert "argument " in err and flag in err and (repr(value) in err or f"got {value}" in err)
    assert "Traceback" not in err
    assert snapshot(work) == {}  # nothing ran, nothing written


# 3. file system errors: exit 8, one line naming the path and the problem


def test_results_that_is_a_file(bench_main, work):
    afile = work / "afile"
    afile.write_text("not a folder\n")
    before = snapshot(work)
    for results in (afile, afile / "sub"):
        code, _, err = run_smoke(bench_main, results)
        assert code == ExitCode.STORAGE_ERROR == 8, err
        assert f"bench: error: cannot write records to {results / 'smoke'}: {afile} is a file, not a folder" in err
        assert "choose a writable --results folder" in err
        assert "Traceback" not in err and "internal error" not in err
    assert snapshot(work) == before


def test_read_only_results_folder_keeps_earlier_records(bench_main, work, monkeypatch):
    results = work / "results"
    code, _, err = run_smoke(bench_main, results)
    assert code == 0, err
    before = snapshot(work)
    fail_under(results, monkeypatch, errno.EACCES, "open", "mkdir")
    code, _, err = run_smoke(bench_main, results, "--force")
    assert code == 8, err
    assert f"bench: error: cannot write records to {results / 'smoke'}: Permission denied; " \
           "choose a writable --results folder" in err
    assert "Traceback" not in err
    monkeypatch.undo()
    assert snapshot(work) == before
    assert len(read_records(results / "smoke")) == 1


def test_read_only_record_file_and_lock(tmp_path, monkeypatch):
    store = Store(tmp_path, "s")
    fail_under(store.folder, monkeypatch, errno.EROFS, "open")
    with pytest.raises(StorageError, match=r"cannot write lock file .*job\.lock: Read-only file system"):
        with store.claim("job"):
            pass
    with pytest.raises(StorageError, match=r"cannot write record .*abc\.json: Read-only file system"):
        store.write({"schema": 1, "key": "abc", "status": "ok"})
    assert list(store.folder.iterdir()) == []


def test_full_disk_keeps_records_written_before(bench_main, work, monkeypatch):
    results = work / "results"
    code, _, err = run_smoke(bench_main, results)
    assert code == 0, err
    folder = results / "smoke"
    before = snapshot(work)
    fail_under(results, monkeypatch, errno.ENOSPC, "fsync")  # the record's data does not fit on the disk
    code, _, err = run_smoke(bench_main, results, splits="2")  # split 0 is done, split 1 cannot be saved
    monkeypatch.undo()
    assert code == 8, err
    line = next(line for line in err.splitlines() if line.startswith("bench: error:"))
    assert line.startswith(f"bench: error: cannot write record {folder}/") and ".json: No space left on device; " \
           "free some space or choose a writable --results folder" in line
    assert "Traceback" not in err
    no_locks = lambda state: {k: v for k, v in state.items() if not k.endswith(".lock")}  # noqa: E731
    assert no_locks(snapshot(work)) == no_locks(before)  # no half record, no temp file
    (record,) = read_records(folder)
    assert record["results"]["status"] == "ok" and record["identity"]["split"] == 0


def test_read_only_leaderboards_folder(bench_main, work, monkeypatch):
    boards = work / "boards"
    boards.mkdir()
    (boards / "smoke.md").write_text("old board\n")
    before = snapshot(work)
    fail_under(boards, monkeypatch, errno.EACCES, "open", "mkdir")
    code, _, err = bench_main("leaderboard", "update", "--suite", "smoke", "--leaderboards", str(boards))
    monkeypatch.undo()
    assert code == 8, err
    assert f"bench: error: cannot write leaderboard {boards / 'smoke.md'}: Permission denied; " \
           "choose a writable --leaderboards folder" in err
    assert snapshot(work) == before


def test_leaderboards_that_is_a_file(bench_main, work):
    boards = work / "boards"
    boards.write_text("a file\n")
    before = snapshot(work)
    code, _, err = bench_main("leaderboard", "update", "--suite", "smoke", "--leaderboards", str(boards))
    assert code == 8 and f"cannot write leaderboard {boards / 'smoke.md'}: {boards} is a file, not a folder" in err
    assert snapshot(work) == before


def test_any_unconverted_os_error_is_exit_8_naming_the_path(bench_main, work, monkeypatch):
    from bench_gnn import commands

    def broken(args):
        raise PermissionError(errno.EACCES, "Permission denied", "/somewhere/file.bin")

    monkeypatch.setattr(commands, "dispatch", broken)
    code, _, err = bench_main("list", "models")
    assert code == 8
    assert err.strip() == "bench: error: cannot read or write /somewhere/file.bin: Permission denied"


# 4. output to a closed pipe ends quietly


@pytest.mark.parametrize("argv", [["list", "datasets"], ["--help"]])
def test_closed_stdout_ends_quietly(work, argv):
    cmd = [sys.executable, "-m", "bench_gnn.cli", *argv]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before bench writes: every write is EPIPE
    try:
        result = subprocess.run(cmd, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
                                stdin=subprocess.DEVNULL, cwd=work)
    finally:
        os.close(write_end)
    assert result.returncode in (0, ExitCode.INTERRUPTED)
    assert "Traceback" not in result.stderr and "Broken pipe" not in result.stderr
    assert "Exception ignored" not in result.stderr
    # and as `bench list datasets | head -1`: read a line, close the pipe, wait
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd=work)
    assert proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err
    assert snapshot(work) == {}


# 5. leaderboard check with no board files


def test_leaderboard_check_names_missing_files_and_the_fix(bench_main, work):
    boards = work / "boards"
    code, _, err = bench_main("leaderboard", "check", "--suite", "smoke", "--leaderboards", str(boards))
    assert code == ExitCode.LEADERBOARD_STALE == 7
    assert f"{boards / 'smoke.md'}, {boards / 'smoke.csv'} are missing" in err and "differ" not in err
    assert f"create them with `bench leaderboard update --suite smoke --leaderboards {boards}`" in err
    assert snapshot(work) == {}
    assert bench_main("leaderboard", "update", "--suite", "smoke", "--leaderboards", str(boards))[0] == 0
    assert bench_main("leaderboard", "check", "--suite", "smoke", "--leaderboards", str(boards))[0] == 0
    (boards / "smoke.csv").write_text("edited\n")
    code, _, err = bench_main("leaderboard", "check", "--suite", "smoke", "--leaderboards", str(boards))
    assert code == 7 and f"{boards / 'smoke.csv'} differs from what the records" in err and "missing" not in err


# 6. every path bench writes stays inside its folder


@pytest.mark.parametrize("name", ["../escape", "/tmp/escape", "a/../../escape", ".", "", "a/..", "x\x00y"])
def test_inside_refuses_names_that_escape(tmp_path, name):
    with pytest.raises(UsageError, match="suite name") as info:
        inside(tmp_path / "results", name, what="suite name")
    assert repr(name) in str(info.value)
    assert not (tmp_path / "results").exists()


def test_inside_accepts_names_inside(tmp_path):
    assert inside(tmp_path, "smoke") == tmp_path / "smoke"
    assert inside(tmp_path, "a/b.json") == tmp_path / "a" / "b.json"
    assert inside(Path("."), "x.png") == Path("x.png")


def test_store_refuses_a_suite_name_outside_results(work):
    with pytest.raises(UsageError, match=r"suite name '\.\./\.\./escape' would put files outside"):
        Store(work / "results", "../../escape")
    assert snapshot(work) == {}


@pytest.fixture
def hostile_suite_name(monkeypatch):
    """Load the smoke suite under an escaping name, as if the suite-level name rule were bypassed."""
    from bench_gnn import commands, sweep

    real = sweep.load_suite

    def load(*args, **kwargs):
        suite, published = real(*args, **kwargs)
        return dataclasses.replace(suite, name="../escape"), dataclasses.replace(published, name="../escape")

    monkeypatch.setattr(commands, "load_suite", load)  # the leaderboard commands
    monkeypatch.setattr(sweep, "load_suite", load)  # run, status, launch (through Sweep)
    return "../escape"


def test_write_sites_refuse_a_suite_name_outside_their_folder(bench_main, tmp_path, hostile_suite_name, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = snapshot(tmp_path)
    code, _, err = bench_main("leaderboard", "update", "--suite", "smoke", "--leaderboards", str(work / "boards"),
                              "--records", str(work / "records"))
    assert code == 4 and "'../escape' would put files outside" in err
    code, _, err = bench_main("leaderboard", "update", "--suite", "smoke", "--leaderboards", str(work / "boards"))
    assert code == 4 and "'../escape' would put files outside" in err
    code, _, err = run_smoke(bench_main, work / "results")
    assert code == 4 and "suite name '../escape' would put files outside" in err, err
    assert snapshot(tmp_path) == before


# 7. an `ok` record the leaderboard cannot read is repaired by a rerun


@pytest.mark.parametrize("damage", [
    lambda r: r["results"].pop("metrics"),
    lambda r: r["results"]["metrics"].pop("test"),
    lambda r: r["results"]["metrics"].update(val="high"),
])
def test_incomplete_ok_record_is_rerun_and_repaired(bench_main, work, damage):
    results = work / "results"
    code, first_out, err = run_smoke(bench_main, results)
    assert code == 0, err
    (path,) = (results / "smoke").glob("*.json")
    record = json.loads(path.read_text())
    damage(record)
    path.write_text(json.dumps(record))
    before = snapshot(work, skip=results / "smoke")

    code, _, err = bench_main("leaderboard", "render", "--suite", "smoke", "--records", str(results))
    assert code == 0 and f"record {path} is incomplete" in err and "bench run --suite smoke" in err
    code, out, err = run_smoke(bench_main, results)
    assert code == 0, err
    assert f"record {path} is incomplete" in err and "its job reruns" in err and "1 ok" in err
    repaired = json.loads(path.read_text())
    assert repaired["results"]["status"] == "ok" and isinstance(repaired["results"]["metrics"]["test"], float)
    assert "# Leaderboard: smoke" in out and "| 1/2 |" in out
    assert re.search(r"\| csbm-mixed +\| GCN +\| accuracy \|", out)
    assert snapshot(work, skip=results / "smoke") == before
    code, _, err = run_smoke(bench_main, results)  # repaired: skipped, no warning any more
    assert code == 0 and "is incomplete" not in err and "skipping 1 finished job(s)" in err


def test_leaderboard_skips_unusable_records_without_crashing(plugins):
    from bench_gnn.leaderboard import build_boards, render
    from bench_gnn.sweep import load_suite

    suite = load_suite(plugins, "smoke")[0]
    broken = record_builders.make()
    del broken["results"]["metrics"]
    (board,) = build_boards(suite, [broken])
    assert board.skipped == [f"{broken['key']}: results: 'metrics' is a required property"]
    assert all(c.status == "missing" for c in board.cells)
    other = record_builders.make(record_builders.ok_results(val=None), split=1)  # type: ignore[arg-type]
    assert "# Leaderboard: smoke" in render(suite, [broken, other])


def test_store_status_of_incomplete_record(tmp_path):
    warnings: list[str] = []
    store = Store(tmp_path, "s", warn=warnings.append)
    record = record_builders.make()
    del record["results"]["metrics"]
    key = record["key"]
    store.write(record)
    assert store.status(key) == "incomplete" and store.status(key) == "incomplete"
    assert warnings == [f"record {store.path(key)} is incomplete (results: 'metrics' is a required property); "
                        "its job reruns and replaces it"]
    store.path(key).write_text("[1, 2]")  # valid JSON, not a record: rerun as if absent
    assert store.status(key) is None
