"""Records survive kill -9, and two processes on one results folder share the work without repeats."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import record_builders

from bench_gnn.store import Store, read_records

ARGS = ["run", "--suite", "smoke", "--steps", "40", "--no-progress", "--no-leaderboard", "--device", "cpu"]
TOTAL = 18


def _start(results, *extra, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "bench_gnn.cli", *ARGS, "--results", str(results), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, **kw,
    )


def _wait_for_records(folder, count: int, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline and len(list(folder.glob("*.json"))) < count:
        time.sleep(0.05)
    return folder


def _executed(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[") and " val " in line]


def test_write_is_atomic_and_readable(tmp_path):
    store = Store(tmp_path, "s")
    record = record_builders.make()
    store.write(record)
    assert store.status(record["key"]) == "ok"
    assert not [p for p in store.folder.iterdir() if p.suffix == ".tmp"]
    (store.folder / "broken.json").write_text("{not json")
    try:
        read_records(store.folder)
    except Exception as exc:  # noqa: BLE001
        assert "broken.json" in str(exc) and "delete it" in str(exc)
    else:
        raise AssertionError("a corrupt record must be reported")


def test_claim_is_exclusive_across_processes(tmp_path):
    store = Store(tmp_path, "s")
    with store.claim("job") as mine:
        assert mine
        code = (
            "from bench_gnn.store import Store; import sys; s = Store(sys.argv[1], 's')\n"
            "with s.claim('job') as m: print(m)"
        )
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert other.stdout.strip() == "False"
    with store.claim("job") as mine_again:
        assert mine_again


@pytest.mark.slow
def test_kill_9_halfway_then_rerun_completes_without_loss_or_duplicates(tmp_path):
    results = tmp_path / "results"
    slower = ("--steps", "300")  # so that the kill lands halfway, not after the last job
    proc = _start(results, *slower)
    folder = _wait_for_records(results / "smoke", 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.read_text() for p in folder.glob("*.json")}
    assert 3 <= len(done_before) < TOTAL
    rerun = _start(results, *slower)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"skipping {len(done_before)} finished job(s)" in err
    assert len(_executed(err)) == TOTAL - len(done_before)
    records = read_records(folder)
    assert len(records) == TOTAL and len({r["key"] for r in records}) == TOTAL
    assert all(r["results"]["status"] == "ok" for r in records)
    assert all((folder / name).read_text() == text for name, text in done_before.items())


@pytest.mark.slow
def test_two_processes_on_one_folder_do_every_job_once(tmp_path):
    results = tmp_path / "results"
    first, second = _start(results), _start(results)
    (_, err1), (_, err2) = first.communicate(timeout=300), second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    executed = _executed(err1) + _executed(err2)
    assert len(executed) == TOTAL, "\n".join(executed)
    records = read_records(results / "smoke")
    assert len(records) == TOTAL and all(r["results"]["status"] == "ok" for r in records)


@pytest.mark.slow
def test_ctrl_c_exits_2_and_keeps_finished_records(tmp_path):
    results = tmp_path / "results"
    # slow enough that the sweep cannot finish first; SIGINT restored in case this runs in a
    # background job, where the shell starts children with SIGINT ignored
    proc = _start(results, "--steps", "2000", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    folder = _wait_for_records(results / "smoke", 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "interrupted" in err and "rerun the same command" in err
    records = read_records(folder)
    assert 2 <= len(records) < TOTAL and all(r["results"]["status"] == "ok" for r in records)
