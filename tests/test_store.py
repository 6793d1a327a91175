"""Records survive kill -9, and two processes on one results folder share the work without repeats."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import record_builders
from processes import finish

from bench_gnn.errors import DataError, StorageError
from bench_gnn.store import Store, lock_held, read_records, read_records_from

ARGS = ["run", "--suite", "smoke", "--steps", "40", "--no-progress", "--no-leaderboard", "--device", "cpu"]
TOTAL = 18
GCN = ("--model", "GCN")  # 3 datasets x 2 splits: 6 of the 18 smoke jobs


@pytest.fixture
def start(bench_process):
    """Start ``bench run`` of the smoke sweep (ARGS) into ``results`` in a subprocess."""

    def run(results, *extra, **kw):
        return bench_process(*ARGS, "--results", str(results), *extra, **kw)

    return run


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
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
        assert other.stdout.strip() == "False"
    with store.claim("job") as mine_again:
        assert mine_again


def test_lock_held_sees_a_claim_without_taking_it_and_never_creates_the_file(tmp_path):
    store = Store(tmp_path, "s")
    assert not lock_held(store.folder, "job") and not (store.folder / "job.lock").exists()
    with store.claim("job") as mine:  # flock is per open file: this process's claim is held against lock_held
        assert mine and lock_held(store.folder, "job")
        assert lock_held(store.folder, "job")  # the probe took nothing: the claim still holds
        with store.claim("job") as again:
            assert not again
    assert (store.folder / "job.lock").exists() and not lock_held(store.folder, "job")
    with store.claim("job") as mine:  # the probe on a free lock released it again
        assert mine


def test_unreadable_and_unwritable_paths_name_the_path_and_the_fix(tmp_path):
    store = Store(tmp_path, "s")
    record = record_builders.make()
    store.path(record["key"]).mkdir()  # a folder where the record file goes
    with pytest.raises(StorageError) as err:
        store.write(record)
    assert str(err.value).startswith(f"cannot write record {store.path(record['key'])}: ")
    assert str(err.value).endswith("; choose a writable --results folder")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(StorageError) as err:
        lock_held(not_a_folder, "job")
    assert str(err.value).startswith(f"cannot read lock file {not_a_folder / 'job.lock'}: ")
    assert str(err.value).endswith("; check the permissions of the --results folder")


def test_an_unreadable_record_or_records_folder_is_a_storage_error_naming_it(tmp_path, monkeypatch):
    store = Store(tmp_path, "s")
    store.write(record_builders.make())
    odd = store.folder / "odd.json"
    odd.mkdir()  # a folder where a record file should be
    with pytest.raises(StorageError) as err:
        read_records(store.folder)
    assert str(err.value).startswith(f"cannot read record {odd}: ")
    assert str(err.value).endswith("; check the permissions of the --results folder")
    odd.rmdir()

    def denied(self, pattern):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(store.folder), "glob", denied)
    with pytest.raises(StorageError) as err:
        read_records(store.folder)
    assert str(err.value).startswith(f"cannot read records in {store.folder}: ")


def test_merged_folders_keep_one_copy_of_a_record_and_refuse_two_different_ones(tmp_path, capsys):
    a, b = Store(tmp_path / "a", "s"), Store(tmp_path / "b", "s")
    one, two = record_builders.make(seed=1), record_builders.make(seed=2)
    for store in (a, b):
        store.write(one)
    b.write(two)
    incomplete = {**record_builders.make(seed=3), "results": {"status": "ok"}}
    a.write(incomplete)
    merged = read_records_from([a.folder, b.folder, a.folder])
    assert sorted(r["key"] for r in merged) == sorted([one["key"], two["key"]])
    warning = capsys.readouterr().err
    assert f"record {a.path(incomplete['key'])} is incomplete" in warning and "skipped" in warning
    changed = {**two, "results": {**two["results"], "metrics": {**two["results"]["metrics"], "test": 0.25}}}
    a.write(changed)
    with pytest.raises(DataError) as err:
        read_records_from([a.folder, b.folder])
    assert str(err.value) == (f"records {a.path(two['key'])} and {b.path(two['key'])} have the same key {two['key']} "
                              "but different contents; keep the one to trust, delete the other and merge again")


def test_concurrent_writes_of_one_key_leave_a_whole_record_at_every_moment(tmp_path):
    import threading

    store = Store(tmp_path, "s")
    base = record_builders.make()
    versions = [{**base, "results": {**base["results"], "extras": {"pad": "x" * size}}} for size in (10, 50_000)]
    store.write(versions[0])
    path, stop, seen, broken = store.path(base["key"]), threading.Event(), set(), []

    def write(version):
        for _ in range(40):
            store.write(version)

    def read():
        while not stop.is_set():
            try:
                seen.add(len(json.loads(path.read_text())["results"]["extras"]["pad"]))
            except ValueError as exc:  # a torn or partial file
                broken.append(exc)

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write, args=(v,)) for v in versions]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=60)
    stop.set()
    reader.join(timeout=60)
    assert broken == [] and seen <= {10, 50_000} and seen
    assert not [p for p in store.folder.iterdir() if p.name != path.name and not p.name.startswith(".probe")]


def test_kill_9_halfway_then_rerun_completes_without_loss_or_duplicates(start, bench_main, tmp_path):
    results, total = tmp_path / "results", 6
    # 100 steps: about 1 s a job, 20x the poll below, so that the kill lands halfway, not after the last job
    slower = (*GCN, "--steps", "100")
    proc = start(results, *slower)
    try:
        folder = _wait_for_records(results / "smoke", 2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    done_before = {p.name: p.read_text() for p in folder.glob("*.json")}
    assert 2 <= len(done_before) < total
    code, _, err = bench_main(*ARGS, "--results", str(results), *slower)  # the rerun, in this process
    assert code == 0, err
    assert f"skipping {len(done_before)} finished job(s)" in err
    assert len(_executed(err)) == total - len(done_before)
    records = read_records(folder)
    assert len(records) == total and len({r["key"] for r in records}) == total
    assert all(r["results"]["status"] == "ok" for r in records)
    assert all((folder / name).read_text() == text for name, text in done_before.items())


def test_two_processes_on_one_folder_split_the_work_and_do_every_job_once(start, tmp_path):
    """Both processes train a share of the sweep, at the same time: each finds jobs the other is training
    and leaves them to it (a lock that made one wait for the other would serialise the work), and no job is
    trained twice."""
    results = tmp_path / "results"
    first, second = start(results), start(results)
    try:
        err1, err2 = finish(first), finish(second)
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    records = read_records(results / "smoke")
    assert len(records) == TOTAL and all(r["results"]["status"] == "ok" for r in records)
    trained = {proc.pid: {r["key"] for r in records if r["scheduling"]["pid"] == proc.pid} for proc in (first, second)}
    assert all(trained.values()), f"one process trained nothing: {trained}\n{err1}{err2}"
    assert not trained[first.pid] & trained[second.pid]
    assert trained[first.pid] | trained[second.pid] == {r["key"] for r in records}
    # each process printed one result line per job it trained, so none trained a job it did not record
    assert (len(_executed(err1)), len(_executed(err2))) == (len(trained[first.pid]), len(trained[second.pid]))
    left = [line for line in (err1 + err2).splitlines() if line.endswith(": running in another process, left to it")]
    assert left, f"neither process found a job the other was running: the work was not shared\n{err1}{err2}"


def test_ctrl_c_exits_2_and_keeps_finished_records(start, tmp_path):
    results = tmp_path / "results"
    # 17 jobs left after the first record: the sweep cannot finish before the SIGINT; SIGINT restored in
    # case this runs in a background job, where the shell starts children with SIGINT ignored
    proc = start(results, "--steps", "100", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        folder = _wait_for_records(results / "smoke", 1)
    finally:
        proc.send_signal(signal.SIGINT)
    err = finish(proc, timeout=120)
    assert proc.returncode == 2 and "interrupted" in err and "rerun the same command" in err
    records = read_records(folder)
    assert 1 <= len(records) < TOTAL and all(r["results"]["status"] == "ok" for r in records)
