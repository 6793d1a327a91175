"""Import ogb without its version check: ogb 1.3.6 queries PyPI on import (package ``outdated``)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def import_ogb(module: str = "ogb") -> ModuleType:
    """``importlib.import_module(module)`` for an ogb module, with ogb's PyPI query blocked.

    ogb imports ``outdated`` inside ``try``/``except ImportError``; a ``None`` entry in
    :data:`sys.modules` makes that import fail at once, without network access.
    """
    if "outdated" not in sys.modules:
        sys.modules["outdated"] = None  # type: ignore[assignment]
    return importlib.import_module(module)
