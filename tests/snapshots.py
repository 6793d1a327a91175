"""What a folder holds, to compare before and after bench touched it: every file's size, mtime and sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path


def snapshot(root: Path) -> dict[str, list]:
    """``{relative path: [size, mtime_ns, sha256]}`` of every file, plus ``{folder/: []}`` of every folder."""
    files = {
        str(p.relative_to(root)): [p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()]
        for p in sorted(root.rglob("*")) if p.is_file()
    }
    return files | {str(p.relative_to(root)) + "/": [] for p in root.rglob("*") if p.is_dir()}
