"""Float BatchNormalization (inference form) and LayerNormalization."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from quant.kernels.registry import KernelContext, donated_out, kernel

_BLOCK_BYTES = 256 * 1024
_WIDE_PLANE = 4096  # pixels


@kernel("BatchNormalization")
def batch_norm(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    """y = x * a + b per channel, with a = scale / sqrt(var + eps) and b = bias - mean * a, computed
    in place when the executor donates x, on blocks of channels so that the add reads the product
    from cache."""
    x, scale, bias, mean, var = inputs[:5]
    eps = float(attrs.get("epsilon", 1e-5))
    a = (scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)).astype(np.float32)
    b = (bias - mean * a).astype(np.float32)
    n, c = x.shape[:2]
    y = donated_out(inputs, ctx, 0, x.shape, np.dtype(np.float32))
    y = np.empty(x.shape, dtype=np.float32) if y is None else y
    src, dst = x.astype(np.float32, copy=False).reshape(n, c, -1), y.reshape(n, c, -1)
    hw = src.shape[2]
    # numpy runs an op with one scalar per row of a 2-D block well only when rows are long; for small
    # planes a and b are repeated over the pixels, so that the op reads a vector instead.
    wide = hw >= _WIDE_PLANE
    step = max(1, _BLOCK_BYTES // (4 * n * hw))
    for lo in range(0, c, step):
        hi = min(lo + step, c)
        ab, bb = (a[lo:hi, None], b[lo:hi, None]) if wide else (np.repeat(a[lo:hi], hw), np.repeat(b[lo:hi], hw))
        block = np.multiply(src[:, lo:hi], ab.reshape(hi - lo, -1), out=dst[:, lo:hi])
        block += bb.reshape(hi - lo, -1)
    return (y,)


@kernel("LayerNormalization")
def layer_norm(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    axis = int(attrs.get("axis", -1)) % x.ndim
    axes = tuple(range(axis, x.ndim))
    xd = x.astype(np.float64)
    mean = xd.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(((xd - mean) ** 2).mean(axis=axes, keepdims=True) + float(attrs.get("epsilon", 1e-5)))
    y = (xd - mean) * inv_std * scale
    if bias is not None:
        y += bias
    return y.astype(np.float32), mean.astype(np.float32), inv_std.astype(np.float32)
