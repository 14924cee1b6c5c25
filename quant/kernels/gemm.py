"""Float Gemm and MatMul (float32 BLAS)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from quant.kernels.registry import KernelContext, kernel


@kernel("Gemm")
def gemm(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    a, b = inputs[0].astype(np.float32, copy=False), inputs[1].astype(np.float32, copy=False)
    c = inputs[2] if len(inputs) > 2 else None
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0):
        b = b.T
    y = a @ b
    alpha, beta = np.float32(attrs.get("alpha", 1.0)), np.float32(attrs.get("beta", 1.0))
    if alpha != 1:
        y *= alpha
    if c is not None and beta != 0:
        y += c.astype(np.float32) * beta if beta != 1 else c.astype(np.float32, copy=False)
    return (y,)


@kernel("MatMul")
def matmul(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    a, b = inputs
    y = np.matmul(a, b)
    return (y.astype(np.float32, copy=False) if np.issubdtype(y.dtype, np.floating) else y,)
