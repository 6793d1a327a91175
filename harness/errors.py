"""The one exception hierarchy of bench, and the exit codes the CLI maps it to.

Every error bench raises on purpose derives from :class:`BenchError`. Its message
names the culprit and, where there is one, the fix. Exit codes are decided here
and nowhere else.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable


class ExitCode(enum.IntEnum):
    OK = 0
    JOBS_FAILED = 1
    INTERRUPTED = 2
    INTERNAL_ERROR = 3
    USAGE_ERROR = 4
    DATA_ERROR = 5
    PLUGIN_ERROR = 6
    LEADERBOARD_STALE = 7


class BenchError(Exception):
    """Root of every error bench raises deliberately."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR


class UsageError(BenchError):
    """Bad command line, bad configuration or an unknown name."""

    exit_code = ExitCode.USAGE_ERROR


class ConfigError(UsageError):
    """A suite file or an override is malformed."""


class PluginError(BenchError):
    """A plugin failed to load or registered something invalid."""

    exit_code = ExitCode.PLUGIN_ERROR


class DataError(BenchError):
    """Data is missing, corrupted or cannot be fetched."""

    exit_code = ExitCode.DATA_ERROR


class JobError(BenchError):
    """A single job failed; the runner records it and the sweep goes on."""

    exit_code = ExitCode.JOBS_FAILED


class NonFiniteLossError(JobError):
    """Training produced a NaN or infinite loss."""


class LeaderboardStaleError(BenchError):
    """Committed leaderboard tables differ from what the records render."""

    exit_code = ExitCode.LEADERBOARD_STALE


def unknown_name(kind: str, name: str, known: Iterable[str], hint: str = "") -> UsageError:
    """Build the error for an unknown ``name`` of some ``kind``, with suggestions."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    close += [k for k in known if name.lower() == k.lower() and k not in close]
    msg = f"unknown {kind} {name!r}."
    if close:
        msg += f" Did you mean {', '.join(repr(c) for c in close)}?"
    msg += f" Available: {', '.join(known) if known else '(none)'}."
    if hint:
        msg += f" {hint}"
    return UsageError(msg)
