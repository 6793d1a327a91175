"""Long-range graph learning: LRGB, City-Networks, the generated probes, their models, metrics, the
mini-batch protocol, the influence analysis and the ``gnn-longrange`` suite.

First-party plugin family, registered through :mod:`bench_gnn_longrange.hooks` (torch-free) exactly as a third
party's package would be; it imports the core only through the facade ``bench_gnn``.
"""

from pathlib import Path

CARDS = Path(__file__).parent / "cards"
SUITES = Path(__file__).parent / "suites"
