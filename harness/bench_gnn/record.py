"""The result record: one JSON file per job, in four parts, validated against a shipped JSON Schema.

``<results>/<suite>/<key>.json`` holds (schema 2, ``bench_gnn/schemas/record-2.schema.json``):

- ``identity``: everything that determines the numbers (suite and version, protocol and its
  arguments, dataset and its file checksums, model and hyper-parameters, the plugins providing
  them, metric, split, seed). ``key`` is :func:`content_hash` of it, so the key can be
  recomputed from the record alone.
- ``provenance``: what produced it: bench version, git commit and dirty flag (from a checkout),
  Python and library versions, plugin distributions, device, host, command line, times.
- ``scheduling``: worker, shard, launcher, host and pid; never part of the identity.
- ``results``: status, metrics per split of the data, best step, cost (parameters, seconds per
  step, peak memory), extras (such as influence), the error of a failed job, and the metric's
  direction and reporting scale.

``variant`` says whether the identity is one the installed suite of that name and version
produces ("full") or how it departs from it ("reduced: ..."). Records of schema 1 (flat) are read
through :func:`migrate`, one step; anything else is refused with the file named.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Any

SCHEMA = 2
SCHEMA_FILE = f"record-{SCHEMA}.schema.json"
KEY_LENGTH = 20
_V1_RESULTS = (
    "status", "metrics", "best_step", "steps", "num_params", "wall_seconds", "train_seconds", "seconds_per_step",
    "peak_memory_bytes", "peak_memory_kind", "extras", "error", "higher_is_better", "metric_scale",
)


def content_hash(value: Any, length: int = KEY_LENGTH) -> str:
    """SHA-256 of the canonical JSON of ``value`` (sorted keys, no spaces), first ``length`` hex digits."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def config_id(identity: dict[str, Any]) -> str:
    """Which grid point of which model: records of one configuration share it across splits and seeds."""
    return config_id_of(identity["model"], identity["hparams"])


def config_id_of(model: str, hparams: dict[str, Any]) -> str:
    """The id of one grid configuration of a model: the jobs of its splits or seeds share it."""
    return content_hash({"model": model, "hparams": hparams}, 12)


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of the current record format, as shipped in the package."""
    text = resources.files("bench_gnn").joinpath("schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def new(
    identity: dict[str, Any],
    results: dict[str, Any],
    variant: str = "full",
    provenance: dict[str, Any] | None = None,
    scheduling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record in the current schema, keyed by the hash of ``identity`` (provenance defaults to 'unknown')."""
    return {
        "schema": SCHEMA, "key": content_hash(identity), "variant": variant, "identity": identity,
        "provenance": provenance or {"bench": "unknown", "git": None, "versions": {}, "plugins": {},
                                     "device": "unknown", "host": "unknown", "started_at": ""},
        "scheduling": scheduling, "results": results,
    }


class RecordFormatError(ValueError):
    """A record in a schema this version of bench cannot read."""


def migrate(record: Any) -> dict[str, Any]:
    """The record in the current schema; schema 1 records are converted, others returned as they are."""
    if not isinstance(record, dict):
        raise RecordFormatError(f"a record is a JSON object, not {type(record).__name__}")
    version = record.get("schema")
    if version == SCHEMA:
        return record
    if version != 1:
        raise RecordFormatError(f"unknown record schema {version!r}; this bench reads schemas 1 and {SCHEMA}")
    return _from_v1(record)


def _from_v1(old: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 kept every field at the top level and did not store the dataset's plugin: it is taken to be the
    model's (true of every schema-1 record bench ever wrote; a wrong guess shows as a key mismatch)."""
    plugin: dict[str, Any] = old["model_plugin"] if isinstance(old.get("model_plugin"), dict) else {}
    owner = [plugin.get("distribution"), plugin.get("version")]
    identity = {
        "suite": old.get("suite"), "suite_version": old.get("suite_version"), "protocol": old.get("protocol"),
        "protocol_args": old.get("protocol_args"), "max_params": old.get("max_params"), "dataset": old.get("dataset"),
        "dataset_files": old.get("dataset_files", {}), "dataset_plugin": owner, "model": old.get("model"),
        "model_plugin": owner, "hparams": old.get("hparams"), "grid_keys": old.get("grid_keys", []),
        "metric": old.get("metric"), "split": old.get("split"), "seed": old.get("seed"),
    }
    versions = dict(old.get("versions") or {})
    plugins = versions.pop("plugins", {})
    bench = str(versions.pop("bench", versions.get("bench-gnn", "unknown")))
    commit = old.get("git_commit")
    git = None if not commit else {"commit": str(commit).removesuffix("-dirty"),
                                   "dirty": str(commit).endswith("-dirty")}
    provenance = {
        "bench": bench, "git": git, "versions": {k: str(v) for k, v in versions.items()}, "plugins": plugins,
        "model_entry_point": plugin.get("entry_point"), "device": str(old.get("device", "unknown")),
        "host": str(old.get("host", "unknown")), "command": None, "started_at": str(old.get("started_at", "")),
        "finished_at": None,
    }
    results = {k: old[k] for k in _V1_RESULTS if k in old}
    return {"schema": SCHEMA, "key": old.get("key"), "variant": old.get("variant", "full"), "identity": identity,
            "provenance": provenance, "scheduling": old.get("scheduling"), "results": results}


def problem(record: Any) -> str | None:
    """Why a (migrated) record cannot be used, naming the field; None when it is valid.

    The schema first (types, required fields, an ``ok`` record's numeric ``val`` and ``test``),
    then what a schema cannot say: every grid key is a hyper-parameter.
    """
    errors = sorted(_validator().iter_errors(record), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "the record"
        return f"{where}: {_short(error.message)}"
    identity = record["identity"]
    missing = [k for k in identity["grid_keys"] if k not in identity["hparams"]]
    if missing:
        return f"identity.grid_keys: {missing} are not in identity.hparams"
    return None


def key_problem(record: dict[str, Any]) -> str | None:
    """A key that is not the hash of the record's identity (an edited or forged record)."""
    expected = content_hash(record["identity"])
    if record["key"] != expected:
        return f"key {record['key']} is not the hash of the record's identity ({expected}): the identity was edited"
    return None


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
