"""Data files: ``.npz`` with one array per model input (batch first), optional integer labels ``y``.

A single-input model may call its array ``x`` whatever the input's name is.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from quant.errors import DataError
from quant.ir import Graph

LABELS = "y"


@dataclass(frozen=True)
class Dataset:
    path: str
    inputs: Mapping[str, np.ndarray]  # model input name -> array, batch first
    labels: np.ndarray | None
    fixed_batch: int | None = None  # the model's batch dimension when it is not symbolic

    @property
    def size(self) -> int:
        return len(next(iter(self.inputs.values())))

    def batches(self, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
        """Batches of ``batch_size`` samples, or of the model's fixed batch (a short remainder is dropped)."""
        step = self.fixed_batch or batch_size
        for i in range(self.count(batch_size)):
            yield {k: v[i * step : (i + 1) * step] for k, v in self.inputs.items()}

    def count(self, batch_size: int) -> int:
        """How many batches ``batches(batch_size)`` yields."""
        if self.fixed_batch:
            return self.size // self.fixed_batch
        return -(-self.size // batch_size)

    def head(self, n: int) -> Dataset:
        labels = None if self.labels is None else self.labels[:n]
        return Dataset(self.path, {k: v[:n] for k, v in self.inputs.items()}, labels, self.fixed_batch)


def load_npz(path: str | Path, graph: Graph) -> Dataset:
    """Read ``path`` and match its arrays to the model's inputs; every mismatch is one DataError line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such data file; give an .npz with one array per model input")
    howto = "save data with numpy.savez(path, x=inputs, y=labels)"
    try:
        loaded = np.load(p, allow_pickle=False)
    except ValueError:  # numpy's guess for an unknown format is "pickled data", which misleads here
        raise DataError(f"{p}: not an .npz file; {howto}") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{p}: not a readable .npz file ({e}); {howto}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(f"{p}: holds one bare array (.npy), not named arrays; {howto}")
    try:
        with loaded as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{p}: not a readable .npz file ({e}); {howto}") from None
    labels = arrays.pop(LABELS, None)
    names = list(graph.input_names)
    if len(names) == 1 and names[0] not in arrays and "x" in arrays:
        arrays[names[0]] = arrays.pop("x")
    missing = [n for n in names if n not in arrays]
    if missing:
        raise DataError(f"{p}: no array for model input '{missing[0]}'; arrays present: {sorted(arrays) or 'none'}")
    extra = sorted(set(arrays) - set(names))
    if extra:
        raise DataError(f"{p}: array '{extra[0]}' is not a model input (inputs: {names}; labels go in 'y')")
    inputs: dict[str, np.ndarray] = {}
    sizes = set()
    for info in graph.inputs:
        a = arrays[info.name]
        if a.ndim == 0 or len(a) == 0:
            raise DataError(f"{p}: array '{info.name}' is empty; give at least one sample")
        want = info.shape
        if a.ndim != len(want) or any(isinstance(w, int) and w > 0 and w != g for w, g in zip(want[1:], a.shape[1:])):
            raise DataError(f"{p}: array '{info.name}' has shape {a.shape}, the model expects {tuple(want)} (batch first)")
        if a.dtype.kind not in "biuf":
            raise DataError(f"{p}: array '{info.name}' has dtype {a.dtype}; the model expects numbers ({info.dtype})")
        want_dtype = np.dtype(info.dtype)
        if want_dtype.kind in "iu" and a.dtype.kind == "f" and not np.array_equal(a, np.round(a)):
            raise DataError(f"{p}: array '{info.name}' holds fractions but the model input is {want_dtype}")
        if want_dtype.kind in "iu":
            lo, hi = np.iinfo(want_dtype).min, np.iinfo(want_dtype).max
            if a.size and (a.min() < lo or a.max() > hi):
                raise DataError(f"{p}: array '{info.name}' has values outside {want_dtype}'s range [{lo}, {hi}]")
        with np.errstate(over="ignore"):  # values past float32's range become inf, reported just below
            a = a.astype(want_dtype, copy=False)
        if a.dtype.kind == "f":
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            if bad:
                raise DataError(f"{p}: array '{info.name}' has {bad} NaN/Inf values (after conversion to {want_dtype}); "
                                "clean or drop those samples")
        inputs[info.name] = a
        sizes.add(len(a))
    if len(sizes) > 1:
        raise DataError(f"{p}: input arrays have different numbers of samples {sorted(sizes)}")
    if labels is not None:
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != sizes.pop():
            raise DataError(f"{p}: 'y' must be 1-D integer class labels, one per sample (got {labels.dtype} {labels.shape})")
        if len(labels) and labels.min() < 0:
            raise DataError(f"{p}: 'y' has negative class labels (min {labels.min()}); labels are class indices from 0")
    fixed = graph.fixed_batch
    if fixed and len(next(iter(inputs.values()))) < fixed:
        raise DataError(f"{p}: the model's batch is fixed at {fixed} but the file has fewer samples")
    if fixed:  # whole batches only
        keep = len(next(iter(inputs.values()))) // fixed * fixed
        inputs = {k: v[:keep] for k, v in inputs.items()}
        labels = None if labels is None else labels[:keep]
    return Dataset(str(p), inputs, labels, fixed)
