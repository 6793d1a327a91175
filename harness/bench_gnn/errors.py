"""The one exception hierarchy of bench, and the exit codes the CLI maps it to.

Every error bench raises on purpose derives from :class:`BenchError`. Its message
names the culprit and, where there is one, the fix. Exit codes are decided here
and nowhere else.
"""

from __future__ import annotations

import difflib
import enum
import errno
from collections.abc import Iterable
from pathlib import Path


class ExitCode(enum.IntEnum):
    OK = 0
    JOBS_FAILED = 1
    INTERRUPTED = 2
    INTERNAL_ERROR = 3
    USAGE_ERROR = 4
    DATA_ERROR = 5
    PLUGIN_ERROR = 6
    LEADERBOARD_STALE = 7
    STORAGE_ERROR = 8
    INVALID_RECORDS = 9


#: The exit code when the reader of bench's output goes away (``bench ... | head``): bench stops
#: early and quietly, as if interrupted; finished records are saved.
BROKEN_PIPE_EXIT = ExitCode.INTERRUPTED


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


class StorageError(BenchError):
    """Bench cannot read or write a file or folder (permissions, a file in place of a folder, a full disk)."""

    exit_code = ExitCode.STORAGE_ERROR


def storage_error(action: str, path: object, exc: OSError, hint: str = "") -> StorageError:
    """Build the one-line error for an OSError met while ``action`` ("write records to") ``path``.

    The message names the path and the problem: ``cannot write records to /x/results/smoke:
    Permission denied; choose a writable --results folder``. On a full disk the hint
    starts with "free some space or".
    """
    msg = f"cannot {action} {path}: {describe_os_error(exc)}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = f"free some space or {hint}" if hint else "free some space"
    if hint:
        msg += f"; {hint}"
    return StorageError(msg)


def describe_os_error(exc: OSError) -> str:
    """The problem an OSError reports, in words (its strerror), naming the culprit where it differs."""
    problem = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and exc.filename is not None:
        # "Not a directory" / "File exists": name the file that stands where a folder is needed
        for part in (Path(str(exc.filename)), *Path(str(exc.filename)).parents):
            if part.exists() and not part.is_dir():
                return f"{part} is a file, not a folder"
    return problem


def os_error_message(exc: OSError) -> str:
    """The last-line-of-defence message for an OSError nobody converted: the path and the problem."""
    if exc.filename is None:
        return f"cannot read or write a file: {describe_os_error(exc)}"
    target = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    return f"cannot read or write {target}: {describe_os_error(exc)}"


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


def worker_exit_code(returncode: int | None) -> ExitCode:
    """What a ``bench launch`` worker's exit status stands for.

    bench's own codes stand as they are; a worker killed by a signal (a negative return code, or
    128 + the signal from a shell or scheduler) or one that never reported (None) is
    :attr:`ExitCode.INTERRUPTED`: its finished jobs are saved and the same command resumes the
    sweep; any other code is an internal error.
    """
    if returncode is None or returncode < 0 or returncode > 128:
        return ExitCode.INTERRUPTED
    try:
        return ExitCode(returncode)
    except ValueError:
        return ExitCode.INTERNAL_ERROR


def worst_exit_code(codes: Iterable[ExitCode]) -> ExitCode:
    """The exit code of several processes together: the highest (0 when there are none)."""
    return max(codes, default=ExitCode.OK)
