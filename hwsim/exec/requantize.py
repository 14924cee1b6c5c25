"""Integer requantization arithmetic of integer hardware, vectorized over int64 arrays.

Values are held in int64 numpy arrays; functions that emulate int32 C++ code expect
int32-range inputs and reproduce the C++ results bit for bit (see ARITHMETIC.md §2, §5).
Per-channel parameters broadcast with numpy rules. Results are int64 (q is int32);
clipping to the output range is the caller's job.
"""

from __future__ import annotations

import numpy as np

from quant.rounding import Rounding, round_to_int

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def _int(x) -> np.ndarray:
    """int64 view of an integer array-like; float input is a bug, not a cast."""
    a = np.asarray(x)
    if a.dtype.kind not in "iub":
        raise TypeError(f"expected an integer array, got dtype {a.dtype}")
    return a.astype(np.int64)


def quantize_multiplier(
    m: float | np.ndarray, bits: int = 32, *, single_rounding: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """m -> (q, shift), m ~= q * 2**(shift - bits + 1); TFLite kernels/internal/quantization_util.cc QuantizeMultiplier.

    frexp, then std::round (half away) of the mantissa to `bits - 1` fractional bits
    (bits=32: Q31, q in [2**30, 2**31 - 1]; bits=16: Q15, q in [2**14, 2**15 - 1],
    rounded once from the double, not TFLite's two-step `(q31 + 2**15) >> 16`).
    q == 2**(bits-1) becomes 2**(bits-2) with shift + 1; shift < -31 flushes to (0, 0);
    m == 0 gives (0, 0). `single_rounding` adds the TFLITE_SINGLE_ROUNDING
    saturation shift > 30 -> (2**(bits-1) - 1, 30). Returns int32 arrays.
    """
    if not 2 <= bits <= 32:
        raise ValueError(f"multiplier width must be in [2, 32] bits, got {bits}")
    frac, shift = np.frexp(np.asarray(m, dtype=np.float64))
    one = 1 << (bits - 1)
    q = round_to_int(np.ldexp(frac, bits - 1), Rounding.HALF_AWAY).astype(np.int64)
    carry = q == one
    q = np.where(carry, q // 2, q)
    shift = shift.astype(np.int64) + carry
    flush = shift < -31
    q, shift = np.where(flush, 0, q), np.where(flush, 0, shift)
    if single_rounding:
        big = shift > 30
        q, shift = np.where(big, one - 1, q), np.where(big, 30, shift)
    return q.astype(np.int32), shift.astype(np.int32)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """round(a*b / 2**31) ties to +inf, INT32_MIN**2 -> INT32_MAX; gemmlowp fixedpoint.h SaturatingRoundingDoublingHighMul."""
    a, b = _int(a), _int(b)
    ab = a * b  # exact: |ab| <= 2**62
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    r = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C++ '/' truncates toward zero
    return np.where((a == b) & (a == INT32_MIN), INT32_MAX, r)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """round(x / 2**exponent), ties away from zero, 0 <= exponent <= 31; gemmlowp fixedpoint.h RoundingDivideByPOT."""
    x, e = _int(x), _int(exponent)
    if np.any((e < 0) | (e > 31)):
        raise ValueError("RoundingDivideByPOT exponent must be in [0, 31]")
    mask = (np.int64(1) << e) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + ((x & mask) > threshold)


def multiply_by_quantized_multiplier(x, q, shift, *, single_rounding: bool) -> np.ndarray:
    """x * q * 2**(shift - 31) rounded; TFLite kernels/internal/common.h / common.cc MultiplyByQuantizedMultiplier.

    Double rounding (gemmlowp, TFLite default without TFLITE_SINGLE_ROUNDING, tflite-micro):
    RoundingDivideByPOT(SRDHM(x << left, q), right); the int32 left shift wraps like
    compiled C / NEON vshlq_s32. Single rounding: (x*q + 2**(30-shift)) >> (31-shift),
    one round-half-toward-+inf (TFLite DCHECKs q >= 0 and -31 <= shift <= 30).
    """
    x, q, shift = _int(x), _int(q), _int(shift)
    if single_rounding:
        if np.any((shift < -31) | (shift > 30)):
            raise ValueError("single-rounding shift must be in [-31, 30]")
        total = 31 - shift
        return (x * q + (np.int64(1) << (total - 1))) >> total
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(wrap(x << left, 32), q), right)


def shift_right_round(acc, shift, rule: Rounding) -> np.ndarray:
    """acc / 2**shift rounded by `rule`, shift < 0 shifts left; power-of-two requant (Vitis DPU shift_cut, TIDL PoT).

    HALF_UP: (acc + 2**(s-1)) >> s (DPU_ROUND, TI round_up); HALF_AWAY: gemmlowp
    RoundingDivideByPOT remainder test; HALF_EVEN: ties to the even quotient.
    Requires |shift| <= 62 and |acc| well inside int64.
    """
    acc, s = _int(acc), _int(shift)
    if np.any(np.abs(s) > 62):
        raise ValueError("shift must be in [-62, 62]")
    sr = np.maximum(s, 0)
    mask = (np.int64(1) << sr) - 1
    half = np.where(sr > 0, np.int64(1) << np.maximum(sr - 1, 0), 0)
    floor_q, rem = acc >> sr, acc & mask
    if rule is Rounding.HALF_UP:
        up = rem >= half
    elif rule is Rounding.HALF_AWAY:
        up = rem > (mask >> 1) + (acc < 0)
    elif rule is Rounding.HALF_EVEN:
        up = (rem > half) | ((rem == half) & ((floor_q & 1) == 1))
    else:
        raise ValueError(f"unknown rounding rule {rule!r}")
    right = floor_q + ((sr > 0) & up)
    return np.where(s < 0, acc << np.maximum(-s, 0), right)


def requantize_float(acc, multiplier, rule: Rounding = Rounding.HALF_EVEN) -> np.ndarray:
    """round(float32(acc) * float32(multiplier)), RNE by default, int64; onnxruntime MLAS quantize.cpp MlasRequantizeOutput."""
    prod = _int(acc).astype(np.float32) * np.asarray(multiplier, dtype=np.float32)
    return round_to_int(prod, rule).astype(np.int64)


def saturate(x, bits: int, signed: bool = True) -> np.ndarray:
    """Clamp to the `bits`-wide signed or unsigned range (saturating accumulator / output)."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return np.clip(_int(x), lo, hi)


def wrap(x, bits: int, signed: bool = True) -> np.ndarray:
    """Keep the low `bits` bits, read as two's complement (signed) or unsigned (overflowing accumulator)."""
    x = _int(x)
    if bits >= 64:
        return x
    low = x & ((1 << bits) - 1)
    if not signed:
        return low
    half = 1 << (bits - 1)
    return np.where(low >= half, low - half - half, low)
