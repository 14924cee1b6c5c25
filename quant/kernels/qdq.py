"""Float-mode QuantizeLinear and DequantizeLinear, so fake-quant (QDQ) graphs run in the float executor.

QuantizeLinear rounds half to even and saturates to the zero point's dtype (uint8 when omitted),
returning that integer dtype; DequantizeLinear returns float32. A 1-D scale of more than one
element is per-axis along ``axis`` (default 1).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from quant.rounding import Rounding, dequantize, quantize
from quant.kernels.registry import KernelContext, kernel


def _axis(scale: np.ndarray, attrs: Mapping[str, Any]) -> int | None:
    return int(attrs.get("axis", 1)) if scale.ndim == 1 and scale.size > 1 else None


@kernel("QuantizeLinear")
def quantize_linear(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, scale = inputs[0], np.asarray(inputs[1])
    zp = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.zeros(scale.shape, np.uint8)
    info = np.iinfo(zp.dtype)
    axis = _axis(scale, attrs)
    q = quantize(x, scale.reshape(-1) if axis is not None else scale, zp.reshape(-1) if axis is not None else zp,
                 info.min, info.max, Rounding.HALF_EVEN, axis=axis)
    return (q.astype(zp.dtype),)


@kernel("DequantizeLinear")
def dequantize_linear(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, scale = inputs[0], np.asarray(inputs[1])
    zp = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.zeros(scale.shape, x.dtype)
    return (dequantize(x, scale, zp, _axis(scale, attrs)).astype(np.float32, copy=False),)
