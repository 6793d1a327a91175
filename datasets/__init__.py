"""The first-party dataset cards (YAML, one per dataset), shipped as package data of bench_gnn."""
