"""Where a dataset's files come from, and where it may write.

The data dir (``--data-dir`` or ``BENCH_DATA_DIR``) may be read-only; every raw file
is verified against the card and copied into the writable cache
(``--cache-dir`` or ``BENCH_CACHE_DIR``, default ``~/.cache/bench``), where loaders
also keep processed files. Nothing here ever prompts.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench_gnn.data.cards import Card, CardFile, verify_file
from bench_gnn.errors import DataError
from bench_gnn.files import atomic_copy, atomic_write

DATA_DIR_ENV = "BENCH_DATA_DIR"
CACHE_DIR_ENV = "BENCH_CACHE_DIR"
DOWNLOAD_TIMEOUT_S = 30


def default_data_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def default_cache_dir() -> Path:
    value = os.environ.get(CACHE_DIR_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "bench"


@dataclass
class DataContext:
    """Handed to ``DatasetSpec.load``: verified raw files and a writable work folder."""

    dataset: str
    card: Card | None
    data_dir: Path | None
    cache_dir: Path
    allow_download: bool = True

    @property
    def work_dir(self) -> Path:
        """A writable folder of this dataset's own, for processed files."""
        path = self.cache_dir / "processed" / self.dataset
        path.mkdir(parents=True, exist_ok=True)
        return path

    def raw_file(self, path: str) -> Path:
        """Return a verified, writable copy of raw file ``path`` (relative to the data dir).

        Looks in the cache, then in the data dir, then downloads the card's ``url``
        when downloads are allowed. Raises :class:`DataError` naming the folder and
        file expected when none of them has it. Only files the card lists with a
        sha256 are ever returned: loaders unpickle some of them, which can run code.
        """
        entry = self.card.file(path) if self.card else None
        problem = self._unverifiable(path, entry)
        if problem or entry is None:
            raise DataError(problem)
        cached = self.cache_dir / "raw" / path
        if cached.exists():
            try:
                verify_file(cached, entry, self.dataset)
                return cached
            except DataError:
                cached.unlink()
        source = self.data_dir / path if self.data_dir else None
        if source is not None and source.exists():
            verify_file(source, entry, self.dataset)
            atomic_copy(source, cached)
            return cached
        if entry.url and self.allow_download:
            self._download(entry, cached)
            return cached
        raise DataError(self._missing_message(path, entry))

    def missing_files(self) -> dict[str, str]:
        """The card's files that :meth:`raw_file` could not provide, each with the error it would raise.

        Cheap: it only looks for the files (cache, then data dir, then a ``url`` with
        downloads allowed) and neither copies, downloads nor checksums them, so a
        corrupted or unreachable file still fails when the dataset loads.
        """
        missing = {}
        for entry in self.card.files if self.card else ():
            problem = self._unverifiable(entry.path, entry)
            if problem:
                missing[entry.path] = problem
                continue
            if (self.cache_dir / "raw" / entry.path).exists():
                continue
            if self.data_dir is not None and (self.data_dir / entry.path).exists():
                continue
            if entry.url and self.allow_download:
                continue
            missing[entry.path] = self._missing_message(entry.path, entry)
        return missing

    def _unverifiable(self, path: str, entry: CardFile | None) -> str | None:
        if entry is None:
            return (
                f"dataset {self.dataset!r}: raw file {path!r} is not listed on the dataset card; every raw file "
                "needs a card entry with its sha256 before bench reads it"
            )
        if not entry.sha256:
            source = f" (downloaded from {entry.url})" if entry.url else ""
            return (
                f"dataset {self.dataset!r}: raw file {path!r}{source} has no sha256 on the dataset card, so bench "
                "cannot verify it and does not load it (loaders unpickle such files, which can run code). "
                "The dataset stays unavailable until a maintainer records the sha256 and size of a trusted copy "
                "in its card."
            )
        return None

    def _missing_message(self, path: str, entry: CardFile) -> str:
        if self.data_dir is None:
            where = f"no data dir is set (use --data-dir or {DATA_DIR_ENV})"
        else:
            where = f"{self.data_dir / path} does not exist"
        msg = f"dataset {self.dataset!r}: raw file {path!r} is missing: {where}."
        if entry.url:
            msg += (
                f" With network access it is downloaded from {entry.url}"
                + ("" if self.allow_download else " (downloads are disabled: drop --offline)")
                + f"; or place the file at <data dir>/{path}."
            )
        else:
            msg += f" Place the file at <data dir>/{path}."
        return msg

    def _download(self, entry: CardFile, target: Path) -> None:
        try:
            import urllib.request  # only when downloading: keeps `import bench_gnn` light

            if entry.url is None:
                raise DataError(f"{entry.path}: the card gives no url to download it from")
            with atomic_write(target) as out, urllib.request.urlopen(entry.url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                shutil.copyfileobj(resp, out)
                out.flush()
                verify_file(Path(out.name), entry, self.dataset)
        except OSError as exc:  # URLError and timeouts are OSErrors
            raise DataError(
                f"dataset {self.dataset!r}: cannot download {entry.url} ({exc}). Offline? Place the file at "
                f"<data dir>/{entry.path} and pass --data-dir or set {DATA_DIR_ENV}."
            ) from exc
