"""Node classification on fixed splits: the heterophily datasets, models, metrics, protocol and suite.

First-party plugin family, registered through :mod:`bench_gnn_node.hooks` (torch-free) exactly as a third
party's package would be; it imports the core only through the facade ``bench_gnn``.
"""

from pathlib import Path

CARDS = Path(__file__).parent / "cards"
SUITES = Path(__file__).parent / "suites"
