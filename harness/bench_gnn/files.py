"""File helpers every writer and verifier in bench uses: atomic writes and chunked digests.

:func:`atomic_write` writes to a temporary file in the target's folder, flushes and
fsyncs it, then renames it over the target, so a reader sees either the old file or
the whole new one, even after ``kill -9``; on any error the temporary file is removed
and the target is left as it was.

:func:`inside` joins a folder and names that come from outside (a suite name, a key) and
refuses any that would land outside the folder; :func:`reporting_os_errors` turns an
``OSError`` at a write site into one :class:`~bench_gnn.errors.StorageError` line naming the path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bench_gnn.errors import UsageError, storage_error

CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_write(target: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield a file object whose content replaces ``target`` when the block ends without error."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, mode) as fh:  # fh.name is the temporary path, for checks before the rename
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def inside(folder: Path | str, *parts: str, what: str = "name") -> Path:
    """``folder/part/...``, refused with a UsageError when the parts would step outside ``folder``.

    The folder is resolved and the parts are joined to it without following links, so a name
    with ``..`` or a leading ``/`` cannot escape; a link the user placed inside the folder is
    honoured. The parts must name something strictly inside the folder. Returns the path as
    given (``folder`` joined with ``parts``), not the resolved one.
    """
    name = "/".join(str(p) for p in parts)
    if not parts or any(not str(p) or "\x00" in str(p) for p in parts):
        raise UsageError(f"{what} {name!r} is empty or contains a NUL byte; it must name a path inside {folder}")
    base = Path(os.path.abspath(folder)).resolve()
    target = Path(os.path.normpath(base.joinpath(*(str(p) for p in parts))))
    if target == base or not target.is_relative_to(base):
        raise UsageError(
            f"{what} {name!r} would put files outside {folder} (at {target}); "
            "a name must stay inside its folder: no '..' and no leading '/'"
        )
    return Path(folder).joinpath(*(str(p) for p in parts))


@contextlib.contextmanager
def reporting_os_errors(action: str, path: Path | str, hint: str = "") -> Iterator[None]:
    """Turn an OSError in the block into a StorageError: ``cannot <action> <path>: <problem>; <hint>``."""
    try:
        yield
    except OSError as exc:
        raise storage_error(action, path, exc, hint) from exc


def atomic_copy(source: Path, target: Path) -> None:
    with atomic_write(target) as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, CHUNK)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
