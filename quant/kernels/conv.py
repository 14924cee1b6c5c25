"""Float Conv and ConvTranspose over any number of spatial dims (NC + spatial layout).

Conv is im2col (one copy of a strided window view per chunk of samples, into a reused buffer) and
BLAS matmuls per chunk and group. Depthwise conv (one channel per group) runs on the tap engine of
``quant.kernels.window``: per cache-sized block of planes, the taps' runs are copied side by side (one
copy per stride phase) and multiplied by the per-channel weights in one batched matmul. ConvTranspose is a matmul followed by a
col2im scatter-add over the kernel taps. Python loops run over taps, sample chunks or plane blocks,
never over pixels.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

import numpy as np

from quant.kernels.registry import KernelContext, kernel
from quant.kernels.window import ints, out_size, resolve_pads, tap_blocks, tap_geometry, tap_slices, windows

_COLS_BYTES = 8 << 20  # the im2col buffer of one chunk of samples (reused across chunks)
_WIDE_GEMM = 512  # output pixels per sample from which a GEMM per sample runs as fast as a batched one
_DW_COLS_BYTES = 512 << 10  # the depthwise tap buffer of one block of planes: well within L2


def _geometry(x: np.ndarray, k: Sequence[int], attrs: Mapping[str, Any]):
    n = x.ndim - 2
    s, d = ints(attrs, "strides", 1, n), ints(attrs, "dilations", 1, n)
    return s, d, resolve_pads(x.shape[2:], k, s, d, attrs)


def _depthwise(x: np.ndarray, w: np.ndarray, s, d, pb, pe) -> np.ndarray:
    """Per-channel conv on blocks of planes: copy the taps' runs side by side into a [planes, taps,
    length] buffer (one copy per phase, ``g.grids``), then one batched matmul with the [planes, 1, taps]
    weights. Blocks are sized so that this buffer stays in L2 (the copies and the matmul both read it)."""
    (n, c), k = x.shape[:2], w.shape[2:]
    g = tap_geometry(x.shape[2:], k, s, d, pb, pe)
    out = out_size([i + b + e for i, b, e in zip(x.shape[2:], pb, pe)], k, s, d)
    taps = len(g.offsets)
    wt = w.reshape(c, taps)[:, list(g.grid_order)]  # in the order the grids lay the taps out
    wf = np.broadcast_to(wt.reshape(1, c, 1, taps), (n, c, 1, taps)).reshape(n * c, 1, taps)
    y = np.empty((n * c, *out), dtype=np.float32)
    cols = acc = None
    for lo, hi, flat in tap_blocks(x, g, step=_DW_COLS_BYTES // (4 * taps * max(1, g.length))):
        if cols is None:  # the first block is the largest: views of its buffers serve every block
            cols = np.empty((hi - lo, taps, g.length), dtype=np.float32)
            acc = np.empty((hi - lo, 1, g.length), dtype=np.float32)
            copies, t = [], 0
            for grid in g.grids(flat):  # to consecutive rows of cols, in the order of g.grid_order
                size = math.prod(grid.shape[1:-1])
                copies.append((grid, cols[:, t:t + size].reshape(grid.shape)))
                t += size
            cropped = acc.reshape(hi - lo, *g.virtual)[g.crop]
        for src, dst in copies:
            np.copyto(dst[: hi - lo], src[: hi - lo])
        np.matmul(wf[lo:hi], cols[: hi - lo], out=acc[: hi - lo])
        y[lo:hi] = cropped[: hi - lo]
    return y.reshape(n, c, *out)


def _im2col_conv(x: np.ndarray, w: np.ndarray, g: int, s, d, pb, pe) -> np.ndarray:
    """Conv as GEMM: per chunk of samples, copy the windows once into a reused column buffer and
    multiply by the [group, Mg, Cg*kernel] weights (BLAS). With many pixels the buffer is laid out
    [sample, group, Cg*kernel, pixels], one GEMM per sample that writes the output in place; with few,
    [group, Cg*kernel, samples*pixels], one GEMM wide enough to run BLAS at full speed."""
    (n, c), sp, k, m = x.shape[:2], x.shape[2:], w.shape[2:], w.shape[0]
    padded = tuple(i + b + e for i, b, e in zip(sp, pb, pe))
    out = out_size(padded, k, s, d)
    p, kk, r = int(np.prod(out)), c * int(np.prod(k)), len(k)
    wm = w.reshape(g, m // g, -1)
    y = np.empty((n, m, *out), dtype=np.float32)
    yg = y.reshape(n, g, m // g, p)
    if all(v == 1 for v in (*k, *s)) and not any(pb) and not any(pe):  # 1x1: the input is the column matrix
        np.matmul(wm, x.reshape(n, g, c // g, p), out=yg)
        return y
    nb = max(1, min(n, _COLS_BYTES // (4 * kk * p)))
    per_sample = nb == 1 or p >= _WIDE_GEMM
    cols = np.empty(kk * nb * p, dtype=np.float32)
    padding = any(pb) or any(pe)
    xbuf = np.zeros((nb, c, *padded), dtype=np.float32) if padding else None
    interior = (slice(None), slice(None), *(slice(b, b + i) for b, i in zip(pb, sp)))
    perm = (1, *range(2, 2 + r), 0, *range(2 + r, 2 + 2 * r))  # [b, C, *k, *out] -> [C, *k, b, *out]
    for lo in range(0, n, nb):
        hi = min(lo + nb, n)
        if padding:
            xb = xbuf[: hi - lo]
            xb[interior] = x[lo:hi]  # the zero border is never written
        else:
            xb = x[lo:hi]
        cb = cols[: kk * (hi - lo) * p]
        if per_sample:
            np.copyto(cb.reshape(hi - lo, c, *k, *out), windows(xb, k, s, d, out))
            np.matmul(wm, cb.reshape(hi - lo, g, kk // g, p), out=yg[lo:hi])
        else:
            np.copyto(cb.reshape(c, *k, hi - lo, *out), windows(xb, k, s, d, out).transpose(perm))
            y[lo:hi] = np.matmul(wm, cb.reshape(g, kk // g, (hi - lo) * p)).reshape(m, hi - lo, *out).swapaxes(0, 1)
    return y


@kernel("Conv")
def conv(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, w = inputs[0].astype(np.float32, copy=False), inputs[1].astype(np.float32, copy=False)
    b = inputs[2] if len(inputs) > 2 else None
    s, d, (pb, pe) = _geometry(x, w.shape[2:], attrs)
    c, g, m = x.shape[1], int(attrs.get("group", 1)), w.shape[0]
    if g == c == m and g > 1:
        y = _depthwise(x, w, s, d, pb, pe)
    else:
        y = _im2col_conv(x, w, g, s, d, pb, pe)
    if b is not None:
        y += b.astype(np.float32).reshape((1, -1) + (1,) * (x.ndim - 2))
    return (y,)


@kernel("ConvTranspose")
def conv_transpose(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, w = inputs[0].astype(np.float32, copy=False), inputs[1].astype(np.float32, copy=False)
    b = inputs[2] if len(inputs) > 2 else None
    nsp, (n, c), g = x.ndim - 2, x.shape[:2], int(attrs.get("group", 1))
    in_sp, k, mg = x.shape[2:], w.shape[2:], w.shape[1]
    s, d = ints(attrs, "strides", 1, nsp), ints(attrs, "dilations", 1, nsp)
    opad = ints(attrs, "output_padding", 0, nsp)
    full = [(i - 1) * st + (kk - 1) * dd + 1 + op for i, st, kk, dd, op in zip(in_sp, s, k, d, opad)]
    auto = attrs.get("auto_pad", "NOTSET")
    target = attrs.get("output_shape")
    if target is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        target = [i * st for i, st in zip(in_sp, s)]
    if target is not None:  # onnxruntime's split: the odd pixel goes to the head only for SAME_UPPER
        total = [f - int(t) for f, t in zip(full, list(target)[-nsp:])]
        head = [t - t // 2 if auto == "SAME_UPPER" else t // 2 for t in total]
        pb, pe = head, [t - h for t, h in zip(total, head)]
    else:
        pb, pe = resolve_pads(in_sp, k, s, d, {"pads": attrs.get("pads", ())})
    wm = w.reshape(g, c // g, -1).transpose(0, 2, 1)  # [G, Mg*K, Cg]
    cols = np.matmul(wm, x.reshape(n, g, c // g, -1)).reshape(n, g * mg, *k, *in_sp)
    y = np.zeros((n, g * mg, *full), dtype=np.float32)
    for tap in itertools.product(*(range(kk) for kk in k)):
        y[tap_slices(tap, s, d, in_sp)] += cols[(slice(None), slice(None), *tap)]
    y = y[(slice(None), slice(None), *(slice(a, f - e) for a, f, e in zip(pb, full, pe)))]
    if b is not None:
        y = y + b.astype(np.float32).reshape((1, -1) + (1,) * nsp)
    return (np.ascontiguousarray(y),)
