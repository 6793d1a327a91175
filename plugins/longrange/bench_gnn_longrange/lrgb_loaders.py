"""The LRGB and City-Networks loaders: Peptides-func from its raw files, the others through PyG.

Imported by :mod:`bench_gnn_longrange.lrgb` (names, cards, specs) when a dataset is loaded; what each
loader does, and what remains to be done, is described there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch_geometric.data import Data

from bench_gnn import DataError, GraphTaskData, UsageError, atomic_write, file_digest
from bench_gnn_longrange.ogb_import import import_ogb
from bench_gnn_longrange.packed_graphs import (
    PackedGraphDataset,
    PackedGraphs,
    random_walk_se_packed,
    standardize_features,
)

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")

PEPTIDES_DIR = "lrgb/peptides-functional"
PEPTIDES_CSV = f"{PEPTIDES_DIR}/raw/peptide_multi_class_dataset.csv.gz"
PEPTIDES_SPLIT = f"{PEPTIDES_DIR}/splits_random_stratified_peptide.pickle"
# Hard-coded in GraphGPS / lrgb PeptidesFunctionalDataset; checked on top of the card's sha256.
PEPTIDES_MD5 = {PEPTIDES_CSV: "701eb743e899f4d793f0e13c8fa5a1b4", PEPTIDES_SPLIT: "5a0114bdadc80b94fc7ae974f13ef061"}
PACKED_FORMAT = 3
RWSE_STEPS = 20  # GraphGPS / Tönshoff et al.: RWSE over random walks of length 1..20
PROCESS_WORKERS = 8  # SMILES parsing is CPU-bound and independent per graph


# ---------------------------------------------------------------------------------------------
# Peptides-func (from the raw files)
# ---------------------------------------------------------------------------------------------


def load_peptides_func(ctx) -> GraphTaskData:
    csv_path, split_path = ctx.raw_file(PEPTIDES_CSV), ctx.raw_file(PEPTIDES_SPLIT)
    csv_md5 = _check_md5(ctx.dataset, csv_path, PEPTIDES_CSV)
    split_md5 = _check_md5(ctx.dataset, split_path, PEPTIDES_SPLIT)
    cached = ctx.work_dir / f"peptides-func_v{PACKED_FORMAT}_{csv_md5}_{split_md5}.pt"
    stored = _read_packed(cached)
    if stored is None:
        stored = _process_peptides(ctx.dataset, csv_path, split_path)
        stored["rwse"] = random_walk_se_packed(_packed(stored), RWSE_STEPS)
        _write_packed(stored, cached)
    packed = replace(_packed(stored), node_extras={"rwse": stored["rwse"]})
    splits = {s: stored[f"split_{s}"] for s in SPLITS}
    return GraphTaskData(PackedGraphDataset(packed, "peptides-func"), splits, out_dim=10, target="multilabel")


def _packed(stored: dict) -> PackedGraphs:
    return PackedGraphs(
        x=stored["x"],
        edge_index=stored["edge_index"],
        edge_attr=stored["edge_attr"],
        y=stored["y"],
        node_ptr=stored["node_ptr"],
        edge_ptr=stored["edge_ptr"],
    )


def _check_md5(dataset: str, local: Path, path: str) -> str:
    actual, expected = file_digest(local, "md5"), PEPTIDES_MD5[path]
    if actual != expected:
        raise DataError(
            f"dataset {dataset!r}: MD5 mismatch for {path} ({local}): expected {expected}, got {actual}. "
            "The file is corrupted or a different version; replace it with the original LRGB file."
        )
    return actual


def _process_peptides(dataset: str, csv_path: Path, split_path: Path) -> dict:
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(csv_path)
    graphs = _smiles_to_graphs(list(frame["smiles"]), desc=f"{dataset}: SMILES -> graphs")
    labels = torch.tensor([json.loads(text) for text in frame["labels"]], dtype=torch.float32)
    with open(split_path, "rb") as fh:
        raw_splits = pickle.load(fh)  # MD5-verified above: the reference split file
    splits = {}
    for name in SPLITS:
        idx = torch.as_tensor(raw_splits[name], dtype=torch.long)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= len(graphs)):
            raise DataError(f"dataset {dataset!r}: split {name!r} in {split_path} indexes beyond {len(graphs)} graphs")
        splits[f"split_{name}"] = idx
    stored = {
        "format": PACKED_FORMAT,
        "x": torch.from_numpy(_concat([g["node_feat"] for g in graphs], axis=0)),
        "edge_index": torch.from_numpy(_concat([g["edge_index"] for g in graphs], axis=1)),
        "edge_attr": torch.from_numpy(_concat([g["edge_feat"] for g in graphs], axis=0)),
        "y": labels,
        "node_ptr": _pointers([g["num_nodes"] for g in graphs]),
        "edge_ptr": _pointers([g["edge_index"].shape[1] for g in graphs]),
        **splits,
    }
    log.info("%s: processed %d graphs in %.1f s", dataset, len(graphs), time.perf_counter() - start)
    return stored


def _smiles_to_graphs(smiles: list[str], desc: str) -> list[dict]:
    """``ogb.utils.smiles2graph`` of every string, in order, with a progress bar.

    Uses a fork pool of up to PROCESS_WORKERS processes where the platform has fork (each
    graph is independent); serial otherwise.
    """
    import multiprocessing

    from rdkit import RDLogger
    from tqdm import tqdm

    smiles2graph = _import_smiles2graph()
    workers = min(PROCESS_WORKERS, os.cpu_count() or 1)
    bar = dict(total=len(smiles), desc=desc, unit="graph", mininterval=1.0, disable=None)
    # silences e.g. "not removing hydrogen atom without neighbors", harmless
    RDLogger.DisableLog("rdApp.warning")  # type: ignore[attr-defined]  # missing from rdkit stubs
    try:
        if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return [smiles2graph(s) for s in tqdm(smiles, **bar)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return list(tqdm(pool.imap(smiles2graph, smiles, chunksize=128), **bar))
    finally:
        RDLogger.EnableLog("rdApp.warning")  # type: ignore[attr-defined]  # missing from rdkit stubs


def _import_smiles2graph():
    return import_ogb("ogb.utils").smiles2graph


def _concat(arrays, axis):
    import numpy as np

    return np.concatenate(arrays, axis=axis)


def _pointers(counts) -> torch.Tensor:
    ptr = torch.zeros(len(counts) + 1, dtype=torch.long)
    torch.cumsum(torch.tensor(counts, dtype=torch.long), 0, out=ptr[1:])
    return ptr


def _read_packed(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        # mmap: the tensors are paged in from the file on first use, so a reload costs milliseconds
        stored = torch.load(path, weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file (torch.load raises many types): rebuild it
        log.warning("ignoring unreadable processed file %s (%s); processing again", path, exc)
        return None
    return stored if isinstance(stored, dict) and stored.get("format") == PACKED_FORMAT else None


def _write_packed(stored: dict, path: Path) -> None:
    with atomic_write(path) as fh:
        torch.save(stored, fh)


# ---------------------------------------------------------------------------------------------
# Online-only datasets: a verified archive, unpacked for PyG or read directly
# ---------------------------------------------------------------------------------------------

# The archives PyG's LRGBDataset downloads, as listed on the cards (fetched by ctx.raw_file, which
# refuses any file without a sha256 on its card: the split pickles run code when unpickled).
LRGB_ARCHIVES = {
    "peptides-struct": "lrgb/peptidesstruct.zip",
    "pascalvoc-sp": "lrgb/pascalvocsp.zip",
    "coco-sp": "lrgb/cocosp.zip",
    "pcqm-contact": "lrgb/pcqmcontact.zip",
}
# City-Networks archive members (PyG's CityNetwork.process reads the same files).
CITY_TENSORS = {
    "x": "node_features.pt",
    "edge_index": "edge_indices.pt",
    "y": "10-chunk_16-hop_node_labels.pt",
    "train_mask": "train_mask.pt",
    "val_mask": "valid_mask.pt",
    "test_mask": "test_mask.pt",
}


def extract_members(archive: Path, folder: Path, names: list[str]) -> dict[str, Path]:
    """Write the regular files of a zip or tar ``archive`` whose base names are ``names`` into ``folder``.

    Only base names are used, so no member can land outside ``folder``; each file is
    written atomically. A name the archive lacks is a :class:`DataError`.
    """
    import tarfile
    import zipfile

    wanted, found = set(names), {}
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                base = Path(info.filename).name
                if not info.is_dir() and base in wanted and base not in found:
                    with zf.open(info) as src, atomic_write(folder / base) as out:
                        shutil.copyfileobj(src, out)
                    found[base] = folder / base
    else:
        try:
            with tarfile.open(archive) as tf:
                for member in tf:
                    base = Path(member.name).name
                    if member.isfile() and base in wanted and base not in found:
                        extracted = tf.extractfile(member)
                        if extracted is None:
                            continue
                        with extracted, atomic_write(folder / base) as out:
                            shutil.copyfileobj(extracted, out)
                        found[base] = folder / base
        except tarfile.TarError as exc:
            raise DataError(f"{archive} is neither a zip nor a readable tar archive ({exc})") from exc
    missing = sorted(wanted - set(found))
    if missing:
        raise DataError(f"archive {archive} lacks {', '.join(missing)}; is it the right file?")
    return found


@contextlib.contextmanager
def _pyg_read_errors(dataset: str, folder: Path):
    try:
        yield
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"dataset {dataset!r}: PyG could not read {folder}: {exc}") from exc


def _lrgb_splits(ctx, pyg_name: str) -> list:
    """PyG's three split datasets, from the verified archive unpacked where PyG looks for raw files."""
    from torch_geometric.datasets import LRGBDataset

    archive = ctx.raw_file(LRGB_ARCHIVES[pyg_name])
    folder = ctx.work_dir / pyg_name
    extract_members(archive, folder / "raw", _lrgb_raw_names(pyg_name))
    with _pyg_read_errors(ctx.dataset, folder):
        return [LRGBDataset(str(ctx.work_dir), pyg_name, split=s) for s in SPLITS]


def _lrgb_raw_names(pyg_name: str) -> list[str]:
    return [f"{s}.pickle" if pyg_name.endswith("-sp") else f"{s}.pt" for s in SPLITS]


def _pack_splits(parts: list, level: str) -> tuple[PackedGraphs, dict]:
    """Concatenate PyG's per-split InMemoryDatasets into one PackedGraphs and split indices."""
    fields: dict[str, list[torch.Tensor]] = {k: [] for k in ("x", "edge_index", "edge_attr", "y")}
    node_ptrs, edge_ptrs, splits = [torch.zeros(1, dtype=torch.long)], [torch.zeros(1, dtype=torch.long)], {}
    offset = 0
    for name, part in zip(SPLITS, parts, strict=True):
        data = part._data  # the collated storage (the public API would copy graph by graph)
        for key in fields:
            fields[key].append(data[key])
        if part.slices is None:  # PyG stores a one-graph dataset without slices
            node_ptr, edge_ptr = torch.tensor([0, data.num_nodes]), torch.tensor([0, data.num_edges])
        else:
            node_ptr, edge_ptr = part.slices["x"], part.slices["edge_index"]
        node_ptrs.append(node_ptr[1:] + node_ptrs[-1][-1])
        edge_ptrs.append(edge_ptr[1:] + edge_ptrs[-1][-1])
        count = node_ptr.numel() - 1
        splits[name] = torch.arange(offset, offset + count)
        offset += count
    packed = PackedGraphs(
        **{k: torch.cat(v) if k != "edge_index" else torch.cat(v, dim=1) for k, v in fields.items()},  # type: ignore[arg-type]
        node_ptr=torch.cat(node_ptrs),
        edge_ptr=torch.cat(edge_ptrs),
        level=level,
    )
    return packed, splits


def load_superpixels(ctx, pyg_name: str, classes: int) -> GraphTaskData:
    """PascalVOC-SP or COCO-SP: node classification over superpixel graphs, features standardised."""
    packed, splits = _pack_splits(_lrgb_splits(ctx, pyg_name), level="node")
    if packed.edge_attr is None:
        raise DataError(f"{pyg_name}: the processed graphs have no edge features; delete the cache folder and rerun")
    packed = replace(packed, x=packed.x.float(), edge_attr=packed.edge_attr.float())
    task = GraphTaskData(PackedGraphDataset(packed, pyg_name), splits, classes, "multiclass", "node")
    return standardize_features(task, inplace=True)


def load_peptides_struct(ctx) -> GraphTaskData:
    packed, splits = _pack_splits(_lrgb_splits(ctx, "peptides-struct"), level="graph")
    packed = replace(packed, y=packed.y.float())
    return GraphTaskData(PackedGraphDataset(packed, "peptides-struct"), splits, 11, "regression", "graph")


def load_pcqm_contact(ctx):
    ctx.raw_file(LRGB_ARCHIVES["pcqm-contact"])
    raise UsageError(
        "dataset 'pcqm-contact' is link prediction over many graphs (candidate edges edge_label_index, "
        "labels edge_label); bench has no edge-level protocol yet. See bench_gnn_longrange/lrgb.py ('What remains')."
    )


def load_city(ctx, city: str) -> Data:
    """A City-Networks graph from its verified archive; tensors are read with ``weights_only=True``."""
    from torch_geometric.utils import to_undirected

    archive = ctx.raw_file(f"city-networks/{city}.tar.gz")
    files = extract_members(archive, ctx.work_dir / city / "raw", list(CITY_TENSORS.values()))
    try:
        tensors = {key: torch.load(files[name], weights_only=True) for key, name in CITY_TENSORS.items()}
    except (OSError, RuntimeError, pickle.UnpicklingError) as exc:
        raise DataError(f"dataset {ctx.dataset!r}: cannot read the tensors of {archive} ({exc})") from exc
    num_nodes = tensors["x"].size(0)
    out = Data(
        x=tensors["x"].float(),
        y=tensors["y"].long().view(-1),
        edge_index=to_undirected(tensors["edge_index"].long(), num_nodes=num_nodes),
    )
    for split in SPLITS:
        mask = tensors[f"{split}_mask"].bool()
        out[f"{split}_mask"] = mask.view(-1, 1) if mask.dim() == 1 else mask
    return out
