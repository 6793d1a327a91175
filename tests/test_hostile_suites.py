"""Hostile suites, overrides and plugins: each probe is one clear usage error (exit 4) before any work.

Every probe runs the CLI in this process and checks the exit code, that the message names the culprit,
and that nothing was written outside the folders the test gave bench.
"""

from __future__ import annotations

import json
import random
import signal
import types
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from bench_gnn import SuiteSource, hookimpl
from bench_gnn.errors import ExitCode, PluginError
from bench_gnn.plugin_manager import load_plugins
from bench_gnn.sweep import Sweep

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
FAST = ("--model", "GCN", "--dataset", "csbm-mixed", "--splits", "1", "--no-progress", "--no-leaderboard")


def _smoke() -> dict:
    return yaml.safe_load((PLUGINS / "smoke" / "bench_gnn_smoke" / "suites" / "smoke.yaml").read_text())


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@contextmanager
def _deadline(seconds: int):
    """Fail instead of hanging: SIGALRM interrupts the CLI after ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"bench did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _write(path: Path, suite: dict) -> Path:
    path.write_text(yaml.safe_dump(suite, allow_unicode=True, sort_keys=False))
    return path


# ----------------------------------------------------------------------------------- names and paths


def test_a_plugin_suite_whose_name_is_a_path_is_refused_at_registration(tmp_path):
    module = types.ModuleType("evil_suites")
    mapping = {**_smoke(), "name": "my suite/../../x"}
    module.bench_suites = hookimpl(lambda: [SuiteSource(mapping=mapping)])
    plugins = load_plugins(extra=[("evil", module)])
    evil = next(p for p in plugins.plugins if p.name == "evil")
    assert "invalid suite name 'my suite/../../x'" in evil.error
    assert "my suite/../../x" not in plugins.suites
    assert "smoke" in plugins.suites  # the others keep working
    with pytest.raises(PluginError, match="invalid suite name"):
        load_plugins(strict=True, extra=[("evil", module)])


def test_a_suite_file_named_like_a_path_cannot_overwrite_files(tmp_path, bench_main):
    project = tmp_path / "project"
    boards = project / "leaderboards"
    boards.mkdir(parents=True)
    readme = project / "README.md"
    readme.write_text("precious\n")
    suite = _write(tmp_path / "suite.yaml", {**_smoke(), "name": "../../README"})
    before = _tree(tmp_path)

    code, _, err = bench_main("leaderboard", "update", "--suite", str(suite), "--leaderboards", str(boards))
    assert code == ExitCode.USAGE_ERROR
    assert "name must use letters, digits" in err and "'../../README'" in err and str(suite) in err
    code, _, err = bench_main("run", "--suite", str(suite), *FAST, "--results", str(project / "results"))
    assert code == ExitCode.USAGE_ERROR
    assert readme.read_text() == "precious\n"
    assert _tree(tmp_path) == before


def test_a_local_copy_of_an_installed_suite_is_judged_against_the_installed_one(tmp_path, bench_main, real_data_run):
    copy = yaml.safe_load((PLUGINS / "node" / "bench_gnn_node" / "suites" / "heterophily.yaml").read_text())
    copy["protocol_args"]["steps"] = 3
    copy["grid"] = {"num_layers": [1]}
    suite = _write(tmp_path / "heterophily.yaml", copy)
    results = tmp_path / "results"

    code, _, err = real_data_run(
        "--suite", str(suite), "--model", "GCN", "--dataset", "minesweeper", "--splits", "1",
        "--no-progress", "--no-leaderboard", "--results", str(results),
    )
    assert code == ExitCode.OK, err
    (record,) = [json.loads(p.read_text()) for p in (results / "heterophily").glob("*.json")]
    assert record["variant"] == "reduced: steps=3"
    code, out, _ = bench_main("leaderboard", "render", "--suite", "heterophily", "--records", str(results))
    assert code == ExitCode.OK
    full_table = out.split("reduced: steps=3")[0]
    assert "GCN" not in [line.split("|")[1].strip() for line in full_table.splitlines() if line.count("|") > 3
                         and "minesweeper" in line and "n=1" in line]
    assert "reduced: steps=3" in out


# ----------------------------------------------------------------------------------- types at load


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"protocol_args": {"steps": "abc"}}, ["steps", "'abc'"]),
        ({"protocol_args": {"steps": 2.7}}, ["steps", "2.7"]),
        ({"protocol_args": {"lr": "fast"}}, ["lr", "'fast'"]),
        ({"splits": True}, ["splits", "True"]),
        ({"version": [1, 2]}, ["version", "[1, 2]"]),
        ({"hparams": {"hidden": "abc"}}, ["hidden", "'abc'"]),
        ({"reference": {"scores": {"GCN": {"csbm-mixed": "great"}}}}, ["reference.scores.GCN.csbm-mixed"]),
    ],
    ids=["steps-str", "steps-float", "lr-str", "splits-bool", "version-list", "hidden-str", "reference-str"],
)
def test_wrong_types_in_a_suite_file_are_one_usage_error(tmp_path, bench_main, change, names):
    suite = _smoke()
    for key, value in change.items():
        suite[key] = {**suite[key], **value} if isinstance(suite.get(key), dict) else value
    path = _write(tmp_path / "suite.yaml", suite)
    code, _, err = bench_main("run", "--suite", str(path), *FAST, "--results", str(tmp_path / "results"))
    assert code == ExitCode.USAGE_ERROR, err
    assert str(path) in err
    for name in names:
        assert name in err
    assert not (tmp_path / "results" / "smoke").exists() or not list((tmp_path / "results" / "smoke").glob("*.json"))


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("protocol_args.steps=abc", ["steps", "'abc'"]),
        ("protocol_args.steps=2.7", ["steps", "2.7"]),
        ("protocol_args.lr=abc", ["lr", "'abc'"]),
        ("models.GCN.hparams.hidden=abc", ["GCN", "hidden", "'abc'"]),
        ("splits=true", ["splits", "True"]),
    ],
)
def test_wrong_types_in_overrides_are_one_usage_error_naming_the_override(tmp_path, bench_main, override, names):
    code, _, err = bench_main("run", "--suite", "smoke", *FAST, "--results", str(tmp_path / "results"), override)
    assert code == ExitCode.USAGE_ERROR, err
    assert override in err
    for name in names:
        assert name in err
    assert not list((tmp_path / "results").rglob("*.json"))


def test_a_suite_file_that_is_not_utf8_is_a_usage_error(tmp_path, bench_main):
    path = tmp_path / "latin1.yaml"
    head = "name: smoke\nversion: 1\ndescription: caf"
    path.write_bytes((head + "\xe9\n").encode("latin-1"))
    code, _, err = bench_main("run", "--suite", str(path), "--results", str(tmp_path / "results"))
    assert code == ExitCode.USAGE_ERROR
    assert str(path) in err and "not UTF-8" in err and f"byte 0xe9 at offset {len(head)}" in err


def test_a_yaml_alias_bomb_is_refused_before_anything_expands_it(tmp_path, bench_main):
    lines = ['  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"  {cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text(yaml.safe_dump(_smoke(), sort_keys=False) + "notes:\n" + "\n".join(lines) + "\n")
    with _deadline(60):
        code, _, err = bench_main("run", "--suite", str(path), "--steps", "2", "--results", str(tmp_path / "r"),
                                  "protocol_args.lr=0.1")
    assert code == ExitCode.USAGE_ERROR
    assert str(path) in err and "more than 100,000 values" in err


def test_a_suite_that_refers_to_itself_is_refused(tmp_path, bench_main):
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(_smoke(), sort_keys=False) + "notes: &loop [*loop]\n")
    code, _, err = bench_main("run", "--suite", str(path), "--results", str(tmp_path / "r"))
    assert code == ExitCode.USAGE_ERROR
    assert str(path) in err


# ----------------------------------------------------------------------------------- plugins


def test_a_plugin_hook_that_calls_sys_exit_is_a_plugin_error_like_any_other():
    module = types.ModuleType("exiting")

    def bench_models():
        raise SystemExit(0)

    module.bench_models = hookimpl(bench_models)
    plugins = load_plugins(extra=[("exiting", module)])
    exiting = next(p for p in plugins.plugins if p.name == "exiting")
    assert exiting.error == "hook raised SystemExit: 0"
    assert "GCN" in plugins.models  # the others keep working
    with pytest.raises(PluginError, match="SystemExit"):
        load_plugins(strict=True, extra=[("exiting", module)])


def test_a_dataset_that_calls_sys_exit_fails_its_jobs_and_the_run_says_so(tmp_path):
    from bench_gnn import DatasetSpec
    from bench_gnn.api import run

    module = types.ModuleType("exiting_data")

    def load(ctx):
        raise SystemExit(0)

    card = {"name": "quitter", "source": "test", "license": "test", "citation": "test"}
    module.bench_datasets = hookimpl(lambda: [DatasetSpec("quitter", task="node", load=load, card=card)])
    plugins = load_plugins(extra=[("exiting-data", module)])
    suite = _write(tmp_path / "suite.yaml", {**_smoke(), "datasets": ["quitter", "csbm-mixed"]})
    sweep = Sweep(str(suite), models=["GCN"], splits=1, steps=2, results=tmp_path / "results")
    summary, _ = run(sweep, progress=False, plugins=plugins)
    assert (summary.ok, summary.failed) == (1, 1)
    assert summary.exit_code == ExitCode.JOBS_FAILED
    (failed,) = [r for r in map(json.loads, (p.read_text() for p in (tmp_path / "results" / "smoke").glob("*.json")))
                 if r["results"]["status"] == "failed"]
    assert failed["identity"]["dataset"] == "quitter" and "SystemExit" in failed["results"]["error"]["message"]


# ----------------------------------------------------------------------------------- fuzz

_PATHS = [
    ("name",), ("version",), ("description",), ("task",), ("protocol",), ("splits",), ("seeds",),
    ("max_params",), ("notes",), ("protocol_args",), ("protocol_args", "steps"), ("protocol_args", "lr"),
    ("protocol_args", "eval_every"), ("protocol_args", "weight_decay"), ("protocol_args", "extra"),
    ("hparams",), ("hparams", "hidden"), ("hparams", "dropout"), ("hparams", "num_layers"), ("grid",),
    ("grid", "num_layers"), ("datasets",), ("models",), ("reference",), ("reference", "scores"),
    ("reference", "scores", "GCN"), ("reference", "scores", "GCN", "csbm-mixed"), ("unknown",),
]
_OVERRIDE_KEYS = [
    "protocol_args.steps", "protocol_args.lr", "protocol_args.eval_every", "hparams.hidden", "hparams.dropout",
    "models.GCN.hparams.hidden", "models.GCN.hparams.num_layers", "models.GCN.grid.num_layers", "splits",
    "version", "name", "datasets.csbm-mixed.metric", "datasets.csbm-mixed.protocol_args.lr", "max_params",
    "reference.scores.GCN.csbm-mixed",
]
_OVERRIDE_VALUES = ["abc", "1e999", "-1", "0", "2.7", "true", "null", "[1,2]", "{a: 1}", "💥", "''", "3", "0.5",
                    "1e-3", "[]", "x" * 300, "${oc.env:HOME}", "${nope}", "[[[[1]]]]"]


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.choice(["int", "float", "str", "bool", "none", "list", "dict"] if depth < 3 else ["int", "str"])
    if kind == "int":
        return rng.choice([0, 1, 2, -1, 3, 10**12, -(10**12)])
    if kind == "float":
        return rng.choice([0.5, 2.7, -0.1, 1e-3, float("nan"), float("inf"), 1e300])
    if kind == "str":
        return rng.choice(["", "abc", "GCN", "csbm-mixed", "ü" * 5, "x" * 2000, "../../etc", "a b", "🙂"])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {str(_random_value(rng, 3)): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _mutate(suite: dict, rng: random.Random) -> dict:
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_PATHS)
        node = suite
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = _random_value(rng)
    return suite


@pytest.mark.slow
def test_fuzzed_suites_and_overrides_either_run_or_exit_4_never_3_never_hang(tmp_path, bench_main):
    rng = random.Random(20261129)
    codes = []
    for case in range(60):
        path = tmp_path / f"fuzz{case}.yaml"
        try:
            _write(path, _smoke() if case % 3 == 0 else _mutate(_smoke(), rng))  # a third: overrides only
        except yaml.YAMLError:
            continue
        overrides = [f"{rng.choice(_OVERRIDE_KEYS)}={rng.choice(_OVERRIDE_VALUES)}" for _ in range(rng.randint(0, 2))]
        results = tmp_path / f"results{case}"
        with _deadline(120):
            code, _, err = bench_main("run", "--suite", str(path), *FAST, "--steps", "2", "--results", str(results),
                                      *overrides)
        context = f"case {case}: {path.read_text()[:400]!r} {overrides}: {err[-600:]}"
        assert code in (ExitCode.OK, ExitCode.JOBS_FAILED, ExitCode.USAGE_ERROR), context
        if code == ExitCode.USAGE_ERROR:
            assert "bench: error:" in err and "Traceback" not in err, context
        codes.append(code)
    assert codes.count(ExitCode.USAGE_ERROR) >= 20 and codes.count(ExitCode.OK) >= 5  # both outcomes reached


def test_a_suite_file_over_1_mib_is_refused_and_one_just_under_loads(tmp_path, bench_main):
    from bench_gnn.suite import MAX_SUITE_BYTES
    from bench_gnn.sweep import load_suite

    assert MAX_SUITE_BYTES == 1024 * 1024  # README: "at most 1 MiB"
    head = yaml.safe_dump({**_smoke(), "name": "padded"}, sort_keys=False) + "notes: "
    under, over = tmp_path / "under.yaml", tmp_path / "over.yaml"
    for path, size in ((under, 1024 * 1024), (over, 1024 * 1024 + 1)):
        path.write_text(head + "x" * (size - len(head) - 1) + "\n")
        assert path.stat().st_size == size
    suite, _ = load_suite(load_plugins(), str(under))
    assert suite.name == "padded"
    code, _, err = bench_main("run", "--suite", str(over), "--results", str(tmp_path / "results"))
    assert code == ExitCode.USAGE_ERROR and str(over) in err and "larger than 1024 KiB" in err
    assert not (tmp_path / "results").exists()


def test_a_model_without_a_check_takes_each_hyper_parameter_of_its_defaults_type(tmp_path, bench_main, monkeypatch):
    from bench_gnn import ModelSpec
    from bench_gnn.errors import ConfigError
    from bench_gnn.sweep import load_suite

    spec = ModelSpec("NoCheck", lambda task, hp: None, defaults={"hidden": 16, "dropout": 0.5, "act": "relu",
                                                                  "norm": True}, tasks={"node"})
    plugins = load_plugins(extra=[("nocheck", types.SimpleNamespace(bench_models=hookimpl(lambda: [spec])))])
    base = {**_smoke(), "models": ["NoCheck"], "hparams": {}, "grid": {}}
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({**base, "grid": {"hidden": [8, 32], "dropout": [0, 0.1]}}))
    suite, _ = load_suite(plugins, str(good))  # an int where the default is a float is a number: accepted
    assert suite.models["NoCheck"]["grid"] == {"hidden": [8, 32], "dropout": [0, 0.1]}
    for key, value in (("hidden", "wide"), ("hidden", 2.5), ("dropout", "high"), ("act", 3), ("norm", "maybe")):
        bad = tmp_path / f"bad-{key}.yaml"
        bad.write_text(yaml.safe_dump({**base, "models": {"NoCheck": {"hparams": {key: value}}}}))
        with pytest.raises(ConfigError) as info:
            load_suite(plugins, str(bad))
        message = str(info.value)
        assert str(bad) in message and "NoCheck" in message and key in message, message
