"""Observers: streaming statistics of a tensor, PyTorch-style.

Every observer has one job and the same small interface:

- ``update(x) -> None`` folds a batch in (non-finite values are ignored);
- ``range() -> (lo, hi)`` the calibrated range (per-channel arrays for ``MinMax(axis=...)``);
- ``reset()`` forgets everything;
- ``has_data`` tells whether any finite value was seen (``range()`` raises ``ValueError`` otherwise).

Observers know nothing of graphs, targets or files; their state is plain numpy.
Histogram-based observers also expose ``distribution()`` (bin centres and counts), which
``quant.qparams`` uses to compare power-of-two scales by quantization error.
"""
from quant.observers.base import MinMax, MovingAverageMinMax, Observer
from quant.observers.histogram import Entropy, Histogram, MSE, Percentile

OBSERVERS: dict[str, type] = {
    "minmax": MinMax,
    "moving_average": MovingAverageMinMax,
    "percentile": Percentile,
    "mse": MSE,
    "entropy": Entropy,
}

__all__ = ["OBSERVERS", "Entropy", "Histogram", "MSE", "MinMax", "MovingAverageMinMax", "Observer", "Percentile"]
