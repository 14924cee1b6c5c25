"""Rounding rules and ONNX-style (de)quantization of float arrays.

Every tie rule named in ARITHMETIC.md section 6 maps to one `Rounding` member:

- HALF_EVEN: ONNX QuantizeLinear, onnxruntime MLAS (RNE), PyTorch nearbyint, np.rint.
- HALF_AWAY: C/C++ std::round, TFLite TfLiteRound / AffineQuantize, TI `round_sym`.
- HALF_UP:   floor(x + 0.5), TI `round_up`, Vitis DPU_ROUND, TFLite single rounding.

The rules are computed exactly (no `x + 0.5` in floating point, which misrounds
0.49999999999999994 and odd integers above 2**52).
"""

from __future__ import annotations

import enum

import numpy as np


class Rounding(enum.Enum):
    """Tie-breaking rule for rounding to the nearest integer."""

    HALF_EVEN = "half_even"  # ties to even (IEEE default, np.rint)
    HALF_AWAY = "half_away"  # ties away from zero (std::round)
    HALF_UP = "half_up"  # ties toward +inf (floor(x + 0.5))


def round_to_int(x: np.ndarray, rule: Rounding) -> np.ndarray:
    """Round `x` to integral values under `rule`.

    Returns a float64 array of integral values (NaN and +-inf pass through), so
    that callers can clip before casting to an integer dtype. float32 inputs are
    widened exactly, so the result equals rounding the float32 values.
    """
    xf = np.asarray(x, dtype=np.float64)
    if rule is Rounding.HALF_EVEN:
        return np.rint(xf)
    if rule is Rounding.HALF_AWAY:
        t = np.trunc(xf)
        frac = np.abs(xf - t)  # exact: x - trunc(x) is representable
        return t + np.where(frac >= 0.5, np.sign(xf), 0.0)
    if rule is Rounding.HALF_UP:
        f = np.floor(xf)
        return f + np.where(xf - f >= 0.5, 1.0, 0.0)  # x - floor(x) is exact
    raise ValueError(f"unknown rounding rule {rule!r}")


def _along(v: np.ndarray | float | int, axis: int | None, ndim: int) -> np.ndarray:
    """Reshape a per-axis 1-D parameter so it broadcasts along `axis` of an ndim array."""
    a = np.asarray(v)
    if axis is None:
        if a.size != 1:
            raise ValueError(f"per-tensor parameter must have one element, got shape {a.shape}")
        return a.reshape(())
    if a.ndim > 1:
        raise ValueError(f"per-axis parameter must be 1-D, got shape {a.shape}")
    shape = [1] * ndim
    shape[axis] = -1
    return a.reshape(shape)


def quantize(
    x: np.ndarray,
    scale: np.ndarray | float,
    zero_point: np.ndarray | int,
    qmin: int,
    qmax: int,
    rule: Rounding,
    *,
    axis: int | None = None,
    reciprocal: bool = False,
) -> np.ndarray:
    """ONNX QuantizeLinear: `clip(round(x / scale) + zero_point, qmin, qmax)` as int64.

    The division happens in the float dtype of `x` (`scale` is cast to it, as ONNX
    gives both one type; float32 as in onnxruntime MLAS, which clamps then converts
    with RNE; clamping to integer bounds commutes with rounding). Integer `x` is
    treated as float64. With `axis`, `scale`
    and `zero_point` are 1-D of length `x.shape[axis]`.
    `reciprocal=True` emulates PyTorch fake-quant instead: `inv = float32(1 / scale)`,
    then `round(float32(x) * inv) + zero_point`. NaN inputs are not supported.
    """
    xa = np.asarray(x)
    if axis is not None:
        axis = axis % max(xa.ndim, 1)
    s = _along(scale, axis, xa.ndim)
    zp = _along(zero_point, axis, xa.ndim).astype(np.int64)
    if reciprocal:
        inv = np.float32(1.0) / s.astype(np.float32)
        scaled = xa.astype(np.float32) * inv
    else:
        if not np.issubdtype(xa.dtype, np.floating):
            xa = xa.astype(np.float64)
        scaled = xa / s.astype(xa.dtype)
    r = round_to_int(scaled, rule)
    r = np.clip(r, float(qmin) - zp, float(qmax) - zp)  # saturate before the cast
    return r.astype(np.int64) + zp


def dequantize(
    q: np.ndarray,
    scale: np.ndarray | float,
    zero_point: np.ndarray | int,
    axis: int | None = None,
) -> np.ndarray:
    """ONNX DequantizeLinear: `(q - zero_point) * scale`, computed and returned in float32."""
    qa = np.asarray(q)
    if axis is not None:
        axis = axis % max(qa.ndim, 1)
    s = _along(scale, axis, qa.ndim).astype(np.float32)
    zp = _along(zero_point, axis, qa.ndim).astype(np.int64)
    return (qa.astype(np.int64) - zp).astype(np.float32) * s
