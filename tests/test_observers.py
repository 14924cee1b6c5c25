"""Observers: known answers, streaming behaviour, and clipping on heavy-tailed data."""
import numpy as np
import pytest

from quant.observers import MSE, Entropy, Histogram, MinMax, MovingAverageMinMax, Percentile

RNG = np.random.default_rng(0)
HEAVY = RNG.standard_t(3, size=100_000).astype(np.float32)


def test_minmax_known_answer():
    o = MinMax()
    o.update(np.array([[-1.5, 2.0], [0.5, 3.25]], np.float32))
    assert o.range() == (-1.5, 3.25)


def test_minmax_streaming_equals_one_shot():
    x = RNG.normal(size=(10, 50)).astype(np.float32)
    streamed, once = MinMax(), MinMax()
    for b in x:
        streamed.update(b)
    once.update(x)
    assert streamed.range() == once.range()


def test_minmax_per_channel_axis():
    x = np.stack([np.full((3, 3), -2.0), np.arange(9.0).reshape(3, 3)])  # channel axis 0
    o = MinMax(axis=0)
    o.update(x)
    lo, hi = o.range()
    np.testing.assert_array_equal(lo, [-2.0, 0.0])
    np.testing.assert_array_equal(hi, [-2.0, 8.0])


def test_non_finite_values_are_ignored():
    o = MinMax()
    o.update(np.array([np.nan, 1.0, -np.inf, -2.0, np.inf]))
    assert o.range() == (-2.0, 1.0)


def test_all_nan_leaves_no_data():
    o = Histogram()
    o.update(np.full(4, np.nan))
    assert not o.has_data
    with pytest.raises(ValueError):
        o.range()


def test_reset_forgets():
    o = MinMax()
    o.update(np.ones(3))
    o.reset()
    assert not o.has_data


def test_moving_average_known_answer():
    o = MovingAverageMinMax(averaging_constant=0.5)
    o.update(np.array([0.0, 4.0]))
    o.update(np.array([-2.0, 8.0]))
    assert o.range() == (-1.0, 6.0)


def test_histogram_growth_merges_exactly():
    h = Histogram(bins=8)
    h.update(np.array([0.1, -0.1, 1.0]))  # R = 1
    h.update(np.array([3.5]))  # R grows to 4: bins merge by 4, earlier counts keep their side
    assert h.radius == 4.0 and h.counts.sum() == 4
    edges = h.edges()
    centres_counts = dict(zip(np.round((edges[:-1] + edges[1:]) / 2, 3), h.counts))
    # 0.1 -> [0, 0.5); 1.0 sat on the old top edge, i.e. in the old last bin [0.875, 1] -> [0.5, 1]
    assert (centres_counts[-0.25], centres_counts[0.25], centres_counts[0.75], centres_counts[3.75]) == (1, 1, 1, 1)


def test_histogram_stream_matches_one_shot_when_range_is_fixed_early():
    x = RNG.normal(size=20_000).astype(np.float32)
    x[0] = 10.0  # the first batch fixes the range
    streamed, once = Histogram(), Histogram()
    for b in np.array_split(x, 7):
        streamed.update(b)
    once.update(x)
    np.testing.assert_array_equal(streamed.counts, once.counts)


def test_percentile_on_uniform_data():
    o = Percentile(percentile=99.0)
    o.update(np.linspace(-1, 1, 200_001))
    lo, hi = o.range()
    assert lo == pytest.approx(-0.98, abs=2e-3) and hi == pytest.approx(0.98, abs=2e-3)


@pytest.mark.parametrize("make,kept", [(Percentile, 0.5), (MSE, 0.9), (Entropy, 0.5)], ids=["percentile", "mse", "entropy"])
def test_clip_below_max_on_heavy_tails(make, kept):
    o = make()
    for b in np.array_split(HEAVY, 5):
        o.update(b)
    lo, hi = o.range()
    assert 0 < hi < kept * HEAVY.max()
    assert HEAVY.min() * kept < lo < 0


def test_entropy_keeps_full_range_of_uniform_data():
    o = Entropy()
    o.update(RNG.uniform(-1, 1, 100_000))
    assert o.range()[1] > 0.9


def test_entropy_of_relu_output_is_not_dragged_to_zero():
    o = Entropy()
    o.update(np.maximum(RNG.normal(size=100_000), 0))
    lo, hi = o.range()
    assert lo == 0 and hi > 2.5


def test_mse_clip_minimizes_error_against_minmax():
    x = HEAVY.astype(np.float64)
    o = MSE()
    o.update(x)

    def err(lo, hi):
        s = (hi - lo) / 255
        z = np.round(-lo / s)
        return np.mean(((np.clip(np.round(x / s) + z, 0, 255) - z) * s - x) ** 2)

    assert err(*map(float, o.range())) < err(x.min(), x.max())
