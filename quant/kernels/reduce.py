"""Float ReduceMean, ReduceSum and Softmax.

Reduction axes come from the ``axes`` attribute (canonical form, and ONNX before opset 13/18) or
from the second input (raw ONNX ReduceSum >= 13, ReduceMean >= 18).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from quant.kernels.registry import KernelContext, kernel


def axes_of(inputs: Sequence[np.ndarray | None], attrs: Mapping[str, Any], pos: int = 1) -> tuple[int, ...] | None:
    """Axes from the attribute or from input ``pos``; None when neither is given."""
    if len(inputs) > pos and inputs[pos] is not None:
        return tuple(int(a) for a in np.asarray(inputs[pos]).reshape(-1))
    v = attrs.get("axes")
    return None if v is None else tuple(int(a) for a in np.asarray(v).reshape(-1))


def _reduce_kernel(fn: Callable[..., np.ndarray]):
    def k(inputs, attrs, ctx):
        x = inputs[0]
        axes = axes_of(inputs, attrs)
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return (x,)
            axes = tuple(range(x.ndim))
        keep = bool(attrs.get("keepdims", 1))
        y = fn(x, axis=tuple(a % x.ndim for a in axes), keepdims=keep)
        return (np.asarray(y).astype(x.dtype, copy=False),)
    return k


kernel("ReduceMean")(_reduce_kernel(np.mean))
kernel("ReduceSum")(_reduce_kernel(np.sum))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


@kernel("Softmax")
def softmax(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    """Opset-13 meaning: normalize along ``axis`` alone (the importer rewrites older models to it)."""
    return (_softmax(inputs[0], int(attrs.get("axis", -1))),)
