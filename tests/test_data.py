"""Data access: verified raw files, clear errors for missing or corrupted data, no prompts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import reference_stats

from bench_gnn.data.cards import load_card
from bench_gnn.data.context import DataContext
from bench_gnn.errors import DataError, ExitCode

MINESWEEPER = "heterophilous/minesweeper/raw/minesweeper.npz"


def _ctx(plugins, name, data_dir, cache, allow_download=False):
    spec = plugins.datasets.get(name).spec
    return DataContext(name, load_card(spec.card, name), data_dir, cache, allow_download)


def test_verified_file_is_copied_into_the_writable_cache(plugins, data_dir, isolated_cache):
    path = _ctx(plugins, "minesweeper", data_dir, isolated_cache).raw_file(MINESWEEPER)
    assert path == isolated_cache / "raw" / MINESWEEPER and path.stat().st_size == 135045


def test_corrupted_file_is_refused_naming_file_and_checksums(plugins, data_dir, tmp_path, isolated_cache):
    copy = tmp_path / "data" / MINESWEEPER
    copy.parent.mkdir(parents=True)
    shutil.copyfile(data_dir / MINESWEEPER, copy)
    raw = bytearray(copy.read_bytes())
    raw[1000] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(DataError) as err:
        _ctx(plugins, "minesweeper", tmp_path / "data", isolated_cache).raw_file(MINESWEEPER)
    message = str(err.value)
    assert str(copy) in message and "e664c8dacf1e8ac4" in message and "got" in message
    copy.write_bytes(bytes(raw[:5000]))
    with pytest.raises(DataError, match="5000 bytes, the card expects 135045"):
        _ctx(plugins, "minesweeper", tmp_path / "data", isolated_cache).raw_file(MINESWEEPER)


def test_missing_file_offline_names_folder_file_and_url(plugins, tmp_path, isolated_cache):
    with pytest.raises(DataError) as err:
        _ctx(plugins, "minesweeper", tmp_path, isolated_cache).raw_file(MINESWEEPER)
    message = str(err.value)
    assert str(tmp_path / MINESWEEPER) in message
    assert "github.com/yandex-research/heterophilous-graphs" in message and "--offline" in message


@pytest.mark.parametrize("name", ["roman-empire", "amazon-ratings", "questions"])
def test_a_download_without_a_checksum_is_refused_online_too(plugins, tmp_path, isolated_cache, name):
    card = load_card(plugins.datasets.get(name).spec.card, name)
    (entry,) = card.files
    assert entry.sha256 is None  # never recorded: the files were not reachable from here
    with pytest.raises(DataError, match="has no sha256 on the dataset card"):
        _ctx(plugins, name, tmp_path, isolated_cache, allow_download=True).raw_file(entry.path)
    assert not (isolated_cache / "raw").exists()


def test_offline_run_reports_unavailable_datasets_and_runs_the_rest(bench_main, data_dir, tmp_path):
    code, out, err = bench_main(
        "run", "--suite", "heterophily", "--model", "ResNet", "--dataset", "roman-empire", "--dataset",
        "chameleon-filtered", "--splits", "1", "--steps", "3", "hparams.hidden=8", "grid.num_layers=[1]",
        "--offline", "--no-progress", "--data-dir", str(data_dir), "--results", str(tmp_path),
    )
    assert code == 0, err
    lines = err.splitlines()
    assert lines[1].startswith("unavailable: dataset 'roman-empire': raw file")  # said before the first job
    assert lines[-2].startswith("done: 1 ok, 0 failed") and "1 not run" in lines[-2]
    assert lines[-1].startswith("unavailable: roman-empire: dataset 'roman-empire': raw file")  # and at the end


def test_data_stats_reproduces_published_tolokers_homophily(bench_main, data_dir):
    code, out, _ = bench_main("data", "stats", "tolokers", "--data-dir", str(data_dir))
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:] if line.strip()}
    with np.load(data_dir / "heterophilous" / "tolokers" / "raw" / "tolokers.npz") as raw:
        reference = reference_stats.platonov_measures(raw["edges"], raw["node_labels"])
        nodes, edges = len(raw["node_labels"]), len(raw["edges"])
    shown = [rows[k][0] for k in ("edge_homophily", "adjusted_homophily", "label_informativeness")]
    assert shown == [f"{v:.3f}" for v in reference] == ["0.595", "0.093", "0.007"]  # the published values
    assert (rows["nodes"][0], rows["edges"][0]) == (str(nodes), str(edges)) == ("11758", "519000")


def test_data_stats_shows_duplicates_that_filtering_removed(bench_main, data_dir):
    def duplicates(name):
        code, out, _ = bench_main("data", "stats", name, "--data-dir", str(data_dir))
        assert code == 0
        rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:] if line.strip()}
        return int(rows["neighbour_duplicate_nodes"]), int(rows["full_duplicate_nodes"])

    def reference(name):
        with np.load(data_dir / "heterophilous" / name / "raw" / f"{name}.npz") as raw:
            counts = reference_stats.duplicate_counts(raw["node_features"], raw["edges"])
        return counts[2], counts[4]  # neighbour-set nodes, full-duplicate nodes

    assert duplicates("chameleon") == reference("chameleon") == (1300, 185)  # README: 1,300 of 2,277
    assert duplicates("chameleon-filtered") == reference("chameleon_filtered") == (46, 15)  # README: 46 of 890
    assert duplicates("squirrel") == reference("squirrel") and duplicates("squirrel")[0] == 2581
    assert duplicates("squirrel-filtered") == reference("squirrel_filtered") == (19, 0)


def test_data_verify(bench_main, data_dir, tmp_path):
    code, out, _ = bench_main("data", "verify", "tolokers", "--data-dir", str(data_dir))
    assert code == 0 and " ok " in out
    code, out, _ = bench_main("data", "verify", "tolokers", "--data-dir", str(tmp_path))
    assert code == 5 and "MISSING" in out


@pytest.mark.parametrize("name", ["pascalvoc-sp", "coco-sp", "peptides-struct", "pcqm-contact", "city-paris"])
def test_verify_never_calls_a_downloaded_dataset_generated(bench_main, name):
    code, out, _ = bench_main("data", "verify", name)
    assert code == ExitCode.DATA_ERROR
    assert "NO CHECKSUM" in out and "https://" in out and "refuses to load it" in out
    assert "generated" not in out


def test_a_corrupted_cached_copy_is_replaced_by_the_verified_original(plugins, data_dir, isolated_cache):
    cached = isolated_cache / "raw" / MINESWEEPER
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    path = _ctx(plugins, "minesweeper", data_dir, isolated_cache).raw_file(MINESWEEPER)
    assert path == cached and path.read_bytes() == (data_dir / MINESWEEPER).read_bytes()


def test_missing_files_name_each_file_and_what_to_do(tmp_path):
    from bench_gnn.data.cards import Card, CardFile

    files = (CardFile("a/listed.npz", "0" * 64, 10, None), CardFile("a/unhashed.npz", None, None, "https://x/u"),
             CardFile("a/online.npz", "1" * 64, 10, "https://x/o"))
    card = Card("toy", "test", "MIT", "test", files=files)
    unset = DataContext("toy", card, None, tmp_path / "cache", allow_download=False)
    assert unset.missing_files() == {
        "a/listed.npz": "dataset 'toy': raw file 'a/listed.npz' is missing: no data dir is set (use --data-dir or "
                        "BENCH_DATA_DIR). Place the file at <data dir>/a/listed.npz.",
        "a/unhashed.npz": "dataset 'toy': raw file 'a/unhashed.npz' (downloaded from https://x/u) has no sha256 on "
                          "the dataset card, so bench cannot verify it and does not load it (loaders unpickle such "
                          "files, which can run code). The dataset stays unavailable until a maintainer records the "
                          "sha256 and size of a trusted copy in its card.",
        "a/online.npz": "dataset 'toy': raw file 'a/online.npz' is missing: no data dir is set (use --data-dir or "
                        "BENCH_DATA_DIR). With network access it is downloaded from https://x/o (downloads are "
                        "disabled: drop --offline); or place the file at <data dir>/a/online.npz.",
    }
    online = DataContext("toy", card, tmp_path, tmp_path / "cache", allow_download=True)
    assert set(online.missing_files()) == {"a/listed.npz", "a/unhashed.npz"}
    assert "a/listed.npz' is missing: " + str(tmp_path / "a" / "listed.npz") + " does not exist" in (
        online.missing_files()["a/listed.npz"])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "listed.npz").write_bytes(b"0123456789")
    assert set(online.missing_files()) == {"a/unhashed.npz"}  # present; its checksum is checked when it loads
    with pytest.raises(DataError, match=r"raw file 'a/other.npz' is not listed on the dataset card"):
        online.raw_file("a/other.npz")


def test_an_unreachable_download_names_the_url_and_the_offline_fix(tmp_path):
    from bench_gnn.data.cards import Card, CardFile

    url = "http://127.0.0.1:9/toy.npz"  # the discard port: nothing listens, the connection is refused at once
    card = Card("toy", "test", "MIT", "test", files=(CardFile("toy.npz", "0" * 64, 10, url),))
    with pytest.raises(DataError) as err:
        DataContext("toy", card, None, tmp_path / "cache").raw_file("toy.npz")
    assert f"dataset 'toy': cannot download {url} (" in str(err.value)
    assert "Offline? Place the file at <data dir>/toy.npz and pass --data-dir or set BENCH_DATA_DIR." in str(err.value)
    assert not (tmp_path / "cache" / "raw" / "toy.npz").exists()
