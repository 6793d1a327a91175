"""Bring your own model: an installed model the suite does not list runs under the suite's protocol, unchanged,
and is ranked in the same full-protocol table as the suite's models, whose records are reused."""

from __future__ import annotations

import record_builders
from test_plugin_files import MODEL_FILE

from bench_gnn.errors import ExitCode
from bench_gnn.jobs import FULL
from bench_gnn.leaderboard import build_boards
from bench_gnn.plugin_manager import load_plugins
from bench_gnn.store import read_records
from bench_gnn.sweep import Sweep

ONE_DATASET = ("--suite", "smoke", "--dataset", "csbm-homophilous", "--no-progress", "--no-leaderboard")


def test_a_model_file_runs_the_full_smoke_protocol_and_is_ranked_beside_the_baselines(bench_main, tmp_path):
    model = tmp_path / "my_gnn.py"
    model.write_text(MODEL_FILE)
    results = tmp_path / "results"
    code, _, err = bench_main("run", *ONE_DATASET, "--results", str(results))
    assert code == ExitCode.OK, err
    baselines = {p.name: p.stat().st_mtime_ns for p in (results / "smoke").glob("*.json")}
    assert len(baselines) == 6  # ResNet, GCN, SAGE × 2 splits
    code, _, err = bench_main("run", *ONE_DATASET, "--model", "MyGNN", "--plugin", str(model), "--results",
                              str(results))
    assert code == ExitCode.OK, err
    assert "variant: full" in err
    records = read_records(results / "smoke")
    mine = [r for r in records if r["identity"]["model"] == "MyGNN"]
    assert len(mine) == 2 and all(r["variant"] == FULL for r in mine)
    assert {p.name: p.stat().st_mtime_ns for p in (results / "smoke").glob("*.json") if p.name in baselines} \
        == baselines  # the baselines' records were reused, not rerun
    code, out, err = bench_main("leaderboard", "render", "--suite", "smoke", "--records", str(results))
    assert code == ExitCode.OK, err
    full = out.split("## Full protocol")[1].split("### Average rank")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in full.splitlines()
            if line.startswith("| csbm-homophilous")]
    assert [row[1] for row in rows] == ["ResNet", "GCN", "SAGE", "MyGNN †"]
    assert all(row[-3].isdigit() for row in rows)  # every one ranked
    assert "† not one of the suite's models" in full and "MyGNN 1" in full


def test_adding_a_model_never_makes_a_job_reduced_and_a_protocol_change_always_does(tmp_path):
    model = tmp_path / "my_gnn.py"
    model.write_text(MODEL_FILE)
    plugins = load_plugins(files=[model])
    _, plain = Sweep("smoke").jobs(plugins)
    _, joined = Sweep("smoke", models=["GCN", "MyGNN"]).jobs(plugins)
    gcn = {job.key for job in plain if job.model == "GCN"}
    assert {job.key for job in joined if job.model == "GCN"} == gcn  # the baseline's identity is unchanged
    assert {job.variant for job in joined} == {FULL} and sum(job.model == "MyGNN" for job in joined) == 6
    _, tuned = Sweep("smoke", models=["MyGNN"], overrides=["models.MyGNN.grid.hidden=[8,16]"]).jobs(plugins)
    assert {job.variant for job in tuned} == {FULL} and len(tuned) == 12  # its own grid: still comparable
    _, changed = Sweep("smoke", models=["GCN", "MyGNN"], overrides=["protocol_args.lr=0.5"]).jobs(plugins)
    assert {job.variant for job in changed} == {"reduced: lr=0.5"}
    _, shorter = Sweep("smoke", models=["MyGNN"], steps=5).jobs(plugins)
    assert {job.variant for job in shorter} == {"reduced: steps=5"}


def test_the_board_ranks_a_guest_in_the_full_protocol_table(tmp_path):
    model = tmp_path / "my_gnn.py"
    model.write_text(MODEL_FILE)
    plugins = load_plugins(files=[model])
    suite, jobs = Sweep("smoke", models=["GCN", "MyGNN"], datasets=["csbm-mixed"]).jobs(plugins)
    records = []
    for job in jobs:  # hand-built ok records: GCN better on split 0, MyGNN on split 1
        test = {("GCN", 0): 0.8, ("GCN", 1): 0.6, ("MyGNN", 0): 0.7, ("MyGNN", 1): 0.9}[(job.model, job.split)]
        records.append(record_builders.make(record_builders.ok_results(val=test, test=test), variant=job.variant,
                                            **job.identity))
    (board,) = build_boards(suite, records, [FULL])
    assert board.guests == ["MyGNN"]
    ranked = {c.model: c.rank for c in board.cells if c.mean is not None}
    assert ranked == {"GCN": 2.0, "MyGNN": 1.0}  # mean 0.8 beats 0.7
    assert set(board.average_rank) == {"ResNet", "GCN", "SAGE", "MyGNN"}


def test_a_model_added_by_an_override_is_a_guest_too(tmp_path):
    model = tmp_path / "my_gnn.py"
    model.write_text(MODEL_FILE)
    plugins = load_plugins(files=[model])
    suite, jobs = Sweep("smoke", overrides=["models.MyGNN.hparams.hidden=8"]).jobs(plugins)
    assert suite.guests == ("MyGNN",) and {job.variant for job in jobs} == {FULL}
    assert Sweep("smoke").load(plugins)[0].guests == ()
