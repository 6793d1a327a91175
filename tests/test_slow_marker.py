"""README "Set up and run": `pytest -m "not slow"` skips the tests that train on real data or start sweeps in
subprocesses, and keeps the rest as a fast inner loop. Checked through pytest's own collection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEPS_IN_SUBPROCESSES = [
    "tests/test_store.py::test_kill_9_halfway_then_rerun_completes_without_loss_or_duplicates",
    "tests/test_store.py::test_two_processes_on_one_folder_split_the_work_and_do_every_job_once",
    "tests/test_store.py::test_ctrl_c_exits_2_and_keeps_finished_records",
    "tests/test_shards.py::test_two_shards_into_one_folder_run_every_job_once_and_match_one_process",
    "tests/test_shards.py::test_a_killed_shard_is_finished_by_another_workers_leftovers",
    "tests/test_launch.py::test_two_workers_run_each_smoke_job_once_with_the_single_process_leaderboard",
    "tests/test_launch.py::test_a_worker_killed_mid_job_fails_the_launch_and_the_same_command_completes_the_sweep",
    "tests/test_cli.py::test_smoke_suite_end_to_end_then_rerun_skips",
    "plugins/smoke/tests/test_smoke_offline.py::test_smoke_suite_runs_with_no_data_folder_and_no_network",
]
TRAINING_ON_REAL_DATA = [  # or building Peptides-func's 15,535 graphs (about 26 s)
    "plugins/longrange/tests/test_longrange_suite.py::test_reduced_run_learns_and_records_influence",
    "plugins/longrange/tests/test_longrange_suite.py::test_influence_plot_from_the_records",
    "plugins/longrange/tests/test_longrange_suite.py::test_label_frequency_ap_of_peptides_func_is_what_the_labels_give",
    "plugins/node/tests/test_heterophily.py::test_reduced_protocol_on_minesweeper_learns_where_the_graph_is_needed",
]


def _collected(*args: str) -> set[str]:
    files = sorted({name.split("::")[0] for name in SWEEPS_IN_SUBPROCESSES + TRAINING_ON_REAL_DATA})
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", "-p",
                           "no:cacheprovider", *args, *files], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    return {line.split("[")[0] for line in done.stdout.splitlines() if "::" in line}


def test_not_slow_leaves_out_the_sweeps_and_the_real_data_training_and_keeps_the_rest():
    every, fast = _collected(), _collected("-m", "not slow")
    heavy = set(SWEEPS_IN_SUBPROCESSES + TRAINING_ON_REAL_DATA)
    assert heavy <= every  # the names are current
    assert fast == every - heavy
    assert len(fast) >= 3 * len(heavy)  # an inner loop, not an empty one
