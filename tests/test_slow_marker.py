"""README "Set up and run": `pytest -m "not slow"` skips the tests that train on real data or start sweeps in
subprocesses, and keeps the rest as a fast inner loop.

No test is named here. The rule is the root conftest's: a test that uses one of ``SLOW_FIXTURES`` (directly or
through another fixture) is marked slow; other slow tests carry the marker themselves. The check goes through
pytest's own collection of the whole suite with ``-m "not slow"``: a small plugin reports each collected test's
fixtures and marker, and which tests the marker expression left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SLOW_FIXTURES

ROOT = Path(__file__).resolve().parents[1]

REPORTER = '''
import json, os

_left_out = []


def pytest_deselected(items):
    _left_out.extend(items)


def pytest_collection_finish(session):
    def row(item):
        fixtures = sorted(getattr(item, "fixturenames", ()))
        return {"fixtures": fixtures, "slow": item.get_closest_marker("slow") is not None}

    report = {"kept": {i.nodeid: row(i) for i in session.items}, "left_out": {i.nodeid: row(i) for i in _left_out}}
    with open(os.environ["SLOW_MARKER_REPORT"], "w") as fh:
        json.dump(report, fh)
'''


def _collect(tmp_path: Path, *args: str) -> tuple[dict, dict]:
    """(kept, left out) of the whole suite's collection with ``args``: node id -> fixtures and slow marker."""
    (tmp_path / "slow_marker_reporter.py").write_text(REPORTER)
    report = tmp_path / "report.json"
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-p",
         "slow_marker_reporter", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": path, "SLOW_MARKER_REPORT": str(report)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = json.loads(report.read_text())
    return collected["kept"], collected["left_out"]


def test_not_slow_leaves_out_every_test_of_a_slow_fixture_or_marker_and_keeps_an_inner_loop(tmp_path):
    kept, left_out = _collect(tmp_path, "-m", "not slow")
    every = {**kept, **left_out}
    uses_slow_fixture = {name for name, row in every.items() if set(SLOW_FIXTURES) & set(row["fixtures"])}
    marked = {name for name, row in every.items() if row["slow"]}
    assert uses_slow_fixture <= marked, sorted(uses_slow_fixture - marked)  # the rule marks them
    assert set(left_out) == marked, sorted(set(left_out) ^ marked)  # -m "not slow" leaves out exactly those
    for fixture in SLOW_FIXTURES:  # each fixture of the rule is current: some test uses it
        assert any(fixture in row["fixtures"] for row in left_out.values()), fixture
    assert len(kept) >= 3 * len(left_out), (len(kept), len(left_out))  # an inner loop, not an empty one
