"""The result store: one JSON record per job, written atomically, claimed with a lock.

Layout: ``<results>/<suite>/<key>.json``. A record is written to a temporary file
in the same folder, flushed and fsync'ed, then renamed over its final name, so a
reader sees either nothing or a whole record, even after ``kill -9``. While a
job runs, its process holds an exclusive ``flock`` on ``<key>.lock``; the kernel
drops the lock when the process dies, so a killed run never blocks a rerun and
two concurrent ``bench run`` processes never run the same job. Lock files are
left in place (deleting them would let two processes lock different inodes).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_gnn.errors import DataError
from bench_gnn.files import atomic_write

SCHEMA = 1


class Store:
    def __init__(self, root: Path, suite: str) -> None:
        self.folder = Path(root) / suite
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(key).read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    def status(self, key: str) -> str | None:
        record = self.get(key)
        return record.get("status") if record else None

    def write(self, record: dict[str, Any]) -> Path:
        target = self.path(record["key"])
        with atomic_write(target, "w") as fh:
            json.dump(record, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
        return target

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Yield True when this process holds the job's lock, False when another one does."""
        lock_path = self.folder / f"{key}.lock"
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
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


def read_records(folder: Path) -> list[dict[str, Any]]:
    """All records in a suite folder, sorted by key; a corrupt file is an error naming it."""
    records = []
    if not folder.exists():
        return records
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"record {path} is not valid JSON ({exc}); delete it and rerun its job") from exc
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            raise DataError(f"record {path} has an unknown schema; expected schema {SCHEMA}")
        records.append(record)
    return records
