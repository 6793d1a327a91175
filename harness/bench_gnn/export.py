"""Replay finished records into the experiment trackers GNN users already use: W&B and TensorBoard.

Export is read-only and after the fact: it never touches training and never changes a record. Each
``ok`` record becomes one tracker run; failed records have no metrics to show and are skipped and
counted (``bench status`` and the record itself tell why they failed).

A run carries:

- name ``<model>/<dataset>/split<split>``, followed by ``[<variant>]`` when the variant is not "full";
- config: the record's identity as it is (suite, suite_version, protocol, protocol_args, dataset,
  model, hparams, metric, split, seed, ...), plus ``key``, ``variant``, how to read the metric
  (``higher_is_better``, ``metric_scale``, ``peak_memory_kind``) and the record's ``provenance``;
- summary: the numbers of :func:`run_summary` (``metrics/val``, ``metrics/test``, ``cost/num_params``, ...),
  raw as in the record (a metric of 0.8123 with ``metric_scale`` 100 is shown as 81.23 on the
  leaderboard).

W&B: one offline run per record under ``<out>/wandb/`` (``wandb sync`` uploads them later), with the
record's key as run id, so exporting again and syncing updates the same runs instead of duplicating
them; grouped by suite, tagged with the suite, ``<suite>@<version>`` and ``full`` or ``reduced``.
``online=True`` leaves the mode to the user's own W&B settings (``wandb login``, ``WANDB_MODE``,
``WANDB_ENTITY``). TensorBoard: one log folder per record, ``<out>/<suite>/<model>/<dataset>/split<split>/<key>``,
with the summary as scalars (float64) at step ``best_step`` and the config as hparams; exporting again
replaces that folder's event files.

The trackers are optional extras (``pip install 'bench-gnn[wandb]'``, ``'bench-gnn[tensorboard]'``),
imported only here, only when used.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_gnn.errors import StorageError, UsageError
from bench_gnn.files import inside, reporting_os_errors

#: tracker -> (its name in messages, the extra that installs it)
TRACKERS = {"wandb": ("W&B", "wandb"), "tensorboard": ("TensorBoard", "tensorboard")}
_COSTS = ("num_params", "seconds_per_step", "wall_seconds", "train_seconds", "peak_memory_bytes")
_READING = ("higher_is_better", "metric_scale", "peak_memory_kind")


@dataclass
class ExportSummary:
    """What an export did: the runs written (their folders), and the failed records skipped."""

    tracker: str
    out: Path
    runs: list[Path] = field(default_factory=list)
    skipped_failed: int = 0


def run_name(record: Mapping[str, Any]) -> str:
    """``GCN/minesweeper/split3``, or ``GCN/minesweeper/split3 [reduced: steps=3]`` for a reduced variant."""
    identity = record["identity"]
    name = f"{identity['model']}/{identity['dataset']}/split{identity['split']}"
    return name if record.get("variant", "full") == "full" else f"{name} [{record['variant']}]"


def run_config(record: Mapping[str, Any]) -> dict[str, Any]:
    """The run's configuration, nested: the identity, key, variant, how to read the results, provenance."""
    results = record["results"]
    return {
        **record["identity"], "key": record["key"], "variant": record.get("variant", "full"),
        **{name: results.get(name) for name in _READING}, "provenance": record.get("provenance"),
    }


def run_summary(record: Mapping[str, Any]) -> dict[str, float]:
    """The record's numbers, flat: ``metrics/<train|val|test>``, ``best_step``, ``steps``, ``cost/<...>`` and
    ``extras/<path>`` for each number among the extras (lists, text and flags are left out)."""
    results = record["results"]
    summary = {f"metrics/{split}": value for split, value in (results.get("metrics") or {}).items()}
    summary.update({name: results.get(name) for name in ("best_step", "steps")})
    summary.update({f"cost/{name}": results.get(name) for name in _COSTS})
    summary.update({f"extras/{path}": value for path, value in flatten(results.get("extras") or {}, "/").items()})
    return {name: value for name, value in summary.items() if _is_number(value)}


def flatten(mapping: Mapping[str, Any], sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and other values stay as they are."""
    flat: dict[str, Any] = {}
    for name, value in mapping.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, sep, path + sep))
        else:
            flat[path] = value
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def export_records(
    tracker: str,
    suite_name: str,
    records: Iterable[Mapping[str, Any]],
    out_dir: Path,
    *,
    project: str | None = None,
    online: bool = False,
) -> ExportSummary:
    """Write one ``tracker`` run per ok record of ``suite_name`` under ``out_dir``; the records are only read.

    ``project`` (W&B only) defaults to ``bench-<suite>``; ``online`` (W&B only) uses the user's W&B
    settings instead of offline mode. Raises :class:`UsageError` when the tracker is unknown or not
    installed (naming the pip command), :class:`StorageError` when ``out_dir`` cannot be written.
    """
    if tracker not in TRACKERS:
        raise UsageError(f"unknown tracker {tracker!r}; bench exports to {' or '.join(TRACKERS)}")
    if tracker != "wandb" and (project is not None or online):
        raise UsageError(f"--project and --online are W&B options; `bench export {tracker}` takes neither")
    records = list(records)
    ok = [record for record in records if record["results"]["status"] == "ok"]
    summary = ExportSummary(tracker, out_dir, skipped_failed=len(records) - len(ok))
    if tracker == "tensorboard":
        summary.runs = _to_tensorboard(ok, suite_name, out_dir)
    else:
        summary.runs = _to_wandb(ok, suite_name, out_dir, project or f"bench-{suite_name}", online)
    return summary


def _missing(tracker: str, exc: ImportError) -> UsageError:
    label, extra = TRACKERS[tracker]
    return UsageError(f"exporting to {label} needs the {extra} package: pip install 'bench-gnn[{extra}]' "
                      f"(importing it failed: {exc})")


def _to_tensorboard(records: Sequence[Mapping[str, Any]], suite_name: str, out: Path) -> list[Path]:
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError as exc:
        raise _missing("tensorboard", exc) from exc
    folders = []
    for record in records:
        identity = record["identity"]
        folder = inside(out, suite_name, str(identity["model"]), str(identity["dataset"]),
                        f"split{identity['split']}", record["key"], what="run folder")
        numbers = run_summary(record)
        config = {name: _hparam_value(value) for name, value in flatten(run_config(record)).items()}
        step = record["results"].get("best_step") or 0
        walltime = _timestamp(record)
        with reporting_os_errors("write TensorBoard events to", folder, "choose a writable --out folder"):
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("events.out.tfevents.*"):  # this folder holds one record's export: replace it
                old.unlink()
            writer = SummaryWriter(log_dir=str(folder))
            try:
                # what add_hparams writes, but into this run's own event file (add_hparams makes a sub-run)
                for part in hparams(config, numbers):  # type: ignore[no-untyped-call]
                    writer._get_file_writer().add_summary(part, step, walltime)  # type: ignore[no-untyped-call]
                for tag, value in numbers.items():
                    writer.add_scalar(tag, value, step, walltime, new_style=True, double_precision=True)
            finally:
                writer.close()
        folders.append(folder)
    return folders


def _hparam_value(value: Any) -> bool | int | float | str:
    """TensorBoard takes numbers, text and flags as hparams: anything else goes in as JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _timestamp(record: Mapping[str, Any]) -> float | None:
    """When the job finished (or started), as seconds since the epoch; None when the record does not say."""
    provenance = record.get("provenance") or {}
    for name in ("finished_at", "started_at"):
        try:
            return datetime.fromisoformat(str(provenance.get(name))).timestamp()
        except ValueError:
            continue
    return None


def _to_wandb(
    records: Sequence[Mapping[str, Any]], suite_name: str, out: Path, project: str, online: bool
) -> list[Path]:
    try:
        import wandb
    except ImportError as exc:
        raise _missing("wandb", exc) from exc
    # The run describes the record, not this export: no git state, code, requirements or system metrics of
    # the exporting machine (the record's own are in its provenance), and no capture of bench's console.
    settings = wandb.Settings(
        silent=True, console="off", disable_git=True, save_code=False, x_save_requirements=False,
        x_disable_stats=True, x_disable_meta=True, x_disable_machine_info=True,
    )
    with reporting_os_errors("write W&B runs to", out, "choose a writable --out folder"):
        out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):  # W&B would quietly write to a temporary folder instead
        raise StorageError(f"cannot write W&B runs to {out}: permission denied; choose a writable --out folder")
    folders = []
    for record in records:
        identity = record["identity"]
        variant = record.get("variant", "full")
        name = run_name(record)
        try:
            run = wandb.init(
                mode=None if online else "offline", dir=str(out), project=project, name=name, id=record["key"],
                config=run_config(record), group=suite_name, job_type="bench-export",
                tags=[suite_name, f"{suite_name}@{identity['suite_version']}",
                      "full" if variant == "full" else "reduced"],
                reinit="create_new", settings=settings,
            )
            try:
                run.summary.update(run_summary(record))
            finally:
                run.finish()
        except wandb.errors.Error as exc:
            if online:
                raise UsageError(f"W&B refused run {name!r} ({record['key']}): {exc}; check `wandb login` and "
                                 f"your W&B settings, or export offline (without --online)") from exc
            raise StorageError(f"W&B could not write offline run {name!r} ({record['key']}) under {out}: {exc}; "
                               f"choose a writable --out folder") from exc
        folders.append(Path(run.dir).parent)
    wandb.teardown()  # W&B writes through a service process: wait until every run file is complete on disk
    return folders
