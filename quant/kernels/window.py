"""Sliding-window geometry shared by Conv, ConvTranspose and the pools: pads, output sizes, strided
views, and the tap engine that reads kernel taps as long runs of cache-sized blocks of planes."""
from __future__ import annotations

import functools
import itertools
import math
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

    The taps that read the same phase sit on a regular grid of offsets, so one strided view (``grids``)
    presents all of them at once: a copy of it replaces one copy per tap.
    """

    offsets: tuple[int, ...]  # one per tap, into the flat plane
    length: int  # elements of one virtual output plane
    virtual: tuple[int, ...]  # its shape
    crop: tuple[slice, ...]  # virtual -> real output (applied to [planes, *virtual])
    fills: tuple[tuple[tuple[slice, ...], tuple[slice, ...]], ...]  # (phase-buffer index, input index)
    phase_shape: tuple[int, ...]  # [phases, *phase plane]
    plane: int  # elements per plane in the buffer, slack included
    grid_specs: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]  # (offset, taps per axis, step per axis)
    grid_order: tuple[int, ...]  # the taps (row-major kernel index) in the order ``grids`` lists them

    def runs(self, flat: np.ndarray) -> list[np.ndarray]:
        """Per tap, the [planes, length] run it reads from a block ``flat`` of ``tap_blocks``."""
        return [flat[:, o:o + self.length] for o in self.offsets]

    def grids(self, flat: np.ndarray) -> list[np.ndarray]:
        """Per phase, a read-only [planes, *taps per axis, length] view of its taps' runs."""
        p, e = flat.strides[0], flat.itemsize
        return [as_strided(flat[:, o:], (flat.shape[0], *counts, self.length), (p, *(st * e for st in steps), e),
                           writeable=False) for o, counts, steps in self.grid_specs]


def tap_geometry(sp: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int],
                 pb: Sequence[int], pe: Sequence[int]) -> TapGeometry:
    return _tap_geometry(*(tuple(int(v) for v in a) for a in (sp, k, s, d, pb, pe)))


@functools.lru_cache(maxsize=256)  # a network asks again for the same few layer shapes on every run
def _tap_geometry(sp, k, s, d, pb, pe) -> TapGeometry:
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
    # The taps of one phase: per axis, those with t * d = phase (mod st), spaced st / gcd(d, st) apart.
    grid_specs, grid_order = [], []
    for ph in itertools.product(range(st), repeat=len(k)):
        members = [[t for t in range(kk) if t * dd % st == p] for kk, dd, p in zip(k, d, ph)]
        if all(members):
            first = tuple(m[0] for m in members)
            grid_specs.append((offsets[int(np.ravel_multi_index(first, k))], tuple(len(m) for m in members),
                               tuple(dd // math.gcd(dd, st) * qs for dd, qs in zip(d, qstr))))
            grid_order += [int(np.ravel_multi_index(t, k)) for t in itertools.product(*members)]
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
    return TapGeometry(tuple(offsets), length, (rows, *q[1:]), crop, tuple(fills), (len(phases), *q), plane,
                       tuple(grid_specs), tuple(grid_order))


def tap_blocks(x: np.ndarray, g: TapGeometry, value: float = 0.0, step: int | None = None):
    """Yield (lo, hi, flat) over blocks of ``step`` (default: about ``BLOCK_BYTES`` of) the N*C planes
    of ``x``: ``flat`` is the [hi-lo, plane] buffer the taps read (``g.runs``, ``g.grids``). The buffer
    is reused (every ``flat`` is a prefix of the first), so the taps read it from cache; its border
    keeps ``value``."""
    (n, c), sp = x.shape[:2], x.shape[2:]
    planes = x.reshape(n * c, *sp)
    step = max(1, BLOCK_BYTES // (x.itemsize * g.plane) if step is None else step)
    buf = np.full((min(step, n * c), g.plane), value, dtype=x.dtype)
    phased = buf[:, :math.prod(g.phase_shape)].reshape(len(buf), *g.phase_shape)
    fills = [(phased[dst], planes[src]) for dst, src in g.fills]  # indexed once: blocks only slice them
    for lo in range(0, n * c, step):
        hi = min(lo + step, n * c)
        for dst, src in fills:
            np.copyto(dst[: hi - lo], src[lo:hi])
        yield lo, hi, buf[: hi - lo]
