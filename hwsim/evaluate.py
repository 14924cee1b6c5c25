"""Accuracy and fidelity: top-1 against labels, SQNR and top-1 agreement against the float model."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np

Runner = Callable[[Mapping[str, np.ndarray]], np.ndarray]


class Sqnr:
    """Signal and noise energy summed over batches, so SQNR covers a whole data set in bounded memory."""

    def __init__(self) -> None:
        self.signal = self.noise = 0.0

    def add(self, reference: np.ndarray, test: np.ndarray) -> Sqnr:
        ref = np.asarray(reference, dtype=np.float64)
        self.noise += float(np.sum((ref - np.asarray(test, dtype=np.float64)) ** 2))
        self.signal += float(np.sum(ref**2))
        return self

    @property
    def db(self) -> float:
        """10 log10(signal power / noise power); +inf when identical."""
        if self.noise == 0.0:
            return float("inf")
        if self.signal == 0.0:
            return float("-inf")
        return 10.0 * np.log10(self.signal / self.noise)


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """10 log10(signal power / noise power); +inf when identical."""
    return Sqnr().add(reference, test).db


def top1(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits).reshape(len(logits), -1).argmax(axis=1)


def collect(run: Runner, batches: Iterable[Mapping[str, np.ndarray]]) -> np.ndarray:
    """Run every batch and stack the first output along the batch axis."""
    return np.concatenate([run(b) for b in batches], axis=0)


def finite_or_none(x: float) -> float | None:
    """JSON has no infinity: an exact match (+inf dB) is None, rendered 'exact'; -inf (a zero signal) is -999."""
    if np.isnan(x):
        raise ValueError("SQNR is NaN: the outputs contain NaN")
    if x == float("inf"):
        return None
    return round(float(max(x, -999.0)), 4)
