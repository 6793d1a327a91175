"""Waiting for the `bench` processes a test starts, never longer than a bound."""

from __future__ import annotations

import subprocess


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    """The process's stderr once it exits; killed (and the test failed) when it outlives ``timeout``."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=30)
        raise
    return err
