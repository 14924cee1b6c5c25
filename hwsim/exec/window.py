"""Sliding windows over NCHW tensors for convolution and pooling (ONNX pads, auto_pad, ceil_mode)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class Geometry:
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pad_begin: tuple[int, int]
    pad_end: tuple[int, int]  # explicit (ONNX) end padding
    extra_end: tuple[int, int]  # ceil_mode overhang past the explicit padding
    out: tuple[int, int]


def _pair(v: Sequence[int] | None, default: int) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if v else (default, default)


def geometry(in_hw: Sequence[int], kernel: Sequence[int], attrs: Mapping) -> Geometry:
    """Output size and padding of a 2-D window op from its ONNX attributes and the input's H, W."""
    k = _pair(kernel, 1)
    s = _pair(attrs.get("strides"), 1)
    d = _pair(attrs.get("dilations"), 1)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    pb, pe, out, extra = [], [], [], []
    for i in range(2):
        span = (k[i] - 1) * d[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-in_hw[i] // s[i])
            total = max((o - 1) * s[i] + span - in_hw[i], 0)
            small = total // 2
            b = small if auto_pad == "SAME_UPPER" else total - small
            pb.append(b), pe.append(total - b), out.append(o), extra.append(0)
            continue
        pads = attrs.get("pads") or (0, 0, 0, 0)
        b, e = (0, 0) if auto_pad == "VALID" else (int(pads[i]), int(pads[i + 2]))
        size = in_hw[i] + b + e - span
        o = (math.ceil(size / s[i]) if ceil_mode else size // s[i]) + 1
        if ceil_mode and (o - 1) * s[i] >= in_hw[i] + b:
            o -= 1  # the last window must start inside the input or its left padding
        pb.append(b), pe.append(e), out.append(o)
        extra.append(max((o - 1) * s[i] + span - (in_hw[i] + b + e), 0))
    return Geometry(k, s, d, tuple(pb), tuple(pe), tuple(extra), tuple(out))


def windows(x: np.ndarray, g: Geometry, value) -> np.ndarray:
    """(N, C, OH, OW, kh, kw) windows of ``x`` padded with ``value`` (a view where possible)."""
    pad = ((0, 0), (0, 0)) + tuple((g.pad_begin[i], g.pad_end[i] + g.extra_end[i]) for i in range(2))
    xp = np.pad(x, pad, constant_values=value) if any(p != (0, 0) for p in pad) else x
    span = tuple((g.kernel[i] - 1) * g.dilations[i] + 1 for i in range(2))
    w = sliding_window_view(xp, span, axis=(2, 3))
    w = w[:, :, :: g.strides[0], :: g.strides[1], :: g.dilations[0], :: g.dilations[1]]
    return w[:, :, : g.out[0], : g.out[1]]


def valid_counts(in_hw: Sequence[int], g: Geometry, include_pad: bool) -> np.ndarray:
    """(OH, OW) number of window positions inside the input (or inside input + explicit pads)."""
    counts = []
    for i in range(2):
        start = np.arange(g.out[i]) * g.strides[i] - g.pad_begin[i]
        taps = start[:, None] + np.arange(g.kernel[i]) * g.dilations[i]
        lo, hi = (-g.pad_begin[i], in_hw[i] + g.pad_end[i]) if include_pad else (0, in_hw[i])
        counts.append(((taps >= lo) & (taps < hi)).sum(axis=1))
    return counts[0][:, None] * counts[1][None, :]
