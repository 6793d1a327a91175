"""Spread a suite's jobs over N workers: the shard partition, each worker's order, and the
scheduling facts a record keeps beside its identity.

Job ``k`` belongs to shard ``int(k, 16) % N`` (keys are hex content hashes), so every
process on every machine computes the same disjoint, covering partition from the suite
alone. Worker ``I`` of ``N`` runs its own share first, in the suite's order, then the
*leftovers*: the other shards' jobs, shard ``I+1`` first, each shard's jobs from its last
to its first, so that a helper and the shard's owner work towards each other and meet in
the middle. Per-job claims (:meth:`bench_gnn.store.Store.claim`) keep two workers off one job.

How a job was scheduled (worker, shard, launcher, host, pid, own share or leftover) is
stored in the record's ``scheduling`` mapping, never in the job's identity or key: a
leaderboard does not depend on how the work was spread.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench_gnn.errors import UsageError

if TYPE_CHECKING:
    from bench_gnn.jobs import Job

#: The environment variable a launcher sets to its name (local, submitit, hydra, ray, ...) for the
#: workers it starts; recorded in each record's ``scheduling.launcher``.
LAUNCHER_ENV = "BENCH_LAUNCHER"


def shard_of(key: str, count: int) -> int:
    """The shard (0 .. count-1) that job ``key`` belongs to."""
    return int(key, 16) % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``: ``Shard(0, 16)`` is ``--shard 0/16``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` with 0 <= I < N, e.g. ``"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"``."""
        index_text, sep, count_text = text.partition("/")
        try:
            index, count = int(index_text), int(count_text)
        except ValueError:
            index, count = -1, 0
        if not sep or count < 1:
            raise UsageError(f"expected I/N with N >= 1 (shard I of N, I counted from 0), got {text!r}")
        if not 0 <= index < count:
            raise UsageError(f"shard index {index} is outside 0..{count - 1} in {text!r}; I counts from 0, "
                             f"as in `#SBATCH --array=0-{count - 1}`")
        return cls(index, count)

    def owns(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def work_order(jobs: Sequence[Job], shard: Shard | None, leftovers: bool = True) -> list[Job]:
    """The order worker ``shard`` takes ``jobs`` in: its own share, then (unless ``leftovers`` is
    False) the other shards' jobs, shard after shard, each from its last job to its first."""
    if shard is None:
        return list(jobs)
    by_shard: list[list[Job]] = [[] for _ in range(shard.count)]
    for job in jobs:
        by_shard[shard_of(job.key, shard.count)].append(job)
    order = list(by_shard[shard.index])
    if leftovers:
        for offset in range(1, shard.count):
            order += reversed(by_shard[(shard.index + offset) % shard.count])
    return order


def launcher_from_env() -> str | None:
    """The launcher that started this process, from :data:`LAUNCHER_ENV`; None: started by hand."""
    return os.environ.get(LAUNCHER_ENV) or None


@dataclass(frozen=True)
class Worker:
    """The process running a sweep, as its records describe it."""

    shard: Shard | None = None
    id: str = ""
    launcher: str | None = field(default_factory=launcher_from_env)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @property
    def name(self) -> str:
        """The worker id given (``--worker-id``), else ``host:pid``."""
        return self.id or f"{self.host}:{self.pid}"

    def scheduling(self, key: str) -> dict[str, Any]:
        """The record's ``scheduling`` mapping for job ``key`` run by this worker."""
        return {
            "worker": self.name,
            "shard": None if self.shard is None else str(self.shard),
            "launcher": self.launcher,
            "host": self.host,
            "pid": self.pid,
            "own_share": self.shard is None or self.shard.owns(key),
        }
