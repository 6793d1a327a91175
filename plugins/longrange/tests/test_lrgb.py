"""Tests for bench_gnn_longrange/lrgb.py: Peptides-func from the real raw files, and the online-only datasets.

The real files come from BENCH_DATA_DIR (the ``data_dir`` fixture fails when it is unset).
Peptides-func is processed once per session into a temporary cache (about 26 s of CPU).
"""

from __future__ import annotations

import hashlib
import pickle
import re
import shutil
import time
from pathlib import Path

import pytest
import torch
from bench_gnn_longrange import lrgb, lrgb_loaders, packed_graphs
from torch_geometric.data import Batch, Data, InMemoryDataset
from torch_geometric.loader import DataLoader

from bench_gnn import DataContext, DataError, GraphTaskData, UsageError, random_walk_se
from bench_gnn.data.cards import load_card

CSV = "lrgb/peptides-functional/raw/peptide_multi_class_dataset.csv.gz"
SPLIT = "lrgb/peptides-functional/splits_random_stratified_peptide.pickle"
SPECS = {spec.name: spec for spec in lrgb.dataset_specs()}
ONLINE_ONLY = ["peptides-struct", "pascalvoc-sp", "coco-sp", "pcqm-contact", *(f"city-{c}" for c in lrgb.CITY_NAMES)]


def context(name: str, data_dir: Path | None, cache_dir: Path, card: bool = True, **kw) -> DataContext:
    spec = SPECS[name]
    return DataContext(name, load_card(spec.card, name) if card else None, data_dir, cache_dir, **kw)


@pytest.fixture(scope="session")
def peptides(data_dir, peptides_cache):
    """(task data, load seconds, cache dir) of Peptides-func from the session's shared cache."""
    start = time.perf_counter()
    task = SPECS["peptides-func"].load(context("peptides-func", data_dir, peptides_cache))
    return task, time.perf_counter() - start, peptides_cache


# ------------------------------------------------------------------------------------- registration


def test_specs_and_cards():
    assert set(SPECS) == {"peptides-func", *ONLINE_ONLY}
    metrics = {name: spec.metric for name, spec in SPECS.items()}
    assert metrics["peptides-func"] == "ap" and metrics["peptides-struct"] == "mae"
    assert metrics["pascalvoc-sp"] == metrics["coco-sp"] == "f1_macro"
    assert metrics["pcqm-contact"] == "mrr_filtered"
    assert SPECS["city-paris"].task == "node" and SPECS["peptides-func"].task == "graph"
    assert "train-split statistics" in SPECS["pascalvoc-sp"].description
    for name, spec in SPECS.items():
        card = load_card(spec.card, name)
        assert card.name == name and card.stats


def test_peptides_card_matches_manifest(data_dir):
    manifest = (data_dir / "MANIFEST.md").read_text()
    card = load_card(SPECS["peptides-func"].card, "peptides-func")
    assert {f.path for f in card.files} == {CSV, SPLIT}
    for entry in card.files:
        row = re.search(rf"^\| `{re.escape(entry.path)}` \| (\d+) \| `([0-9a-f]{{64}})` \|", manifest, re.M)
        assert row, f"{entry.path} not in MANIFEST.md"
        assert (int(row[1]), row[2]) == (entry.bytes, entry.sha256)


# ------------------------------------------------------------------------------------ peptides-func


def test_peptides_func_contents(peptides):
    task, _, _ = peptides
    assert isinstance(task, GraphTaskData)
    assert (task.out_dim, task.target, task.level) == (10, "multilabel", "graph")
    dataset, packed = task.dataset, task.dataset.packed
    assert len(dataset) == packed.num_graphs == 15535
    assert {k: v.numel() for k, v in task.splits.items()} == {"train": 10873, "val": 2331, "test": 2331}
    assert all(v.dtype == torch.long for v in task.splits.values())
    assert torch.equal(torch.cat(list(task.splits.values())).sort().values, torch.arange(15535))

    # LRGB README: 2,344,859 nodes and 4,773,974 directed edges, i.e. 150.94 / 307.30 per graph
    assert packed.x.shape == (2344859, 9) and packed.x.dtype == torch.long
    assert packed.edge_attr.shape == (4773974, 3) and packed.edge_attr.dtype == torch.long
    assert packed.edge_index.shape == (2, 4773974) and packed.edge_index.dtype == torch.long
    assert packed.x.size(0) / 15535 == pytest.approx(150.94, abs=0.01)
    assert packed.edge_index.size(1) / 15535 == pytest.approx(307.30, abs=0.01)
    assert packed.y.shape == (15535, 10) and packed.y.dtype == torch.float32
    assert set(packed.y.unique().tolist()) == {0.0, 1.0}
    assert packed.node_ptr[-1] == packed.x.size(0) and packed.edge_ptr[-1] == packed.edge_index.size(1)

    graph = dataset[0]
    assert isinstance(graph, Data) and graph.y.shape == (1, 10)
    assert graph.x.size(1) == 9 and graph.edge_attr.size(1) == 3
    assert int(graph.edge_index.max()) < graph.num_nodes  # local node indices


def test_peptides_func_reloads_from_the_cache_without_processing(peptides, data_dir, monkeypatch):
    task, _, cache = peptides

    def no_processing(*args):
        raise AssertionError("a reload must not process the raw files again")

    monkeypatch.setattr(lrgb_loaders, "_process_peptides", no_processing)
    start = time.perf_counter()
    again = SPECS["peptides-func"].load(context("peptides-func", data_dir, cache))
    print(f"peptides-func reload: {time.perf_counter() - start:.3f} s")
    assert all(torch.equal(again.splits[k], task.splits[k]) for k in lrgb_loaders.SPLITS)
    for i in (0, 7777, 15534):
        assert torch.equal(again.dataset[i].x, task.dataset[i].x)
        assert torch.equal(again.dataset[i].y, task.dataset[i].y)


def test_gather_equals_pyg_batch(peptides):
    dataset = peptides[0].dataset
    idx = torch.tensor([5, 0, 15534, 77, 5])
    batch = dataset.packed.gather(idx)
    ref = Batch.from_data_list([dataset[int(i)] for i in idx])
    for key in ("x", "edge_index", "edge_attr", "y", "batch", "ptr"):
        assert torch.equal(batch[key], ref[key]), key
    assert batch.num_graphs == 5


def test_dataset_works_with_pyg_loader(peptides):
    task = peptides[0]
    val = task.dataset[task.splits["val"]]
    assert len(val) == 2331
    first = next(iter(DataLoader(val, batch_size=8)))
    assert first.num_graphs == 8 and first.y.shape == (8, 10)
    assert torch.equal(first.x, task.dataset.packed.gather(task.splits["val"][:8]).x)


def test_harness_resident_batcher_reuses_the_collated_storage(peptides):
    from bench_gnn.graph.batching import ResidentGraphs

    task = peptides[0]
    val = task.dataset[task.splits["val"]]  # an index view over the same storage
    batch = ResidentGraphs(val).batch([3, 0])
    ref = task.dataset.packed.gather(task.splits["val"][torch.tensor([3, 0])])
    for key in ("x", "edge_index", "edge_attr", "y", "batch", "ptr"):
        assert torch.equal(batch[key], ref[key]), key


def _corrupt_copy(data_dir: Path, target: Path, which: str = CSV) -> Path:
    for path in (CSV, SPLIT):
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / path, target / path)
    corrupted = target / which
    raw = bytearray(corrupted.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(raw))
    return corrupted


def test_corrupted_csv_is_refused_by_sha256(data_dir, tmp_path):
    csv = _corrupt_copy(data_dir, tmp_path / "data")
    expected = load_card(SPECS["peptides-func"].card, "peptides-func").file(CSV).sha256
    actual = hashlib.sha256(csv.read_bytes()).hexdigest()
    with pytest.raises(DataError) as err:
        SPECS["peptides-func"].load(context("peptides-func", tmp_path / "data", tmp_path / "cache"))
    message = str(err.value)
    assert "peptide_multi_class_dataset.csv.gz" in message and expected in message and actual in message


def test_a_corrupted_split_pickle_is_refused_by_sha256_before_it_is_unpickled(data_dir, tmp_path, monkeypatch):
    import pickle

    split = _corrupt_copy(data_dir, tmp_path / "data", SPLIT)
    expected = load_card(SPECS["peptides-func"].card, "peptides-func").file(SPLIT).sha256
    actual = hashlib.sha256(split.read_bytes()).hexdigest()
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("the split file was unpickled"))
    with pytest.raises(DataError) as err:
        SPECS["peptides-func"].load(context("peptides-func", tmp_path / "data", tmp_path / "cache"))
    message = str(err.value)
    assert SPLIT in message and expected in message and actual in message


def test_corrupted_csv_is_refused_by_the_reference_md5_even_when_a_card_vouches_for_it(data_dir, tmp_path):
    csv = _corrupt_copy(data_dir, tmp_path / "data")
    actual = hashlib.md5(csv.read_bytes()).hexdigest()
    card = dict(load_card(SPECS["peptides-func"].card, "peptides-func").raw)
    card["files"] = [{**f, "sha256": hashlib.sha256((tmp_path / "data" / f["path"]).read_bytes()).hexdigest()}
                     for f in card["files"]]
    ctx = DataContext("peptides-func", load_card(card, "peptides-func"), tmp_path / "data", tmp_path / "cache")
    with pytest.raises(DataError) as err:
        SPECS["peptides-func"].load(ctx)
    message = str(err.value)
    assert CSV in message and "701eb743e899f4d793f0e13c8fa5a1b4" in message and actual in message


def test_a_raw_file_missing_from_the_card_is_never_read(data_dir, tmp_path):
    with pytest.raises(DataError, match="not listed on the dataset card"):
        SPECS["peptides-func"].load(context("peptides-func", data_dir, tmp_path / "cache", card=False))
    assert not (tmp_path / "cache" / "raw").exists()


def test_missing_file_names_the_folder(tmp_path):
    with pytest.raises(DataError) as err:
        SPECS["peptides-func"].load(context("peptides-func", tmp_path, tmp_path / "cache", allow_download=False))
    assert str(tmp_path / "lrgb" / "peptides-functional") in str(err.value)


# ------------------------------------------------------------------------------------- online-only


class _Payload:
    """Unpickling this writes a marker file: proof that a loader ran code from data."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "payload ran"))


@pytest.mark.parametrize("name", ONLINE_ONLY)
def test_online_only_datasets_are_refused_without_a_checksum_and_run_no_planted_file(name, tmp_path):
    """The cards list the archives PyG downloads with no sha256: nothing is fetched or read, planted files included."""
    marker = tmp_path / "marker"
    planted = tmp_path / "processed" / name
    for folder in {planted / name / "raw", planted / name.removeprefix("city-") / "raw"}:
        folder.mkdir(parents=True)
        for split in ("train", "val", "test"):
            (folder / f"{split}.pickle").write_bytes(pickle.dumps(_Payload(marker)))
            torch.save({"x": _Payload(marker)}, folder / f"{split}.pt")
    card = load_card(SPECS[name].card, name)
    (entry,) = card.files
    assert entry.sha256 is None and entry.url.startswith("https://")
    start = time.perf_counter()
    with pytest.raises(DataError) as err:
        SPECS[name].load(context(name, None, tmp_path, allow_download=True))
    assert time.perf_counter() - start < 5  # refused before any download
    assert f"raw file {entry.path!r}" in str(err.value) and "no sha256 on the dataset card" in str(err.value)
    assert not marker.exists()
    assert not (tmp_path / "raw").exists()


def _card(name: str, path: str, archive: Path) -> dict:
    return {"name": name, "source": "test", "license": "test", "citation": "test",
            "files": [{"path": path, "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
                       "bytes": archive.stat().st_size}]}


def test_a_verified_archive_is_unpacked_by_base_name_and_a_tampered_one_is_refused(tmp_path):
    import zipfile

    archive = tmp_path / "data" / "lrgb" / "pascalvocsp.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for split in ("train", "val", "test"):
            zf.writestr(f"voc_superpixels_edge_wt_region_boundary/{split}.pickle", f"{split} bytes")
        zf.writestr("../../escape.pickle", "never written")
    card = _card("pascalvoc-sp", "lrgb/pascalvocsp.zip", archive)
    ctx = DataContext("pascalvoc-sp", load_card(card, "pascalvoc-sp"), tmp_path / "data", tmp_path / "cache")
    folder = tmp_path / "out"
    found = lrgb_loaders.extract_members(ctx.raw_file("lrgb/pascalvocsp.zip"), folder, ["train.pickle", "val.pickle",
                                                                                          "test.pickle"])
    assert {p.read_text() for p in found.values()} == {"train bytes", "val bytes", "test bytes"}
    assert sorted(p.name for p in folder.iterdir()) == ["test.pickle", "train.pickle", "val.pickle"]
    assert not (tmp_path / "escape.pickle").exists()
    with pytest.raises(DataError, match="lacks missing.pt"):
        lrgb_loaders.extract_members(archive, tmp_path / "out2", ["missing.pt"])

    archive.write_bytes(archive.read_bytes()[:-1] + b"X")  # same size, one byte changed
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(DataError, match="checksum mismatch"):
        DataContext("pascalvoc-sp", load_card(card, "pascalvoc-sp"), tmp_path / "data", tmp_path / "cache").raw_file(
            "lrgb/pascalvocsp.zip")


def test_a_city_network_loads_from_its_verified_archive(tmp_path):
    import io
    import tarfile

    mask = torch.tensor([True, False, False, True])
    tensors = {
        "node_features.pt": torch.randn(4, 37),
        "edge_indices.pt": torch.tensor([[0, 1, 2], [1, 2, 3]]),  # one direction only
        "10-chunk_16-hop_node_labels.pt": torch.tensor([0, 3, 9, 1]),
        "train_mask.pt": mask,
        "valid_mask.pt": ~mask,
        "test_mask.pt": torch.zeros(4, dtype=torch.bool),
    }
    archive = tmp_path / "data" / "city-networks" / "la.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tf:
        for name, tensor in tensors.items():
            buffer = io.BytesIO()
            torch.save(tensor, buffer)
            info = tarfile.TarInfo(f"la/{name}")
            info.size = buffer.tell()
            buffer.seek(0)
            tf.addfile(info, buffer)
    card = _card("city-la", "city-networks/la.tar.gz", archive)
    ctx = DataContext("city-la", load_card(card, "city-la"), tmp_path / "data", tmp_path / "cache",
                      allow_download=False)
    out = lrgb_loaders.load_city(ctx, "la")
    assert out.edge_index.size(1) == 6  # both directions
    assert out.train_mask.shape == (4, 1) and out.train_mask.dtype == torch.bool
    assert torch.equal(out.y, tensors["10-chunk_16-hop_node_labels.pt"])
    assert torch.equal(out.x, tensors["node_features.pt"])


def test_pcqm_contact_stops_after_verification_until_an_edge_protocol_exists(tmp_path):
    archive = tmp_path / "data" / "lrgb" / "pcqmcontact.zip"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"any verified bytes")
    card = _card("pcqm-contact", "lrgb/pcqmcontact.zip", archive)
    ctx = DataContext("pcqm-contact", load_card(card, "pcqm-contact"), tmp_path / "data", tmp_path / "cache")
    with pytest.raises(UsageError, match="edge-level protocol"):
        SPECS["pcqm-contact"].load(ctx)


# ------------------------------------------------------------------- packing and standardisation


def _pyg_split(graphs: list[Data]) -> InMemoryDataset:
    """An InMemoryDataset collated the way PyG's LRGBDataset stores a split."""
    dataset = InMemoryDataset(log=False)
    dataset._data, dataset.slices = InMemoryDataset.collate(graphs)
    return dataset


def _superpixel_graph(nodes: int, scale: float, seed: int) -> Data:
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(nodes - 1)
    edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)
    return Data(
        x=torch.randn(nodes, 14, generator=g) * scale + scale,
        edge_index=edge_index,
        edge_attr=torch.rand(edge_index.size(1), 2, generator=g) * scale,
        y=torch.randint(0, 21, (nodes,), generator=g),
    )


def test_superpixels_are_packed_and_standardised_with_train_statistics(tmp_path, monkeypatch):
    train = [_superpixel_graph(5, 1.0, 0), _superpixel_graph(7, 1.0, 1)]
    val, test = [_superpixel_graph(4, 100.0, 2)], [_superpixel_graph(3, 100.0, 3)]
    parts = [_pyg_split(train), _pyg_split(val), _pyg_split(test)]
    monkeypatch.setattr(lrgb_loaders, "_lrgb_splits", lambda ctx, name: parts)
    task = SPECS["pascalvoc-sp"].load(context("pascalvoc-sp", None, tmp_path))
    assert (task.out_dim, task.target, task.level) == (21, "multiclass", "node")
    assert {k: v.tolist() for k, v in task.splits.items()} == {"train": [0, 1], "val": [2], "test": [3]}
    packed = task.dataset.packed
    assert packed.x.shape == (19, 14) and packed.y.shape == (19,)

    raw_x = torch.cat([g.x for g in train + val + test])
    mean, std = raw_x[:12].mean(0), raw_x[:12].std(0, unbiased=False)
    assert torch.allclose(packed.x, (raw_x - mean) / std, atol=1e-5)  # val/test use train statistics
    assert torch.allclose(packed.x[:12].mean(0), torch.zeros(14), atol=1e-5)
    train_edges = int(packed.edge_ptr[2])
    assert torch.allclose(packed.edge_attr[:train_edges].std(0, unbiased=False), torch.ones(2), atol=1e-4)
    assert packed.x[12:].abs().mean() > 10  # the val/test graphs stay far from the train distribution

    node_batch = packed.gather(torch.tensor([3, 0]))
    assert torch.equal(node_batch.y, torch.cat([test[0].y, train[0].y]))
    assert torch.equal(task.dataset[2].y, val[0].y)


def test_standardize_features_does_not_modify_its_input_by_default():
    graphs = [_superpixel_graph(6, 3.0, 4), _superpixel_graph(6, 3.0, 5)]
    split = _pyg_split(graphs)
    packed = packed_graphs.PackedGraphs(
        split._data.x,
        split._data.edge_index,
        split._data.edge_attr,
        split._data.y,
        split.slices["x"],
        split.slices["edge_index"],
        level="node",
    )
    dataset = packed_graphs.PackedGraphDataset(packed)
    task = GraphTaskData(dataset, {"train": torch.tensor([0])}, 21, "multiclass", "node")
    before = packed.x.clone()
    out = packed_graphs.standardize_features(task)
    assert torch.equal(packed.x, before)
    assert torch.allclose(out.dataset.packed.x[:6].mean(0), torch.zeros(14), atol=1e-5)


def test_precomputed_rwse_equals_the_per_batch_encoding(peptides):
    task = peptides[0]
    batch = task.dataset.packed.gather(torch.tensor([0, 17, 15534, 4242]))
    assert batch.rwse.shape == (batch.num_nodes, lrgb_loaders.RWSE_STEPS)
    expected = random_walk_se(batch.edge_index, batch.num_nodes, lrgb_loaders.RWSE_STEPS, batch.batch)
    assert torch.allclose(batch.rwse, expected, atol=1e-6)
    single = task.dataset[17]
    assert torch.equal(single.rwse, task.dataset.packed.gather(torch.tensor([17])).rwse)
