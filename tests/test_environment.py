"""The machine facts a record carries: the device asked for, the CPU's name, the checkout's git state."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import pytest
import torch

from bench_gnn import environment
from bench_gnn.errors import UsageError


def test_devices_resolve_and_an_unknown_one_names_the_choices():
    assert environment.resolve_device("cpu") == torch.device("cpu")
    assert environment.resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for name in ("tpu", "cuda:x", "cuda1", "CPU"):
        with pytest.raises(UsageError, match=rf"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps"):
            environment.resolve_device(name)
    assert environment.visible_devices()[0] == "cpu"


def test_a_cuda_device_by_index_is_accepted_when_torch_sees_it_and_refused_naming_the_devices_otherwise(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert environment.resolve_device("cuda:1") == torch.device("cuda:1")
    assert environment.resolve_device("cuda") == torch.device("cuda")
    with pytest.raises(UsageError, match=r"--device cuda:2: no such CUDA device; torch sees cpu, cuda:0, cuda:1"):
        environment.resolve_device("cuda:2")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_asked_for_without_a_cuda_device_names_the_alternatives():
    for name in ("cuda", "cuda:1"):
        with pytest.raises(UsageError, match=rf"--device {name} was requested but no CUDA device is available \(torch "
                                             r"sees cpu.*\); use --device cpu or auto"):
            environment.resolve_device(name)


def test_the_cpu_is_named_from_cpuinfo_else_by_platform(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU @ 2.00GHz\nflags\t: sse\n")
    monkeypatch.setattr(environment, "Path", lambda _: cpuinfo)
    assert environment.cpu_name() == "Example CPU @ 2.00GHz"
    assert environment.device_name(torch.device("cpu")) == (
        f"cpu (Example CPU @ 2.00GHz, {torch.get_num_threads()} threads)")
    monkeypatch.setattr(environment, "Path", lambda _: tmp_path / "missing")
    assert environment.cpu_name() == (platform.processor() or platform.machine() or "unknown CPU")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def test_git_state_is_the_checkouts_commit_and_dirtiness_and_none_outside_one(monkeypatch, tmp_path):
    git_state = environment.git_state.__wrapped__  # uncached: the checkout changes within the test
    checkout = tmp_path / "checkout"
    (checkout / "harness" / "bench_gnn").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.setattr(environment, "__file__", str(checkout / "harness" / "bench_gnn" / "environment.py"))
    _git(checkout, "init", "-q")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "one")
    commit = _git(checkout, "rev-parse", "HEAD")
    assert git_state() == {"commit": commit, "dirty": False}
    (checkout / "untracked.txt").write_text("not part of the checkout's state")
    assert git_state() == {"commit": commit, "dirty": False}
    (checkout / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    assert git_state() == {"commit": commit, "dirty": True}
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    assert git_state() is None  # git not installed
    installed = tmp_path / "lib" / "site-packages" / "bench_gnn" / "environment.py"
    monkeypatch.setattr(environment, "__file__", str(installed))
    assert git_state() is None  # an installed wheel: no pyproject.toml and harness/ beside the package
