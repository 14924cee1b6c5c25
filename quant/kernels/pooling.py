"""Float MaxPool, AveragePool (pads, dilations, ceil_mode, count_include_pad) and global pools.

Windows are reduced tap by tap (a loop over kernel taps, never over pixels) on cache-sized blocks of
planes, each tap reading one long run of the padded plane (``window.tap_geometry``).
"""
from __future__ import annotations

import itertools
from typing import Any, Mapping

import numpy as np

from quant.kernels.window import resolve_pads, tap_blocks, tap_geometry, tap_slices
from quant.kernels.registry import KernelContext, kernel


def _geometry(x: np.ndarray, attrs: Mapping[str, Any]):
    """kernel, strides, dilations, begin pads, end pads (incl. explicit pads), extra ceil pads, out size."""
    k = tuple(int(v) for v in attrs["kernel_shape"])
    n = len(k)
    s = tuple(int(v) for v in attrs.get("strides") or (1,) * n)
    d = tuple(int(v) for v in attrs.get("dilations") or (1,) * n)
    in_sp = x.shape[2:]
    pb, pe = resolve_pads(in_sp, k, s, d, attrs)
    ceil = int(attrs.get("ceil_mode", 0))
    out, extra = [], []
    for i, kk, st, dd, b, e in zip(in_sp, k, s, d, pb, pe):
        span = i + b + e - (kk - 1) * dd - 1
        o = (-(-span // st) if ceil else span // st) + 1
        if ceil and (o - 1) * st >= i + b:  # the last window must start inside the image or its left pad
            o -= 1
        out.append(o)
        extra.append(max(0, (o - 1) * st + (kk - 1) * dd + 1 - (i + b + e)))
    return k, s, d, pb, pe, tuple(extra), tuple(out)


def _taps(k):
    return itertools.product(*(range(kk) for kk in k))


@kernel("MaxPool")
def max_pool(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    k, s, d, pb, pe, extra, out = _geometry(x, attrs)
    end = [e + x2 for e, x2 in zip(pe, extra)]
    g = tap_geometry(x.shape[2:], k, s, d, pb, end)
    low = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    y = np.empty((x.shape[0] * x.shape[1], *out), dtype=x.dtype)
    acc = None
    for lo, hi, flat in tap_blocks(x, g, low):
        runs = g.runs(flat)
        acc = np.empty((hi - lo, g.length), dtype=x.dtype) if acc is None else acc  # first block is the largest
        a = acc[: hi - lo]
        np.maximum(runs[0], runs[1], out=a) if len(runs) > 1 else np.copyto(a, runs[0])
        for run in runs[2:]:
            np.maximum(a, run, out=a)
        y[lo:hi] = a.reshape(hi - lo, *g.virtual)[g.crop]
    return (y.reshape(*x.shape[:2], *out),)


@kernel("AveragePool")
def average_pool(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0].astype(np.float32, copy=False)
    k, s, d, pb, pe, extra, out = _geometry(x, attrs)
    end = [e + x2 for e, x2 in zip(pe, extra)]
    # The divisor counts the padded positions a window covers: the explicit pads too, or only the image.
    mask = np.zeros((1, 1, *(i + b + e for i, b, e in zip(x.shape[2:], pb, end))), dtype=np.float32)
    if int(attrs.get("count_include_pad", 0)):
        mask[(slice(None), slice(None), *(slice(0, i + b + e) for i, b, e in zip(x.shape[2:], pb, pe)))] = 1
    else:
        mask[(slice(None), slice(None), *(slice(b, b + i) for i, b in zip(x.shape[2:], pb)))] = 1
    scale = 1 / np.maximum(sum(mask[tap_slices(tap, s, d, out)] for tap in _taps(k)), 1)
    g = tap_geometry(x.shape[2:], k, s, d, pb, end)
    y = np.empty((x.shape[0] * x.shape[1], *out), dtype=np.float32)
    acc = None
    for lo, hi, flat in tap_blocks(x, g):
        runs = g.runs(flat)
        acc = np.empty((hi - lo, g.length), dtype=np.float32) if acc is None else acc
        a = acc[: hi - lo]
        np.copyto(a, runs[0])
        for run in runs[1:]:
            a += run
        y[lo:hi] = a.reshape(hi - lo, *g.virtual)[g.crop]
    y = y.reshape(*x.shape[:2], *out)
    y *= scale
    return (y,)


@kernel("GlobalAveragePool")
def global_average_pool(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    return (x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=np.float32),)
