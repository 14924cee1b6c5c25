"""Histogram observers: a bounded streaming histogram and the clip-range estimators built on it.

``Histogram`` keeps ``2 * bins`` counts over a symmetric range ``[-R, R]`` (zero is a bin edge) and
the exact min and max. When a batch exceeds ``R``, ``R`` grows by a power of two and adjacent bins
merge exactly (edges stay aligned), so memory is fixed and no count is ever re-spread. After any
stream, the data's absolute maximum is above ``R / 2``: at least ``bins / 2`` bins cover each side
that holds data.
"""
from __future__ import annotations

import math

import numpy as np

from quant.observers.base import finite


class Histogram:
    """Streaming histogram; ``range()`` is the exact min/max, ``distribution()`` the bin centres and counts."""

    def __init__(self, bins: int = 2048) -> None:
        if bins < 2 or bins & (bins - 1):
            raise ValueError(f"bins must be a power of two >= 2, got {bins}")
        self.bins = bins
        self.reset()

    def reset(self) -> None:
        self.counts = np.zeros(2 * self.bins, dtype=np.int64)
        self.radius = 0.0  # R: the histogram covers [-R, R]; 0 while only zeros were seen
        self.lo = math.inf
        self.hi = -math.inf

    @property
    def has_data(self) -> bool:
        return self.lo <= self.hi

    @property
    def bin_width(self) -> float:
        return self.radius / self.bins if self.radius else 0.0

    def _grow(self, amax: float) -> None:
        if self.radius == 0.0:
            self.radius = amax  # earlier values were all zero: they sit in bin `bins` for any R
            return
        factor = 1
        while self.radius * factor < amax:
            factor *= 2
        if factor == 1:
            return
        self.radius *= factor
        n2 = 2 * self.bins
        if factor >= n2:  # everything seen so far lands in the two bins around zero
            neg, pos = self.counts[: self.bins].sum(), self.counts[self.bins :].sum()
            self.counts[:] = 0
            self.counts[self.bins - 1], self.counts[self.bins] = neg, pos
            return
        merged = self.counts.reshape(-1, factor).sum(axis=1)  # old bin j -> (j + (f-1) * bins) / f
        self.counts[:] = 0
        offset = (factor - 1) * self.bins // factor
        self.counts[offset : offset + merged.size] = merged

    def update(self, x: np.ndarray) -> None:
        a, lo, hi = finite(x)
        if a.size == 0:
            return
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
        amax = max(-lo, hi)
        if amax > self.radius:
            self._grow(amax)
        n2 = 2 * self.bins
        if self.radius == 0.0:
            self.counts[self.bins] += a.size
            return
        dt = a.dtype if a.dtype in (np.float32, np.float64) else np.float64
        idx = a.astype(dt, copy=False).ravel() * dt.type(self.bins / self.radius)
        idx += dt.type(self.bins)
        idx = idx.astype(np.intp)
        np.clip(idx, 0, n2 - 1, out=idx)
        self.counts += np.bincount(idx, minlength=n2)

    def range(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.has_data:
            raise ValueError("observer has seen no finite values")
        return np.asarray(self.lo), np.asarray(self.hi)

    def edges(self) -> np.ndarray:
        return np.linspace(-self.radius, self.radius, 2 * self.bins + 1)

    def distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres (clamped to the exact min/max) and counts of the non-empty bins."""
        if not self.has_data:
            raise ValueError("observer has seen no finite values")
        nz = np.flatnonzero(self.counts)
        centres = -self.radius + (nz + 0.5) * self.bin_width
        return np.clip(centres, self.lo, self.hi), self.counts[nz].astype(np.float64)

    def abs_counts(self) -> np.ndarray:
        """Counts of |x| over ``bins`` bins of [0, R]."""
        return self.counts[self.bins :] + self.counts[: self.bins][::-1]


class Percentile(Histogram):
    """Two-sided percentile: ``lo`` at ``100 - p`` percent, ``hi`` at ``p`` percent (linear within a bin)."""

    def __init__(self, percentile: float = 99.99, bins: int = 2048) -> None:
        if not 50 < percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile
        super().__init__(bins)

    def _quantile(self, frac: float) -> float:
        cum = np.concatenate(([0], np.cumsum(self.counts))).astype(np.float64)
        target = frac * cum[-1]
        if target <= 0:
            return self.lo
        j = int(np.searchsorted(cum[1:], target, side="left"))
        j = min(j, self.counts.size - 1)
        inside = (target - cum[j]) / self.counts[j] if self.counts[j] else 1.0
        return float(-self.radius + (j + inside) * self.bin_width)

    def range(self) -> tuple[np.ndarray, np.ndarray]:
        super().range()
        if self.radius == 0.0:
            return np.asarray(self.lo), np.asarray(self.hi)
        q = self.percentile / 100.0
        lo = min(max(self._quantile(1.0 - q), self.lo), self.hi)
        hi = max(min(self._quantile(q), self.hi), lo)
        return np.asarray(lo), np.asarray(hi)


class MSE(Histogram):
    """The clip range, a shrunk copy of [min, max], minimizing the quantization MSE of the histogram.

    ``levels`` is the number of integer codes (256 for 8 bits); ``symmetric`` searches ``[-t, t]``
    grids with zero at code 0 instead of affine ones.
    """

    def __init__(self, levels: int = 256, symmetric: bool = False, steps: int = 200, bins: int = 2048) -> None:
        self.levels, self.symmetric, self.steps = levels, symmetric, steps
        super().__init__(bins)

    def range(self) -> tuple[np.ndarray, np.ndarray]:
        super().range()
        lo, hi = min(self.lo, 0.0), max(self.hi, 0.0)
        if hi == lo:
            return np.asarray(self.lo), np.asarray(self.hi)
        x, w = self.distribution()
        alpha = np.linspace(1.0 / self.steps, 1.0, self.steps)[:, None]
        if self.symmetric:
            amax = max(-lo, hi) * alpha
            half = (self.levels - 1) // 2
            scale, zp, qmin, qmax = amax / half, 0.0, -half, half
            cands_lo, cands_hi = -amax, amax
        else:
            cands_lo, cands_hi = lo * alpha, hi * alpha
            scale = (cands_hi - cands_lo) / (self.levels - 1)
            zp = np.round(-cands_lo / scale)
            qmin, qmax = 0, self.levels - 1
        q = np.clip(np.round(x[None, :] / scale) + zp, qmin, qmax)
        err = (((q - zp) * scale - x[None, :]) ** 2 * w[None, :]).sum(axis=1)
        best = int(np.argmin(err))
        r_lo = max(float(cands_lo[best, 0]), self.lo)
        r_hi = min(float(cands_hi[best, 0]), self.hi)
        return np.asarray(min(r_lo, r_hi)), np.asarray(max(r_lo, r_hi))


class Entropy(Histogram):
    """TensorRT's KL-divergence calibration on the |x| histogram (2048 bins, 128 quantized bins).

    For each candidate threshold bin ``i`` (``quantized_bins`` .. ``bins``): P is the histogram up to
    ``i`` with the outliers added to its last bin; Q merges those ``i`` bins into ``quantized_bins``
    groups and spreads each group's mass evenly over its non-empty bins. The threshold with the
    smallest KL(P || Q) wins; the range is ``[-T, T]`` intersected with the observed [min, max].
    All candidates are evaluated at once from prefix sums.

    As in NVIDIA's pytorch-quantization (``calib/histogram.py``, ``_compute_amax_entropy``), the
    first bin's count is replaced by the second's (a ReLU's spike at zero would otherwise drag the
    threshold down), and non-negative data gets twice the quantized bins (its grid has no sign).
    """

    def __init__(self, quantized_bins: int = 128, bins: int = 2048) -> None:
        self.quantized_bins = quantized_bins
        super().__init__(bins)

    def threshold(self) -> float:
        h = self.abs_counts().astype(np.float64)
        h[0] = h[1]
        nq = self.quantized_bins * (2 if self.lo >= 0 else 1)
        n, total = h.size, h.sum()
        if self.radius == 0.0 or nq >= n:
            return max(-self.lo, self.hi)
        cum = np.concatenate(([0.0], np.cumsum(h)))
        nonzero = np.concatenate(([0], np.cumsum(h > 0)))
        with np.errstate(divide="ignore", invalid="ignore"):
            hlogh = np.concatenate(([0.0], np.cumsum(np.where(h > 0, h * np.log(h), 0.0))))
        cand = np.arange(nq, n + 1)
        merged = cand // nq
        bounds = np.minimum(np.arange(nq + 1)[None, :] * merged[:, None], n)
        bounds[:, -1] = cand
        gsum = cum[bounds[:, 1:]] - cum[bounds[:, :-1]]
        gnz = (nonzero[bounds[:, 1:]] - nonzero[bounds[:, :-1]]).astype(np.float64)
        outliers = total - cum[cand]
        last = h[cand - 1] + outliers
        gnz[:, -1] += (h[cand - 1] == 0) & (outliers > 0)
        psum = gsum.copy()
        psum[:, -1] += outliers
        with np.errstate(divide="ignore", invalid="ignore"):
            qv = np.where(gnz > 0, gsum / gnz, 0.0)
            plogq = np.where(psum > 0, psum * np.log(qv), 0.0).sum(axis=1)  # -inf where Q is empty
            plogp = hlogh[cand - 1] + np.where(last > 0, last * np.log(last), 0.0)
            kl = (plogp - plogq) / total - np.log(total) + np.log(cum[cand])
        kl = np.where(np.isfinite(kl) & (cum[cand] > 0), kl, np.inf)
        if not np.isfinite(kl).any():
            return max(-self.lo, self.hi)
        return float(cand[int(np.argmin(kl))] * self.bin_width)

    def range(self) -> tuple[np.ndarray, np.ndarray]:
        super().range()
        t = self.threshold()
        lo, hi = max(self.lo, -t), min(self.hi, t)
        return np.asarray(min(lo, hi)), np.asarray(hi)
