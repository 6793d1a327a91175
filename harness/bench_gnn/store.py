"""The result store: one JSON record per job, written atomically, claimed with a lock.

Layout: ``<results>/<suite>/<key>.json``. A record is written to a temporary file
in the same folder, flushed and fsync'ed, then renamed over its final name, so a
reader sees either nothing or a whole record, even after ``kill -9``. While a
job runs, its process holds an exclusive ``flock`` on ``<key>.lock``; the kernel
drops the lock when the process dies, so a killed run never blocks a rerun and
two concurrent ``bench run`` processes never run the same job. Lock files are
left in place (deleting them would let two processes lock different inodes). A reader
(``bench status``) asks whether a job runs with :func:`lock_held`: a shared lock taken and
dropped at once, never creating a file; :meth:`Store.claim` waits such a probe out.

Every path the store writes stays inside ``<results>`` (a suite name or key that would
step outside is a UsageError), and a file system error while writing is a
:class:`~bench_gnn.errors.StorageError` naming the path and the problem (exit 8); a
failed write leaves the records already written as they were.

Records follow :mod:`bench_gnn.record` (schema 2; schema 1 is migrated as it is read). A
record whose status is ``ok`` but that breaks the schema (metrics without numeric ``val`` and
``test``, ...) is *incomplete*: :meth:`Store.status` reports it as
``"incomplete"`` (so the runner reruns its job and overwrites it) and warns once, naming
the file; :func:`read_records` skips it with the same warning. :func:`read_records_from`
merges the records of several folders (machines without a shared file system): one key
with two different records is an error naming both files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench_gnn.errors import DataError, StorageError, storage_error
from bench_gnn.files import atomic_write, inside
from bench_gnn.record import RecordFormatError, migrate
from bench_gnn.record import problem as record_problem

INCOMPLETE = "incomplete"
MAX_RECORD_BYTES = 5 << 20  # a record is a few kB; tracebacks are cut to 8 kB
WRITE_HINT = "choose a writable --results folder"
#: How often, and how many seconds apart, a claim retries a lock held for a moment by a reader's probe.
PROBE_RETRIES, PROBE_WAIT = 3, 0.02


def print_warning(msg: str) -> None:
    """The default warning channel of the store: one line on stderr."""
    print(f"bench: warning: {msg}", file=sys.stderr)


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

    def stamp(self, key: str) -> tuple[int, int, int] | None:
        """What changes whenever the record of ``key`` is (re)written (inode, mtime, size); None: no record.

        A sweep compares the stamps it saw at its start with those at each job's claim: a change means
        another process handled the job meanwhile."""
        path = self.path(key)
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise reporting_error("read record", path, exc) from exc
        return info.st_ino, info.st_mtime_ns, info.st_size

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of ``key``; None when there is none or it is not a readable JSON object."""
        return read_record(self.folder, key)

    def status(self, key: str) -> str | None:
        """The record's status: ``ok``, ``failed``, ``incomplete`` (an ``ok`` record the leaderboard
        cannot use; its job reruns and overwrites it) or None (no readable record)."""
        record = self.get(key)
        if record is None:
            return None
        problem = record_problem(record)
        if problem:
            if key not in self._warned:
                self._warned.add(key)
                self.warn(f"record {self.path(key)} is incomplete ({problem}); its job reruns and replaces it")
            return INCOMPLETE
        return str(record["results"]["status"])

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
            if not _lock_now(fd):
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _lock_now(fd: int) -> bool:
    """Take the exclusive lock without blocking on a holder; a lock that frees within a few
    milliseconds was a reader's probe (:func:`lock_held`), not a running job."""
    for attempt in range(PROBE_RETRIES + 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt < PROBE_RETRIES:
                time.sleep(PROBE_WAIT)
    return False


def read_record(folder: Path, key: str) -> dict[str, Any] | None:
    """The record of ``key`` in suite folder ``folder``; None when there is none or it is not a
    readable JSON object (its job reruns). Read-only: usable on a folder being written."""
    path = inside(folder, f"{key}.json", what="record key")
    try:
        return migrate(json.loads(_read_bounded(path)))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError, RecordFormatError, DataError):
        return None
    except OSError as exc:
        raise reporting_error("read record", path, exc) from exc


def _read_bounded(path: Path) -> str:
    """A record file's text; a link or a file over :data:`MAX_RECORD_BYTES` is a DataError naming it."""
    if path.is_symlink():
        raise DataError(f"record {path} is a symbolic link; records are plain files: replace it with the file")
    with open(path, "rb") as fh:
        data = fh.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise DataError(f"record {path} is larger than {MAX_RECORD_BYTES >> 20} MiB; it is not a bench record")
    return data.decode("utf-8")


def lock_held(folder: Path, key: str) -> bool:
    """Whether a process holds the lock of job ``key`` now (it runs the job); read-only: the lock
    file is never created, and the shared lock taken to test it is dropped at once."""
    path = inside(folder, f"{key}.lock", what="record key")
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise reporting_error("read lock file", path, exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def reporting_error(action: str, path: Path, exc: OSError) -> StorageError:
    """The StorageError for an OSError met on a record path, with the fitting hint."""
    hint = "check the permissions of the --results folder" if action.startswith("read") else WRITE_HINT
    return storage_error(action, path, exc, hint)


def read_records(folder: Path, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """All usable records in a suite folder, sorted by key.

    A corrupt file is an error naming it; an incomplete record (see :func:`bench_gnn.record.problem`)
    is skipped with a warning naming it and the fix.
    """
    return [record for _, record in _read_folder(folder, warn or print_warning)]


def read_records_from(folders: Sequence[Path], warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The usable records of several suite folders merged, sorted by key (as :func:`read_records`).

    A record present in two folders is kept once when both copies are identical; one key with
    two different records is a :class:`DataError` naming both files.
    """
    warn = warn or print_warning
    merged: dict[str, tuple[Path, dict[str, Any]]] = {}
    for folder in dict.fromkeys(folders):
        for path, record in _read_folder(folder, warn):
            key = record["key"]
            if key not in merged:
                merged[key] = (path, record)
            elif merged[key][1] != record:
                raise DataError(
                    f"records {merged[key][0]} and {path} have the same key {key} but different contents; "
                    f"keep the one to trust, delete the other and merge again"
                )
    return [merged[key][1] for key in sorted(merged)]


def _read_folder(folder: Path, warn: Callable[[str], None]) -> list[tuple[Path, dict[str, Any]]]:
    records: list[tuple[Path, dict[str, Any]]] = []
    try:
        if not folder.exists():
            return records
        paths = sorted(folder.glob("*.json"))
    except OSError as exc:
        raise reporting_error("read records in", folder, exc) from exc
    for path in paths:
        try:
            record = migrate(json.loads(_read_bounded(path)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"record {path} is not valid JSON ({exc}); delete it and rerun its job") from exc
        except RecordFormatError as exc:
            raise DataError(f"record {path}: {exc}") from exc
        except OSError as exc:
            raise reporting_error("read record", path, exc) from exc
        problem = record_problem(record)
        if problem:
            warn(f"record {path} is incomplete ({problem}); skipped; rerun its job to repair it "
                 f"(`bench run --suite {folder.name}` reruns it)")
            continue
        records.append((path, record))
    return records
