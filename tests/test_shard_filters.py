"""README "Beyond one machine": the filters apply before sharding, so N workers given the same filters
split exactly the filtered sweep, and a worker runs nothing outside it."""

from __future__ import annotations

import json

from bench_gnn.jobs import expand
from bench_gnn.sweep import load_suite

RUN = ("run", "--suite", "smoke", "--model", "GCN", "--steps", "2", "--threads", "1", "--device", "cpu",
       "--no-progress", "--no-leaderboard", "--no-leftovers")


def test_filtered_shards_split_exactly_the_filtered_jobs(bench_main, plugins, tmp_path):
    suite, published = load_suite(plugins, "smoke", steps=2)
    filtered = expand(suite, plugins, models=["GCN"], published=published)
    assert len(filtered) == 6
    owners = {job.key: int(job.key, 16) % 2 for job in filtered}
    assert set(owners.values()) == {0, 1}  # both shards own a share of these six keys
    ran = {}
    for index in (0, 1):
        results = tmp_path / f"shard{index}"
        code, _, err = bench_main(*RUN, "--shard", f"{index}/2", "--results", str(results))
        assert code == 0, err
        records = [json.loads(p.read_text()) for p in (results / "smoke").glob("*.json")]
        assert {r["identity"]["model"] for r in records} == {"GCN"}
        ran[index] = {r["key"] for r in records}
        assert ran[index] == {key for key, owner in owners.items() if owner == index}
    assert ran[0] | ran[1] == set(owners) and not ran[0] & ran[1]
