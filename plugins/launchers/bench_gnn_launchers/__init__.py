"""The built-in launchers of ``bench launch``: ``local``, ``submitit``, ``hydra`` and ``ray``.

First-party plugin family, registered through :mod:`bench_gnn_launchers.hooks` (torch-free).
"""
