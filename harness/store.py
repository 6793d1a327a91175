"""The result store: one JSON record per job, written atomically, claimed with a lock.

Layout: ``<results>/<suite>/<key>.json``. A record is written to a temporary file
in the same folder, flushed and fsync'ed, then renamed over its final name, so a
reader sees either nothing or a whole record, even after ``kill -9``. While a
job runs, its process holds an exclusive ``flock`` on ``<key>.lock``; the kernel
drops the lock when the process dies, so a killed run never blocks a rerun and
two concurrent ``bench run`` processes never run the same job. Lock files are
left in place (deleting them would let two processes lock different inodes).

Every path the store writes stays inside ``<results>`` (a suite name or key that would
step outside is a UsageError), and a file system error while writing is a
:class:`~bench_gnn.errors.StorageError` naming the path and the problem (exit 8); a
failed write leaves the records already written as they were.

A record whose status is ``ok`` but that lacks what the leaderboard needs (metrics with
numeric ``val`` and ``test``, ...) is *incomplete*: :meth:`Store.status` reports it as
``"incomplete"`` (so the runner reruns its job and overwrites it) and warns once, naming
the file; :func:`read_records` skips it with the same warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench_gnn.errors import DataError, StorageError, storage_error
from bench_gnn.files import atomic_write, inside

SCHEMA = 1
INCOMPLETE = "incomplete"
WRITE_HINT = "choose a writable --results folder"


def print_warning(msg: str) -> None:
    """The default warning channel of the store: one line on stderr."""
    print(f"bench: warning: {msg}", file=sys.stderr)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_problem(record: Any) -> str | None:
    """What keeps the leaderboard from using a record, in words; None when it is usable.

    Failed records only need to say where they belong (dataset, model); ``ok`` records
    also need everything the leaderboard reads: metrics with numeric ``val`` and ``test``,
    the configuration, split and seed, hyper-parameters with the grid keys, parameter
    count and time per step.
    """
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    for key in ("dataset", "model"):
        if not isinstance(record.get(key), str):
            return f"no string {key!r}"
    if "variant" in record and not isinstance(record["variant"], str):
        return "'variant' is not a string"
    if record.get("status") != "ok":
        error = record.get("error")
        if error is not None and not isinstance(error, dict):
            return "'error' is not a mapping"
        return None
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        return "status 'ok' but no 'metrics'"
    missing = [k for k in ("val", "test") if not _is_number(metrics.get(k))]
    if missing:
        return f"status 'ok' but metrics without numeric {' and '.join(repr(k) for k in missing)}"
    if not isinstance(record.get("config_id"), str):
        return "no string 'config_id'"
    for key in ("split", "seed"):
        if not _is_number(record.get(key)):
            return f"no numeric {key!r}"
    for key in ("num_params", "seconds_per_step"):
        if not _is_number(record.get(key)):
            return f"status 'ok' but no numeric {key!r}"
    if "metric_scale" in record and not _is_number(record["metric_scale"]):
        return "'metric_scale' is not a number"
    hparams, grid_keys = record.get("hparams"), record.get("grid_keys", [])
    if not isinstance(hparams, dict) or not isinstance(grid_keys, list) or any(
        not isinstance(k, str) or k not in hparams for k in grid_keys
    ):
        return "'hparams' do not hold every key in 'grid_keys'"
    extras = record.get("extras")
    if extras is not None and not isinstance(extras, dict):
        return "'extras' is not a mapping"
    influence = (extras or {}).get("influence")
    if influence and (not isinstance(influence, dict) or not _is_number(influence.get("R"))):
        return "extras.influence without a numeric 'R'"
    return None


class Store:
    def __init__(self, root: Path, suite: str, warn: Callable[[str], None] | None = None) -> None:
        self.folder = inside(root, suite, what="suite name")
        self.warn = warn or print_warning
        self._warned: set[str] = set()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # fail now, before any data is loaded or any job trained, when the folder is not writable
            with tempfile.TemporaryFile(dir=self.folder, prefix=".probe-"):
                pass
        except OSError as exc:
            raise reporting_error("write records to", self.folder, exc) from exc

    def path(self, key: str) -> Path:
        return inside(self.folder, f"{key}.json", what="record key")

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of ``key``; None when there is none or it is not a readable JSON object."""
        path = self.path(key)
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        except OSError as exc:
            raise reporting_error("read record", path, exc) from exc
        return record if isinstance(record, dict) else None

    def status(self, key: str) -> str | None:
        """The record's status: ``ok``, ``failed``, ``incomplete`` (an ``ok`` record the leaderboard
        cannot use; its job reruns and overwrites it) or None (no readable record)."""
        record = self.get(key)
        if record is None:
            return None
        status = record.get("status")
        if status == "ok":
            problem = record_problem(record)
            if problem:
                if key not in self._warned:
                    self._warned.add(key)
                    self.warn(f"record {self.path(key)} is incomplete ({problem}); its job reruns and replaces it")
                return INCOMPLETE
        return status

    def write(self, record: dict[str, Any]) -> Path:
        target = self.path(record["key"])
        try:
            with atomic_write(target, "w") as fh:
                json.dump(record, fh, indent=2, sort_keys=True, default=str)
                fh.write("\n")
        except OSError as exc:
            raise reporting_error("write record", target, exc) from exc
        return target

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Yield True when this process holds the job's lock, False when another one does."""
        lock_path = inside(self.folder, f"{key}.lock", what="record key")
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as exc:
            raise reporting_error("write lock file", lock_path, exc) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def reporting_error(action: str, path: Path, exc: OSError) -> StorageError:
    """The StorageError for an OSError met on a record path, with the fitting hint."""
    hint = "check the permissions of the --results folder" if action.startswith("read") else WRITE_HINT
    return storage_error(action, path, exc, hint)


def read_records(folder: Path, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """All usable records in a suite folder, sorted by key.

    A corrupt file is an error naming it; an incomplete record (see :func:`record_problem`)
    is skipped with a warning naming it and the fix.
    """
    warn = warn or print_warning
    records: list[dict[str, Any]] = []
    try:
        if not folder.exists():
            return records
        paths = sorted(folder.glob("*.json"))
    except OSError as exc:
        raise reporting_error("read records in", folder, exc) from exc
    for path in paths:
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"record {path} is not valid JSON ({exc}); delete it and rerun its job") from exc
        except OSError as exc:
            raise reporting_error("read record", path, exc) from exc
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            raise DataError(f"record {path} has an unknown schema; expected schema {SCHEMA}")
        problem = record_problem(record)
        if problem:
            suite = record.get("suite") or folder.name
            warn(f"record {path} is incomplete ({problem}); skipped; rerun its job to repair it "
                 f"(`bench run --suite {suite}` reruns it)")
            continue
        records.append(record)
    return records
