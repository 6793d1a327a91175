"""File helpers every writer and verifier in bench uses: atomic writes and chunked digests.

:func:`atomic_write` writes to a temporary file in the target's folder, flushes and
fsyncs it, then renames it over the target, so a reader sees either the old file or
the whole new one, even after ``kill -9``; on any error the temporary file is removed
and the target is left as it was.
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
