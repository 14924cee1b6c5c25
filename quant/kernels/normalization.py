"""Float BatchNormalization (inference form) and LayerNormalization."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from quant.kernels.registry import KernelContext, kernel

_BLOCK_BYTES = 256 * 1024


@kernel("BatchNormalization")
def batch_norm(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    """y = x * a + b per channel, with a = scale / sqrt(var + eps) and b = bias - mean * a, computed
    on blocks of channel planes so that the add reads the product from cache."""
    x, scale, bias, mean, var = inputs[:5]
    eps = float(attrs.get("epsilon", 1e-5))
    a = (scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)).astype(np.float32)
    b = (bias - mean * a).astype(np.float32)
    n, c = x.shape[:2]
    planes = x.astype(np.float32, copy=False).reshape(n * c, -1)
    y = np.empty(planes.shape, dtype=np.float32)
    af, bf = np.tile(a, n)[:, None], np.tile(b, n)[:, None]
    step = max(1, _BLOCK_BYTES // (4 * planes.shape[1]))
    for lo in range(0, n * c, step):
        block = y[lo:lo + step]
        np.multiply(planes[lo:lo + step], af[lo:lo + step], out=block)
        block += bf[lo:lo + step]
    return (y.reshape(x.shape),)


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
