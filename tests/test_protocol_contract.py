"""The open protocol contract: protocols, calibrators, detectors and analyses are plugins; protocol
defaults are part of a job's identity; the core names no protocol; a broken one is isolated."""

from __future__ import annotations

import ast
import json
import types
from functools import partial
from pathlib import Path

import pytest
import yaml

from bench_gnn import (
    AnalysisSpec,
    CalibratorSpec,
    CellTable,
    Column,
    DetectorSpec,
    ProtocolResult,
    ProtocolSpec,
    check_int,
    hookimpl,
    run_cell,
)
from bench_gnn.api import run
from bench_gnn.errors import ConfigError, ExitCode, PluginError
from bench_gnn.jobs import expand
from bench_gnn.leaderboard import render
from bench_gnn.plugin_manager import load_plugins
from bench_gnn.store import read_records
from bench_gnn.sweep import Sweep, load_suite

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "harness" / "bench_gnn"


def counting_protocol(ctx):
    """Counts to ``ctx.args["steps"]``; the score is steps / (steps + offset): a pure function of the arguments."""
    args = ctx.args
    score = args["steps"] / (args["steps"] + args["offset"])
    for _ in range(args["steps"]):
        ctx.on_step(1)
    cells = {"double": run_cell("analysis", "double", lambda: {"metrics": {"twice": 2 * score}}),
             "broken": run_cell("analysis", "broken", lambda: 1 / 0)}
    return ProtocolResult(metrics={"train": score, "val": score, "test": score}, best_step=args["steps"],
                          steps=args["steps"], num_params=0, train_seconds=0.001 * args["steps"], cells=cells)


def protocol_module(offset: int = 1, name: str = "counting") -> types.ModuleType:
    module = types.ModuleType(f"protocol_{offset}")
    module.bench_protocols = hookimpl(lambda: [ProtocolSpec(
        name, run=counting_protocol, defaults={"steps": 3, "offset": offset},
        checks={"steps": partial(check_int, minimum=1), "offset": partial(check_int, minimum=0)},
        step_key="steps", step_unit=("s/count", 1.0),
        tables=(CellTable("Doubles", "analysis", (Column("twice", "2×score", scale=100),)),),
    )])
    return module


def suite_file(tmp_path: Path, **protocol_args) -> str:
    path = tmp_path / "counting.yaml"
    path.write_text(yaml.safe_dump({
        "name": "counting", "version": 1, "protocol": "counting", "protocol_args": protocol_args, "splits": 2,
        "datasets": ["csbm-mixed"], "models": ["GCN"],
    }))
    return str(path)


def test_a_third_party_protocol_runs_and_its_columns_reach_the_leaderboard(tmp_path):
    plugins = load_plugins(extra=[("counting", protocol_module())])
    sweep = Sweep(suite_file(tmp_path), results=tmp_path / "r", device="cpu")
    summary, suite = run(sweep, progress=False, plugins=plugins)
    assert summary.ok == 2 and summary.failed == 0
    records = read_records(tmp_path / "r" / "counting")
    assert {r["identity"]["protocol"] for r in records} == {"counting"}
    assert all(r["results"]["metrics"]["test"] == pytest.approx(3 / 4) for r in records)
    cells = records[0]["results"]["cells"]
    assert cells["double"]["status"] == "ok" and cells["double"]["metrics"]["twice"] == pytest.approx(1.5)
    assert cells["broken"]["status"] == "failed" and cells["broken"]["error"]["type"] == "ZeroDivisionError"
    page = render(suite, records)
    header = next(line for line in page.splitlines() if line.startswith("| dataset") and "metric" in line)
    assert "s/count" in header and "ms/step" not in header  # the protocol's unit, not the core's
    assert "### Doubles" in page and "150.00 ± 0.00" in page  # 2 × 0.75, scaled by 100, two identical runs
    assert "broken: ZeroDivisionError" in page
    text = render(suite, records, "json")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"  # keys sorted: stable diffs
    (table,) = json.loads(text)[0]["tables"]
    assert table["title"] == "Doubles" and [c["id"] for c in table["columns"]] == ["twice"]
    entries = {e["cell"]: e for e in table["entries"]}
    assert entries["double"]["n"] == 2 and entries["double"]["values"]["twice"] == [pytest.approx(150.0), 0.0]
    assert entries["broken"]["n"] == 0 and entries["broken"]["failed"] == 2


@pytest.mark.parametrize(("reference", "shown"), [
    ([149.5, 0.1], "+0.50 ✓"),   # |Δ| 0.5 within one point
    ([147.0, 1.6], "+3.00 ✓"),   # |Δ| 3.0 within two reference std (3.2)
    ([147.0, 1.4], "+3.00 ✗"),   # |Δ| 3.0 beyond two std (2.8) and one point
    (151.5, "-1.50 ✗"),          # a bare reference: one point is the bound
])
def test_a_cell_tables_reference_delta_and_within_mark(tmp_path, reference, shown):
    plugins = load_plugins(extra=[("counting", protocol_module())])
    path = Path(suite_file(tmp_path))
    raw = yaml.safe_load(path.read_text())
    raw["reference"] = {"cells": {"csbm-mixed": {"GCN": {"double": {"twice": reference}}}}}
    path.write_text(yaml.safe_dump(raw))
    _, suite = run(Sweep(str(path), results=tmp_path / "r", device="cpu"), progress=False, plugins=plugins)
    page = render(suite, read_records(tmp_path / "r" / "counting"))
    table = page[page.index("### Doubles"):]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| csbm-mixed")]
    (cells,) = [row for row in rows if row[2] == "double"]
    expected = f"{reference[0]:.2f} ± {reference[1]:.2f}" if isinstance(reference, list) else f"{reference:.2f}"
    assert cells == ["csbm-mixed", "GCN", "double", "2", "150.00 ± 0.00", expected, shown]
    for fmt in ("latex", "html"):  # the same comparison in the other table formats
        assert shown in render(suite, read_records(tmp_path / "r" / "counting"), fmt), fmt


def test_protocol_defaults_are_part_of_the_identity(tmp_path):
    """Two installs whose protocol differs only in a default give different keys (the job would be rerun)."""
    keys = {}
    for offset in (1, 2):
        plugins = load_plugins(extra=[("counting", protocol_module(offset))])
        suite, published = load_suite(plugins, suite_file(tmp_path))
        jobs = expand(suite, plugins, published=published)
        assert jobs[0].identity["protocol_args"] == {"steps": 3, "offset": offset}
        keys[offset] = {job.key for job in jobs}
    assert keys[1].isdisjoint(keys[2])


def test_steps_sets_the_protocols_own_step_argument(tmp_path):
    plugins = load_plugins(extra=[("counting", protocol_module())])
    suite, published = load_suite(plugins, suite_file(tmp_path), steps=7)
    (job, _) = expand(suite, plugins, published=published)
    assert job.identity["protocol_args"]["steps"] == 7 and job.variant == "reduced: steps=7"
    ood, _ = load_suite(load_plugins(), "ood-calibration", steps=4)
    assert {ood.protocol_args_for(d)["epochs"] for d in ood.datasets} == {4}


def test_bad_protocol_arguments_and_names_are_refused_with_suggestions(tmp_path):
    plugins = load_plugins(extra=[("counting", protocol_module())])
    with pytest.raises(ConfigError, match=r"counting: unknown protocol_args key 'ofset'. Did you mean 'offset'"):
        load_suite(plugins, suite_file(tmp_path, ofset=2))
    with pytest.raises(ConfigError, match=r"protocol_args.steps must be an integer >= 1, got 0"):
        load_suite(plugins, suite_file(tmp_path, steps=0))
    (tmp_path / "typo.yaml").write_text(Path(suite_file(tmp_path)).read_text().replace("protocol: counting",
                                                                                       "protocol: countin"))
    with pytest.raises(ConfigError, match="unknown protocol 'countin'. Did you mean 'counting'"):
        load_suite(plugins, str(tmp_path / "typo.yaml"))


def test_a_broken_protocol_plugin_is_reported_and_the_others_keep_working():
    def broken():
        raise RuntimeError("protocol plugin bug")

    bad = types.ModuleType("bad")
    bad.bench_protocols = hookimpl(broken)
    unchecked = types.ModuleType("unchecked")
    unchecked.bench_protocols = hookimpl(lambda: [ProtocolSpec("x", run=counting_protocol, defaults={"steps": 1})])
    plugins = load_plugins(extra=[("bad", bad), ("unchecked", unchecked)])
    errors = {p.name: p.error for p in plugins.errors}
    assert "protocol plugin bug" in errors["bad"] and "arguments without a check: ['steps']" in errors["unchecked"]
    assert {"node-full-batch", "graph-minibatch", "gats-calibration", "gnnsafe-ood"} <= set(plugins.protocols.names())
    with pytest.raises(PluginError, match="protocol plugin bug"):
        load_plugins(strict=True, extra=[("bad", bad)])


def test_evaluator_specs_are_validated():
    with pytest.raises(PluginError, match="invalid calibrator name 'bad name'"):
        CalibratorSpec("bad name", fit=lambda i, a: None)
    with pytest.raises(PluginError, match="detector 'D': score must be callable"):
        DetectorSpec("D", score=None)
    with pytest.raises(PluginError, match="analysis 'A': arguments without a check"):
        AnalysisSpec("A", run=lambda t, a: {}, defaults={"k": 1})


def _code_strings(path: Path) -> list[str]:
    """The string constants of a module's code, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
        and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_the_core_names_no_protocol_and_no_analysis_column():
    """Protocols and their columns come from plugins only: no protocol name and no influence ``R`` in the code
    of the core (the pipeline and the contract; the graph helpers plugins share are not the core)."""
    names = ("node-full-batch", "graph-minibatch", "gats-calibration", "gnnsafe-ood")
    paths = [p for p in CORE.rglob("*.py") if "graph" not in p.relative_to(CORE).parts]
    assert len(paths) > 20
    for path in paths:
        strings = _code_strings(path)
        assert not [s for s in strings for n in names if n in s], path
        assert "R" not in strings, path


def test_the_core_names_nothing_a_plugin_contributes(plugins):
    """README: bench's own plugins are registered exactly as a third party's, and the core names none of what
    they contribute: no name of any kind (models, datasets, metrics, suites, launchers, protocols, calibrators,
    detectors, analyses), no plot, no launcher option, no calibrator or detector argument."""
    from bench_gnn.kinds import KINDS

    names = {name for kind in KINDS for name in plugins.registry(kind).names()}
    names |= {plot for kind in ("protocols", "analyses") for entry in getattr(plugins, kind)
              for plot in entry.spec.plots}
    names |= {option for entry in plugins.launchers for option in entry.spec.options}
    names |= {"--" + option.replace("_", "-") for entry in plugins.launchers for option in entry.spec.flags}
    names |= {arg for kind in ("calibrators", "detectors") for entry in getattr(plugins, kind)
              for arg in entry.spec.defaults}
    assert {"GCN", "minesweeper", "smoke", "peptides-func", "GATS-GCN", "submitit", "TS", "GNNSafe", "influence",
            "reliability", "node-full-batch", "--time-min", "time_min"} <= names
    names = {name for name in names if len(name) > 1}  # one-letter arguments (T, K) read as metavars
    # defaults of the contract: `bench launch`'s launcher, and DatasetSpec.metric (a dataset that names none)
    allowed = {CORE / "cli.py": {"local"}, CORE / "launch.py": {"local"}, CORE / "specs.py": {"accuracy"}}
    paths = [p for p in CORE.rglob("*.py") if "graph" not in p.relative_to(CORE).parts]
    for path in paths:
        named = names & set(_code_strings(path)) - allowed.get(path, set())
        assert not named, (path, sorted(named))


def test_committed_records_carry_every_protocol_default():
    plugins = load_plugins()
    for path in (ROOT / "leaderboards" / "records").glob("*/*.json"):
        identity = json.loads(path.read_text())["identity"]
        defaults = plugins.protocols.get(identity["protocol"]).spec.defaults
        assert set(identity["protocol_args"]) == set(defaults), path


def test_ood_calibration_suite_refuses_unknown_names_before_training(bench_main, tmp_path):
    common = ("run", "--suite", "ood-calibration", "--results", str(tmp_path), "--no-progress")
    cases = [
        ("protocol_args.calibrators=[TS,GAST]", "unknown calibrator 'GAST'. Did you mean 'GATS'"),
        ("datasets.cora.protocol_args.detectors=[MSP,GNNSafee]", "unknown detector 'GNNSafee'. Did you mean 'GNNSafe'"),
        ("datasets.cora.protocol_args.shifts=[structur]", "unknown shift 'structur'. Did you mean 'structure'"),
        ("protocol_args.shifts=[label]", "unknown shift 'label'"),  # calibration under label shift is undefined
        ("protocol_args.calibrator_args.GATS.heds=4", "unknown GATS argument 'heds'. Did you mean 'heads'"),
        ("datasets.citeseer.protocol_args.shift_args.lable.ood_test_classes=[0]",
         "unknown shift 'lable'. Did you mean 'label'"),
        ("datasets.cora.protocol_args.shift_args.label.ood_test_classes=[]",
         "dataset 'cora': shift 'label': ood_test_classes is empty, so the shift leaves no OOD test nodes"),
    ]
    for override, message in cases:
        code, _, err = bench_main(*common, override)
        assert code == ExitCode.USAGE_ERROR and message in err, (override, err)
    # narrowing the detectors needs nothing else: the arguments of the others are left out of the identity
    plugins = load_plugins()
    suite, _ = load_suite(plugins, "ood-calibration", ["datasets.cora.protocol_args.detectors=[MSP,GNNSafe]"])
    assert set(suite.protocol_args_for("cora")["detector_args"]) == {"MSP", "GNNSafe"}
    assert not (tmp_path / "ood-calibration").exists() or not list((tmp_path / "ood-calibration").glob("*.json"))
