"""`bench leaderboard validate` and `diff`: what CI runs on a pull request that adds records.

A temporary git repository holds a committed leaderboard (real smoke records); each test
submits files on top of it, as a contributor's pull request would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench_gnn import record as bench_record
from bench_gnn.errors import ExitCode

ONE = ("--suite", "smoke", "--model", "GCN", "--splits", "1", "--steps", "3", "--no-progress", "--no-leaderboard",
       "--threads", "1")


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env,
                          timeout=60).stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Real smoke records: one job per dataset (three files), produced once for the module."""
    from bench_gnn.cli import main

    results = tmp_path_factory.mktemp("runs")
    assert main(["run", *ONE, "--results", str(results)]) == 0
    return sorted((results / "smoke").glob("*.json"))


@pytest.fixture
def repo(tmp_path, runs, bench_main):
    """A repository whose leaderboard holds two of the three records, committed with their tables."""
    repo = tmp_path / "repo"
    folder = repo / "leaderboards" / "records" / "smoke"
    folder.mkdir(parents=True)
    for path in runs[:2]:
        shutil.copy(path, folder)
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        assert bench_main("leaderboard", "update", "--suite", "smoke")[0] == 0
        _git(repo, "init", "-q")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "leaderboard")
        yield repo
    finally:
        os.chdir(cwd)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and ".git" not in p.parts}


def test_a_new_record_is_valid_and_the_diff_shows_the_cell_it_adds(repo, runs, bench_main):
    shutil.copy(runs[2], repo / "leaderboards" / "records" / "smoke")
    code, out, err = bench_main("leaderboard", "validate", "--suite", "smoke", "--base", "HEAD")
    assert code == ExitCode.OK, out + err
    assert "3 record file(s) valid; none changed since HEAD" in err
    code, out, _ = bench_main("leaderboard", "diff", "--suite", "smoke", "--base", "HEAD")
    assert code == ExitCode.OK
    added = json.loads(runs[2].read_text())["identity"]["dataset"]
    assert "1 added." in out and f"| added    | reduced: steps=3 | {added}" in out


def test_improved_and_regressed_cells_are_named(repo, bench_main):
    folder = repo / "leaderboards" / "records" / "smoke"
    better, worse = sorted(folder.glob("*.json"))
    for path, change in ((better, +0.1), (worse, -0.1)):
        record = json.loads(path.read_text())
        record["results"]["metrics"]["test"] += change
        path.write_text(json.dumps(record))
    code, out, _ = bench_main("leaderboard", "diff", "--suite", "smoke", "--base", "HEAD")
    assert code == ExitCode.OK and "1 improved, 1 regressed." in out
    assert "+10.00" in out and "-10.00" in out  # accuracy is reported in percent
    code, out, _ = bench_main("leaderboard", "validate", "--suite", "smoke", "--base", "HEAD")
    assert code == ExitCode.INVALID_RECORDS
    for path in (better, worse):
        assert f"{path.relative_to(repo)}: file: was edited" in out


def test_a_deleted_record_is_refused(repo, bench_main):
    path = sorted((repo / "leaderboards" / "records" / "smoke").glob("*.json"))[0]
    path.unlink()
    code, out, _ = bench_main("leaderboard", "validate", "--suite", "smoke", "--base", "HEAD")
    assert code == ExitCode.INVALID_RECORDS and f"{path.relative_to(repo)}: file: was deleted" in out
    code, out, _ = bench_main("leaderboard", "diff", "--suite", "smoke", "--base", "HEAD")
    assert code == ExitCode.OK and "1 removed." in out, out
    record = json.loads(_git(repo, "show", f"HEAD:{path.relative_to(repo)}"))
    (row,) = [line for line in out.splitlines() if line.startswith("| removed")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    score = 100 * record["results"]["metrics"]["test"]
    assert cells == ["removed", record["variant"], record["identity"]["dataset"], "GCN", f"{score:.2f} (n=1)", "", ""]


def _hostile_files(folder: Path, good: dict) -> dict[str, tuple[Path, str]]:
    """name -> (file written, the field the error must name)."""
    cases: dict[str, tuple[Path, str]] = {}

    def write(name: str, record: dict | str, field: str, key: str | None = None) -> None:
        text = record if isinstance(record, str) else json.dumps(record)
        path = folder / f"{key or bench_record.content_hash(name)}.json"
        path.write_text(text)
        cases[name] = (path, field)

    write("invalid-json", "{not json", "file")
    no_metrics = json.loads(json.dumps(good))
    del no_metrics["results"]["metrics"]
    write("no-metrics", no_metrics, "results")
    string_metric = json.loads(json.dumps(good))
    string_metric["results"]["metrics"]["test"] = "0.9"
    write("string-metric", string_metric, "results.metrics.test")
    markup = json.loads(json.dumps(good))
    markup["identity"]["model"] = "GCN | <b>x</b>\n# heading"
    write("markup-model", markup, "identity.model")
    forged = json.loads(json.dumps(good))
    forged["identity"]["hparams"]["hidden"] = 4096
    write("forged-key", forged, "key", key=forged["key"])
    outside = json.loads(json.dumps(good))
    outside["results"]["metrics"]["test"] = 1.7
    outside["key"] = bench_record.content_hash(outside["identity"])
    write("out-of-bounds", outside, "results.metrics.test", key=outside["key"])
    big = folder / f"{bench_record.content_hash('big')}.json"
    big.write_bytes(b" " * (2 << 20) + json.dumps(good).encode())
    cases["big"] = (big, "file")
    for name, target in (("link-outside", Path("/etc/hostname")), ("link-dev-zero", Path("/dev/zero"))):
        link = folder / f"{bench_record.content_hash(name)}.json"
        link.symlink_to(target)
        cases[name] = (link, "file")
    twin = folder / ("0" * 20 + ".json")
    twin.write_text(json.dumps(good))
    cases["same-key-twice"] = (twin, "key")
    return cases


def test_every_bad_record_is_named_with_its_field_and_nothing_changes(repo, runs, bench_main):
    folder = repo / "leaderboards" / "records" / "smoke"
    good = json.loads(runs[2].read_text())
    shutil.copy(runs[2], folder)
    cases = _hostile_files(folder, good)
    before = _tree(repo)
    code, out, err = bench_main("leaderboard", "validate", "--suite", "smoke")
    assert code == ExitCode.INVALID_RECORDS, out + err
    lines = out.splitlines()
    for name, (path, field) in cases.items():
        assert any(line.startswith(f"{path.relative_to(repo)}: {field}") for line in lines), (name, out)
    first, second = sorted([folder / runs[2].name, cases["same-key-twice"][0]])
    assert f"{second.relative_to(repo)}: key: {good['key']} is also the key of {first.relative_to(repo)}" in out
    assert "Traceback" not in err
    assert _tree(repo) == before  # validate writes nothing; the committed tables are untouched
    code, _, err = bench_main("leaderboard", "check", "--suite", "smoke")
    assert code == ExitCode.DATA_ERROR and "invalid-json" not in err and "is not valid JSON" in err


def test_validate_files_given_on_the_command_line_and_an_unknown_model(repo, runs, bench_main, tmp_path):
    record = json.loads(runs[0].read_text())
    record["identity"]["model"] = "GAT"  # a real model, not one of the smoke suite's
    record["key"] = bench_record.content_hash(record["identity"])
    path = tmp_path / f"{record['key']}.json"
    path.write_text(json.dumps(record))
    code, out, _ = bench_main("leaderboard", "validate", "--suite", "smoke", str(path), str(runs[1]))
    assert code == ExitCode.INVALID_RECORDS
    assert out.splitlines() == [f"{path}: identity.model: 'GAT' is not a model of suite smoke"]


def test_committed_records_are_valid(bench_main):
    root = Path(__file__).resolve().parents[1]
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for suite in ("heterophily", "gnn-longrange"):
            code, out, err = bench_main("leaderboard", "validate", "--suite", suite)
            assert code == ExitCode.OK, out + err
    finally:
        os.chdir(cwd)
    for path in (root / "leaderboards" / "records").glob("*/*.json"):
        record = json.loads(path.read_text())
        assert record["schema"] == 2 and bench_record.key_problem(record) is None and path.stem == record["key"]


def test_a_schema_1_record_is_read_through_one_migration():
    """Records written before schema 2 (this one was committed on 2026-11-28) migrate into the four parts, and
    their key still equals the hash of the identity they carried."""
    old = json.loads((Path(__file__).resolve().parent / "data" / "record-schema-1.json").read_text())
    assert old["schema"] == 1
    record = bench_record.migrate(old)
    assert record["schema"] == 2 and bench_record.problem(record) is None
    assert bench_record.key_problem(record) is None and record["key"] == old["key"] == "0e4c8347780942ea0056"
    assert record["identity"]["dataset"] == "minesweeper" and record["identity"]["hparams"]["num_layers"] == 2
    assert record["results"]["best_step"] == old["best_step"] == 427



def test_each_refusal_of_a_submitted_file_names_its_field(runs, plugins, tmp_path):
    """The refusals the hostile-files test does not reach, each by its exact line."""
    from bench_gnn.submission import validate_files
    from bench_gnn.sweep import load_suite

    suite, _ = load_suite(plugins, "smoke")
    good = json.loads(runs[0].read_text())

    def case(edit, name: str | None = None) -> Path:
        record = json.loads(json.dumps(good))
        edit(record)
        if name is None:  # a well-named file: the key is the identity's hash, the file is named by the key
            record["key"] = bench_record.content_hash(record["identity"])
        path = tmp_path / f"{name or record['key']}.json"
        path.write_text(json.dumps(record))
        return path

    folder = tmp_path / "folder.json"
    folder.mkdir()
    unknown_schema = case(lambda r: r.update(schema=7), "schema")
    misnamed = case(lambda r: None, "misnamed")
    other_suite = case(lambda r: r["identity"].update(suite="heterophily"))
    other_version = case(lambda r: r["identity"].update(suite_version="99"))
    unknown_metric = case(lambda r: r["identity"].update(metric="no-such-metric"))
    not_finite = case(lambda r: r["identity"]["hparams"].update(hidden=3) or r["results"]["metrics"].update(
        test=float("nan")))
    below = case(lambda r: r["identity"]["hparams"].update(hidden=5) or r["results"]["metrics"].update(val=-0.25))
    no_train = case(lambda r: r["identity"]["hparams"].update(hidden=7) or r["results"]["metrics"].update(train=None))
    unknown_dataset = case(lambda r: r["identity"].update(dataset="cora"))  # a real dataset, not one of smoke's
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(json.dumps({"model": "GCN"}).encode().replace(b"GCN", b"GC\xd1"))
    paths = [folder, unknown_schema, misnamed, other_suite, other_version, unknown_metric, not_finite, below, no_train,
             unknown_dataset, latin1]
    lines = [str(p) for p in validate_files(paths, suite, plugins)]
    assert lines == [
        f"{folder}: file: is not a regular file",
        f"{unknown_schema}: schema: unknown record schema 7; this bench reads schemas 1 and 2",
        f"{misnamed}: key: the file is named misnamed.json, the record's key is {good['key']}",
        f"{other_suite}: identity.suite: heterophily v{suite.version} is not smoke v{suite.version}",
        f"{other_version}: identity.suite: smoke v99 is not smoke v{suite.version}",
        f"{unknown_metric}: identity.metric: 'no-such-metric' is not an installed metric",
        f"{not_finite}: results.metrics.test: nan is not finite",
        f"{below}: results.metrics.val: -0.25 is outside the bounds of accuracy [0.0, 1.0]",
        f"{unknown_dataset}: identity.dataset: 'cora' is not a dataset of suite smoke",
        f"{latin1}: file: is not UTF-8 JSON ('utf-8' codec can't decode byte 0xd1 in position 13: invalid "
        "continuation byte)",
    ]  # a metric left out (None) is not a problem: no line for no_train


def test_an_edited_committed_record_and_a_bad_base_are_refused(repo, bench_main):
    path = sorted((repo / "leaderboards" / "records" / "smoke").glob("*.json"))[0]
    path.write_bytes(path.read_bytes() + b"\n")  # still the same record, not the same bytes
    code, out, _ = bench_main("leaderboard", "validate", "--suite", "smoke", "--base", "HEAD")
    assert code == ExitCode.INVALID_RECORDS
    assert f"{path.relative_to(repo)}: file: was edited (it differs from HEAD); a submission adds records, it " \
           "never changes them" in out
    code, _, err = bench_main("leaderboard", "diff", "--suite", "smoke", "--base", "no-such-ref")
    assert code == ExitCode.USAGE_ERROR and "git ls-tree -r failed in" in err
    assert "is --base a commit of this repository?" in err
    code, _, err = bench_main("leaderboard", "diff", "--suite", "smoke")
    assert code == ExitCode.USAGE_ERROR and "needs --base GIT_REF" in err


def test_diff_leaves_out_an_unreadable_committed_record(repo, bench_main):
    from bench_gnn.submission import records_at

    folder = repo / "leaderboards" / "records" / "smoke"
    committed = records_at(folder, "HEAD")
    (folder / "broken.json").write_text("{not json")
    (folder / "future.json").write_text(json.dumps({"schema": 9}))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "unreadable records")
    assert sorted(r["key"] for r in records_at(folder, "HEAD")) == sorted(r["key"] for r in committed)
    assert len(committed) == 2


def test_validate_and_diff_outside_a_leaderboard_repository(tmp_path, monkeypatch, bench_main):
    monkeypatch.chdir(tmp_path)
    code, _, err = bench_main("leaderboard", "validate", "--suite", "smoke")
    assert code == ExitCode.OK and "smoke: 0 record file(s) valid" in err
    code, _, err = bench_main("leaderboard", "diff", "--suite", "smoke", "--base", "HEAD")
    folder = Path("leaderboards") / "records" / "smoke"
    assert code == ExitCode.USAGE_ERROR
    assert f"{folder} does not exist; run from the repository that holds the committed records" in err


def test_a_grid_key_that_is_no_hyper_parameter_and_a_forged_key_are_named(runs):
    record = json.loads(runs[0].read_text())
    record["identity"]["grid_keys"] = ["hidden", "momentum"]
    assert bench_record.problem(record) == "identity.grid_keys: ['momentum'] are not in identity.hparams"
    record = json.loads(runs[0].read_text())
    key = record["key"]
    record["identity"]["seed"] += 1
    expected = bench_record.content_hash(record["identity"])
    assert expected != key and bench_record.problem(record) is None
    assert bench_record.key_problem(record) == (f"key {key} is not the hash of the record's identity ({expected}): "
                                                "the identity was edited")
