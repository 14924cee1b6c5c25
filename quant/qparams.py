"""Scale and zero-point math: one free function, ``qparams``, plus the power-of-two repairs.

Conventions (documented once, used everywhere):

- Real value ``r = scale * (q - zero_point)``; ``q`` in ``[qmin, qmax]``.
- The range is widened to include 0 first (``lo <= 0 <= hi``, as onnxruntime does), so 0 is always
  exactly representable: ``zero_point`` is an integer in ``[qmin, qmax]``.
- Symmetric: ``zero_point = 0`` and ``scale = absmax / qmax`` (the positive end is never clipped;
  ``[-127, 127]`` with ``narrow_range``, ``[-128, 127]`` without, as TFLite and onnxruntime's
  weights do). Unsigned symmetric: ``zero_point = 0``, ``scale = hi / qmax`` (negatives clip).
- Affine: ``scale = (hi - lo) / (qmax - qmin)``, ``zero_point = round_half_even(qmin - lo / scale)``.
- ``lo == hi`` (a constant tensor, after including 0): ``scale = 1``.
- Storage dtype: int8/uint8 up to 8 bits (narrower widths keep int8 storage with values clipped to
  their own range: a 4-bit weight lives in int8 as [-8, 7]), int16/uint16 up to 16 bits.
- ``narrow_range`` drops the most negative code of signed grids only.
- Power of two: ``scale = 2 ** -frac_bits``. Without data the exponent is the ceiling (no clipping);
  with a distribution (samples or histogram), the floor and ceiling exponents are both tried and the
  one with the lower quantization MSE wins.
- A requantization shift is ``frac_in + frac_w - frac_out`` (Vitis ``shift_cut``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant.constraints import TensorRule

_TINY = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class QParams:
    """Quantization parameters of one tensor (per-tensor: 0-d arrays; per-channel: 1-D along ``axis``)."""

    scale: np.ndarray  # float32
    zero_point: np.ndarray  # int64 values; stored as ``dtype`` in a model
    qmin: int
    qmax: int
    dtype: str  # int8 | uint8 | int16 | uint16 | int32
    axis: int | None = None
    bits: int = 8

    @property
    def per_channel(self) -> bool:
        return self.scale.ndim == 1

    @property
    def pow2(self) -> bool:
        m, _ = np.frexp(self.scale.astype(np.float64))
        return bool(np.all(m == 0.5))

    @property
    def frac_bits(self) -> np.ndarray:
        """``n`` with ``scale == 2 ** -n`` (meaningful only when ``pow2``)."""
        return -np.round(np.log2(self.scale.astype(np.float64))).astype(np.int64)



@dataclass(frozen=True)
class Distribution:
    """Data to measure quantization error on: values with optional counts (a histogram).

    Per-channel: ``values`` is (channels, n) with one row per channel.
    """

    values: np.ndarray
    counts: np.ndarray | None = None


def int_range(bits: int, unsigned: bool, narrow_range: bool = False) -> tuple[int, int, str]:
    if unsigned:
        return 0, (1 << bits) - 1, "uint8" if bits <= 8 else "uint16"
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return (lo + 1 if narrow_range else lo), hi, "int8" if bits <= 8 else "int16"


def is_unsigned(lo: np.ndarray, rule: TensorRule, unsigned: bool | None = None) -> bool:
    if unsigned is not None:
        return unsigned
    if rule.signedness == "auto":
        return bool(np.all(np.asarray(lo) >= 0))
    return rule.signedness == "unsigned"


def qparams(
    lo: np.ndarray | float,
    hi: np.ndarray | float,
    rule: TensorRule,
    *,
    unsigned: bool | None = None,
    axis: int | None = None,
    dist: Distribution | None = None,
    frac_bits: np.ndarray | int | None = None,
) -> QParams:
    """Scale and zero point for the range [lo, hi] under ``rule`` (see the module doc for the formulas).

    ``unsigned`` overrides the rule's signedness (``auto`` means unsigned when ``lo >= 0``).
    Per-channel ``lo``/``hi`` are 1-D arrays and ``axis`` names the channel axis of the tensor.
    ``dist`` lets power-of-two scales pick the exponent with the lower quantization MSE;
    ``frac_bits`` forces the exponent (``scale = 2 ** -frac_bits``), as the repairs below need.
    """
    lo64, hi64 = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    if np.any(lo64 > hi64):
        raise ValueError(f"qparams: lo {lo64} exceeds hi {hi64}")
    uns = is_unsigned(lo64, rule, unsigned)
    qmin, qmax, dtype = int_range(rule.bits, uns, rule.narrow_range and not uns)
    lo64, hi64 = np.minimum(lo64, 0.0), np.maximum(hi64, 0.0)
    if uns:
        lo64 = np.zeros_like(lo64)
    if rule.symmetric or uns:
        scale = np.maximum(-lo64, hi64) / qmax if not uns else hi64 / qmax
    else:
        scale = (hi64 - lo64) / (qmax - qmin)
    scale = np.where(scale < _TINY, 1.0, scale)
    if frac_bits is not None:
        scale = np.ldexp(1.0, -np.broadcast_to(np.asarray(frac_bits, np.int64), np.shape(scale)))
    elif rule.scale == "power_of_two":
        frac = -np.ceil(np.log2(scale)).astype(np.int64)
        if dist is not None:
            frac = _best_pow2(frac, lo64, rule.symmetric or uns, qmin, qmax, dist)
        scale = np.ldexp(1.0, -frac)
    scale32 = np.asarray(scale, np.float32)
    if rule.symmetric or uns:
        zp = np.zeros(scale32.shape, np.int64)
    else:
        zp = np.asarray(np.clip(np.rint(qmin - lo64 / scale32.astype(np.float64)), qmin, qmax), np.int64)
    return QParams(scale32, zp, qmin, qmax, dtype, axis if scale32.ndim == 1 else None, rule.bits)


def quant_mse(x: np.ndarray, w: np.ndarray | None, scale: np.ndarray, zp: np.ndarray, qmin: int, qmax: int) -> np.ndarray:
    """Weighted mean squared error of fake-quantizing ``x`` (last axis) with each row's scale/zero point."""
    s, z = np.asarray(scale, np.float64)[..., None], np.asarray(zp, np.float64)[..., None]
    q = np.clip(np.rint(x / s) + z, qmin, qmax)
    err = ((q - z) * s - x) ** 2
    if w is None:
        return err.mean(axis=-1)
    return (err * w).sum(axis=-1) / np.maximum(w.sum(axis=-1), 1.0)


def _best_pow2(frac_ceil, lo, symmetric, qmin, qmax, dist: Distribution) -> np.ndarray:
    """Compare the ceiling exponent (no clipping) with one step finer (clips the extremes)."""
    x = np.asarray(dist.values, np.float64)
    w = None if dist.counts is None else np.asarray(dist.counts, np.float64)
    if frac_ceil.ndim == 1 and x.ndim == 1:
        x = x[None, :]
        w = None if w is None else w[None, :]
    best, best_err = frac_ceil, None
    for frac in (frac_ceil, frac_ceil + 1):
        s = np.ldexp(1.0, -frac)
        zp = 0.0 if symmetric else np.clip(np.rint(qmin - lo / s), qmin, qmax)
        err = quant_mse(x, w, s, np.broadcast_to(zp, np.shape(s)), qmin, qmax)
        if best_err is None:
            best_err = err
        else:
            better = err < best_err
            best = np.where(better, frac, best)
            best_err = np.where(better, err, best_err)
    return np.asarray(best, np.int64).reshape(np.shape(frac_ceil))


def pow2_scale_for(observer, rule: TensorRule, *, unsigned: bool | None = None) -> QParams:
    """``qparams`` for an observer, using its histogram (if it has one) to choose the exponent."""
    lo, hi = observer.range()
    dist = Distribution(*observer.distribution()) if hasattr(observer, "distribution") else None
    return qparams(lo, hi, rule, unsigned=unsigned, dist=dist)


# ---- power-of-two repairs (pure functions on exponents) -------------------------------------------


def repair_shift(
    frac_in: int, frac_w: np.ndarray, frac_out: int, shift_min: int, shift_max: int
) -> tuple[np.ndarray, int]:
    """Make every requant shift ``frac_in + frac_w - frac_out`` lie in [shift_min, shift_max].

    The output exponent moves first (finer when a shift is too large, coarser when too small);
    if the weight channels' exponents spread wider than the shift window, the finest weight
    channels are coarsened to fit. Returns (frac_w, frac_out).
    """
    fw = np.asarray(frac_w, np.int64)
    acc = frac_in + fw
    lo_out, hi_out = int(acc.max()) - shift_max, int(acc.min()) - shift_min
    if lo_out <= hi_out:
        return fw, int(min(max(frac_out, lo_out), hi_out))
    fo = hi_out  # coarsest output exponent that every channel still reaches with shift >= shift_min
    return np.minimum(fw, fo + shift_max - frac_in), fo


def align_add(frac_a: int, frac_b: int, max_diff: int) -> tuple[int, int]:
    """Limit the exponent gap between an Add's inputs: the finer (smaller-range) one gets coarser."""
    if frac_a - frac_b > max_diff:
        return frac_b + max_diff, frac_b
    if frac_b - frac_a > max_diff:
        return frac_a, frac_a + max_diff
    return frac_a, frac_b
