"""README promises about the record key, the public names and the declared dependencies, checked
against the committed files themselves, with the standard library as the reference."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

import bench_gnn

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _readme_paragraph(start: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    begin = text.index(start)
    end = text.find("\n\n", begin)
    return text[begin:] if end < 0 else text[begin:end]


def test_every_committed_record_is_keyed_by_the_sha256_of_its_canonical_identity():
    # README "The record": first 20 hex digits of the SHA-256 of identity as canonical JSON
    # (sorted keys, no spaces), recomputable from the record alone; the file is <key>.json.
    files = sorted((ROOT / "leaderboards" / "records").glob("*/*.json"))
    assert len(files) >= 300  # heterophily, gnn-longrange and the 315 ood-calibration records
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        canonical = json.dumps(record["identity"], sort_keys=True, separators=(",", ":"))
        expected = hashlib.sha256(canonical.encode()).hexdigest()[:20]
        assert record["key"] == expected == path.stem, path
        assert record["identity"]["suite"] == path.parent.name, path


def test_job_keys_hash_the_identity_with_every_protocol_default_merged(plugins):
    from bench_gnn.jobs import expand
    from bench_gnn.sweep import load_suite

    suite, published = load_suite(plugins, "smoke")
    jobs = expand(suite, plugins, published=published)
    defaults = plugins.protocols.get("node-full-batch").spec.defaults
    assert len(jobs) == 18 and len({job.key for job in jobs}) == 18
    for job in jobs:
        canonical = json.dumps(job.identity, sort_keys=True, separators=(",", ":"))
        assert job.key == hashlib.sha256(canonical.encode()).hexdigest()[:20]
        # "all its arguments: its defaults with the suite's values over them"
        assert set(job.identity["protocol_args"]) >= set(defaults)
        assert job.identity["protocol_args"]["steps"] == 100  # the smoke suite's own value
        assert job.identity["protocol"] == "node-full-batch" and job.identity["suite"] == "smoke"


def test_every_name_the_readme_says_bench_gnn_exports_is_exported():
    paragraph = _readme_paragraph("Everything a plugin author needs is exported by")
    names = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", paragraph)) - {"bench_gnn"}
    assert {"hookimpl", "DataContext", "ProtocolContext", "run_cell", "random_walk_se"} <= names
    assert names <= set(bench_gnn.__all__), sorted(names - set(bench_gnn.__all__))
    for name in names:
        assert getattr(bench_gnn, name) is not None


def test_declared_dependencies_are_those_the_readme_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dependencies = project["dependencies"]
    # "Hydra 1.3 requires OmegaConf below 2.4, so bench pins omegaconf>=2.3,<2.4"
    assert "omegaconf>=2.3,<2.4" in dependencies
    # "`test` brings pytest and the optional extras the tests exercise: slurm, hydra, tensorboard, wandb"
    test_extra = project["optional-dependencies"]["test"]
    assert any(req.startswith("pytest>") for req in test_extra)
    extras = next(req for req in test_extra if req.startswith("bench-gnn["))
    assert set(extras[len("bench-gnn["):extras.index("]")].split(",")) == {"slurm", "hydra", "tensorboard", "wandb"}
    # the torch floor admits the GPU machine's torch 2.11 and this machine's 2.13.0; no upper cap
    torch_req = next(req for req in dependencies if req.startswith("torch>"))
    assert "<" not in torch_req
    # the console script the README's commands call
    assert project["scripts"]["bench"] == "bench_gnn.cli:main"


def test_the_committed_minesweeper_gcn_numbers_the_readme_quotes_follow_from_the_records():
    # README "Leaderboards": GCN on minesweeper, 10 splits, 2 layers only: 90.61 ± 0.57 (published 89.75 ± 0.52),
    # and SAGE on 2 of 10 splits. Mean and sample std (ddof=1) of the test scores, by the standard library.
    import statistics

    quoted = re.search(r"10 splits, 2 layers only: ([\d.]+) ± ([\d.]+) against the published ([\d.]+) ± ([\d.]+)",
                       _readme_paragraph("Committed so far"))
    assert quoted is not None
    records = [json.loads(p.read_text()) for p in (ROOT / "leaderboards" / "records" / "heterophily").glob("*.json")]
    runs = {}
    for record in records:
        identity = record["identity"]
        if identity["dataset"] == "minesweeper" and record["variant"] == "full" and record["results"]["status"] == "ok":
            runs.setdefault(identity["model"], []).append(record)
    gcn = runs["GCN"]
    assert sorted(r["identity"]["split"] for r in gcn) == list(range(10))
    assert {r["identity"]["hparams"]["num_layers"] for r in gcn} == {2}
    scores = [100 * r["results"]["metrics"]["test"] for r in gcn]
    assert (f"{statistics.mean(scores):.2f}", f"{statistics.stdev(scores):.2f}") == quoted.group(1, 2)
    suite_file = ROOT / "plugins" / "node" / "bench_gnn_node" / "suites" / "heterophily.yaml"
    suite = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
    assert suite["reference"]["scores"]["GCN"]["minesweeper"] == [float(quoted.group(3)), float(quoted.group(4))]
    assert len({r["identity"]["split"] for r in runs["SAGE"]}) == 2
