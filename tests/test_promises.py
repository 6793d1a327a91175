"""tests/PROMISES.md, the table of README promises and the tests that prove them, stays true to the test suite.

The table is parsed as text and the test files with ``ast``: no test module is imported, nothing heavy runs.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "PROMISES.md"
HEADER = ["#", "section", "promise", "test(s)", "status"]
STATUSES = ("covered", "partly", "none")
NODE_ID = re.compile(r"(?:plugins/\w+/)?tests/[\w/]+\.py::\w+")
# Rows whose status is `none` today. Lower it when a row gets its test; the count must never grow.
NONE_ROWS = 0


def _cells(line: str) -> list[str]:
    """The cells of one markdown table row; `\\|` inside a cell is text, not a separator."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


@functools.cache
def rows(path: Path = TABLE) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    assert _cells(lines[start]) == HEADER, f"{path}: the table header must be {HEADER}"
    parsed = []
    for number, line in enumerate(lines[start + 2:], start + 3):
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(HEADER), f"{path}:{number}: {len(cells)} cells, expected {len(HEADER)}"
        row_id, section, promise, tests, status = cells
        parsed.append({"line": number, "id": row_id, "section": section, "promise": promise, "status": status,
                       "tests": [t.strip() for t in tests.split("<br>") if t.strip()]})
    return parsed


@functools.cache
def defined_tests(path: Path) -> frozenset[str]:
    """Top-level functions and methods of top-level classes of one test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return frozenset(names)


def missing_tests(table: list[dict]) -> list[str]:
    problems = []
    for row in table:
        for node_id in row["tests"]:
            if not NODE_ID.fullmatch(node_id):
                problems.append(f"{row['id']}: {node_id!r} is not a node id tests/....py::test_name")
                continue
            file, name = node_id.split("::")
            path = ROOT / file
            if not path.is_file():
                problems.append(f"{row['id']}: {file} does not exist")
            elif name not in defined_tests(path):
                problems.append(f"{row['id']}: {file} defines no test {name!r}")
    return problems


def test_the_table_is_numbered_p1_to_pn_with_a_promise_in_every_row():
    table = rows()
    assert len(table) > 60
    assert [row["id"] for row in table] == [f"P{i}" for i in range(1, len(table) + 1)]
    assert all(row["section"] and row["promise"] for row in table)


def test_every_named_test_exists():
    assert missing_tests(rows()) == []


def test_status_matches_the_tests_named():
    problems = []
    for row in rows():
        kind = row["status"].split(":")[0].strip()
        if kind not in STATUSES:
            problems.append(f"{row['id']}: status {row['status']!r} does not start with one of {STATUSES}")
        elif kind == "none" and row["tests"]:
            problems.append(f"{row['id']}: status none, but names {row['tests']}")
        elif kind != "none" and not row["tests"]:
            problems.append(f"{row['id']}: status {kind}, but names no test")
        elif kind == "partly" and not row["status"].partition(":")[2].strip():
            problems.append(f"{row['id']}: partly, but does not say what is missing (`partly: ...`)")
    assert problems == []


def test_no_test_is_named_twice_in_one_row():
    repeated = {row["id"]: sorted({t for t in row["tests"] if row["tests"].count(t) > 1})
                for row in rows() if len(set(row["tests"])) < len(row["tests"])}
    assert repeated == {}


def test_uncovered_promises_do_not_grow():
    uncovered = [row["id"] for row in rows() if row["status"].split(":")[0].strip() == "none"]
    assert len(uncovered) <= NONE_ROWS, f"promises without a test: {uncovered}; NONE_ROWS is {NONE_ROWS}"
