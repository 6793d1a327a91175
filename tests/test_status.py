"""`bench status`: done / failed / running / pending per dataset × model, and an ETA, read-only."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from bench_gnn.jobs import expand
from bench_gnn.status import duration
from bench_gnn.store import Store
from bench_gnn.sweep import load_suite

SWEEP = ["--suite", "smoke", "--steps", "5"]


def _status(bench_main, results, *extra):
    code, out, err = bench_main("status", *SWEEP, "--results", str(results), "--format", "json", *extra)
    assert code == 0, err
    payload = json.loads(out)
    return payload, {(c["dataset"], c["model"]): c for c in payload["cells"]}


@pytest.fixture(scope="module")
def half_done(tmp_path_factory):
    """A results folder where GCN's 6 jobs of the 18 (smoke, 5 steps) are finished."""
    from bench_gnn.cli import main

    results = tmp_path_factory.mktemp("half-done")
    code = main(["run", *SWEEP, "--model", "GCN", "--no-progress", "--threads", "1", "--device", "cpu",
                 "--no-leaderboard", "--results", str(results)])
    assert code == 0
    return results


def _copy(source, target):
    target.mkdir()
    (target / "smoke").mkdir()
    for path in (source / "smoke").iterdir():
        (target / "smoke" / path.name).write_bytes(path.read_bytes())
    return target


def _pending_job(plugins, model="SAGE", dataset="csbm-mixed"):
    suite, published = load_suite(plugins, "smoke", steps=5)
    return next(job for job in expand(suite, plugins, published=published)
                if job.model == model and job.dataset == dataset)


def test_a_fresh_folder_is_all_pending_with_an_unknown_eta_and_stays_untouched(bench_main, tmp_path):
    payload, cells = _status(bench_main, tmp_path)
    assert payload["totals"] == {"done": 0, "failed": 0, "running": 0, "pending": 18, "total": 18}
    assert payload["eta_seconds"] is None and payload["variants"] == ["reduced: steps=5"]
    assert len(cells) == 9 and all(c["pending"] == 2 for c in cells.values())
    code, out, _ = bench_main("status", *SWEEP, "--results", str(tmp_path))
    assert code == 0 and "ETA: unknown" in out and "no records yet" in out
    assert list(tmp_path.iterdir()) == []  # status never writes


def test_half_done_folder_counts_done_and_pending_with_an_eta(bench_main, half_done):
    locks = sorted(p.name for p in (half_done / "smoke").iterdir())
    payload, cells = _status(bench_main, half_done)
    assert payload["totals"] == {"done": 6, "failed": 0, "running": 0, "pending": 12, "total": 18}
    for (_, model), cell in cells.items():
        assert (cell["done"], cell["pending"]) == ((2, 0) if model == "GCN" else (0, 2))
    assert payload["median_job_seconds"] > 0
    assert payload["eta_seconds"] == pytest.approx(12 * payload["median_job_seconds"])
    assert sorted(p.name for p in (half_done / "smoke").iterdir()) == locks  # no lock file created
    code, out, _ = bench_main("status", *SWEEP, "--results", str(half_done))
    assert code == 0 and "12 pending × median" in out
    assert out.splitlines()[-2].split() == ["all", "6", "0", "0", "12", "18"]


def test_filters_choose_the_sweep_as_for_run(bench_main, half_done):
    payload, cells = _status(bench_main, half_done, "--model", "GCN", "--splits", "1")
    assert payload["totals"] == {"done": 3, "failed": 0, "running": 0, "pending": 0, "total": 3}
    assert set(cells) == {(d, "GCN") for d in ("csbm-homophilous", "csbm-mixed", "csbm-heterophilous")}
    assert payload["eta_seconds"] == 0
    payload, _ = _status(bench_main, half_done, "models.GCN.hparams.hidden=7")  # another sweep: none of it done
    assert payload["totals"]["done"] == 0 and payload["totals"]["pending"] == 18
    code, _, err = bench_main("status", *SWEEP, "--model", "GNC", "--results", str(half_done))
    assert code == 4 and "GCN" in err


def test_a_held_lock_counts_as_running_and_a_failed_record_as_failed(bench_main, half_done, tmp_path, plugins):
    results = _copy(half_done, tmp_path / "results")
    store = Store(results, "smoke")
    running, failing = _pending_job(plugins), _pending_job(plugins, dataset="csbm-homophilous")
    done = store.get(next(iter(_done_keys(results))))
    assert done is not None
    store.write({**done, "key": failing.key, "identity": failing.identity,
                 "results": {**done["results"], "status": "failed", "metrics": None,
                             "error": {"type": "RuntimeError", "message": "boom", "traceback": ""}}})
    code = (
        "import sys, time; from bench_gnn.store import Store\n"
        "with Store(sys.argv[1], 'smoke').claim(sys.argv[2]) as mine:\n"
        "    print(mine, flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(results), running.key], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, holder.kill)  # readline has no timeout: a holder stuck in its claim is killed
    watchdog.start()
    try:
        assert holder.stdout.readline().strip() == "True"
        payload, cells = _status(bench_main, results)
        assert cells[("csbm-mixed", "SAGE")]["running"] == 1 and cells[("csbm-mixed", "SAGE")]["pending"] == 1
        assert cells[("csbm-homophilous", "SAGE")]["failed"] == 1
        assert payload["totals"] == {"done": 6, "failed": 1, "running": 1, "pending": 10, "total": 18}
        assert payload["eta_seconds"] == pytest.approx(10 * payload["median_job_seconds"])
        with store.claim(running.key) as mine:  # status dropped its probe: only the holder has the lock
            assert not mine
    finally:
        watchdog.cancel()
        try:
            holder.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.communicate(timeout=30)
            raise
    with store.claim(running.key) as mine:
        assert mine
    _, cells = _status(bench_main, results)
    assert cells[("csbm-mixed", "SAGE")]["pending"] == 2


def _done_keys(results):
    return [p.stem for p in (results / "smoke").glob("*.json")]


@pytest.mark.parametrize(("seconds", "text"), [(0.44, "0.4 s"), (42, "42 s"), (425, "7 min 05 s"),
                                               (12000, "3 h 20 min")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_the_eta_divides_the_pending_work_among_the_running_jobs(tmp_path):
    from bench_gnn.status import Counts, SweepStatus, eta_line

    status = SweepStatus("s", "1", tmp_path, ["full"], job_seconds=[10.0, 40.0, 20.0, 90.0])  # median 30 s
    status.cells[("d1", "m")] = Counts(done=2, running=2, pending=5)
    status.cells[("d2", "m")] = Counts(done=2, failed=1, running=1, pending=4)
    assert status.eta_seconds == 9 * 30.0 / 3
    assert eta_line(status) == "ETA: 1 min 30 s (9 pending × median 30 s per job ÷ 3 running)"
    idle = SweepStatus("s", "1", tmp_path, ["full"], {("d", "m"): Counts(done=1, pending=3)}, [12.0])
    assert idle.eta_seconds == 36.0 and eta_line(idle).endswith("÷ 1 running)")  # nothing running: one worker
    over = SweepStatus("s", "1", tmp_path, ["full"], {("d", "m"): Counts(done=1, running=2)}, [12.0])
    assert over.eta_seconds == 0.0 and eta_line(over) == "ETA: nothing pending; 2 job(s) still running"
