"""Long-range benchmarks: LRGB (Dwivedi et al. 2022) and City-Networks (Liang et al. 2025).

Datasets (first-party plugin, registered through ``bench_datasets``)

    ===============  ======  =====================  =======  ===========================
    name             task    level / target         metric   data
    ===============  ======  =====================  =======  ===========================
    peptides-func    graph   graph / multilabel 10  ap       raw files in the data dir
    peptides-struct  graph   graph / regression 11  mae      PyG ``LRGBDataset``, online
    pascalvoc-sp     graph   node / multiclass 21   f1_macro PyG ``LRGBDataset``, online
    coco-sp          graph   node / multiclass 81   f1_macro PyG ``LRGBDataset``, online
    pcqm-contact     graph   link prediction        mrr_...  offline error path only
    city-<name>      node    10 classes             accuracy PyG ``CityNetwork``, online
    ===============  ======  =====================  =======  ===========================

Peptides-func is built from the raw files the reference loaders read (GraphGPS and lrgb
``PeptidesFunctionalDataset``): the csv.gz of SMILES and labels, and the stratified split
pickle. Both are fetched with ``ctx.raw_file`` (sha256 and size from the card) and also
MD5-checked against the values hard-coded in the reference loaders. Graphs come from
``ogb.utils.smiles2graph`` (9 atom and 3 bond features, int64; bonds in both directions).
Processing takes about 26 s of CPU once (spread over a fork pool of up to PROCESS_WORKERS
processes where the platform has fork), plus about 14 s for the random-walk structural
encoding of every graph (``rwse``, 20 steps, the RWSE of Tönshoff et al.'s configurations),
which models then read from the batch instead of computing it per batch. The result is
saved in ``ctx.work_dir`` as a dict of
plain int64/float32 tensors (about 361 MB), named by the MD5s of the raw files, and reloaded
with ``torch.load(weights_only=True, mmap=True)`` in about 10 ms.

Packed graphs (what a GPU-resident batcher reads): ``dataset.packed`` is a :class:`PackedGraphs`
holding every graph of the dataset in a few tensors, with per-graph pointers; node indices in
``edge_index`` are local to each graph. ``PackedGraphs.gather(idx)`` builds a PyG ``Batch`` of
the graphs ``idx`` with tensor operations only (no per-graph Python work). The same storage is
the dataset's ``_data`` / ``slices``, so ``bench_gnn.graph.batching.ResidentGraphs`` reuses it as is.

The online-only datasets come as the archives PyG's loaders download (URLs on their cards).
bench fetches an archive itself through ``ctx.raw_file``, which verifies it against the card's
sha256 before anything reads it; the LRGB archives are unpacked where ``LRGBDataset`` looks for
raw files (it then unpickles them), the City-Networks tensors are read with
``torch.load(weights_only=True)``. PascalVOC-SP and COCO-SP node and edge features are
standardised with train-split statistics (:func:`standardize_features`), as in Tönshoff et al. 2023.

What remains
    * No checksum of these archives was ever published, and they could not be fetched here (no
      network), so their cards carry ``sha256: null`` and every one of these datasets is refused,
      unavailable, until a maintainer with network access records the sha256 and size of trusted
      copies. Their paths after verification are tested with synthetic archives only.
    * pcqm-contact: after verification it stops with a UsageError: GraphTaskData has no
      link-prediction level (``level="edge"``, candidate edges ``edge_label_index`` /
      ``edge_label`` per graph) and no protocol scores filtered MRR over them yet. Needed: that
      level, packing of the candidate edges, and the protocol.

Modules
    This module (the ``lrgb`` entry point) holds the names, cards and specs and imports no torch.
    The loaders are in :mod:`bench_gnn_longrange.lrgb_loaders`, the packed storage in
    :mod:`bench_gnn_longrange.packed_graphs`; both are imported when a dataset is loaded.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from bench_gnn import DataContext, DatasetSpec, GraphTaskData, SuiteSource
from bench_gnn_longrange import CARDS

CITY_NAMES = ("paris", "shanghai", "la", "london")


# ---------------------------------------------------------------------------------------------
# Loaders: each imports lrgb_loaders (torch, PyG) on first call
# ---------------------------------------------------------------------------------------------


def load_peptides_func(ctx: DataContext) -> GraphTaskData:
    from bench_gnn_longrange import lrgb_loaders

    return lrgb_loaders.load_peptides_func(ctx)


def load_peptides_struct(ctx: DataContext) -> GraphTaskData:
    from bench_gnn_longrange import lrgb_loaders

    return lrgb_loaders.load_peptides_struct(ctx)


def load_superpixels(ctx: DataContext, pyg_name: str, classes: int) -> GraphTaskData:
    from bench_gnn_longrange import lrgb_loaders

    return lrgb_loaders.load_superpixels(ctx, pyg_name, classes)


def load_pcqm_contact(ctx: DataContext) -> Any:
    from bench_gnn_longrange import lrgb_loaders

    return lrgb_loaders.load_pcqm_contact(ctx)


def load_city(ctx: DataContext, city: str) -> Any:
    from bench_gnn_longrange import lrgb_loaders

    return lrgb_loaders.load_city(ctx, city)


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


def dataset_specs():
    return [
        DatasetSpec(
            name="peptides-func",
            task="graph",
            load=load_peptides_func,
            card=CARDS / "peptides-func.yaml",
            metric="ap",
            description="LRGB Peptides-func: 15,535 peptide graphs (ogb smiles2graph), 10-label AP, stratified split",
        ),
        DatasetSpec(
            name="peptides-struct",
            task="graph",
            load=load_peptides_struct,
            card=CARDS / "peptides-struct.yaml",
            metric="mae",
            description="LRGB Peptides-struct: 11-target graph regression (MAE); PyG downloads it when online",
        ),
        DatasetSpec(
            name="pascalvoc-sp",
            task="graph",
            load=partial(load_superpixels, pyg_name="pascalvoc-sp", classes=21),
            card=CARDS / "pascalvoc-sp.yaml",
            metric="f1_macro",
            description="LRGB PascalVOC-SP: superpixel node classification, 21 classes; features standardised "
            "with train-split statistics; PyG downloads it when online",
        ),
        DatasetSpec(
            name="coco-sp",
            task="graph",
            load=partial(load_superpixels, pyg_name="coco-sp", classes=81),
            card=CARDS / "coco-sp.yaml",
            metric="f1_macro",
            description="LRGB COCO-SP: superpixel node classification, 81 classes; features standardised "
            "with train-split statistics; PyG downloads it when online",
        ),
        DatasetSpec(
            name="pcqm-contact",
            task="graph",
            load=load_pcqm_contact,
            card=CARDS / "pcqm-contact.yaml",
            metric="mrr_filtered",
            description="LRGB PCQM-Contact: contact link prediction (MRR); not runnable yet (no edge-level protocol)",
        ),
        *(
            DatasetSpec(
                name=f"city-{city}",
                task="node",
                load=partial(load_city, city=city),
                card=CARDS / f"city-{city}.yaml",
                metric="accuracy",
                description=f"City-Networks {city}: road junctions, 10 eccentricity classes; "
                "PyG downloads it when online",
            )
            for city in CITY_NAMES
        ),
    ]


def suite_sources():
    return [SuiteSource(path=Path(__file__).parent / "suites" / "gnn-longrange.yaml")]
