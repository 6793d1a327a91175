"""A Sweep is built once, from the CLI or the Python API, and read by run, status and launch."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch

from bench_gnn.api import run
from bench_gnn.cli import _parser
from bench_gnn.errors import UsageError
from bench_gnn.sweep import Sweep


def _args(*argv: str):
    args, extra = _parser().parse_known_args(list(argv))
    assert extra == []
    return args


def test_the_cli_and_the_python_api_build_the_same_sweep():
    argv = ["run", "--suite", "smoke", "--model", "GCN", "--model", "SAGE", "--dataset", "csbm-mixed", "--splits", "1",
            "--steps", "5", "--results", "out", "--device", "cpu", "--threads", "2", "--data-dir", "d", "--cache-dir",
            "c", "--offline", "--allow-over-budget", "protocol_args.lr=0.1"]
    from_cli = Sweep.from_args(_args(*argv))
    assert from_cli == Sweep("smoke", models=["GCN", "SAGE"], datasets=["csbm-mixed"], splits=1, steps=5,
                             overrides=["protocol_args.lr=0.1"], results=Path("out"), device="cpu", threads=2,
                             data_dir=Path("d"), cache_dir=Path("c"), offline=True, allow_over_budget=True)
    assert Sweep.from_args(_args("status", "--suite", "smoke")) == Sweep("smoke")


def test_a_workers_run_options_give_back_the_same_sweep_and_status_follows_it(tmp_path):
    sweep = Sweep("smoke", models=["GCN"], datasets=["csbm-mixed"], splits=1, steps=5,
                  overrides=["protocol_args.lr=0.1"], results=tmp_path, data_dir=tmp_path / "d", offline=True,
                  allow_over_budget=True)
    worker = ["run", "--suite", "smoke", "--results", str(tmp_path), *sweep.worker_args()]
    assert Sweep.from_args(_args(*worker)) == sweep
    status = shlex.split(sweep.status_command())
    assert status[:2] == ["bench", "status"]
    rebuilt = Sweep.from_args(_args(*status[1:]))
    assert (rebuilt.suite, rebuilt.models, rebuilt.datasets, rebuilt.splits, rebuilt.steps, rebuilt.overrides,
            rebuilt.results) == ("smoke", ("GCN",), ("csbm-mixed",), 1, 5, ("protocol_args.lr=0.1",), tmp_path)


@pytest.mark.parametrize("field, value, message", [
    ("splits", 0, "--splits/--seeds must be at least 1"),
    ("steps", -1, "--steps must be at least 1"),
    ("threads", True, "--threads must be at least 1"),
    ("models", "GCN", "Sweep.models must be a sequence of strings"),
    ("device", "gpu", "unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps"),
])
def test_a_bad_sweep_is_refused_naming_the_option(field, value, message):
    with pytest.raises(UsageError, match=message):
        Sweep("smoke", **{field: value})


def test_the_python_api_sets_the_threads_and_says_nothing_unless_asked(tmp_path, capsys, plugins):
    before = torch.get_num_threads()
    lines: list[str] = []
    try:
        summary, _ = run(Sweep("smoke", models=["GCN"], datasets=["csbm-mixed"], splits=1, steps=2, results=tmp_path,
                               device="cpu", threads=2), progress=False, plugins=plugins, report=lines.append)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert summary.ok == 1
    assert capsys.readouterr().err == ""  # the library prints nothing; the report callback got the lines
    assert lines[0].startswith("bench smoke v1: 1 job(s) on cpu") and "[1/1] GCN on csbm-mixed" in lines[1]


def test_the_readmes_python_example_runs(tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("From Python, the same sweep is one `Sweep`"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("\n```", section.index("```python"))]
    monkeypatch.chdir(tmp_path)
    before = torch.get_num_threads()
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "bench smoke v1: 3 job(s) on cpu" in out and out.rstrip().endswith("3 ok; OK")
    assert len(list((tmp_path / "results" / "smoke").glob("*.json"))) == 3
