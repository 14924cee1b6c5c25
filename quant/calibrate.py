"""Streaming calibration: run batches through the float executor and feed observers.

Only the observers' statistics are kept between batches. Every problem with the data raises a
``DataError`` (one line: what, where, how to fix it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from quant.errors import DataError
from quant.executor import run
from quant.ir import Graph
from quant.observers import Observer

Batch = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Calibration:
    observers: Mapping[str, tuple[Observer, ...]]
    batches: int
    samples: int  # leading-dimension items seen (per batch: the first input's first dimension)


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def check_batch(graph: Graph, batch: Batch, index: int) -> dict[str, np.ndarray]:
    """The batch as model-typed arrays, or a DataError naming the input (expected vs got)."""
    where = f"calibration batch {index}"
    if not isinstance(batch, Mapping):
        raise DataError(f"{where}: expected a dict of input name -> array, got {type(batch).__name__}")
    expected = graph.input_names
    extra = sorted(set(batch) - set(expected))
    if extra:
        raise DataError(f"{where}: input '{extra[0]}' is not a model input; the model's inputs are {list(expected)}")
    feeds: dict[str, np.ndarray] = {}
    for info in graph.inputs:
        if info.name not in batch:
            raise DataError(f"{where}: input '{info.name}' is missing; the model's inputs are {list(expected)}")
        x = np.asarray(batch[info.name])
        want = info.shape
        if len(want) != x.ndim or any(isinstance(w, int) and w > 0 and w != g for w, g in zip(want, x.shape)):
            raise DataError(
                f"{where}: input '{info.name}' has shape {_shape_text(x.shape)} but the model expects {_shape_text(want)}"
            )
        if np.issubdtype(x.dtype, np.floating) or np.issubdtype(np.dtype(info.dtype), np.floating):
            bad = x.size - int(np.count_nonzero(np.isfinite(x)))
            if bad:
                raise DataError(f"{where}: input '{info.name}' has {bad} NaN/Inf values; clean or drop those samples")
        feeds[info.name] = x.astype(info.dtype, copy=False)
    return feeds


def calibrate(
    graph: Graph,
    batches: Iterable[Batch],
    observers: Mapping[str, Observer | Sequence[Observer]],
) -> Calibration:
    """Feed every batch through ``graph`` and update the observers of each named tensor.

    ``observers`` maps a tensor name to one observer or several (all see the same values).
    Raises DataError for empty data, malformed batches, and tensors left without a range.
    """
    obs = {k: (v,) if not isinstance(v, Sequence) else tuple(v) for k, v in observers.items()}
    inputs = set(graph.input_names)
    fetch = [k for k in obs if k not in inputs]
    n_batches = samples = 0
    for i, batch in enumerate(batches):
        feeds = check_batch(graph, batch, i)
        values = run(graph, feeds, fetch=fetch) if fetch else {}
        values.update(feeds)
        for name, group in obs.items():
            for o in group:
                o.update(values[name])
        n_batches += 1
        first = next(iter(feeds.values()), None)
        samples += int(first.shape[0]) if first is not None and first.ndim else 1
        del values
    if n_batches == 0:
        raise DataError("calibration data is empty: give at least one batch (a dict of input name -> array)")
    producers = graph.producers()
    for name, group in obs.items():
        if not any(o.has_data for o in group):
            node = producers.get(name)
            what = f"output of node '{node.name}' ({node.op_type})" if node else "a model input"
            raise DataError(
                f"tensor '{name}' ({what}) has no calibrated range: the calibration data never gave it a finite "
                "value; use more or different calibration data, or keep the node float (float: true) in the quant config"
            )
    return Calibration(obs, n_batches, samples)
