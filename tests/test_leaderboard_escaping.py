"""Untrusted text in records (device names, error messages, variant labels, grid values) cannot break or inject
into the rendered leaderboards: markdown, HTML, LaTeX, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from bench_gnn.escaping import escape_text
from bench_gnn.leaderboard import render
from bench_gnn.store import read_records
from bench_gnn.sweep import load_suite

HOSTILE = "<script>alert(1)</script>\n# Owned\n| a | b |\n![x](http://evil/x.png) <img src=x onerror=alert(2)> =cmd()"


@pytest.fixture(scope="module")
def hostile_records(tmp_path_factory):
    from bench_gnn.cli import main

    results = tmp_path_factory.mktemp("results")
    code = main(["run", "--suite", "smoke", "--model", "GCN", "--dataset", "csbm-mixed", "--splits", "1", "--steps",
                 "2", "--no-progress", "--no-leaderboard", "--results", str(results)])
    assert code == 0
    (path,) = (results / "smoke").glob("*.json")
    record = json.loads(path.read_text())
    record["provenance"]["device"] = HOSTILE
    record["identity"]["hparams"]["num_layers"] = HOSTILE  # a grid value as a third-party plugin might report it
    record["identity"]["grid_keys"] = ["num_layers"]
    path.write_text(json.dumps(record))
    failed = {**record, "key": "f" * 20, "identity": {**record["identity"], "split": 1, "seed": 1},
              "results": {**record["results"], "status": "failed", "metrics": None,
                          "error": {"type": "RuntimeError", "message": HOSTILE, "traceback": ""}}}
    (results / "smoke" / f"{failed['key']}.json").write_text(json.dumps(failed))
    variant = {**record, "key": "e" * 20, "variant": "reduced: " + HOSTILE}
    (results / "smoke" / f"{variant['key']}.json").write_text(json.dumps(variant))
    return read_records(results / "smoke")


@pytest.fixture(scope="module")
def suite(plugins):
    return load_suite(plugins, "smoke")[0]


def test_markdown_keeps_its_structure_and_carries_no_markup_from_records(suite, hostile_records):
    text = render(suite, hostile_records, "markdown")
    assert "<script>" not in text and "<img" not in text and "![x](" not in text
    assert "&lt;script&gt;" in text  # the text is still there, inert
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert all(not h.lstrip("#").strip().startswith("Owned") for h in headings)
    assert not any(line.startswith("- ") and "Owned" in line.split(":", 1)[0] for line in text.splitlines())
    for table in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.strip().splitlines()}
        assert len(widths) == 1, table  # no row gained or lost a column


def test_html_and_latex_escape_cells_and_titles(suite, hostile_records):
    page = render(suite, hostile_records, "html")
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page
    assert re.search(r"<h2>Variant — reduced: &lt;script&gt;", page)
    latex = render(suite, hostile_records, "latex")
    assert "\\#" in latex and not re.search(r"(?<!\\)#", latex)


def test_csv_cells_cannot_start_a_formula_and_rows_stay_whole(suite, hostile_records):
    text = render(suite, hostile_records, "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert len({len(row) for row in rows}) == 1
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "@")), cell
            assert "\n" not in cell


def test_json_round_trips_the_text_unchanged(suite, hostile_records):
    payload = json.loads(render(suite, hostile_records, "json"))
    assert any(b["variant"] == "reduced: " + HOSTILE for b in payload)


def test_escape_text_per_format():
    assert escape_text("a|b\n# c", "markdown") == "a\\|b # c"
    assert escape_text("<b>&", "html") == "&lt;b&gt;&amp;"
    assert escape_text("50% of $x_1", "latex") == "50\\% of \\$x\\_1"
    assert escape_text("-1+1", "csv") == "'-1+1"
    assert escape_text("plain", "csv") == "plain"
