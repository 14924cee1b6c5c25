"""Specification of quant.rounding: tie rules, ONNX QuantizeLinear / DequantizeLinear, PyTorch reciprocal form."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from quant.rounding import Rounding, dequantize, quantize, round_to_int

FAST = settings(max_examples=200, deadline=None)
TIES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])


def ref_round(x: float, rule: Rounding) -> int:
    """Exact scalar rounding from the definition of each rule (Fractions, no float error)."""
    f = Fraction(x)
    half = Fraction(1, 2)
    if rule is Rounding.HALF_UP:
        return math.floor(f + half)
    if rule is Rounding.HALF_AWAY:
        n = math.floor(abs(f) + half)
        return n if f >= 0 else -n
    return round(f)  # Python rounds Fractions half to even


# --- round_to_int ------------------------------------------------------------------------


def test_half_even_rounds_ties_to_even():
    assert round_to_int(TIES, Rounding.HALF_EVEN).tolist() == [-2, -2, -0, 0, 2, 2]


def test_half_away_rounds_ties_away_from_zero():
    assert round_to_int(TIES, Rounding.HALF_AWAY).tolist() == [-3, -2, -1, 1, 2, 3]


def test_half_up_rounds_ties_toward_plus_infinity():
    assert round_to_int(TIES, Rounding.HALF_UP).tolist() == [-2, -1, 0, 1, 2, 3]


@pytest.mark.parametrize("rule", list(Rounding))
def test_rules_agree_away_from_ties(rule):
    x = np.array([-2.6, -2.4, -0.2, 0.2, 0.7, 1.49, 1.51])
    assert round_to_int(x, rule).tolist() == [-3, -2, 0, 0, 1, 1, 2]


@pytest.mark.parametrize("rule", list(Rounding))
def test_largest_double_below_half_rounds_to_zero(rule):
    # the naive floor(x + 0.5) gives 1 here, because x + 0.5 rounds up to 1.0
    assert round_to_int(np.array([0.49999999999999994]), rule).tolist() == [0]


@pytest.mark.parametrize("rule", list(Rounding))
def test_integers_above_2_pow_52_are_unchanged(rule):
    x = np.array([2.0**52 + 1, -(2.0**52) - 1, 2.0**60])
    assert np.array_equal(round_to_int(x, rule), x)


@pytest.mark.parametrize("rule", list(Rounding))
def test_returns_float64_and_keeps_float32_values(rule):
    x = np.array([0.5, 1.5, 2.5000002], dtype=np.float32)
    r = round_to_int(x, rule)
    assert r.dtype == np.float64
    assert r.tolist() == [ref_round(float(v), rule) for v in x]


@FAST
@given(st.lists(st.floats(-1e18, 1e18, allow_nan=False), min_size=1, max_size=32), st.sampled_from(list(Rounding)))
def test_round_to_int_matches_exact_definition(xs, rule):
    assert round_to_int(np.array(xs), rule).tolist() == [ref_round(x, rule) for x in xs]


@FAST
@given(st.lists(st.integers(-(2**50), 2**50), min_size=1, max_size=32), st.sampled_from(list(Rounding)))
def test_round_to_int_matches_exact_definition_on_ties(ks, rule):
    xs = [k + 0.5 for k in ks]  # exact in float64
    assert round_to_int(np.array(xs), rule).tolist() == [ref_round(x, rule) for x in xs]


# --- quantize / dequantize ----------------------------------------------------------------


def test_quantize_divides_rounds_adds_zero_point_and_saturates():
    x = np.array([-100.0, -0.75, -0.25, 0.25, 0.75, 100.0], dtype=np.float32)
    q = quantize(x, np.float32(0.5), 3, -128, 127, Rounding.HALF_EVEN)
    assert q.dtype == np.int64
    assert q.tolist() == [-128, 1, 3, 3, 5, 127]  # x/s = -200, -1.5, -0.5, 0.5, 1.5, 200


@pytest.mark.parametrize(
    ("rule", "expected"),
    [(Rounding.HALF_EVEN, [-2, -2, 0, 0, 2, 2]), (Rounding.HALF_AWAY, [-3, -2, -1, 1, 2, 3]),
     (Rounding.HALF_UP, [-2, -1, 0, 1, 2, 3])],
)
def test_quantize_applies_the_tie_rule_before_the_zero_point(rule, expected):
    q = quantize((TIES * 0.25).astype(np.float32), np.float32(0.25), 0, -128, 127, rule)
    assert q.tolist() == expected


def test_quantize_saturates_to_uint8_range():
    x = np.array([-1.0, 0.0, 1.0], dtype=np.float32)
    assert quantize(x, np.float32(1 / 128), 128, 0, 255, Rounding.HALF_EVEN).tolist() == [0, 128, 255]


def test_quantize_per_axis_uses_one_scale_and_zero_point_per_channel():
    x = np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]], dtype=np.float32)
    scale = np.array([0.5, 0.25, 1.0], dtype=np.float32)
    zp = np.array([0, 10, -3])
    q = quantize(x, scale, zp, -128, 127, Rounding.HALF_EVEN, axis=1)
    assert q.tolist() == [[2, 14, -2], [-2, 6, -4]]
    assert np.array_equal(quantize(x, scale, zp, -128, 127, Rounding.HALF_EVEN, axis=-1), q)


def test_quantize_divides_in_float32_for_float32_input():
    # float32: -7.2500005 / 0.1 = -72.5 exactly -> RNE -72 (onnxruntime agrees); float64 gives -72.5000037 -> -73
    x, s = np.array([-7.2500005], dtype=np.float32), np.float32(0.1)
    assert quantize(x, s, 0, -128, 127, Rounding.HALF_EVEN).tolist() == [-72]


def test_reciprocal_emulates_pytorch_and_can_differ_by_one_step():
    # PyTorch fake-quant: x * float32(1 / 0.1) = 15.5 exactly in float32 -> RNE 16; ONNX divides -> 15
    x, s = np.array([1.55], dtype=np.float32), np.float32(0.1)
    assert quantize(x, s, 0, -128, 127, Rounding.HALF_EVEN, reciprocal=True).tolist() == [16]
    assert quantize(x, s, 4, -128, 127, Rounding.HALF_EVEN, reciprocal=True).tolist() == [20]


def test_per_tensor_scale_must_be_a_single_value():
    with pytest.raises(ValueError):
        quantize(np.zeros(3, np.float32), np.ones(3, np.float32), 0, -128, 127, Rounding.HALF_EVEN)


def test_dequantize_subtracts_zero_point_and_multiplies_in_float32():
    d = dequantize(np.array([-128, 0, 3, 127]), np.float32(0.5), 3)
    assert d.dtype == np.float32
    assert d.tolist() == [-65.5, -1.5, 0.0, 62.0]


def test_dequantize_per_axis():
    q = np.array([[2, 14, -2], [-2, 6, -4]])
    d = dequantize(q, np.array([0.5, 0.25, 1.0], np.float32), np.array([0, 10, -3]), axis=1)
    assert d.tolist() == [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]


# --- agreement with onnxruntime --------------------------------------------------------------

QRANGE = {"int8": (-128, 127, np.int8), "uint8": (0, 255, np.uint8)}


def _run_one_node(op: str, x: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int | None, out_type):
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node(op, ["x", "s", "zp"], ["y"], **attrs)
    graph = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)],
        [helper.make_tensor_value_info("y", out_type, None)],
        initializer=[numpy_helper.from_array(np.asarray(scale), "s"), numpy_helper.from_array(np.asarray(zp), "zp")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _qparams(rng, dtype: str, n: int):
    lo, hi, npdt = QRANGE[dtype]
    # half the scales are powers of two, so that (k + 0.5) * scale is an exact tie after division
    scale = np.where(rng.random(n) < 0.5, 2.0 ** rng.integers(-8, 2, n), rng.uniform(0.001, 0.5, n))
    zp = rng.integers(lo, hi + 1, n).astype(npdt)
    return scale.astype(np.float32), zp


def _data(rng, scale: np.ndarray, shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    s = scale if axis is None else scale.reshape([-1 if i == axis else 1 for i in range(len(shape))])
    ties = (rng.integers(-200, 200, shape) + 0.5) * s  # exact ties (pow2 scales) and near-ties
    noise = rng.normal(0.0, 80.0, shape) * s
    return np.where(rng.random(shape) < 0.5, ties, noise).astype(np.float32)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("seed", range(3))
def test_quantize_matches_onnxruntime_per_tensor(dtype, seed):
    rng = np.random.default_rng(seed)
    lo, hi, _ = QRANGE[dtype]
    scale, zp = _qparams(rng, dtype, 1)
    x = _data(rng, scale, (7, 64), None)
    expected = _run_one_node("QuantizeLinear", x, scale[0], zp[0], None, helper.np_dtype_to_tensor_dtype(zp.dtype))
    got = quantize(x, scale[0], zp[0], lo, hi, Rounding.HALF_EVEN)
    assert np.array_equal(got, expected.astype(np.int64))


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_quantize_matches_onnxruntime_per_axis(dtype, axis):
    rng = np.random.default_rng(100 + axis)
    lo, hi, _ = QRANGE[dtype]
    shape = (4, 6, 16)
    scale, zp = _qparams(rng, dtype, shape[axis])
    x = _data(rng, scale, shape, axis)
    expected = _run_one_node("QuantizeLinear", x, scale, zp, axis, helper.np_dtype_to_tensor_dtype(zp.dtype))
    got = quantize(x, scale, zp, lo, hi, Rounding.HALF_EVEN, axis=axis)
    assert np.array_equal(got, expected.astype(np.int64))


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("axis", [None, 1])
def test_dequantize_matches_onnxruntime(dtype, axis):
    rng = np.random.default_rng(7)
    lo, hi, npdt = QRANGE[dtype]
    scale, zp = _qparams(rng, dtype, 1 if axis is None else 5)
    q = rng.integers(lo, hi + 1, (3, 5, 4)).astype(npdt)
    s, z = (scale[0], zp[0]) if axis is None else (scale, zp)
    expected = _run_one_node("DequantizeLinear", q, s, z, axis, TensorProto.FLOAT)
    assert np.array_equal(dequantize(q, s, z, axis=axis), expected)
