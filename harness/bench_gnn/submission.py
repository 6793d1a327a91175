"""Checks on record files submitted to a committed leaderboard (`bench leaderboard validate`).

Each file is read as untrusted input: a plain file (no link) of at most :data:`MAX_BYTES`,
JSON, a record of a known schema (schema 1 is migrated), valid against the shipped JSON
Schema, its key the hash of its identity and its file name, of the suite's name and version,
with models and datasets the suite knows, metrics finite and within the metric's bounds, and
no two files with one key. Against a git base, records that existed there must still exist,
byte for byte: a submission adds records, it never edits or deletes them.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_gnn import record as records
from bench_gnn.errors import UsageError

if TYPE_CHECKING:
    from bench_gnn.plugin_manager import Plugins
    from bench_gnn.suite import Suite

MAX_BYTES = 1 << 20  # a record is a few kB; 1 MiB leaves room for influence profiles and tracebacks


@dataclass(frozen=True)
class Problem:
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


def validate_files(paths: Sequence[Path], suite: Suite, plugins: Plugins) -> list[Problem]:
    """Every problem of every file, in file order; an empty list when all are valid."""
    problems: list[Problem] = []
    owners: dict[str, Path] = {}
    for path in paths:
        record, found = _read(path)
        problems += found
        if record is None:
            continue
        found = _check(path, record, suite, plugins)
        problems += found
        key = record.get("key")
        if isinstance(key, str):
            if key in owners:
                problems.append(Problem(str(path), "key", f"{key} is also the key of {owners[key]}"))
            owners.setdefault(key, path)
    return problems


def _read(path: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    where = str(path)
    if path.is_symlink():
        return None, [Problem(where, "file", "is a symbolic link; submit the record file itself")]
    if not path.is_file():
        return None, [Problem(where, "file", "is not a regular file")]
    with open(path, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return None, [Problem(where, "file", f"is larger than {MAX_BYTES >> 20} MiB; a record is a few kB")]
    try:
        raw = json.loads(data.decode("utf-8"))
        return records.migrate(raw), []
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [Problem(where, "file", f"is not UTF-8 JSON ({exc})")]
    except records.RecordFormatError as exc:
        return None, [Problem(where, "schema", str(exc))]


def _check(path: Path, record: dict[str, Any], suite: Suite, plugins: Plugins) -> list[Problem]:
    where = str(path)
    problem = records.problem(record)
    if problem:
        field, _, message = problem.partition(": ")
        return [Problem(where, field, message)]
    out = []
    key_problem = records.key_problem(record)
    if key_problem:
        out.append(Problem(where, "key", key_problem))
    if path.stem != record["key"]:
        out.append(Problem(where, "key", f"the file is named {path.name}, the record's key is {record['key']}"))
    identity = record["identity"]
    if (identity["suite"], identity["suite_version"]) != (suite.name, suite.version):
        out.append(Problem(where, "identity.suite", f"{identity['suite']} v{identity['suite_version']} is not "
                                                    f"{suite.name} v{suite.version}"))
    for kind, known in (("model", suite.models), ("dataset", suite.datasets)):
        if identity[kind] not in known:
            out.append(Problem(where, f"identity.{kind}", f"{identity[kind]!r} is not a {kind} of suite {suite.name}"))
    out += _check_metrics(where, record, plugins)
    return out


def _check_metrics(where: str, record: dict[str, Any], plugins: Plugins) -> list[Problem]:
    results, metric = record["results"], record["identity"]["metric"]
    if results["status"] != "ok":
        return []
    if metric not in plugins.metrics:
        return [Problem(where, "identity.metric", f"{metric!r} is not an installed metric")]
    low, high = plugins.metrics.get(metric).spec.bounds
    out = []
    for split, value in sorted((results.get("metrics") or {}).items()):
        if value is None:
            continue
        if not math.isfinite(value):
            out.append(Problem(where, f"results.metrics.{split}", f"{value} is not finite"))
        elif (low is not None and value < low) or (high is not None and value > high):
            out.append(Problem(where, f"results.metrics.{split}",
                               f"{value} is outside the bounds of {metric} [{low}, {high}]"))
    return out


def changed_since(folder: Path, base: str) -> list[Problem]:
    """Records committed at git ``base`` under ``folder`` that are now missing or different."""
    committed = _git(folder, "ls-tree", "-r", "--name-only", base, "--", ".")
    problems = []
    for name in committed.splitlines():
        if not name.endswith(".json"):
            continue
        current = folder / name
        before = _git_bytes(folder, "show", f"{base}:./{name}")
        if not current.exists():
            problems.append(Problem(str(current), "file", f"was deleted (it exists at {base}); records are "
                                                          "never removed from a leaderboard"))
        elif current.is_symlink() or current.read_bytes() != before:
            problems.append(Problem(str(current), "file", f"was edited (it differs from {base}); a submission "
                                                          "adds records, it never changes them"))
    return problems


def records_at(folder: Path, base: str) -> list[dict[str, Any]]:
    """The records under ``folder`` as committed at git ``base`` (migrated; unreadable ones left out)."""
    out = []
    for name in _git(folder, "ls-tree", "-r", "--name-only", base, "--", ".").splitlines():
        if name.endswith(".json"):
            try:
                out.append(records.migrate(json.loads(_git_bytes(folder, "show", f"{base}:./{name}"))))
            except (ValueError, records.RecordFormatError):
                continue
    return out


def _git(folder: Path, *args: str) -> str:
    return _git_bytes(folder, *args).decode("utf-8", "replace")


def _git_bytes(folder: Path, *args: str) -> bytes:
    if not folder.exists():
        raise UsageError(f"{folder} does not exist; run from the repository that holds the committed records")
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"cannot run git in {folder}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"git {' '.join(args[:2])} failed in {folder}: {message[-1] if message else 'no output'}; "
                         "is --base a commit of this repository?")
    return done.stdout


def json_files(folder: Path) -> list[Path]:
    """The record files of a suite folder, links included (so that validate can refuse them)."""
    return sorted(p for p in folder.glob("*.json")) if folder.exists() else []
