"""The embedded default: generated CSBM graphs and the ``smoke`` suite (no files, no network).

First-party plugin family, registered through :mod:`bench_gnn_smoke.hooks` (torch-free).
"""
