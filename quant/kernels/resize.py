"""Float Resize: nearest, linear and cubic, with the common coordinate transformations.

Interpolation is separable: one gather-and-blend per resized axis. Coordinates are computed in
float32 as onnxruntime does, so nearest-neighbour ties fall the same way.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from quant.errors import UnsupportedOpError
from quant.kernels.registry import KernelContext, kernel

F32 = np.float32


def _coords(out_len: int, in_len: int, scale: np.float32, mode: str) -> np.ndarray:
    x = np.arange(out_len, dtype=F32)
    if mode == "half_pixel":
        return (x + F32(0.5)) / scale - F32(0.5)
    if mode == "pytorch_half_pixel":
        return (x + F32(0.5)) / scale - F32(0.5) if out_len > 1 else np.zeros(out_len, F32)
    if mode == "align_corners":
        return x * F32(in_len - 1) / F32(out_len - 1) if out_len > 1 else np.zeros(out_len, F32)
    if mode == "asymmetric":
        return x / scale
    if mode == "half_pixel_symmetric":
        adj = F32(out_len) / (scale * F32(in_len))
        return F32(in_len / 2) * (F32(1) - adj) + (x + F32(0.5)) / scale - F32(0.5)
    raise UnsupportedOpError(f"Resize coordinate_transformation_mode '{mode}' is not supported")


def _nearest_index(x: np.ndarray, rule: str, down: bool) -> np.ndarray:
    xd = x.astype(np.float64)
    if rule == "round_prefer_floor":
        idx = np.where(xd - np.floor(xd) == 0.5, np.floor(xd), np.floor(xd + 0.5))
    elif rule == "round_prefer_ceil":
        idx = np.floor(xd + 0.5)
    elif rule == "floor":
        idx = np.floor(xd)
    elif rule == "ceil":
        idx = np.ceil(xd)
    elif rule == "simple":  # Upsample and Resize before opset 11
        idx = np.ceil(xd) if down else np.trunc(xd)
    else:
        raise UnsupportedOpError(f"Resize nearest_mode '{rule}' is not supported")
    return idx.astype(np.int64)


def _cubic_weights(s: np.ndarray, a: float) -> np.ndarray:
    """Weights of the taps at floor-1 .. floor+2 for fractional offsets ``s`` (shape [out, 4])."""
    d = np.stack([s + 1, s, 1 - s, 2 - s], axis=1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, far).astype(F32)


def _resize_axis(x: np.ndarray, axis: int, out_len: int, scale: np.float32, attrs, mode: str, opset: int):
    in_len = x.shape[axis]
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel" if opset >= 11 else "asymmetric")
    c = _coords(out_len, in_len, scale, ctm)
    shape = [1] * x.ndim
    shape[axis] = out_len
    if mode == "nearest":
        rule = attrs.get("nearest_mode", "round_prefer_floor" if opset >= 11 else "simple")
        return np.take(x, np.clip(_nearest_index(c, rule, scale < 1), 0, in_len - 1), axis=axis)
    if mode == "linear":
        c = np.clip(c, 0, in_len - 1)
        lo = np.minimum(np.floor(c).astype(np.int64), in_len - 1)
        w = (c - lo).astype(F32).reshape(shape)
        hi = np.minimum(lo + 1, in_len - 1)
        return np.take(x, lo, axis=axis) * (1 - w) + np.take(x, hi, axis=axis) * w
    if mode == "cubic":
        base = np.floor(c).astype(np.int64)
        w = _cubic_weights((c - base).astype(np.float64), float(attrs.get("cubic_coeff_a", -0.75)))
        idx = base[:, None] + np.arange(-1, 3)
        if attrs.get("exclude_outside", 0):
            w = w * ((idx >= 0) & (idx < in_len))
            w = w / w.sum(axis=1, keepdims=True)
        idx = np.clip(idx, 0, in_len - 1)
        return sum(np.take(x, idx[:, t], axis=axis) * w[:, t].reshape(shape) for t in range(4))
    raise UnsupportedOpError(f"Resize mode '{mode}' is not supported")


def _nonempty(inputs, pos: int):
    v = inputs[pos] if len(inputs) > pos else None
    return None if v is None or v.size == 0 else v


@kernel("Resize")
def resize(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch" or attrs.get("antialias", 0):
        raise UnsupportedOpError(f"node '{ctx.node_name}': Resize with antialias or keep_aspect_ratio_policy "
                                 "is not supported")
    scales = _nonempty(inputs, 1 if ctx.opset < 11 else 2)
    sizes = _nonempty(inputs, 3)
    scales = attrs.get("scales") if scales is None and sizes is None else scales
    sizes = attrs.get("sizes") if scales is None and sizes is None else sizes
    axes = [int(a) % x.ndim for a in attrs.get("axes", range(x.ndim))]
    if sizes is not None:
        sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
        scales = [F32(o) / F32(x.shape[a]) for a, o in zip(axes, sizes)]
    else:
        scales = [F32(v) for v in np.asarray(scales, dtype=F32).reshape(-1)]
        sizes = [int(F32(x.shape[a]) * s) for a, s in zip(axes, scales)]
    mode = attrs.get("mode", "nearest")
    y = x
    for a, o, s in zip(axes, sizes, scales):
        if o != x.shape[a] or s != 1:
            y = _resize_axis(y, a, o, s, attrs, mode, ctx.opset)
    return (y.astype(x.dtype, copy=False),)
