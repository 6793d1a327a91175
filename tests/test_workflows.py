"""The GitHub workflows: they parse, call only commands bench has, and never give a fork's code a write token."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from bench_gnn.cli import _parser

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def _load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _bench_commands(workflow: dict) -> list[list[str]]:
    """Every `bench ...` command of the workflow's shell steps, shell variables replaced by sample values."""
    commands = []
    for step in _steps(workflow):
        for line in step.get("run", "").splitlines():
            line = line.strip()
            if not line.startswith("bench "):
                continue
            line = re.split(r"\s(?:\|\||\||>>|>)\s", line)[0]
            line = line.replace('"$suite"', "smoke").replace('"$BASE"', "HEAD")
            commands.append(shlex.split(line)[1:])
    return commands


def test_every_workflow_parses_and_names_its_triggers():
    names = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    assert names == ["ci.yml", "leaderboard-comment.yml", "leaderboards.yml"]
    ci = _load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    assert any("main/.ci/run" in step.get("run", "") for step in _steps(ci))
    boards = _load("leaderboards.yml")
    assert boards["on"]["pull_request"]["paths"] == ["leaderboards/records/**"]


def test_the_leaderboard_workflow_calls_validate_update_and_diff_with_valid_arguments():
    commands = _bench_commands(_load("leaderboards.yml"))
    assert [c[:2] for c in commands] == [["leaderboard", "validate"], ["leaderboard", "update"],
                                         ["leaderboard", "diff"]]
    parser = _parser()
    for argv in commands:
        args = parser.parse_args(argv)
        assert args.command == "leaderboard" and args.suite == "smoke"
    assert parser.parse_args(commands[0]).base == "HEAD" and parser.parse_args(commands[2]).base == "HEAD"


def test_no_job_that_runs_pull_request_code_holds_a_write_token_or_secrets():
    boards = _load("leaderboards.yml")
    assert boards["permissions"] == {"contents": "read"}
    text = (WORKFLOWS / "leaderboards.yml").read_text()
    assert "secrets." not in text and "pull_request_target" not in text
    checkout = next(s for s in _steps(boards) if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["persist-credentials"] is False
    comment = _load("leaderboard-comment.yml")
    assert comment["on"] == {"workflow_run": {"workflows": ["leaderboards"], "types": ["completed"]}}
    assert comment["permissions"]["pull-requests"] == "write"
    assert not any(s.get("uses", "").startswith("actions/checkout") for s in _steps(comment))
    assert not any("bench " in s.get("run", "") or "pip install" in s.get("run", "") for s in _steps(comment))


@pytest.mark.parametrize("name", ["ci.yml", "leaderboards.yml"])
def test_workflows_that_run_code_read_the_repository_only(name):
    assert _load(name)["permissions"] == {"contents": "read"}
