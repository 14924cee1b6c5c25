"""Each integer kernel against an independent formula (Python ints / explicit loops) on small inputs."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import hwsim.exec  # noqa: F401  (registers the integer kernels)
from hwsim.exec.arith import Arith, rdiv, requant_params
from hwsim.exec.qparams import LoweringError
from quant.kernels.registry import KernelContext, Mode, lookup
from quant.rounding import Rounding

FLOAT = Arith("float", Rounding.HALF_EVEN, Rounding.HALF_EVEN)
FIXED = Arith("fixed_point", Rounding.HALF_AWAY, Rounding.HALF_EVEN)
SHIFT = Arith("shift", Rounding.HALF_UP, Rounding.HALF_EVEN)
I8 = {"qmin": -128, "qmax": 127, "dtype": "int8"}


def run(op: str, inputs, attrs, arith=FLOAT):
    return lookup(op, Mode.INT, 17)(list(inputs), attrs, KernelContext("n", 17, arith))[0]


def conv_loops(x, w, stride=1, pad=0, group=1):
    """Direct convolution of integer arrays with Python ints (NCHW, OIHW)."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).astype(object)
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, m, oh, ow), dtype=object)
    for b, o, i, j in np.ndindex(n, m, oh, ow):
        g0 = (o // (m // group)) * cg
        patch = xp[b, g0 : g0 + cg, i * stride : i * stride + kh, j * stride : j * stride + kw]
        out[b, o, i, j] = int((patch * w[o].astype(object)).sum())
    return out.astype(np.int64)


def float_requant(acc, m):
    """MlasRequantizeOutput: float32(acc) * float32(M), round half to even (np.rint)."""
    return np.rint(np.float32(acc) * np.float32(m)).astype(np.int64)


def gemmlowp(x: int, q: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier, double rounding, as scalar C code with Python ints."""
    left, right = max(shift, 0), max(-shift, 0)
    ab = x * (1 << left) * q
    t = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    srdhm = t // (1 << 31) if t >= 0 else -((-t) // (1 << 31))  # C++ '/' truncates toward zero
    mask = (1 << right) - 1
    rem, thr = srdhm & mask, (mask >> 1) + (1 if srdhm < 0 else 0)
    return (srdhm >> right) + (1 if rem > thr else 0)


def conv_attrs(w, bias, m, zp_x, pad=1, stride=1, group=1):
    return {"w": w, "w_zp": np.zeros(w.shape[0], np.int64), "x_zp": zp_x, "bias": bias, "pads": (pad,) * 4,
            "strides": (stride, stride), "group": group, "rq_mult": np.float32(m), "rq_shift": np.zeros(w.shape[0], np.int32),
            "y_zp": 3} | I8


def test_conv_float_requant_matches_direct_convolution():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1, 2, 5, 5)).astype(np.uint8)
    w = rng.integers(-127, 128, (3, 2, 3, 3)).astype(np.int32)
    bias, m = np.array([100, -200, 7]), np.array([0.0031, 0.0027, 0.0042], np.float32)
    y = run("IntConv", [x], conv_attrs(w, bias, m, 128))
    acc = conv_loops(x.astype(np.int64) - 128, w, pad=1) + bias[None, :, None, None]
    want = np.clip(float_requant(acc, m[None, :, None, None]) + 3, -128, 127)
    assert y.dtype == np.int8 and np.array_equal(y, want)


def test_depthwise_and_strided_conv_match_direct_convolution():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (2, 4, 6, 6)).astype(np.int8)
    w = rng.integers(-127, 128, (8, 1, 3, 3)).astype(np.int32)  # channel multiplier 2
    m = np.full(8, 0.004, np.float32)
    y = run("IntConv", [x], conv_attrs(w, np.zeros(8, np.int64), m, -5, stride=2, group=4))
    acc = conv_loops(x.astype(np.int64) + 5, w, stride=2, pad=1, group=4)
    assert np.array_equal(y, np.clip(float_requant(acc, np.float32(0.004)) + 3, -128, 127))


def test_grouped_conv_matches_direct_convolution():
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (1, 4, 4, 4)).astype(np.int8)
    w = rng.integers(-127, 128, (6, 2, 3, 3)).astype(np.int32)
    y = run("IntConv", [x], conv_attrs(w, np.zeros(6, np.int64), np.full(6, 0.002, np.float32), 0, group=2))
    assert np.array_equal(y, np.clip(float_requant(conv_loops(x.astype(np.int64), w, pad=1, group=2), np.float32(0.002)) + 3, -128, 127))


def acc_attrs(w, zp_x=0):
    return {"w": w, "w_zp": np.zeros(w.shape[1], np.int64), "x_zp": zp_x, "bias": np.zeros(w.shape[1], np.int64), "out": "acc"}


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_accumulator_saturates_or_wraps_at_its_width(overflow):
    a = np.array([[127] * 4, [-128] * 4, [100, 100, -100, 1]], np.int8)
    w = np.full((4, 1), 127, np.int32)
    arith = Arith("float", Rounding.HALF_EVEN, Rounding.HALF_EVEN, acc_bits=16, overflow=overflow)
    acc = run("IntMatMul", [a], acc_attrs(w), arith)[:, 0]
    exact = [127 * 127 * 4, -128 * 127 * 4, 101 * 127]
    if overflow == "saturate":
        want = [min(max(v, -(2**15)), 2**15 - 1) for v in exact]
    else:
        want = [(v + 2**15) % 2**16 - 2**15 for v in exact]
    assert acc.tolist() == want


def test_per_channel_requant_uses_each_columns_multiplier():
    a = np.array([[10, 20, 30]], np.int8)
    w = np.array([[1, 2], [3, 4], [5, 6]], np.int32)  # columns sum to 220 and 280 for this row
    mult = np.array([0.5, 0.25], np.float32)
    attrs = acc_attrs(w) | {"out": "", "rq_mult": mult, "rq_shift": np.zeros(2, np.int32), "y_zp": 0} | I8
    assert run("IntGemm", [a], attrs).tolist() == [[110, 70]]


def test_fixed_point_matches_gemmlowp_scalar_formula():
    rng = np.random.default_rng(3)
    acc = np.concatenate([rng.integers(-(2**20), 2**20, 300), [7984, -7984, 2**14, -(2**14) - 1]])
    w = np.ones((1, 1), np.int32)
    for m in (0.0123, 0.75, 1.9, 3.1e-5):
        p = requant_params(np.float64(m), np.float32(m), FIXED, "test")
        attrs = {"w": w, "w_zp": np.zeros(1), "x_zp": 0, "bias": np.zeros(1, np.int64), "y_zp": 0, "qmin": -(2**31), "qmax": 2**31 - 1, "dtype": "int64"} | p
        y = run("IntMatMul", [acc.reshape(-1, 1).astype(np.int32)], attrs, FIXED)[:, 0]
        want = [gemmlowp(int(v), int(p["rq_mult"]), int(p["rq_shift"])) for v in acc]
        assert y.tolist() == want


def test_double_and_single_rounding_differ_on_tensorflow_issue_25087():
    x, q, shift = np.array([7984]), np.int32(1583594044), np.int32(-9)
    attrs = {"x_scale": 1, "x_zp": 0, "y_scale": 1, "rq_mult": q, "rq_shift": shift, "y_zp": 0, "qmin": -1000, "qmax": 1000, "dtype": "int32"}
    single = Arith("fixed_point", Rounding.HALF_AWAY, Rounding.HALF_EVEN, double_rounding=False)
    assert run("IntRescale", [x], attrs, FIXED).tolist() == [12]
    assert run("IntRescale", [x], attrs, single).tolist() == [11]


@pytest.mark.parametrize("rule", list(Rounding))
def test_shift_requant_rounds_ties_by_the_targets_rule(rule):
    x = np.arange(-12, 13)
    arith = Arith("shift", rule, Rounding.HALF_EVEN)
    attrs = {"x_scale": 1, "x_zp": 0, "y_scale": 4, "rq_mult": np.int32(1), "rq_shift": np.int32(2), "y_zp": 0} | I8
    want = [_round(Fraction(int(v), 4), rule) for v in x]
    assert run("IntRescale", [x], attrs, arith).tolist() == want


def _round(f: Fraction, rule: Rounding) -> int:
    fl = f.numerator // f.denominator
    rest = f - fl
    if rest != Fraction(1, 2):
        return round(f)
    return {Rounding.HALF_UP: fl + 1, Rounding.HALF_AWAY: fl + 1 if f > 0 else fl, Rounding.HALF_EVEN: round(f)}[rule]


def test_fused_relu_clamp_is_the_output_range():
    x = np.array([[-100, -3, 0, 50]], np.int8)
    attrs = acc_attrs(np.eye(4, dtype=np.int32)) | {"out": "", "rq_mult": np.float32(1), "rq_shift": np.int32(0)}
    attrs |= {"y_zp": -10, "qmin": -10, "qmax": 127, "dtype": "int8"}  # Relu: clamp at Z_y
    assert run("IntMatMul", [x], attrs).tolist() == [[-10, -10, -10, 40]]


def test_add_float_mode_matches_onnxruntime_avx2_formula():
    a, b = np.array([0, 17, 255, 128], np.uint8), np.array([3, 200, 1, 128], np.uint8)
    ra, rb = np.float32(0.02 / 0.03), np.float32(0.01 / 0.03)
    off = np.float32(np.float32(5) - np.float32(np.float64(ra) * 120 + np.float64(np.float32(rb * np.float32(130)))))
    attrs = {"ratio_a": ra, "ratio_b": rb, "offset": off, "y_zp": 5, "qmin": 0, "qmax": 255, "dtype": "uint8"}
    t = (np.float64(b.astype(np.float32)) * np.float64(rb) + np.float64(off)).astype(np.float32)
    r = (np.float64(a.astype(np.float32)) * np.float64(ra) + np.float64(t)).astype(np.float32)
    assert run("IntAdd", [a, b], attrs).tolist() == np.clip(np.rint(r), 0, 255).astype(int).tolist()


def test_add_fixed_point_follows_tflite_add():
    a, b = np.array([-128, -5, 0, 90, 127], np.int8), np.array([127, 33, 0, -90, 127], np.int8)
    sa, sb, sy = 0.05, 0.02, 0.06
    twice = 2 * max(sa, sb)
    pa, pb = (requant_params(np.float64(s / twice), np.float32(0), FIXED, "t") for s in (sa, sb))
    po = requant_params(np.float64(twice / (2**20 * sy)), np.float32(0), FIXED, "t")
    attrs = {"a_zp": 1, "b_zp": -2, "a_mult": pa["rq_mult"], "a_shift": pa["rq_shift"], "b_mult": pb["rq_mult"], "b_shift": pb["rq_shift"], "left_shift": 20, "y_zp": 4} | po | I8
    want = []
    for x1, x2 in zip(a.tolist(), b.tolist()):
        s1 = gemmlowp((x1 - 1) << 20, int(pa["rq_mult"]), int(pa["rq_shift"]))
        s2 = gemmlowp((x2 + 2) << 20, int(pb["rq_mult"]), int(pb["rq_shift"]))
        want.append(min(max(gemmlowp(s1 + s2, int(po["rq_mult"]), int(po["rq_shift"])) + 4, -128), 127))
    assert run("IntAdd", [a, b], attrs, FIXED).tolist() == want


def test_add_shift_mode_aligns_exponents_then_shifts_once():
    a, b = np.array([3, -7, 5]), np.array([1, 1, -2])  # scales 2^-2 and 2^-4, output 2^-3
    attrs = {"a_zp": 0, "b_zp": 0, "a_align": 2, "b_align": 0, "rq_mult": np.int32(1), "rq_shift": np.int32(1), "y_zp": 0} | I8
    want = [_round(Fraction(int(x) * 4 + int(y), 2), Rounding.HALF_UP) for x, y in zip(a, b)]
    assert run("IntAdd", [a, b], attrs, SHIFT).tolist() == want


def test_mul_float_mode_adds_zero_point_before_rounding():
    a, b = np.array([10, -20, 7], np.int8), np.array([3, 5, -9], np.int8)
    m = np.float32(0.0125)
    attrs = {"a_zp": 2, "b_zp": -1, "rq_mult": m, "rq_shift": np.int32(0), "y_zp": 7} | I8
    prod = (a.astype(np.int64) - 2) * (b.astype(np.int64) + 1)
    want = np.clip(np.rint(np.float32(np.float32(prod) * m) + np.float32(7)), -128, 127)
    assert run("IntMul", [a, b], attrs).tolist() == want.astype(int).tolist()


def test_maxpool_takes_the_window_maximum_of_codes():
    x = np.arange(16, dtype=np.int8).reshape(1, 1, 4, 4) - 8
    y = run("IntMaxPool", [x], {"kernel_shape": (2, 2), "strides": (2, 2), "y_zp": 0} | I8)
    assert y.tolist() == [[[[-3, -1], [5, 7]]]]


def test_average_pool_integer_mode_rounds_the_mean_once():
    x = np.array([[[[1, 2], [2, 2]], [[-1, -2], [-2, -2]]]], np.int8)  # sums 7 and -7: averages +-1.75
    x2 = np.array([[[[1, 1], [0, 0]], [[-1, -1], [0, 0]]]], np.int8)  # sums +-2: averages +-0.5 (ties)
    attrs = {"kernel_shape": (2, 2), "x_zp": 0, "x_scale": 0.5, "y_scale": 0.5, "rq_shift": 0, "y_zp": 0} | I8
    assert run("IntAveragePool", [x], attrs, FIXED).ravel().tolist() == [2, -2]
    assert run("IntAveragePool", [x2], attrs, FIXED).ravel().tolist() == [1, -1]  # half away from zero
    assert run("IntAveragePool", [x2], attrs, SHIFT).ravel().tolist() == [1, 0]  # half up


def test_rdiv_matches_fraction_rounding():
    num = np.arange(-30, 31)
    for den in (1, 2, 3, 4, 7):
        for rule in Rounding:
            assert rdiv(num, den, rule).tolist() == [_round(Fraction(int(v), den), rule) for v in num]


def test_global_average_pool_float_mode_is_mlas_integer_sum_times_float_scale():
    x = np.arange(-8, 10, dtype=np.int8).reshape(1, 2, 3, 3)
    attrs = {"x_scale": np.float32(0.1), "x_zp": -3, "y_scale": np.float32(0.07), "y_zp": 2} | I8
    acc = x.astype(np.int64).reshape(2, 9).sum(1) + 3 * 9
    scale = np.float32(np.float32(0.1) / np.float32(np.float32(0.07) * np.float32(9)))
    want = np.clip(np.rint(np.float32(acc) * scale) + 2, -128, 127)
    assert run("IntGlobalAveragePool", [x], attrs).ravel().tolist() == want.astype(int).tolist()


def test_concat_rescales_inputs_to_the_output_grid():
    a, b = np.array([[0, 100]], np.uint8), np.array([[10, 20]], np.uint8)
    attrs = {"axis": 1, "copy": np.array([1, 0]), "x_scale": np.array([0.1, 0.05], np.float32), "x_zp": np.array([0, 10]),
             "rq_mult": np.array([1, 1], np.float32), "rq_shift": np.zeros(2, np.int32), "y_scale": np.float32(0.1), "y_zp": 0,
             "qmin": 0, "qmax": 255, "dtype": "uint8"}
    assert run("IntConcat", [a, b], attrs).tolist() == [[0, 100, 0, 5]]


def test_lut_indexes_the_table_by_code():
    table = np.arange(256)[::-1]
    assert run("IntLut", [np.array([-128, 0, 127], np.int8)], {"table": table, "x_min": -128, "dtype": "uint8"}).tolist() == [255, 127, 0]


@pytest.mark.parametrize(("rule", "want"), [(Rounding.HALF_EVEN, [0, 2, -2]), (Rounding.HALF_AWAY, [1, 3, -3])])
def test_input_quantize_uses_the_targets_quantize_rounding(rule, want):
    arith = Arith("float", Rounding.HALF_EVEN, rule)
    x = np.array([0.5, 2.5, -2.5], np.float32)
    attrs = {"scale": np.float32(1.0), "zp": np.int64(0), "qmin": -128, "qmax": 127, "dtype": "int8"}
    assert run("IntQuantize", [x], attrs, arith).tolist() == want


def test_shift_mode_rejects_a_multiplier_that_is_not_a_power_of_two():
    with pytest.raises(LoweringError, match=r"node 'conv1'.*0\.3.*not a power of two"):
        requant_params(np.float64(0.3), np.float32(0.3), SHIFT, "node 'conv1' (Conv): S_x=0.5, S_w=0.6, S_y=1")
