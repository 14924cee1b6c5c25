"""Specification of hwsim.exec.requantize against the C++ formulas of gemmlowp, TFLite and onnxruntime."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from hwsim.exec.requantize import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize_float,
    rounding_divide_by_pot,
    saturate,
    saturating_rounding_doubling_high_mul,
    shift_right_round,
    wrap,
)
from quant.rounding import Rounding

FAST = settings(max_examples=200, deadline=None)
int32s = st.integers(INT32_MIN, INT32_MAX)

# --- slow scalar references, transcribed from the C++ with Python ints -------------------


def c_div(a: int, b: int) -> int:
    """C++ integer '/': truncates toward zero (Python // floors)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def to_int32(v: int) -> int:
    """Two's complement int32 wrap-around, as a compiled int32 multiply or shift."""
    return (v + 2**31) % 2**32 - 2**31


def ref_srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def ref_rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def ref_mbqm_double(x: int, q: int, shift: int) -> int:
    left, right = (shift, 0) if shift > 0 else (0, -shift)
    return ref_rdbpot(ref_srdhm(to_int32(x * (1 << left)), q), right)


def ref_mbqm_single(x: int, q: int, shift: int) -> int:
    total = 31 - shift
    return (x * q + (1 << (total - 1))) >> total


def std_round(v: float) -> int:
    f = Fraction(v)
    n = math.floor(abs(f) + Fraction(1, 2))
    return n if f >= 0 else -n


def ref_quantize_multiplier(m: float, bits: int = 32) -> tuple[int, int]:
    if m == 0.0:
        return 0, 0
    frac, shift = math.frexp(m)
    q = std_round(frac * 2 ** (bits - 1))
    if q == 2 ** (bits - 1):
        q, shift = q // 2, shift + 1
    if shift < -31:
        return 0, 0
    return q, shift


def round_fraction(f: Fraction, rule: Rounding) -> int:
    """Exact rounding of a rational by the rule's definition."""
    half = Fraction(1, 2)
    if rule is Rounding.HALF_UP:
        return math.floor(f + half)
    if rule is Rounding.HALF_AWAY:
        n = math.floor(abs(f) + half)
        return n if f >= 0 else -n
    return round(f)


# --- SaturatingRoundingDoublingHighMul -------------------------------------------------------


def test_srdhm_rounds_ties_toward_plus_infinity():
    b = 1 << 30  # a * b / 2**31 = a / 2
    assert saturating_rounding_doubling_high_mul([5, -5, 3, -3], b).tolist() == [3, -2, 2, -1]


def test_srdhm_saturates_int32_min_squared():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN).tolist() == INT32_MAX


def test_srdhm_int32_min_times_int32_max_does_not_saturate():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX).tolist() == -INT32_MAX


def test_srdhm_rejects_float_input():
    with pytest.raises(TypeError):
        saturating_rounding_doubling_high_mul(np.array([1.0]), 3)


@FAST
@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=32))
def test_srdhm_matches_gemmlowp_formula(pairs):
    a, b = np.array(pairs).T
    assert saturating_rounding_doubling_high_mul(a, b).tolist() == [ref_srdhm(x, y) for x, y in pairs]


@FAST
@given(int32s, int32s)
def test_srdhm_is_round_half_up_of_the_exact_product(a, b):
    if a == b == INT32_MIN:
        return
    exact = round_fraction(Fraction(a * b, 2**31), Rounding.HALF_UP)
    assert saturating_rounding_doubling_high_mul(a, b).tolist() == exact


# --- RoundingDivideByPOT ---------------------------------------------------------------------


def test_rdbpot_rounds_ties_away_from_zero():
    assert rounding_divide_by_pot([3, -3, 5, -5, 1, -1], 1).tolist() == [2, -2, 3, -3, 1, -1]


def test_rdbpot_exponent_zero_is_identity():
    assert rounding_divide_by_pot([INT32_MIN, -7, 0, INT32_MAX], 0).tolist() == [INT32_MIN, -7, 0, INT32_MAX]


def test_rdbpot_rejects_exponent_outside_0_to_31():
    with pytest.raises(ValueError):
        rounding_divide_by_pot(1, 32)


@FAST
@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=32))
def test_rdbpot_matches_gemmlowp_formula_and_exact_half_away(pairs):
    x, e = np.array(pairs).T
    got = rounding_divide_by_pot(x, e).tolist()
    assert got == [ref_rdbpot(v, k) for v, k in pairs]
    assert got == [round_fraction(Fraction(v, 2**k), Rounding.HALF_AWAY) for v, k in pairs]


# --- MultiplyByQuantizedMultiplier -----------------------------------------------------------


def test_tensorflow_25087_double_rounding_gives_12_where_real_value_rounds_to_11():
    x, q, shift = 7984, 1583594044, -9
    assert float(Fraction(x * q, 2 ** (31 - shift))) == pytest.approx(11.4991, abs=1e-4)
    assert saturating_rounding_doubling_high_mul(x, q).tolist() == 5888  # 5887.6 -> 5888, then 5888 / 512 = 11.5
    assert multiply_by_quantized_multiplier(x, q, shift, single_rounding=False).tolist() == 12
    assert multiply_by_quantized_multiplier(x, q, shift, single_rounding=True).tolist() == 11


def test_double_rounding_ends_half_away_single_rounding_half_up():
    # q = 2**30, shift = -1 is M = 0.25: +-10 * M = +-2.5 is a tie
    x = np.array([10, -10])
    assert multiply_by_quantized_multiplier(x, 1 << 30, -1, single_rounding=False).tolist() == [3, -3]
    assert multiply_by_quantized_multiplier(x, 1 << 30, -1, single_rounding=True).tolist() == [3, -2]


def test_double_rounding_left_shift_wraps_like_int32():
    # shift = 1 doubles x first: 2**30 << 1 overflows int32 to INT32_MIN
    assert multiply_by_quantized_multiplier(1 << 30, 1 << 30, 1, single_rounding=False).tolist() == -(1 << 30)


def test_single_rounding_rejects_shift_above_30():
    with pytest.raises(ValueError):
        multiply_by_quantized_multiplier(1, 1 << 30, 31, single_rounding=True)


def test_per_channel_multipliers_broadcast():
    q, shift = quantize_multiplier(np.array([0.5, 0.25, 2.0]))
    acc = np.array([[6, 6, 6], [-6, -6, -6]])  # -6 * 0.25 = -1.5: away (double) vs up (single)
    for single, minus_1_5 in ((False, -2), (True, -1)):
        got = multiply_by_quantized_multiplier(acc, q, shift, single_rounding=single)
        assert got.tolist() == [[3, 2, 12], [-3, minus_1_5, -12]]


@FAST
@given(st.lists(st.tuples(int32s, st.integers(0, INT32_MAX), st.integers(-31, 30)), min_size=1, max_size=32))
def test_mbqm_matches_tflite_formulas(triples):
    x, q, shift = np.array(triples).T
    double = multiply_by_quantized_multiplier(x, q, shift, single_rounding=False).tolist()
    single = multiply_by_quantized_multiplier(x, q, shift, single_rounding=True).tolist()
    assert double == [ref_mbqm_double(*t) for t in triples]
    assert single == [ref_mbqm_single(*t) for t in triples]


@FAST
@given(int32s, st.integers(1 << 30, INT32_MAX), st.integers(-31, 0))
def test_single_rounding_is_round_half_up_of_the_exact_product(x, q, shift):
    exact = round_fraction(Fraction(x * q, 2 ** (31 - shift)), Rounding.HALF_UP)
    assert multiply_by_quantized_multiplier(x, q, shift, single_rounding=True).tolist() == exact


# --- QuantizeMultiplier ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("m", "q", "shift"),
    [(0.5, 1 << 30, 0), (0.25, 1 << 30, -1), (1.0, 1 << 30, 1), (3.0, 3 << 29, 2), (0.0, 0, 0)],
)
def test_quantize_multiplier_known_values(m, q, shift):
    assert [a.tolist() for a in quantize_multiplier(m)] == [q, shift]


def test_quantize_multiplier_mantissa_rounding_up_to_one_renormalizes():
    # frac = 1 - 2**-33 rounds to 2**31, which becomes 2**30 with shift + 1
    assert [a.tolist() for a in quantize_multiplier(1 - 2.0**-33)] == [1 << 30, 1]


def test_quantize_multiplier_flushes_below_2_pow_minus_32():
    q, shift = quantize_multiplier(np.array([2.0**-32, 2.0**-33, 1e-12]))
    assert q.tolist() == [1 << 30, 0, 0]
    assert shift.tolist() == [-31, 0, 0]


def test_quantize_multiplier_returns_int32():
    q, shift = quantize_multiplier(np.array([0.3, 7.0]))
    assert q.dtype == np.int32 and shift.dtype == np.int32


def test_single_rounding_build_saturates_shift_above_30():
    q, shift = quantize_multiplier(2.0**40, single_rounding=True)
    assert (q.tolist(), shift.tolist()) == (INT32_MAX, 30)
    assert [a.tolist() for a in quantize_multiplier(2.0**40)] == [1 << 30, 41]


def test_q15_multiplier_rounds_to_15_fractional_bits():
    q, shift = quantize_multiplier(np.array([0.5, 1 - 2.0**-17, 0.3]), bits=16)
    assert q.tolist() == [1 << 14, 1 << 14, std_round(0.6 * 2**15)]
    assert shift.tolist() == [0, 1, -1]


@FAST
@given(st.floats(2.0**-32, 2.0**20))
def test_quantize_multiplier_round_trips_within_2_pow_minus_31(m):
    q, shift = quantize_multiplier(m)
    assert (1 << 30) <= q <= INT32_MAX
    assert abs(Fraction(int(q)) * Fraction(2) ** (int(shift) - 31) - Fraction(m)) <= Fraction(m) * 2**-31


@FAST
@given(st.floats(2.0**-32, 2.0**20))
def test_q15_multiplier_round_trips_within_2_pow_minus_15(m):
    q, shift = quantize_multiplier(m, bits=16)
    assert (1 << 14) <= q < (1 << 15)
    assert abs(Fraction(int(q)) * Fraction(2) ** (int(shift) - 15) - Fraction(m)) <= Fraction(m) * 2**-15


@FAST
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.floats(0, 2.0**-30), st.just(0.0)), min_size=1, max_size=32))
def test_quantize_multiplier_vectorized_matches_tflite_scalar(ms):
    q, shift = quantize_multiplier(np.array(ms))
    assert list(zip(q.tolist(), shift.tolist())) == [ref_quantize_multiplier(m) for m in ms]


# --- power-of-two shift ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [(Rounding.HALF_UP, [3, -2, 2, -1]), (Rounding.HALF_AWAY, [3, -3, 2, -2]), (Rounding.HALF_EVEN, [2, -2, 2, -2])],
)
def test_shift_right_round_ties(rule, expected):
    assert shift_right_round([5, -5, 3, -3], 1, rule).tolist() == expected


@pytest.mark.parametrize("rule", list(Rounding))
def test_shift_zero_is_identity_and_negative_shift_is_left_shift(rule):
    assert shift_right_round([-3, 3, 5], [0, -2, -1], rule).tolist() == [-3, 12, 10]


def test_per_channel_shifts_broadcast():
    acc = np.array([[100, 100, 100], [-100, -100, -100]])
    assert shift_right_round(acc, np.array([1, 3, 4]), Rounding.HALF_UP).tolist() == [[50, 13, 6], [-50, -12, -6]]


@FAST
@given(
    st.lists(st.tuples(st.integers(-(2**48), 2**48), st.integers(-8, 40)), min_size=1, max_size=32),
    st.sampled_from(list(Rounding)),
)
def test_shift_right_round_matches_exact_rounding(pairs, rule):
    acc, s = np.array(pairs).T
    expected = [round_fraction(Fraction(a) / Fraction(2) ** k, rule) for a, k in pairs]
    assert shift_right_round(acc, s, rule).tolist() == expected


# --- float requant (onnxruntime) -------------------------------------------------------------


def test_requantize_float_rounds_ties_to_even():
    assert requantize_float([5, 7, -5, -7, 3], np.float32(0.5)).tolist() == [2, 4, -2, -4, 2]


def test_requantize_float_accepts_another_rule():
    assert requantize_float([5, -5], np.float32(0.5), Rounding.HALF_AWAY).tolist() == [3, -3]


def test_requantize_float_converts_the_accumulator_to_float32():
    assert requantize_float([2**24 + 1], np.float32(1.0)).tolist() == [2**24]


def test_requantize_float_multiplies_in_float32():
    # float32(-765000) * float32(0.0123) rounds to -9409.5 -> -9410; the float64 product gives -9409
    assert requantize_float([-765000], np.float32(0.0123)).tolist() == [-9410]


def _qlinear_matmul_ort(a, b, a_s, a_zp, b_s, b_zp, y_s, y_zp):
    names = ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s", "y_zp"]
    consts = dict(a_s=a_s, a_zp=a_zp, b=b, b_s=b_s, b_zp=b_zp, y_s=y_s, y_zp=y_zp)
    graph = helper.make_graph(
        [helper.make_node("QLinearMatMul", names, ["y"])], "qmm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, a.shape)],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"a": a})[0]


@pytest.mark.parametrize(
    ("scales", "spread"),
    # multiplier 2**-1 on small products: about half the outputs are exact ties
    [((2.0**-3, 2.0**-2, 2.0**-4), 6), ((0.0137, 0.0021, 0.031), 127)],
    ids=["pow2-ties", "arbitrary"],
)
def test_requantize_float_matches_onnxruntime_qlinearmatmul(scales, spread):
    rng = np.random.default_rng(0)
    a_zp, b_zp, y_zp = np.uint8(131), np.int8(0), np.uint8(120)
    a = (int(a_zp) + rng.integers(-spread, spread + 1, (16, 32))).astype(np.uint8)
    b = rng.integers(-spread, spread + 1, (32, 24)).astype(np.int8)
    a_s, b_s, y_s = (np.float32(v) for v in scales)
    acc = (a.astype(np.int64) - int(a_zp)) @ b.astype(np.int64)
    multiplier = a_s * b_s / y_s  # float32, in onnxruntime's order
    got = saturate(requantize_float(acc, multiplier) + int(y_zp), 8, signed=False)
    expected = _qlinear_matmul_ort(a, b, a_s, a_zp, b_s, b_zp, y_s, y_zp)
    assert np.array_equal(got, expected.astype(np.int64))


# --- accumulator overflow ----------------------------------------------------------------------


def test_saturate_clamps_to_the_signed_or_unsigned_range():
    x = [-200, -128, 127, 200]
    assert saturate(x, 8, signed=True).tolist() == [-128, -128, 127, 127]
    assert saturate(x, 8, signed=False).tolist() == [0, 0, 127, 200]


def test_wrap_is_twos_complement():
    assert wrap([128, 255, 256, -129, -128], 8).tolist() == [-128, -1, 0, 127, -128]
    assert wrap([2**31, -(2**31) - 1], 32).tolist() == [INT32_MIN, INT32_MAX]
    assert wrap([256 + 3, -1], 8, signed=False).tolist() == [3, 255]


@FAST
@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=32), st.integers(2, 63))
def test_wrap_matches_modular_arithmetic(xs, bits):
    half = 2 ** (bits - 1)
    assert wrap(xs, bits).tolist() == [(x + half) % 2**bits - half for x in xs]
