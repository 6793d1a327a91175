"""Sharded sweeps: `--shard I/N` partitions, workers sharing one folder, and merging folders of several machines."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import record_builders
from processes import finish

from bench_gnn.errors import DataError, UsageError
from bench_gnn.jobs import expand
from bench_gnn.shards import Shard, shard_of, work_order
from bench_gnn.store import Store, read_records, read_records_from
from bench_gnn.sweep import load_suite

SMOKE = ["--suite", "smoke", "--no-progress", "--threads", "1", "--device", "cpu"]
ONE_JOB = [*SMOKE, "--model", "GCN", "--dataset", "csbm-mixed", "--splits", "1", "--steps", "5"]
TIMING = {"seconds_per_step"}


def _jobs(plugins, name):
    suite, published = load_suite(plugins, name)
    return expand(suite, plugins, published=published)


@pytest.fixture
def start(bench_process):
    """Start ``bench run`` of the smoke suite into ``results`` in a subprocess."""

    def run(results, *extra):
        return bench_process("run", *SMOKE, "--no-leaderboard", "--results", str(results), *extra)

    return run


def _finish(proc, timeout=300):
    err = finish(proc, timeout)
    assert proc.returncode == 0, err
    return err


def _executed(stderr):
    return [line for line in stderr.splitlines() if line.startswith("[") and " val " in line]


def _ok_count(stderr):
    return int(re.search(r"^done: (\d+) ok", stderr, re.MULTILINE).group(1))


def _board(bench_main, *records):
    code, out, err = bench_main("leaderboard", "render", "--suite", "smoke", "--format", "json",
                                *[arg for folder in records for arg in ("--records", str(folder))])
    assert code == 0, err
    boards = json.loads(out)
    for board in boards:
        for cell in board["cells"]:
            for key in TIMING:
                cell.pop(key)
    return boards


@pytest.mark.parametrize("text", ["0/1", "0/16", "15/16"])
def test_shard_parses_i_of_n(text):
    assert str(Shard.parse(text)) == text


@pytest.mark.parametrize("text", ["16/16", "-1/2", "0/0", "1", "a/b", "1/2/3", ""])
def test_bad_shard_is_a_usage_error(text):
    with pytest.raises(UsageError, match="I/N|I counts from 0"):
        Shard.parse(text)


def test_bad_shard_on_the_command_line_exits_4_naming_the_flag(bench_main, tmp_path):
    code, _, err = bench_main("run", "--suite", "smoke", "--shard", "2/2", "--results", str(tmp_path))
    assert code == 4 and "--shard" in err and "0..1" in err
    code, _, err = bench_main("run", "--suite", "smoke", "--no-leftovers", "--results", str(tmp_path))
    assert code == 4 and "--no-leftovers needs --shard" in err


@pytest.mark.parametrize("suite", ["smoke", "heterophily"])
def test_shards_are_disjoint_and_cover_every_job(plugins, suite):
    jobs = _jobs(plugins, suite)
    keys = [job.key for job in jobs]
    assert len(set(keys)) == len(keys) > 0
    for count in (1, 2, 3, 7):
        shares = [{job.key for job in jobs if Shard(index, count).owns(job.key)} for index in range(count)]
        assert shares == [{k for k in keys if int(k, 16) % count == index} for index in range(count)]  # the rule
        assert sum(len(share) for share in shares) == len(keys)
        assert set().union(*shares) == set(keys)
        if len(keys) > 100:  # keys are hashes: shares of a large suite are about equal
            assert min(len(share) for share in shares) > len(keys) / count / 2
        for index in range(count):
            shard = Shard(index, count)
            order = work_order(jobs, shard)
            own = [job for job in jobs if shard.owns(job.key)]
            assert sorted(job.key for job in order) == sorted(keys)  # leftovers: every job, once
            assert order[: len(own)] == own  # own share first, in the suite's order
            # then shard index+1, index+2, ... (wrapping), each from its last job back to its first
            others = [[job for job in jobs if int(job.key, 16) % count == (index + o) % count][::-1]
                      for o in range(1, count)]
            assert order[len(own):] == [job for share in others for job in share]
            assert work_order(jobs, shard, leftovers=False) == own


def test_partition_is_the_same_in_another_process(plugins):
    jobs = _jobs(plugins, "smoke")
    code = (
        "from bench_gnn.sweep import load_suite; from bench_gnn.jobs import expand; "
        "from bench_gnn.plugin_manager import load_plugins; from bench_gnn.shards import shard_of\n"
        "p = load_plugins(); s, pub = load_suite(p, 'smoke')\n"
        "print(' '.join(f'{j.key}:{shard_of(j.key, 7)}' for j in expand(s, p, published=pub)))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert other.stdout.split() == [f"{job.key}:{shard_of(job.key, 7)}" for job in jobs]


def test_scheduling_is_recorded_beside_the_identity(bench_main, tmp_path, monkeypatch, plugins):
    code, _, err = bench_main("run", *ONE_JOB, "--no-leaderboard", "--results", str(tmp_path / "plain"))
    assert code == 0, err
    monkeypatch.setenv("BENCH_LAUNCHER", "local")
    code, _, err = bench_main("run", *ONE_JOB, "--no-leaderboard", "--results", str(tmp_path / "sharded"),
                              "--shard", "1/3", "--worker-id", "node7-gpu1")
    assert code == 0, err
    (plain,) = read_records(tmp_path / "plain" / "smoke")
    (sharded,) = read_records(tmp_path / "sharded" / "smoke")
    assert plain["key"] == sharded["key"]
    assert plain["results"]["metrics"] == sharded["results"]["metrics"]
    assert plain["results"]["best_step"] == sharded["results"]["best_step"]
    host = plain["provenance"]["host"]
    assert plain["scheduling"] == {"worker": f"{host}:{plain['scheduling']['pid']}", "shard": None,
                                   "launcher": None, "host": host, "pid": plain["scheduling"]["pid"],
                                   "own_share": True}
    assert sharded["scheduling"]["worker"] == "node7-gpu1" and sharded["scheduling"]["launcher"] == "local"
    assert sharded["scheduling"]["shard"] == "1/3"
    assert sharded["scheduling"]["own_share"] == (shard_of(sharded["key"], 3) == 1)
    for job in _jobs(plugins, "smoke"):
        assert not {"scheduling", "worker", "shard", "launcher", "host", "pid"} & set(job.identity)


def test_two_shards_into_one_folder_run_every_job_once_and_match_one_process(start, bench_main, tmp_path):
    sweep = ("--model", "GCN", "--steps", "20")  # 6 jobs: 5 in shard 0/2, 1 in shard 1/2
    first = start(tmp_path / "shared", "--shard", "0/2", *sweep)
    second = start(tmp_path / "shared", "--shard", "1/2", *sweep)
    # the one process: this one, while the shards run (no third torch start-up)
    code, _, err_single = bench_main("run", *SMOKE, "--no-leaderboard", "--results", str(tmp_path / "single"), *sweep)
    assert code == 0, err_single
    err1, err2 = _finish(first), _finish(second)
    assert len(_executed(err1)) + len(_executed(err2)) == 6, err1 + err2
    assert _ok_count(err1) + _ok_count(err2) == 6
    records = read_records(tmp_path / "shared" / "smoke")
    assert len(records) == 6 and len({r["key"] for r in records}) == 6
    assert all(r["results"]["status"] == "ok" for r in records)
    assert {r["scheduling"]["shard"] for r in records} <= {"0/2", "1/2"}
    trained = [{r["key"] for r in records if r["scheduling"]["pid"] == proc.pid} for proc in (first, second)]
    assert all(trained) and not trained[0] & trained[1] and trained[0] | trained[1] == {r["key"] for r in records}
    assert [len(_executed(err)) for err in (err1, err2)] == [len(keys) for keys in trained]
    assert _ok_count(err_single) == 6
    assert _board(bench_main, tmp_path / "shared") == _board(bench_main, tmp_path / "single")


def test_a_killed_shard_is_finished_by_another_workers_leftovers(start, bench_main, tmp_path):
    results = tmp_path / "results"
    folder = results / "smoke"
    # 6 jobs, 5 of them shard 0/2's; about 1 s a job, 20x the poll below, so that the kill lands mid-sweep
    sweep = ("--model", "GCN", "--steps", "100")
    doomed = start(results, "--shard", "0/2", *sweep)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(folder.glob("*.json")) and doomed.poll() is None:
            time.sleep(0.05)
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
    before = {p.name: p.read_text() for p in folder.glob("*.json")}
    assert 1 <= len(before) < 6
    code, out, err = bench_main("status", "--suite", "smoke", *sweep, "--results", str(results), "--format", "json")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    assert (totals["done"], totals["running"], totals["pending"]) == (len(before), 0, 6 - len(before))
    code, _, err = bench_main("run", *SMOKE, "--no-leaderboard", "--results", str(results), "--shard", "1/2", *sweep)
    assert code == 0, err  # the other worker: this process
    assert len(_executed(err)) == 6 - len(before)
    records = read_records(folder)
    assert len(records) == 6 and all(r["results"]["status"] == "ok" for r in records)
    assert all((folder / name).read_text() == text for name, text in before.items())
    leftovers = [r for r in records if r["scheduling"]["shard"] == "1/2" and not r["scheduling"]["own_share"]]
    assert leftovers and all(shard_of(r["key"], 2) == 0 for r in leftovers)


def _record(split, test):
    return record_builders.make(record_builders.ok_results(test=test), split=split, seed=split)


def _write(folder, record):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['key']}.json"
    path.write_text(json.dumps(record))
    return path


def test_merging_folders_keeps_identical_duplicates_once(tmp_path):
    a, b = tmp_path / "a" / "smoke", tmp_path / "b" / "smoke"
    records = [_record(split, test) for split, test in enumerate((0.5, 0.6, 0.7))]
    _write(a, records[0])
    _write(a, records[1])
    _write(b, records[1])
    _write(b, records[2])
    merged = read_records_from([a, b])
    assert [r["key"] for r in merged] == sorted(r["key"] for r in records)
    assert read_records_from([a]) == read_records(a)


def test_merging_two_different_records_of_one_key_names_both_files(tmp_path):
    a, b = tmp_path / "a" / "smoke", tmp_path / "b" / "smoke"
    record = _record(1, 0.6)
    first = _write(a, record)
    elsewhere = {**record, "provenance": {**record["provenance"], "host": "elsewhere"}}
    second = _write(b, elsewhere)  # any difference counts, not only the metrics
    with pytest.raises(DataError) as info:
        read_records_from([a, b])
    assert str(first) in str(info.value) and str(second) in str(info.value)


def test_leaderboard_merges_repeated_records_folders(bench_main, tmp_path):
    code, _, err = bench_main("run", *ONE_JOB, "--no-leaderboard", "--results", str(tmp_path / "a"))
    assert code == 0, err
    other = [arg if arg != "csbm-mixed" else "csbm-homophilous" for arg in ONE_JOB]
    code, _, err = bench_main("run", *other, "--no-leaderboard", "--results", str(tmp_path / "b"))
    assert code == 0, err

    def filled(boards):
        return {(c["dataset"], c["model"]) for board in boards for c in board["cells"] if c["n"]}

    assert filled(_board(bench_main, tmp_path / "a")) == {("csbm-mixed", "GCN")}
    assert filled(_board(bench_main, tmp_path / "a", tmp_path / "b")) == {("csbm-mixed", "GCN"),
                                                                          ("csbm-homophilous", "GCN")}
    (record,) = (tmp_path / "a" / "smoke").glob("*.json")
    shutil.copy(record, tmp_path / "b" / "smoke")  # the same record on both machines: kept once
    assert _board(bench_main, tmp_path / "a", tmp_path / "b") == _board(bench_main, tmp_path / "b")
    copy = tmp_path / "b" / "smoke" / record.name
    changed = json.loads(copy.read_text())
    changed["results"]["metrics"]["test"] = 0.0
    copy.write_text(json.dumps(changed))
    code, _, err = bench_main("leaderboard", "render", "--suite", "smoke", "--records", str(tmp_path / "a"),
                              "--records", str(tmp_path / "b"))
    assert code == 5 and str(record) in err and str(copy) in err

    boards = tmp_path / "boards"
    merge = ["--records", str(tmp_path / "a"), "--records", str(tmp_path / "b"), "--leaderboards", str(boards)]
    copy.unlink()
    assert bench_main("leaderboard", "update", "--suite", "smoke", *merge)[0] == 0
    assert bench_main("leaderboard", "check", "--suite", "smoke", *merge)[0] == 0
    code, _, err = bench_main("leaderboard", "check", "--suite", "smoke", *merge[:2], *merge[4:])
    assert code == 7 and f"--records {tmp_path / 'a'}` and commit" in err


def test_a_forced_worker_leaves_a_record_another_worker_wrote_meanwhile(bench_main, tmp_path, monkeypatch):
    code, _, err = bench_main("run", *ONE_JOB, "--no-leaderboard", "--results", str(tmp_path))
    assert code == 0, err
    (path,) = (tmp_path / "smoke").glob("*.json")
    claim = Store.claim

    def claim_after_another_worker_wrote(self, key):
        path.write_text(path.read_text().replace('"worker"', '"worker" ', 1))  # another worker's fresh record
        return claim(self, key)

    monkeypatch.setattr(Store, "claim", claim_after_another_worker_wrote)
    code, _, err = bench_main("run", *ONE_JOB, "--no-leaderboard", "--results", str(tmp_path), "--force",
                              "--shard", "0/2")
    assert code == 0 and "done: 0 ok, 0 failed, 1 skipped" in err
    monkeypatch.setattr(Store, "claim", claim)
    code, _, err = bench_main("run", *ONE_JOB, "--no-leaderboard", "--results", str(tmp_path), "--force")
    assert code == 0 and "done: 1 ok" in err
