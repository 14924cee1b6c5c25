"""The target's integer arithmetic (``ctx.arith`` in every integer kernel) and the steps kernels share.

Requantization modes (``quantization.requantization.mode``):

- ``float``: ``round(float32(acc) * float32(M))`` with the target's tie rule (half_even = onnxruntime
  MLAS ``MlasRequantizeOutput``: int32 -> float32, multiply, clamp, round to nearest even). ``M`` is
  computed in float32 in onnxruntime's order, e.g. ``(S_x * S_w) / S_y`` for QLinearConv / QLinearMatMul.
- ``fixed_point``: TFLite ``MultiplyByQuantizedMultiplier(acc, q, shift)``; double rounding (gemmlowp
  SaturatingRoundingDoublingHighMul then RoundingDivideByPOT) unless ``double_rounding: false`` selects
  TFLITE_SINGLE_ROUNDING. ``(q, shift)`` come from QuantizeMultiplier of ``M`` computed in double;
  a ``multiplier_bits``-wide multiplier is rounded from the double once and shifted up to Q31.
  The tie rules are gemmlowp's own (requantization.rounding is not used by this mode).
  Requires a 32-bit accumulator (the C++ operates on int32).
- ``shift``: ``M`` must be 2^-s exactly; ``acc / 2^s`` rounded by the target's tie rule
  (half_up = ``(acc + 2^(s-1)) >> s``, Vitis DPU_ROUND / TI round_up). The MAC output shift must lie
  in [shift_min, shift_max]; vector-unit rescales (Add, pools, Concat) may also shift left.

The accumulator (``compute.mac_array.accumulator_bits``) saturates or wraps once, on the final sum
including the bias (exact for wrap, which is modular; a saturating hardware accumulator that clips
partial sums could differ only when a partial sum leaves the range).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.exec import requantize as rq
from hwsim.exec.qparams import LoweringError
from quant.rounding import Rounding, round_to_int


@dataclass(frozen=True)
class Arith:
    requant: str  # "float" | "fixed_point" | "shift"
    rounding: Rounding  # tie rule of requantization
    quantize_rounding: Rounding  # tie rule when float values are quantized (model inputs, host outputs)
    double_rounding: bool = True
    multiplier_bits: int = 32
    acc_bits: int = 32
    overflow: str = "saturate"  # "saturate" | "wrap"
    shift_min: int = 0
    shift_max: int = 31

    @classmethod
    def from_target(cls, target: Any) -> Arith:
        q = target.quantization
        r = q.requantization
        return cls(
            requant=r.mode,
            rounding=Rounding(r.rounding),
            quantize_rounding=Rounding(q.quantize_rounding),
            double_rounding=r.double_rounding,
            multiplier_bits=r.multiplier_bits,
            acc_bits=target.compute.mac_array.accumulator_bits,
            overflow=q.accumulator_overflow,
            shift_min=r.shift_min,
            shift_max=r.shift_max,
        )


def accumulate(acc: np.ndarray, arith: Arith) -> np.ndarray:
    """The accumulator register after the last addition: saturated or wrapped to acc_bits."""
    if arith.overflow == "wrap":
        return rq.wrap(acc, arith.acc_bits)
    return rq.saturate(acc, arith.acc_bits)


def requant(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, arith: Arith) -> np.ndarray:
    """acc * M rounded, per the target's mode; ``mult``/``shift`` from ``requant_params``."""
    if arith.requant == "float":
        return rq.requantize_float(acc, mult, arith.rounding)
    if arith.requant == "fixed_point":
        return rq.multiply_by_quantized_multiplier(acc, mult, shift, single_rounding=not arith.double_rounding)
    return rq.shift_right_round(acc, shift, arith.rounding)


def finish(y: np.ndarray, zero_point, lo, hi, dtype: str) -> np.ndarray:
    """+ output zero point, clamp to [lo, hi] (the type's range tightened by a fused activation), cast."""
    return np.clip(np.asarray(y, dtype=np.int64) + np.asarray(zero_point, dtype=np.int64), lo, hi).astype(dtype)


def round_float(x: np.ndarray, rule: Rounding) -> np.ndarray:
    """Round float values to int64 (values are expected well inside the int64 range)."""
    return round_to_int(x, rule).astype(np.int64)


def rdiv(num: np.ndarray, den: np.ndarray, rule: Rounding) -> np.ndarray:
    """num / den rounded to an integer with the tie rule, exactly (den > 0)."""
    num, den = np.asarray(num, dtype=np.int64), np.asarray(den, dtype=np.int64)
    q, r = np.divmod(num, den)  # floor division, 0 <= r < den
    twice = 2 * r
    if rule is Rounding.HALF_UP:
        up = twice >= den
    elif rule is Rounding.HALF_AWAY:
        up = (twice > den) | ((twice == den) & (num > 0))
    else:
        up = (twice > den) | ((twice == den) & (q % 2 == 1))
    return q + up


def mean_requant(total: np.ndarray, count, p, arith: Arith) -> np.ndarray:
    """round(total * S_x / (S_y * count)) with one rounding (fixed_point and shift modes).

    ``total`` is a sum of ``x - Z_x``; fixed_point: one QuantizeMultiplier of ``S_x / (S_y count)``
    per count (as TFLite MEAN uses one multiplier); shift: ``S_x / S_y = 2^-s``, so the quotient
    ``total / (count 2^s)`` is divided exactly and rounded with the target's tie rule.
    """
    total = np.asarray(total, np.int64)
    count = np.broadcast_to(np.asarray(count, np.int64), total.shape)
    if arith.requant == "shift":
        s = int(p["rq_shift"])
        return rdiv(total << max(-s, 0), count << max(s, 0), arith.rounding)
    m = np.float64(p["x_scale"]) / (np.float64(p["y_scale"]) * count)
    rp = requant_params(m, m.astype(np.float32), arith, "average pool")
    return requant(total, rp["rq_mult"], rp["rq_shift"], arith)


def requant_params(m: np.ndarray, m_f32: np.ndarray, arith: Arith, where: str, *, mac: bool = False) -> dict[str, np.ndarray]:
    """The requantization constants of multiplier ``m`` in the target's form.

    ``m`` is the exact real multiplier (float64 product of float32 scales), ``m_f32`` the same value
    computed in float32 in onnxruntime's order (used by the float mode). ``where`` names the node and
    scales for errors. ``mac``: the accumulator's output shifter, whose right shift must lie in
    [shift_min, shift_max]; vector-unit rescales (Add, pools, Concat) may shift either way.
    """
    m = np.asarray(m, dtype=np.float64)
    if arith.requant == "float":
        return {"rq_mult": np.asarray(m_f32, dtype=np.float32), "rq_shift": np.zeros(m.shape, np.int32)}
    if arith.requant == "fixed_point":
        bits = arith.multiplier_bits
        q, shift = rq.quantize_multiplier(m, bits, single_rounding=not arith.double_rounding)
        q31 = np.asarray(q, np.int64) << (32 - bits)
        return {"rq_mult": np.asarray(q31, np.int32), "rq_shift": np.asarray(shift, np.int32)}
    frac, exp = np.frexp(m)
    if np.any(frac != 0.5):
        raise LoweringError(
            f"{where}: requantization multiplier {show(m)} is not a power of two, but the target's "
            "requantization mode is 'shift'; quantize with power-of-two scales for this target"
        )
    s = np.asarray(1 - exp, np.int32)
    if mac and (np.any(s < arith.shift_min) or np.any(s > arith.shift_max)):
        raise LoweringError(
            f"{where}: right shift {show(s)} is outside the target's range "
            f"[{arith.shift_min}, {arith.shift_max}] (requantization.shift_min/shift_max)"
        )
    return {"rq_mult": np.ones(m.shape, np.int32), "rq_shift": s}


def show(v) -> str:
    """A scalar or the first few values of an array, for messages: 0.0123 or [0.01, 0.02, 0.03, ...]."""
    flat = np.asarray(v).ravel()
    text = ", ".join(f"{float(x):.6g}" for x in flat[:3])
    return text if flat.size == 1 else f"[{text}{', ...' if flat.size > 3 else ''}]"


def along(v, axis: int | None, ndim: int) -> np.ndarray:
    """Reshape a per-channel (1-d) parameter to broadcast along ``axis`` of an ndim tensor."""
    v = np.asarray(v)
    if axis is None or v.ndim == 0:
        return v
    shape = [1] * ndim
    shape[axis % ndim] = -1
    return v.reshape(shape)


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def fma32(a, b, c) -> np.ndarray:
    """float32 fused multiply-add (one rounding), as x86 FMA3 ``vfmadd``: exact product in float64."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(np.float32)
