"""The observer protocol and the min/max family."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Observer(Protocol):
    def update(self, x: np.ndarray) -> None: ...

    def range(self) -> tuple[np.ndarray, np.ndarray]: ...

    def reset(self) -> None: ...

    @property
    def has_data(self) -> bool: ...


def finite(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``x`` as float with NaN and +-inf dropped (flattened only when something is dropped), its min
    and max (``inf, -inf`` when nothing is left)."""
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    if a.size == 0:
        return a.reshape(-1), np.inf, -np.inf
    lo, hi = a.min(), a.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):  # NaN propagates through min/max, inf shows up in them
        a = a[np.isfinite(a)]
        if a.size == 0:
            return a, np.inf, -np.inf
        lo, hi = a.min(), a.max()
    return a, float(lo), float(hi)


def _no_data() -> ValueError:
    return ValueError("observer has seen no finite values")


class MinMax:
    """Running minimum and maximum; with ``axis``, one pair per index along that axis."""

    def __init__(self, axis: int | None = None) -> None:
        self.axis = axis
        self.reset()

    def reset(self) -> None:
        self.lo: np.ndarray | None = None
        self.hi: np.ndarray | None = None

    @property
    def has_data(self) -> bool:
        return self.lo is not None

    def _batch_range(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        a = np.asarray(x)
        if self.axis is None:
            _, lo, hi = finite(a)
            return None if lo > hi else (np.asarray(lo), np.asarray(hi))
        a = np.moveaxis(a, self.axis, 0).reshape(a.shape[self.axis], -1).astype(np.float64)
        if a.shape[1] == 0:
            return None
        if not np.isfinite(a).all():
            ok = np.isfinite(a)
            lo = np.where(ok, a, np.inf).min(axis=1)
            hi = np.where(ok, a, -np.inf).max(axis=1)
            if not np.isfinite(lo).all():
                return None  # a channel with no finite value: treat the batch as unseen
            return lo, hi
        return a.min(axis=1), a.max(axis=1)

    def update(self, x: np.ndarray) -> None:
        r = self._batch_range(x)
        if r is None:
            return
        if self.lo is None:
            self.lo, self.hi = r
        else:
            self.lo, self.hi = np.minimum(self.lo, r[0]), np.maximum(self.hi, r[1])

    def range(self) -> tuple[np.ndarray, np.ndarray]:
        if self.lo is None:
            raise _no_data()
        return self.lo, self.hi


class MovingAverageMinMax(MinMax):
    """Exponential moving average of each batch's min and max (PyTorch's ``averaging_constant``)."""

    def __init__(self, averaging_constant: float = 0.01, axis: int | None = None) -> None:
        if not 0 < averaging_constant <= 1:
            raise ValueError(f"averaging_constant must be in (0, 1], got {averaging_constant}")
        self.c = averaging_constant
        super().__init__(axis)

    def update(self, x: np.ndarray) -> None:
        r = self._batch_range(x)
        if r is None:
            return
        if self.lo is None:
            self.lo, self.hi = r
        else:
            self.lo = self.lo + self.c * (r[0] - self.lo)
            self.hi = self.hi + self.c * (r[1] - self.hi)
