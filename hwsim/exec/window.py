"""Sliding windows of the integer Conv and pooling kernels over (N, C, *spatial) tensors, any rank.

Pads (explicit or auto_pad SAME/VALID), output sizes and the strided window view are the float
kernels' (``quant.kernels.window``); ceil_mode adds the overhang past the end padding that the float
pools add (``quant.kernels.pooling``): the last window must start inside the input or its begin pad.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from quant.kernels import window as fw


@dataclass(frozen=True)
class Geometry:
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pad_begin: tuple[int, ...]
    pad_end: tuple[int, ...]  # explicit (ONNX) or auto_pad end padding
    extra_end: tuple[int, ...]  # ceil_mode overhang past that padding
    out: tuple[int, ...]


def geometry(in_sp: Sequence[int], kernel: Sequence[int], attrs: Mapping) -> Geometry:
    """Output size and padding of a window op from its ONNX attributes and the input's spatial size."""
    n, k = len(in_sp), tuple(int(v) for v in kernel)
    s, d = fw.ints(attrs, "strides", 1, n), fw.ints(attrs, "dilations", 1, n)
    pb, pe = fw.resolve_pads(in_sp, k, s, d, attrs)
    ceil = bool(attrs.get("ceil_mode", 0))
    padded = [i + b + e for i, b, e in zip(in_sp, pb, pe)]
    out = fw.out_size([p + (st - 1 if ceil else 0) for p, st in zip(padded, s)], k, s, d)  # ceil(a/s) = (a+s-1)//s
    out = tuple(o - 1 if ceil and (o - 1) * st >= i + b else o for o, st, i, b in zip(out, s, in_sp, pb))
    extra = tuple(max((o - 1) * st + (kk - 1) * dd + 1 - p, 0) for o, st, kk, dd, p in zip(out, s, k, d, padded))
    return Geometry(k, s, d, tuple(pb), tuple(pe), extra, out)


def windows(x: np.ndarray, g: Geometry, value) -> np.ndarray:
    """(N, C, *out, *kernel) windows of ``x`` padded with ``value`` (a read-only view of the padded copy)."""
    r = len(g.kernel)
    pad = ((0, 0), (0, 0), *((b, e + o) for b, e, o in zip(g.pad_begin, g.pad_end, g.extra_end)))
    xp = np.pad(x, pad, constant_values=value) if any(p != (0, 0) for p in pad) else x
    view = fw.windows(xp, g.kernel, g.strides, g.dilations, g.out)  # (N, C, *kernel, *out)
    return np.moveaxis(view, tuple(range(2, 2 + r)), tuple(range(2 + r, 2 + 2 * r)))


def valid_counts(in_sp: Sequence[int], g: Geometry, include_pad: bool) -> np.ndarray:
    """(*out) number of window taps inside the input (or inside input + explicit pads)."""
    counts = np.ones((), np.int64)
    for i, size in enumerate(in_sp):
        start = np.arange(g.out[i]) * g.strides[i] - g.pad_begin[i]
        taps = start[:, None] + np.arange(g.kernel[i]) * g.dilations[i]
        lo, hi = (-g.pad_begin[i], size + g.pad_end[i]) if include_pad else (0, size)
        counts = np.multiply.outer(counts, ((taps >= lo) & (taps < hi)).sum(axis=1))
    return counts
