"""Sliding-window geometry shared by Conv, ConvTranspose and the pools: pads, output sizes, strided
views, and the tap engine that reads kernel taps as long runs of cache-sized blocks of planes."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

BLOCK_BYTES = 512 * 1024  # input planes handled at a time by ``tap_blocks``, so the taps re-read them from cache


def ints(attrs: Mapping[str, Any], key: str, default: int, n: int) -> tuple[int, ...]:
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
    p = ints(attrs, "pads", 0, 2 * n)
    return p[:n], p[n:]


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
    spatial = (slice(t * dd, t * dd + (o - 1) * st + 1, st) for t, st, dd, o in zip(tap, s, d, out))
    return (slice(None), slice(None), *spatial)


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
    """Yield (lo, hi, runs) over blocks of about ``BLOCK_BYTES`` of the N*C planes of ``x``: ``runs``
    holds, per tap, the [hi-lo, length] view that tap reads. The block buffer is reused, so the taps
    read it from cache; its border keeps ``value``."""
    (n, c), sp = x.shape[:2], x.shape[2:]
    planes = x.reshape(n * c, *sp)
    step = max(1, BLOCK_BYTES // (x.itemsize * g.plane))
    buf = np.full((min(step, n * c), g.plane), value, dtype=x.dtype)
    size = int(np.prod(g.phase_shape))
    for lo in range(0, n * c, step):
        hi = min(lo + step, n * c)
        flat = buf[: hi - lo]
        phased = flat[:, :size].reshape(hi - lo, *g.phase_shape)
        for dst, src in g.fills:
            phased[dst] = planes[lo:hi][src]
        yield lo, hi, [flat[:, o:o + g.length] for o in g.offsets]
