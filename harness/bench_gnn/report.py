"""How bench tells a person what it is doing: a reporter is a ``Callable[[str], None]`` that takes one line.

The commands pass :func:`say` (stderr, above any progress bar; stdout carries tables and data); the Python API
defaults to :func:`quiet`, so a library call prints nothing unless its caller asks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench_gnn.plugin_manager import Plugins, load_plugins

Report = Callable[[str], None]


def say(msg: str) -> None:
    """The CLI's reporter: one line on stderr, written above any progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stderr)


def quiet(msg: str) -> None:
    """The Python API's default reporter: says nothing."""


def load_plugins_reporting(strict: bool, report: Report = say) -> Plugins:
    """The installed plugins; each one that failed to load is reported (``strict``: a :class:`PluginError`)."""
    plugins = load_plugins(strict=strict)
    for info in plugins.errors:
        report(f"bench: warning: plugin {info.label} not loaded: {info.error} (see `bench list plugins`)")
    return plugins
