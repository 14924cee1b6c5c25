"""Data-movement kernels: Flatten, Reshape, Transpose, Concat, Split, Slice, Pad, Squeeze, Unsqueeze,
Gather, Identity.

Parameters that ONNX moved from attributes to inputs across opsets (axes, split, pads, starts...)
are read from the input when present, else from the attribute (the importer's canonical form).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from quant.kernels.reduce import axes_of
from quant.kernels.registry import KernelContext, kernel


def _param(inputs: Sequence[np.ndarray | None], pos: int, attrs: Mapping[str, Any], key: str) -> list[int] | None:
    if len(inputs) > pos and inputs[pos] is not None:
        return [int(v) for v in np.asarray(inputs[pos]).reshape(-1)]
    v = attrs.get(key)
    return None if v is None else [int(a) for a in np.asarray(v).reshape(-1)]


@kernel("Identity")
def identity(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    return (inputs[0],)


@kernel("Flatten")
def flatten(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    axis = int(attrs.get("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    return (x.reshape(int(np.prod(x.shape[:axis])), -1),)


@kernel("Reshape")
def reshape(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, shape = inputs[0], _param(inputs, 1, attrs, "shape")
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return (x.reshape(shape),)


@kernel("Transpose")
def transpose(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    perm = attrs.get("perm")
    return (np.transpose(inputs[0], None if perm is None else tuple(int(p) for p in perm)),)


@kernel("Concat")
def concat(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    return (np.concatenate([x for x in inputs if x is not None], axis=int(attrs["axis"])),)


@kernel("Split")
def split(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, axis = inputs[0], int(attrs.get("axis", 0))
    sizes = _param(inputs, 1, attrs, "split")
    if sizes is None:
        n = attrs.get("num_outputs") or getattr(ctx, "num_outputs", None)
        if n is None:
            raise ValueError(f"node '{ctx.node_name}': Split needs 'split' sizes or 'num_outputs'")
        chunk = -(-x.shape[axis] // int(n))
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(int(n))]
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@kernel("Slice")
def slice_(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    starts, ends = _param(inputs, 1, attrs, "starts"), _param(inputs, 2, attrs, "ends")
    axes = _param(inputs, 3, attrs, "axes") or list(range(len(starts)))
    steps = _param(inputs, 4, attrs, "steps") or [1] * len(starts)
    index = [slice(None)] * x.ndim
    for a, b, e, s in zip(axes, starts, ends, steps):
        index[a % x.ndim] = slice(b, e, s)
    return (x[tuple(index)],)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


@kernel("Pad")
def pad(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    pads = _param(inputs, 1, attrs, "pads")
    value = inputs[2] if len(inputs) > 2 and inputs[2] is not None and inputs[2].size else attrs.get("value", 0)
    axes = _param(inputs, 3, attrs, "axes") or list(range(len(pads) // 2))
    n = len(axes)
    width = [[0, 0] for _ in range(x.ndim)]
    for i, a in enumerate(axes):
        width[a % x.ndim] = [pads[i], pads[i + n]]
    crop = tuple(slice(max(0, -b), x.shape[i] - max(0, -e)) for i, (b, e) in enumerate(width))
    x = x[crop]  # negative pads remove elements
    width = [(max(0, b), max(0, e)) for b, e in width]
    mode = _PAD_MODES[attrs.get("mode", "constant")]
    kw = {"constant_values": np.asarray(value, dtype=x.dtype).reshape(())} if mode == "constant" else {}
    return (np.pad(x, width, mode=mode, **kw),)


@kernel("Squeeze")
def squeeze(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, axes = inputs[0], axes_of(inputs, attrs)
    if axes is None:
        return (np.squeeze(x),)
    return (np.squeeze(x, axis=tuple(a % x.ndim for a in axes)),)


@kernel("Unsqueeze")
def unsqueeze(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, axes = inputs[0], axes_of(inputs, attrs)
    rank = x.ndim + len(axes)
    return (np.expand_dims(x, tuple(sorted(a % rank for a in axes))),)


@kernel("Gather")
def gather(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    data, idx = inputs
    return (np.take(data, idx.astype(np.int64, copy=False), axis=int(attrs.get("axis", 0))),)
