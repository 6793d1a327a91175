"""Plugin discovery: entry points, error boundaries, collisions, a real third-party package."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from bench_gnn import ModelSpec, hookimpl
from bench_gnn.errors import ExitCode, PluginError, UsageError
from bench_gnn.plugin_manager import load_plugins

FAKE = Path(__file__).resolve().parent / "fake_plugin"


@pytest.fixture(scope="session")
def fake_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake third-party package, pip-installed into a private folder (not into the venv)."""
    target = tmp_path_factory.mktemp("fake-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(FAKE)],
        check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    return target


@pytest.fixture
def fake_installed(fake_site: Path, monkeypatch: pytest.MonkeyPatch):
    """The fake package visible to this process as if on ``PYTHONPATH``: its distribution's entry points are
    found through ``importlib.metadata``, as in a subprocess; its modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(fake_site))
    yield fake_site
    for name in [name for name in sys.modules if name == "bench_fake_plugin" or name.startswith("bench_fake_plugin.")]:
        del sys.modules[name]


def _module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return module


def test_first_party_plugins_come_through_entry_points(plugins):
    names = {p.name: p for p in plugins.plugins}
    assert set(names) >= {"node", "longrange", "ood-calibration", "launchers", "smoke"}
    assert all(p.distribution == "bench-gnn" and not p.error for p in names.values() if p.name in names)
    assert plugins.models.get("GCN").plugin.name == "node"
    assert set(plugins.suites.names()) >= {"heterophily", "smoke"}


def test_plugin_that_raises_in_a_hook_is_isolated():
    def broken():
        raise RuntimeError("boom")

    good = _module("good", bench_models=lambda: [ModelSpec("GoodModel", lambda t, h: None)])
    result = load_plugins(extra=[("broken", _module("broken", bench_models=broken)), ("good", good)])
    broken_info = next(p for p in result.plugins if p.name == "broken")
    assert "RuntimeError: boom" in broken_info.error
    assert "GoodModel" in result.models
    with pytest.raises(PluginError, match="broken.*boom"):
        load_plugins(strict=True, extra=[("broken", _module("broken", bench_models=broken))])


def test_invalid_spec_is_rejected_at_registration_with_the_plugin_named():
    bad = _module("bad", bench_models=lambda: ["not a spec"])
    result = load_plugins(extra=[("bad", bad)])
    assert "expected ModelSpec" in next(p for p in result.plugins if p.name == "bad").error
    with pytest.raises(PluginError, match="invalid model name"):
        ModelSpec("bad name!", lambda t, h: None)


def test_misspelled_hook_is_reported_with_a_suggestion():
    def no_specs():
        return []

    typo = _module("typo", bench_modles=no_specs)
    result = load_plugins(extra=[("typo", typo)])
    assert "did you mean 'bench_models'" in next(p for p in result.plugins if p.name == "typo").error.lower()


def test_name_collision_is_a_clear_error_and_the_name_becomes_ambiguous():
    clash = _module("clash", bench_models=lambda: [ModelSpec("GCN", lambda t, h: None)])
    result = load_plugins(extra=[("clash", clash)])
    info = next(p for p in result.plugins if p.name == "clash")
    assert "provided by more than one plugin" in info.error and "node (bench-gnn" in info.error
    with pytest.raises(UsageError, match="ambiguous"):
        result.models.get("GCN")


def test_unknown_name_suggests_close_matches(plugins):
    with pytest.raises(UsageError, match=r"Did you mean 'GAT-sep'.*Available: .*GAT, GAT-sep, "):
        plugins.models.get("GAT_sep")


def test_third_party_package_runs_through_the_cli(fake_installed, bench_main, tmp_path):
    code, out, _ = bench_main("list", "plugins")
    assert code == ExitCode.PLUGIN_ERROR  # the broken entry point is reported ...
    assert "bench-fake-plugin" in out and "0.4.0" in out
    assert "fake-broken" in out and "not-installed-anywhere" in out
    code, out, err = bench_main("list", "models")
    assert code == 0 and "FakeGCN" in out  # ... and the others keep working
    assert "fake-broken" in err
    code, _, err = bench_main("--strict", "list", "models")
    assert code == ExitCode.PLUGIN_ERROR and "not-installed-anywhere" in err

    code, out, err = bench_main("run", "--suite", "fake-suite", "--results", str(tmp_path), "--no-progress")
    assert code == 0, err
    assert "FakeGCN" in out and "ring-of-cliques" in out
    import json

    records = [json.loads(p.read_text()) for p in (tmp_path / "fake-suite").glob("*.json")]
    fake = [r for r in records if r["identity"]["model"] == "FakeGCN"]
    assert len(records) == 4 and all(r["results"]["status"] == "ok" for r in records)
    assert fake[0]["identity"]["model_plugin"] == ["bench-fake-plugin", "0.4.0"]
    assert fake[0]["provenance"]["model_entry_point"] == "fake"
    assert fake[0]["provenance"]["plugins"]["bench-fake-plugin"] == "0.4.0"
    assert str(fake_installed) in sys.modules["bench_fake_plugin"].__file__  # the pip-installed copy ran
    ring = [r for r in fake if r["identity"]["dataset"] == "ring-of-cliques"][0]
    assert ring["results"]["metrics"]["test"] > 0.5  # four cliques: chance is 0.25


def test_third_party_protocol_calibrator_and_detector_run_through_the_cli(fake_installed, bench_main, tmp_path):
    """The fake package's protocol runs first- and third-party calibrators and detectors; the broken ones
    (FakeBroken raises, FakeNaN returns NaN, FakeConstant scores every node alike) fail their own cells only."""
    code, out, _ = bench_main("list", "calibrators")
    assert code == 0 and "FakeHalf" in out and "GATS" in out
    assert "FakeConstant" in bench_main("list", "detectors")[1]
    assert "fake-post-hoc" in bench_main("list", "protocols")[1]
    code, run_out, err = bench_main("run", "--suite", "fake-post-hoc", "--results", str(tmp_path), "--no-progress")
    assert code == 0, err
    import json

    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "fake-post-hoc").glob("*.json")]
    assert record["identity"]["protocol"] == "fake-post-hoc" and record["results"]["status"] == "ok"
    assert record["identity"]["protocol_args"]["lr"] == 0.02  # the protocol's default, part of the identity
    cells = record["results"]["cells"]
    assert set(cells) == {"uncalibrated", "TS", "FakeHalf", "FakeBroken", "FakeNaN", "MSP", "Energy", "FakeDegree",
                          "FakeConstant"}
    failed = {name: cell["error"]["message"] for name, cell in cells.items() if cell["status"] == "failed"}
    assert set(failed) == {"FakeBroken", "FakeNaN", "FakeConstant"}
    assert "always fails" in failed["FakeBroken"] and "non-finite" in failed["FakeNaN"]
    assert "same score" in failed["FakeConstant"]
    nll = {name: cells[name]["metrics"]["nll"] for name in ("uncalibrated", "TS", "FakeHalf")}
    assert all(0 < value < 5 for value in nll.values())
    assert nll["TS"] <= nll["uncalibrated"] + 0.05  # fit on 10 validation nodes, scored on 10 test nodes
    for name in ("MSP", "Energy", "FakeDegree"):
        assert 0.0 <= cells[name]["metrics"]["auroc"] <= 1.0
    assert "Fake calibrators" in run_out and "FakeBroken cannot fit" in run_out
    code, _, err = bench_main("run", "--suite", "fake-post-hoc", "--results", str(tmp_path),
                              "protocol_args.calibrators=[FakeHalff]")
    assert code == 4 and "Did you mean 'FakeHalf'" in err


def test_autoload_can_be_disabled(fake_site, bench_cli):
    env = {"PYTHONPATH": str(fake_site), "BENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    listing = bench_cli("list", "plugins", env=env)
    assert listing.returncode == 0
    assert "bench-fake-plugin" not in listing.stdout and "bench_gnn_node.hooks" in listing.stdout


def test_the_facade_exports_every_name_it_lists_and_imports_nothing_heavy():
    import subprocess
    import sys

    import bench_gnn

    assert sorted(bench_gnn.__all__) == sorted([*bench_gnn._MODULE_OF, "__version__"])
    code = (
        "import sys, bench_gnn; heavy = [m for m in ('torch', 'yaml', 'pluggy') if m in sys.modules]; "
        "print(heavy); from bench_gnn import ModelSpec, DataContext, check_int, hookimpl; "
        "print(sorted(m for m in ('torch', 'torch_geometric') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]
    for name in bench_gnn.__all__:
        assert getattr(bench_gnn, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bench_gnn.nope  # noqa: B018
