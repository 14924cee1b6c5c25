"""qparams: scale/zero-point formulas, power-of-two choice, and the exponent repairs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant.constraints import TensorRule
from quant.qparams import Distribution, align_add, qparams, quant_mse, repair_shift

AFFINE = TensorRule(symmetric=False)
SYM = TensorRule()
POW2 = TensorRule(scale="power_of_two")


def test_symmetric_signed():
    p = qparams(-1.0, 2.0, SYM)
    assert (p.qmin, p.qmax, p.dtype) == (-128, 127, "int8")
    assert p.zero_point == 0 and p.scale == np.float32(2.0 / 127)


def test_narrow_range_drops_most_negative_code():
    p = qparams(-1.0, 1.0, TensorRule(narrow_range=True))
    assert (p.qmin, p.qmax) == (-127, 127) and p.scale == np.float32(1 / 127)


def test_affine_signed():
    p = qparams(-1.0, 2.0, AFFINE)
    assert p.scale == np.float32(3 / 255)
    assert p.zero_point == -43  # round(-128 + 1 / (3/255)) = round(-42.99...)


def test_affine_relu_output_puts_zero_point_at_qmin():
    p = qparams(0.0, 6.0, AFFINE)
    assert p.zero_point == -128 and p.scale == np.float32(6 / 255)


def test_auto_signedness_is_unsigned_for_non_negative_ranges():
    p = qparams(0.0, 2.55, TensorRule(signedness="auto"))
    assert (p.qmin, p.qmax, p.dtype, int(p.zero_point)) == (0, 255, "uint8", 0)
    assert qparams(-0.1, 2.55, TensorRule(signedness="auto")).dtype == "int8"


def test_unsigned_argument_overrides_rule():
    assert qparams(0.0, 1.0, SYM, unsigned=True).dtype == "uint8"


def test_per_channel_arrays():
    p = qparams(np.array([-1.0, -0.5]), np.array([0.5, 2.0]), TensorRule(narrow_range=True), axis=0)
    np.testing.assert_allclose(p.scale, np.float32([1 / 127, 2 / 127]))
    assert p.axis == 0 and p.per_channel and p.zero_point.shape == (2,)


def test_four_bit_keeps_int8_storage():
    p = qparams(-1.0, 1.0, TensorRule(bits=4))
    assert (p.qmin, p.qmax, p.dtype) == (-8, 7, "int8")


def test_sixteen_bit_uses_int16():
    assert qparams(-1.0, 1.0, TensorRule(bits=16)).dtype == "int16"
    assert qparams(0.0, 1.0, TensorRule(bits=16, signedness="unsigned")).dtype == "uint16"


def test_constant_tensor_gets_unit_scale():
    p = qparams(0.0, 0.0, AFFINE)
    assert p.scale == 1.0


def test_constant_non_zero_tensor_is_representable():
    p = qparams(3.0, 3.0, AFFINE)
    assert abs(3.0 - (np.round(3.0 / p.scale) + p.zero_point - p.zero_point) * p.scale) <= p.scale / 2


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e4, 1e4), st.floats(0, 1e4), st.sampled_from([AFFINE, SYM, POW2, TensorRule(bits=4, symmetric=False)]))
def test_zero_is_exactly_representable(lo, width, rule):
    p = qparams(lo, lo + width, rule)
    assert p.qmin <= int(p.zero_point) <= p.qmax  # real 0 -> code zero_point, exactly


def test_pow2_without_data_takes_the_ceiling():
    p = qparams(-1.0, 1.0, POW2)  # 1/127 -> 2^-6 covers the range
    assert p.pow2 and int(p.frac_bits) == 6


def test_pow2_choice_beats_the_ceiling_when_the_max_is_an_outlier():
    x = np.concatenate([np.random.default_rng(0).normal(0, 0.25, 10_000), [1.0]])
    ceil = qparams(x.min(), x.max(), POW2)
    best = qparams(x.min(), x.max(), POW2, dist=Distribution(x))
    assert int(best.frac_bits) == int(ceil.frac_bits) + 1
    err = lambda p: quant_mse(x, None, p.scale, p.zero_point, p.qmin, p.qmax)  # noqa: E731
    assert err(best) < err(ceil)


def test_pow2_keeps_the_ceiling_when_the_floor_would_clip_much():
    x = np.linspace(-1.5, 1.5, 10_001)  # 2^-7 would clip everything beyond +-0.99
    assert int(qparams(-1.5, 1.5, POW2, dist=Distribution(x)).frac_bits) == 6


def test_pow2_per_channel_choice():
    outlier = np.concatenate([np.random.default_rng(0).normal(0, 0.25, 1000), [1.0]])
    rows = np.stack([np.linspace(-1.5, 1.5, 1001), outlier])
    p = qparams(rows.min(axis=1), rows.max(axis=1), POW2, axis=0, dist=Distribution(rows))
    assert list(p.frac_bits) == [6, 7]


def test_forced_exponent():
    assert int(qparams(-1.0, 1.0, POW2, frac_bits=3).frac_bits) == 3


def test_shift_repair_moves_output_exponent_into_range():
    fw, fo = repair_shift(frac_in=7, frac_w=np.array([7, 8]), frac_out=0, shift_min=0, shift_max=10)
    assert fo == 5 and list(fw) == [7, 8]  # shifts 9 and 10


def test_shift_repair_never_needs_a_left_shift():
    fw, fo = repair_shift(frac_in=2, frac_w=np.array([3]), frac_out=9, shift_min=0, shift_max=16)
    assert fo == 5  # shift 0


def test_shift_repair_coarsens_weights_when_channels_spread_too_far():
    fw, fo = repair_shift(frac_in=0, frac_w=np.array([2, 20]), frac_out=0, shift_min=0, shift_max=8)
    shifts = 0 + fw - fo
    assert shifts.min() >= 0 and shifts.max() <= 8


@pytest.mark.parametrize("a,b,out", [(10, 4, (7, 4)), (4, 10, (4, 7)), (5, 6, (5, 6))])
def test_add_alignment_coarsens_the_finer_input(a, b, out):
    assert align_add(a, b, 3) == out


def test_rejects_inverted_range():
    with pytest.raises(ValueError):
        qparams(1.0, -1.0, SYM)


def test_pow2_scale_for_uses_the_observer_histogram():
    from quant.observers import Histogram, MinMax
    from quant.qparams import pow2_scale_for

    x = np.concatenate([np.random.default_rng(1).normal(0, 0.25, 50_000), [1.0]])
    h, m = Histogram(), MinMax()
    h.update(x)
    m.update(x)
    assert int(pow2_scale_for(h, POW2).frac_bits) == int(pow2_scale_for(m, POW2).frac_bits) + 1
