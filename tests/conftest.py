"""Shared fixtures for the bench test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared datasets folder (``shared/datasets``), named by the ``BENCH_DATA_DIR`` environment variable.

    Tests on real data fail, never skip, when it is missing: CI always sets it.
    """
    value = os.environ.get("BENCH_DATA_DIR")
    if not value:
        pytest.fail("set BENCH_DATA_DIR to the shared datasets folder", pytrace=False)
    path = Path(value)
    if not path.is_dir():
        pytest.fail(
            f"BENCH_DATA_DIR={value!r} is not a folder; set BENCH_DATA_DIR to the shared datasets folder",
            pytrace=False,
        )
    return path
