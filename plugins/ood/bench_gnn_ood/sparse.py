"""The product of a constant sparse matrix and a dense one, differentiable in the dense side, shared by the GATS
backbones (:class:`bench_gnn_ood.gats_models.SparsePair`) and GNNSafe's GCN
(:class:`bench_gnn_ood.ood_models.SparseOperand`).

torch's backward of ``sparse @ dense`` rebuilds the sparse matrix's transpose on every call; :func:`sparse_matmul`
takes the transpose, built once by the caller, and uses it in the backward instead.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["sparse_matmul"]


class _SparseMatmul(torch.autograd.Function):
    """``mat @ dense`` for a constant sparse ``mat`` whose transpose ``mat_t`` is precomputed (gradient for
    ``dense`` only)."""

    @staticmethod
    def forward(ctx: Any, mat: Tensor, mat_t: Tensor, dense: Tensor) -> Tensor:
        ctx.mat_t = mat_t
        return mat @ dense

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor]:
        return None, None, ctx.mat_t @ grad


def sparse_matmul(mat: Tensor, mat_t: Tensor, dense: Tensor) -> Tensor:
    """``mat @ dense`` for a constant sparse ``mat`` with ``mat_t == mat.T``: differentiable in ``dense``, whose
    gradient is ``mat_t @ grad``."""
    out: Tensor = _SparseMatmul.apply(mat, mat_t, dense)
    return out
