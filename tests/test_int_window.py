"""Integer Conv and pooling over any number of spatial axes, on the float kernels' window geometry:
1-D and 3-D results equal the float kernels on the same integer codes."""
from __future__ import annotations

import numpy as np
import pytest

import hwsim.exec  # noqa: F401  (registers the integer kernels)
from hwsim.exec.arith import Arith
from hwsim.exec.window import geometry
from quant.kernels.registry import KernelContext, Mode, lookup
from quant.rounding import Rounding

FLOAT = Arith("float", Rounding.HALF_EVEN, Rounding.HALF_EVEN)
I16 = {"qmin": -32768, "qmax": 32767, "dtype": "int16"}
RNG = np.random.default_rng(3)


def run(op: str, mode: Mode, inputs, attrs):
    return lookup(op, mode, 17)(list(inputs), attrs, KernelContext("n", 17, FLOAT))[0]


def test_ceil_mode_adds_the_overhang_but_no_window_starts_in_the_end_padding():
    g = geometry((5,), (2,), {"strides": (2,), "pads": (0, 2), "ceil_mode": 1})  # a 4th window would start in the pad
    assert (g.out, g.extra_end) == ((3,), (0,))
    g = geometry((6, 6), (3, 3), {"strides": (2, 2), "ceil_mode": 1})
    assert (g.out, g.extra_end) == ((3, 3), (1, 1))


def test_same_padding_is_the_float_kernels_padding_in_three_dimensions():
    g = geometry((5, 6, 7), (3, 2, 4), {"auto_pad": "SAME_LOWER", "strides": (2, 1, 3)})
    assert (g.out, g.pad_begin, g.pad_end) == ((3, 6, 3), (1, 1, 2), (1, 0, 1))


CONVS = {  # id: (input shape, weight shape, attrs)
    "1d": ((2, 3, 9), (4, 3, 3), {"pads": (1, 2), "strides": (2,)}),
    "1d_dilated_same": ((1, 2, 8), (2, 2, 3), {"auto_pad": "SAME_UPPER", "dilations": (2,)}),
    "3d": ((1, 4, 5, 6, 4), (6, 2, 3, 2, 3), {"pads": (1, 0, 1, 1, 1, 0), "strides": (1, 2, 1), "group": 2}),
    "3d_depthwise": ((2, 3, 4, 4, 5), (3, 1, 2, 3, 3), {"pads": (0, 1, 1, 1, 1, 1), "group": 3}),
}


@pytest.mark.parametrize("case", CONVS.values(), ids=CONVS.keys())
def test_int_conv_accumulator_equals_the_float_conv_of_the_codes(case):
    x_shape, w_shape, attrs = case
    x = RNG.integers(-128, 128, x_shape).astype(np.int8)
    w = RNG.integers(-127, 128, w_shape).astype(np.int32)
    int_attrs = attrs | {"w": w, "w_zp": np.zeros(w_shape[0], np.int64), "x_zp": -3, "bias": np.zeros(w_shape[0], np.int64), "out": "acc"}
    acc = run("IntConv", Mode.INT, [x], int_attrs)
    want = run("Conv", Mode.FLOAT, [(x.astype(np.float64) + 3), w.astype(np.float64)], attrs)  # exact: |acc| < 2^53
    assert acc.dtype == np.int32 and acc.shape == want.shape and np.array_equal(acc, want)


POOLS = {  # id: (input shape, attrs)
    "1d_ceil": ((2, 3, 9), {"kernel_shape": (3,), "strides": (2,), "pads": (1, 0), "ceil_mode": 1}),
    "3d": ((1, 2, 5, 6, 7), {"kernel_shape": (2, 3, 2), "strides": (1, 2, 2), "pads": (0, 1, 1, 1, 0, 1)}),
    "3d_same_ceil": ((1, 2, 4, 5, 6), {"kernel_shape": (2, 2, 3), "strides": (2, 2, 2), "auto_pad": "SAME_UPPER", "ceil_mode": 1}),
}


@pytest.mark.parametrize("case", POOLS.values(), ids=POOLS.keys())
def test_int_maxpool_equals_the_float_maxpool_of_the_codes(case):
    shape, attrs = case
    x = RNG.integers(-32768, 32768, shape).astype(np.int16)
    assert np.array_equal(run("IntMaxPool", Mode.INT, [x], attrs | {"y_zp": 0} | I16), run("MaxPool", Mode.FLOAT, [x], attrs))


AVERAGES = [{"kernel_shape": (2,), "strides": (1,)}, {"kernel_shape": (2, 2, 2), "strides": (2, 1, 2)}]


@pytest.mark.parametrize("attrs", AVERAGES, ids=["1d", "3d"])
def test_int_average_pool_equals_the_rounded_float_average_of_the_codes(attrs):
    x = RNG.integers(-1000, 1000, (2, 3, 4, 5, 6)[: 2 + len(attrs["kernel_shape"])]).astype(np.int16)
    one = {"x_scale": np.float32(1), "x_zp": 0, "y_scale": np.float32(1), "y_zp": 0}  # count 2 or 8: exact float means
    want = np.rint(run("AveragePool", Mode.FLOAT, [x], attrs)).astype(np.int16)
    assert np.array_equal(run("IntAveragePool", Mode.INT, [x], attrs | one | I16), want)
