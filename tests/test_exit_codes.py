"""Every row of the README "Exit codes" table, provoked through the installed ``bench`` console script."""

import subprocess
import sys
from pathlib import Path

import failing_plugin

BENCH = Path(sys.executable).parent / "bench"

def _dist(site: Path, name: str, entry: str) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[bench]\n{name} = {entry}\n")


def _bench(*args, env=None, timeout=240, **kw):
    import os

    return subprocess.run([str(BENCH), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, **kw)


def test_console_script_is_installed():
    assert BENCH.is_file(), f"{BENCH} missing: the venv does not install the `bench` console script"


def test_exit_0_ok_and_4_usage_error_with_did_you_mean(tmp_path):
    ok = _bench("list", "suites")
    assert ok.returncode == 0 and "smoke" in ok.stdout, ok.stderr
    bad = _bench("run", "--suite", "smok")
    assert bad.returncode == 4 and "unknown suite 'smok'. Did you mean 'smoke'?" in bad.stderr
    argparse_error = _bench("run", "--suite", "smoke", "--stepz", "1")
    assert argparse_error.returncode == 4 and "--stepz" in argparse_error.stderr


def test_exit_1_jobs_failed_and_the_record_says_why(tmp_path):
    site, suite = failing_plugin.install(tmp_path)
    r = _bench("run", "--suite", suite, "--results", tmp_path / "r", "--no-leaderboard",
               env={"PYTHONPATH": str(site)})
    assert r.returncode == 1, r.stderr
    assert "0 ok, 1 failed" in r.stderr
    records = list((tmp_path / "r").rglob("*.json"))
    assert len(records) == 1 and "Boom model cannot be built" in records[0].read_text()


def test_exit_2_when_the_reader_closes_the_pipe():
    proc = subprocess.Popen([str(BENCH), "list", "suites"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    proc.stdout.close()  # the reader goes away before bench writes anything (`bench list suites | true`)
    try:
        err = proc.stderr.read()
        code = proc.wait(timeout=120)
    finally:
        proc.kill()
    assert code == 2
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_exit_3_internal_error_prints_the_trace_and_asks_for_a_report(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(
        "import bench_gnn.commands\n"
        "def _bug(args):\n"
        "    raise RuntimeError('injected bug in dispatch')\n"
        "bench_gnn.commands.dispatch = _bug\n")
    r = _bench("list", "suites", env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 3
    assert "Traceback" in r.stderr and "RuntimeError: injected bug in dispatch" in r.stderr
    assert r.stderr.rstrip().endswith(
        "bench: internal error (a bug in bench or a plugin); please report it with the trace above")


def test_exit_5_data_error_names_the_missing_file_and_the_fix(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _bench("run", "--suite", "heterophily", "--data-dir", empty, "--offline", "--dataset", "minesweeper",
               "--splits", "1", "--steps", "1", "--model", "GCN", "--results", tmp_path / "r")
    assert r.returncode == 5, r.stderr
    assert f"raw file 'heterophilous/minesweeper/raw/minesweeper.npz' is missing: {empty}/heterophilous" in r.stderr
    assert "drop --offline" in r.stderr


def test_exit_6_strict_list_plugins_with_a_broken_plugin(tmp_path):
    _dist(tmp_path, "brokenplug", "module_that_does_not_exist_anywhere")
    r = _bench("--strict", "list", "plugins", env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 6
    assert "brokenplug" in r.stdout + r.stderr and "module_that_does_not_exist_anywhere" in r.stdout + r.stderr


def test_exit_7_8_9_stale_leaderboard_storage_error_invalid_record(tmp_path):
    rec, boards = tmp_path / "rec", tmp_path / "lb"
    rec.mkdir()
    made = _bench("leaderboard", "update", "--suite", "smoke", "--records", rec, "--leaderboards", boards)
    assert made.returncode == 0, made.stderr
    with (boards / "smoke.md").open("a") as f:
        f.write("| a row nobody computed |\n")
    stale = _bench("leaderboard", "check", "--suite", "smoke", "--records", rec, "--leaderboards", boards)
    assert stale.returncode == 7 and "smoke" in stale.stderr + stale.stdout

    afile = tmp_path / "afile"
    afile.write_text("")
    storage = _bench("run", "--suite", "smoke", "--steps", "1", "--splits", "1", "--model", "GCN",
                     "--dataset", "csbm-homophilous", "--results", afile)
    assert storage.returncode == 8
    assert f"{afile} is a file, not a folder" in storage.stderr
    assert "choose a writable --results folder" in storage.stderr

    bad = tmp_path / "bad.json"
    bad.write_text('{"suite": "smoke"}')
    invalid = _bench("leaderboard", "validate", "--suite", "smoke", bad)
    assert invalid.returncode == 9
    assert f"{bad}: schema:" in invalid.stdout + invalid.stderr
