"""Float Conv and ConvTranspose over any number of spatial dims (NC + spatial layout).

Conv is im2col into one strided view copied once, then one BLAS matmul per (batch, group)
through ``np.matmul`` broadcasting; depthwise conv (one channel per group) is a multiply-accumulate
over the kernel taps instead. ConvTranspose is a matmul followed by a col2im scatter over the taps.
The spatial helpers here (``resolve_pads``, ``pad_spatial``, ``windows``) are shared by pooling.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from quant.kernels.registry import KernelContext, kernel

_BLOCK_BYTES = 512 * 1024  # depthwise works on this much input at a time, so taps re-read it from cache
_COLS_BYTES = 8 << 20  # the im2col buffer of one chunk of samples (reused across chunks)


def _ints(attrs: Mapping[str, Any], key: str, default: int, n: int) -> tuple[int, ...]:
    v = attrs.get(key)
    return tuple(int(i) for i in v) if v is not None and len(v) else (default,) * n


def resolve_pads(in_sp: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int],
                 attrs: Mapping[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(begin pads, end pads) from explicit ``pads`` or ``auto_pad`` (SAME_UPPER/SAME_LOWER/VALID)."""
    n = len(in_sp)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = [max(0, (-(-i // st) - 1) * st + (kk - 1) * dd + 1 - i) for i, kk, st, dd in zip(in_sp, k, s, d)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        return (tuple(small), tuple(big)) if auto == "SAME_UPPER" else (tuple(big), tuple(small))
    if auto == "VALID":
        return (0,) * n, (0,) * n
    p = _ints(attrs, "pads", 0, 2 * n)
    return p[:n], p[n:]


def pad_spatial(x: np.ndarray, begin: Sequence[int], end: Sequence[int], value: float = 0.0) -> np.ndarray:
    if not any(begin) and not any(end):
        return x
    shape = (*x.shape[:2], *(i + b + e for i, b, e in zip(x.shape[2:], begin, end)))
    xp = np.full(shape, value, dtype=x.dtype)
    xp[(slice(None), slice(None), *(slice(b, b + i) for b, i in zip(begin, x.shape[2:])))] = x
    return xp


def out_size(in_sp: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int]) -> tuple[int, ...]:
    """Output spatial size of a window sweep over already padded input."""
    return tuple((i - (kk - 1) * dd - 1) // st + 1 for i, kk, st, dd in zip(in_sp, k, s, d))


def windows(xp: np.ndarray, k: Sequence[int], s: Sequence[int], d: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """A read-only view [N, C, *kernel, *out] of padded ``xp`` (no copy)."""
    sp = xp.strides[2:]
    strides = (*xp.strides[:2], *(a * b for a, b in zip(sp, d)), *(a * b for a, b in zip(sp, s)))
    return as_strided(xp, (*xp.shape[:2], *k, *out), strides, writeable=False)


def tap_slices(tap: Sequence[int], s: Sequence[int], d: Sequence[int], out: Sequence[int]) -> tuple[slice, ...]:
    """Index of the strided input plane one kernel tap reads, for every output position."""
    return (slice(None), slice(None), *(slice(t * dd, t * dd + (o - 1) * st + 1, st) for t, st, dd, o in zip(tap, s, d, out)))


def _geometry(x: np.ndarray, k: Sequence[int], attrs: Mapping[str, Any]):
    n = x.ndim - 2
    s, d = _ints(attrs, "strides", 1, n), _ints(attrs, "dilations", 1, n)
    return s, d, resolve_pads(x.shape[2:], k, s, d, attrs)


@dataclass(frozen=True)
class TapGeometry:
    """How a window op reads its taps as long 1-D runs of a flattened, padded, phase-split plane.

    With stride s (equal on every axis) the padded plane is split into s**r phase planes (position p
    goes to phase p % s, index p // s), so each tap reads one phase at stride 1. Output position q of a
    "virtual" output whose rows are as wide as a phase plane reads element q + offset(tap); the columns
    past the real output width are computed and dropped. With unequal strides the virtual output is
    the stride-1 one, subsampled at the end.
    """

    offsets: tuple[int, ...]  # one per tap, into the flat plane
    length: int  # elements of one virtual output plane
    virtual: tuple[int, ...]  # its shape
    crop: tuple[slice, ...]  # virtual -> real output (applied to [planes, *virtual])
    fills: tuple[tuple[tuple[slice, ...], tuple[slice, ...]], ...]  # (phase-buffer index, input index)
    phase_shape: tuple[int, ...]  # [phases, *phase plane]
    plane: int  # elements per plane in the buffer, slack included


def tap_geometry(sp: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int],
                 pb: Sequence[int], pe: Sequence[int]) -> TapGeometry:
    padded = [i + b + e for i, b, e in zip(sp, pb, pe)]
    out = out_size(padded, k, s, d)
    equal = len(set(s)) == 1
    st = s[0] if equal else 1
    q = [-(-p // st) for p in padded]
    qstr = [int(np.prod(q[i + 1:])) for i in range(len(q))]
    phases = list(itertools.product(range(st), repeat=len(q)))
    offsets = []
    for tap in itertools.product(*(range(kk) for kk in k)):
        phase = phases.index(tuple(t * dd % st for t, dd in zip(tap, d)))
        offsets.append(phase * qstr[0] * q[0] + sum(t * dd // st * qs for t, dd, qs in zip(tap, d, qstr)))
    rows = out[0] if equal else padded[0] - (k[0] - 1) * d[0]
    if equal:
        crop = (slice(None), slice(None), *(slice(0, o) for o in out[1:]))
    else:
        crop = (slice(None), *(slice(0, (o - 1) * ss + 1, ss) for o, ss in zip(out, s)))
    fills = []
    for i, ph in enumerate(phases):
        first = [b + (a - b) % st for a, b in zip(ph, pb)]  # first padded position of this phase in the image
        count = [len(range(f - b, n, st)) for f, b, n in zip(first, pb, sp)]
        fills.append(((slice(None), i, *(slice(f // st, f // st + c) for f, c in zip(first, count))),
                      (slice(None), *(slice(f - b, n, st) for f, b, n in zip(first, pb, sp)))))
    length = rows * qstr[0]
    plane = max(len(phases) * q[0] * qstr[0], max(offsets) + length)
    return TapGeometry(tuple(offsets), length, (rows, *q[1:]), crop, tuple(fills), (len(phases), *q), plane)


def tap_blocks(x: np.ndarray, g: TapGeometry, value: float = 0.0):
    """Yield (lo, hi, runs) over blocks of about ``_BLOCK_BYTES`` of the N*C planes of ``x``: ``runs``
    holds, per tap, the [hi-lo, length] view that tap reads. The block buffer is reused, so the taps
    read it from cache; its border keeps ``value``."""
    (n, c), sp = x.shape[:2], x.shape[2:]
    planes = x.reshape(n * c, *sp)
    step = max(1, _BLOCK_BYTES // (x.itemsize * g.plane))
    buf = np.full((min(step, n * c), g.plane), value, dtype=x.dtype)
    size = int(np.prod(g.phase_shape))
    for lo in range(0, n * c, step):
        hi = min(lo + step, n * c)
        flat = buf[: hi - lo]
        phased = flat[:, :size].reshape(hi - lo, *g.phase_shape)
        for dst, src in g.fills:
            phased[dst] = planes[lo:hi][src]
        yield lo, hi, [flat[:, o:o + g.length] for o in g.offsets]


def _depthwise(x: np.ndarray, w: np.ndarray, s, d, pb, pe) -> np.ndarray:
    """Per-channel multiply-accumulate over the kernel taps, on cache-sized blocks of planes."""
    (n, c), k = x.shape[:2], w.shape[2:]
    g = tap_geometry(x.shape[2:], k, s, d, pb, pe)
    out = out_size([i + b + e for i, b, e in zip(x.shape[2:], pb, pe)], k, s, d)
    wf = np.broadcast_to(w.reshape(1, c, -1), (n, c, len(g.offsets))).reshape(n * c, -1)
    y = np.empty((n * c, *out), dtype=np.float32)
    acc = tmp = None
    for lo, hi, runs in tap_blocks(x, g):
        if acc is None:  # the first block is the largest
            acc, tmp = np.empty((2, hi - lo, g.length), dtype=np.float32)
        a, tb, wb = acc[: hi - lo], tmp[: hi - lo], wf[lo:hi]
        np.multiply(runs[0], wb[:, :1], out=a)
        for t in range(1, len(runs)):
            np.multiply(runs[t], wb[:, t:t + 1], out=tb)
            a += tb
        y[lo:hi] = a.reshape(hi - lo, *g.virtual)[g.crop]
    return y.reshape(n, c, *out)


def _im2col_conv(x: np.ndarray, w: np.ndarray, g: int, s, d, pb, pe) -> np.ndarray:
    """Conv as GEMM: per chunk of samples, copy the windows once into a reused column buffer laid out
    [group, Cg*kernel, samples*pixels] and multiply by the [group, Mg, Cg*kernel] weights (BLAS)."""
    (n, c), sp, k, m = x.shape[:2], x.shape[2:], w.shape[2:], w.shape[0]
    padded = tuple(i + b + e for i, b, e in zip(sp, pb, pe))
    out = out_size(padded, k, s, d)
    p, kk, r = int(np.prod(out)), c * int(np.prod(k)), len(k)
    wm = w.reshape(g, m // g, -1)
    y = np.empty((n, m, *out), dtype=np.float32)
    if all(v == 1 for v in (*k, *s)) and not any(pb) and not any(pe):  # 1x1: the input is the column matrix
        np.matmul(wm, x.reshape(n, g, c // g, p), out=y.reshape(n, g, m // g, p))
        return y
    nb = max(1, min(n, _COLS_BYTES // (4 * kk * p)))
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
        cb = cols[: kk * (hi - lo) * p].reshape(c, *k, hi - lo, *out)
        np.copyto(cb, windows(xb, k, s, d, out).transpose(perm))
        cm = cb.reshape(g, kk // g, (hi - lo) * p)
        if hi - lo == 1:
            np.matmul(wm, cm, out=y[lo].reshape(g, m // g, p))
        else:
            y[lo:hi] = np.matmul(wm, cm).reshape(m, hi - lo, *out).swapaxes(0, 1)
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
    s, d = _ints(attrs, "strides", 1, nsp), _ints(attrs, "dilations", 1, nsp)
    opad = _ints(attrs, "output_padding", 0, nsp)
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
