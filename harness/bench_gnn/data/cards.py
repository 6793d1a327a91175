"""Dataset cards: where a dataset comes from and what its files and statistics must be.

A card is a YAML mapping::

    name: minesweeper
    source: yandex-research/heterophilous-graphs@a4313955 data/minesweeper.npz
    license: MIT
    citation: Platonov et al. 2023, ...
    files:
      - path: heterophilous/minesweeper/raw/minesweeper.npz   # relative to the data dir
        sha256: e664c8da...
        bytes: 135045
        url: https://...                                        # optional, for download
    stats: {nodes: 10000, edges: 39402, features: 7, classes: 2}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench_gnn.errors import DataError, PluginError
from bench_gnn.files import file_digest

REQUIRED_KEYS = ("name", "source", "license", "citation")


@dataclass(frozen=True)
class CardFile:
    path: str
    sha256: str | None
    bytes: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class Card:
    name: str
    source: str
    license: str
    citation: str
    files: tuple[CardFile, ...] = ()
    stats: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    def file(self, path: str) -> CardFile | None:
        return next((f for f in self.files if f.path == path), None)

    def checksums(self) -> dict[str, str | None]:
        return {f.path: f.sha256 for f in self.files}


def load_card(card: Mapping[str, Any] | Path, dataset: str) -> Card:
    """Parse and validate a card given as a mapping or a YAML path."""
    where = str(card) if isinstance(card, Path) else f"card of dataset {dataset!r}"
    if isinstance(card, Path):
        try:
            card = yaml.safe_load(card.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise PluginError(f"dataset {dataset!r}: cannot read card {where}: {exc}") from exc
    if not isinstance(card, Mapping):
        raise PluginError(f"dataset {dataset!r}: {where} must be a mapping")
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if missing:
        raise PluginError(f"dataset {dataset!r}: {where} lacks {', '.join(missing)}")
    files = []
    for entry in card.get("files") or ():
        if not isinstance(entry, Mapping) or "path" not in entry:
            raise PluginError(f"dataset {dataset!r}: every file in {where} needs a 'path'")
        files.append(CardFile(str(entry["path"]), entry.get("sha256"), entry.get("bytes"), entry.get("url")))
    return Card(
        name=str(card["name"]),
        source=str(card["source"]),
        license=str(card["license"]),
        citation=str(card["citation"]).strip(),
        files=tuple(files),
        stats=dict(card.get("stats") or {}),
        raw=dict(card),
    )


def verify_file(path: Path, expected: CardFile, dataset: str) -> None:
    """Refuse a file whose size or sha256 differs from the card."""
    actual_bytes = path.stat().st_size
    if expected.bytes is not None and actual_bytes != expected.bytes:
        raise DataError(
            f"dataset {dataset!r}: {path} is {actual_bytes} bytes, the card expects {expected.bytes} "
            f"(truncated or corrupted). Replace it with the original file ({expected.url or 'see the card source'})."
        )
    if expected.sha256:
        actual = file_digest(path, "sha256")
        if actual != expected.sha256:
            raise DataError(
                f"dataset {dataset!r}: checksum mismatch for {path}: expected sha256 {expected.sha256}, "
                f"got {actual}. The file is corrupted or a different version; replace it with the original."
            )
