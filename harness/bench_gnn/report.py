"""How bench tells a person what it is doing: a reporter is a ``Callable[[str], None]`` that takes one line.

The commands pass :func:`say` (stderr, above any progress bar; stdout carries tables and data); the Python API
defaults to :func:`quiet`, so a library call prints nothing unless its caller asks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from bench_gnn.plugin_manager import Plugins, load_plugins

Report = Callable[[str], None]


def say(msg: str) -> None:
    """The CLI's reporter: one line on stderr, written above any progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stderr)


def quiet(msg: str) -> None:
    """The Python API's default reporter: says nothing."""


#: Plugin module files to load besides the installed plugins, separated as in PATH (``--plugin`` adds more).
PLUGINS_ENV = "BENCH_PLUGINS"


def plugin_files(given: Iterable[Path] = ()) -> tuple[Path, ...]:
    """The plugin module files of ``$BENCH_PLUGINS``, then ``given`` (``--plugin``), each once."""
    from_env = [Path(part) for part in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if part.strip()]
    return tuple(dict.fromkeys(path.expanduser().resolve() for path in [*from_env, *given]))


def load_plugins_reporting(strict: bool, report: Report = say, files: Iterable[Path] = ()) -> Plugins:
    """The installed plugins and the plugin module files (``$BENCH_PLUGINS``, then ``files``); each one that failed
    to load is reported (``strict``: a :class:`PluginError`)."""
    plugins = load_plugins(strict=strict, files=plugin_files(files))
    for info in plugins.errors:
        report(f"bench: warning: plugin {info.label} not loaded: {info.error} (see `bench list plugins`)")
    return plugins
