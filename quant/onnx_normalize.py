"""One canonical form per op: rewrite the attribute/input variants ONNX opsets 1..21 allow.

``normalize_node(node, env)`` is applied by the importer to every node that survives import (and
to a node about to be folded by a float kernel). What downstream kernels and passes may rely on:

- Quantize/DequantizeLinear: ``axis`` (non-negative) only when the scale is per-axis.
- Every ``axis``/``axes`` value is non-negative (axes sorted) and defaults are filled in for the
  ops listed in ``_DEFAULTS`` (Gemm alpha/beta/transA/transB, LeakyRelu alpha, Reshape allowzero ...).
- Conv, ConvTranspose, MaxPool, AveragePool: ``auto_pad`` and ConvTranspose ``output_shape`` are
  resolved from the inferred input shape into explicit ``pads`` (begin..., end...); ``kernel_shape``,
  ``strides``, ``pads`` (and ``dilations`` for Conv/ConvTranspose/MaxPool, ``group`` for convs,
  ``output_padding`` for ConvTranspose, ``ceil_mode`` for pools) are always present as tuples/ints.
- Clip: inputs ``(x, min, max)`` (``""`` for an absent bound), no attributes; opset-6 ``min``/``max``
  attributes become scalar initializers.
- Squeeze, Unsqueeze, ReduceMean, ReduceSum, ReduceMax: attribute ``axes`` (tuple), one input.
  Reductions always carry ``keepdims``; "reduce over nothing" (noop_with_empty_axes) becomes Identity.
- Split: attributes ``axis`` and ``split`` (explicit sizes, one per output), one input.
- Slice: attributes ``starts``, ``ends``, ``axes``, ``steps`` (tuples, ONNX/numpy slice meaning), one input.
- Pad: attributes ``pads`` (2 x rank, begin..., end...), ``mode`` (str), ``value`` (float), one input.
- Resize (and Upsample, which becomes Resize): one input; attribute ``axes`` (tuple) and, aligned
  with it, ``scales`` (tuple of floats) or ``sizes`` (tuple of ints). ``axes`` lists every axis,
  except that a symbolic batch axis which ``sizes`` leaves unchanged (sizes taken from the run-time
  shape, as in PyTorch's ``interpolate(size=...)``) is left out. ``mode``, ``coordinate_transformation_mode``,
  ``nearest_mode``, ``cubic_coeff_a``, ``exclude_outside``, ``extrapolation_value``, ``antialias``
  always present; ``roi`` (tuple) only for ``tf_crop_and_resize``. Opset <= 10 semantics are spelled
  ``coordinate_transformation_mode="asymmetric"``, ``nearest_mode="simple"`` (onnxruntime's rule:
  floor when upsampling, ceil when downsampling).
- BatchNormalization: inputs ``(x, scale, bias, mean, var)``, one output, attribute ``epsilon`` only.
- Softmax: opset-13 meaning (normalize along ``axis`` alone), ``axis`` explicit.
- Sum of two inputs becomes Add (of one, Identity); opset < 7 ``broadcast``/``axis`` attributes
  become numpy broadcasting (the constant operand reshaped); ``consumed_inputs``/``is_test`` go.
- Unused optional outputs (BatchNormalization stats, MaxPool indices, LayerNormalization mean and
  inv-std) are dropped.
- Reshape keeps its shape as a (constant) second input.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Container, Mapping

import numpy as np

from quant.errors import ModelError
from quant.ir import Dim, Node

_DEFAULTS: dict[str, dict[str, Any]] = {
    "Gemm": {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0},
    "LeakyRelu": {"alpha": 0.01},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
    "Gelu": {"approximate": "none"},
    "Reshape": {"allowzero": 0},
    "Flatten": {"axis": 1},
    "Gather": {"axis": 0},
    "LayerNormalization": {"axis": -1, "epsilon": 1e-5, "stash_type": 1},
    "Conv": {"group": 1},
    "ConvTranspose": {"group": 1},
    "MaxPool": {"ceil_mode": 0},
    "AveragePool": {"ceil_mode": 0, "count_include_pad": 0},
}


class Symbols:
    """Stand-in int64 values for symbolic dims (e.g. the batch) inside folded shape vectors."""

    BASE = -(2**62)

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def value(self, name: str) -> int:
        return self.BASE - self._ids.setdefault(name, len(self._ids))

    def name(self, value: int) -> str | None:
        for k, i in self._ids.items():
            if self.BASE - i == value:
                return k
        return None

    def contains(self, arr: np.ndarray) -> bool:
        """Whether an array holds any stand-in value."""
        return arr.dtype == np.int64 and bool(np.any((arr <= self.BASE) & (arr > self.BASE - 2**20)))


_LEGACY = frozenset({"consumed_inputs", "is_test"})  # opset < 7 attributes with no meaning for inference


@dataclass
class Env:
    """What a rule may look at: constant values, inferred shapes, which tensors are read."""

    opset: int
    constants: Mapping[str, np.ndarray]
    shapes: Mapping[str, tuple[Dim, ...]]
    dtypes: Mapping[str, str] = field(default_factory=dict)
    used: Container[str] | None = None  # None: treat every output as used
    partials: Mapping[str, np.ndarray] = field(default_factory=dict)  # shape vectors with symbolic entries
    symbols: Symbols = field(default_factory=Symbols)
    taken: set[str] = field(default_factory=set)  # tensor names already in the graph
    added: dict[str, np.ndarray] = field(default_factory=dict)  # initializers the rules created

    def shape(self, node: Node, name: str) -> tuple[Dim, ...]:
        if name in self.constants:
            return tuple(self.constants[name].shape)
        if name not in self.shapes:
            raise ModelError(f"node '{node.name}' ({node.op_type}): the shape of input '{name}' is unknown")
        return self.shapes[name]

    def const(self, node: Node, pos: int, what: str) -> np.ndarray | None:
        """Input ``pos`` as an array (None if absent or empty); it must be a constant."""
        name = node.inputs[pos] if len(node.inputs) > pos else ""
        if not name:
            return None
        if name not in self.constants:
            raise ModelError(
                f"node '{node.name}' ({node.op_type}): {what} (input '{name}') is computed at run time; "
                "only constant values are supported (export the model with static shapes)"
            )
        value = self.constants[name]
        return None if value.size == 0 else value

    def add_constant(self, hint: str, value: np.ndarray) -> str:
        name, k = hint, 1
        while name in self.taken or name in self.constants or name in self.added:
            name, k = f"{hint}_{k}", k + 1
        self.added[name] = value
        self.taken.add(name)
        return name


def normalize_node(node: Node, env: Env) -> Node:
    """The canonical form of one default-domain node (see the module docstring)."""
    if node.domain not in ("", "ai.onnx"):
        return node
    defaults = _DEFAULTS.get(node.op_type, {})
    node = dataclasses.replace(node, attrs={**defaults, **{k: v for k, v in node.attrs.items() if k not in _LEGACY}})
    rule = _RULES.get(node.op_type)
    return rule(node, env) if rule else node


# ---- helpers ---------------------------------------------------------------------------------

def _with(node: Node, inputs: tuple[str, ...] | None = None, drop: tuple[str, ...] = (), **attrs: Any) -> Node:
    kept = {k: v for k, v in node.attrs.items() if k not in drop}
    kept.update(attrs)
    return dataclasses.replace(node, inputs=node.inputs if inputs is None else inputs, attrs=kept)


def _ints(v: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in np.asarray(v).reshape(-1))


def _axis(node: Node, a: int, rank: int) -> int:
    if not -rank <= a < rank:
        raise ModelError(f"node '{node.name}' ({node.op_type}): axis {a} is out of range for rank {rank}")
    return a % rank


def _axes(node: Node, axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    return tuple(sorted(_axis(node, a, rank) for a in axes))


def _attr_or_input(node: Node, env: Env, key: str, pos: int) -> np.ndarray | None:
    if key in node.attrs:
        return np.asarray(node.attrs[key])
    return env.const(node, pos, key)


def _drop_unused_outputs(node: Node, env: Env, keep: int = 1) -> Node:
    extra = node.outputs[keep:]
    if not any(extra):
        return dataclasses.replace(node, outputs=node.outputs[:keep])
    if env.used is None or not any(o and o in env.used for o in extra):
        return dataclasses.replace(node, outputs=node.outputs[:keep])
    raise ModelError(
        f"node '{node.name}' ({node.op_type}): optional outputs {list(extra)} are used; only the first "
        "output is supported (export the model for inference)"
    )


# ---- rules -----------------------------------------------------------------------------------

def _axis_rule(node: Node, env: Env) -> Node:
    rank = len(env.shape(node, node.inputs[0]))
    if node.op_type == "Flatten":
        axis = int(node.attrs["axis"])
        return _with(node, axis=axis + rank if axis < 0 else axis)  # Flatten axes run over [-r, r]
    out = _with(node, axis=_axis(node, int(node.attrs["axis"]), rank))
    return _drop_unused_outputs(out, env) if node.op_type == "LayerNormalization" else out


def _qdq(node: Node, env: Env) -> Node:
    """Per-axis scales carry a non-negative ``axis`` (default 1); per-tensor scales carry none."""
    if int(np.prod(env.shape(node, node.inputs[1]))) <= 1:
        return _with(node, drop=("axis",))
    rank = len(env.shape(node, node.inputs[0]))
    return _with(node, axis=_axis(node, int(node.attrs.get("axis", 1)), rank))


def _transpose(node: Node, env: Env) -> Node:
    rank = len(env.shape(node, node.inputs[0]))
    perm = node.attrs.get("perm")
    return _with(node, perm=tuple(reversed(range(rank))) if perm is None else _axes_keep_order(node, perm, rank))


def _axes_keep_order(node: Node, perm: Any, rank: int) -> tuple[int, ...]:
    return tuple(_axis(node, a, rank) for a in _ints(perm))


def _softmax(node: Node, env: Env) -> Node:
    shape = env.shape(node, node.inputs[0])
    rank = len(shape)
    axis = _axis(node, int(node.attrs.get("axis", -1 if env.opset >= 13 else 1)), rank)
    if env.opset < 13 and any(d != 1 for d in shape[axis + 1:]):
        raise ModelError(
            f"node '{node.name}' (Softmax, opset {env.opset}): axis {axis} normalizes over several axes "
            f"of shape {shape}; only a softmax over the last non-unit axis is supported"
        )
    return _with(node, axis=axis)


def _clip(node: Node, env: Env) -> Node:
    if env.opset >= 11:
        return _with(node, inputs=(tuple(node.inputs) + ("", ""))[:3])
    dtype = np.dtype(env.dtypes.get(node.inputs[0], "float32"))
    bounds = []
    for key in ("min", "max"):
        v = node.attrs.get(key)
        bounds.append("" if v is None else env.add_constant(f"{node.name}_{key}", np.array(v, dtype=dtype)))
    return _with(node, inputs=(node.inputs[0], *bounds), drop=("min", "max"))


def _squeeze(node: Node, env: Env) -> Node:
    shape = env.shape(node, node.inputs[0])
    axes = _attr_or_input(node, env, "axes", 1)
    if axes is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    return _with(node, inputs=node.inputs[:1], axes=_axes(node, _ints(axes), len(shape)))


def _unsqueeze(node: Node, env: Env) -> Node:
    rank = len(env.shape(node, node.inputs[0]))
    axes = _attr_or_input(node, env, "axes", 1)
    if axes is None:
        raise ModelError(f"node '{node.name}' (Unsqueeze): no axes given")
    axes = _ints(axes)
    return _with(node, inputs=node.inputs[:1], axes=_axes(node, axes, rank + len(axes)))


def _reduce(node: Node, env: Env) -> Node:
    rank = len(env.shape(node, node.inputs[0]))
    axes = _attr_or_input(node, env, "axes", 1)
    keepdims = int(node.attrs.get("keepdims", 1))
    if axes is None or axes.size == 0:
        if int(node.attrs.get("noop_with_empty_axes", 0)):
            return Node(node.name, "Identity", node.inputs[:1], node.outputs, {}, node.domain)
        axes = np.arange(rank)
    return _with(node, inputs=node.inputs[:1], drop=("noop_with_empty_axes",),
                 axes=_axes(node, _ints(axes), rank), keepdims=keepdims)


def _split(node: Node, env: Env) -> Node:
    shape = env.shape(node, node.inputs[0])
    axis = _axis(node, int(node.attrs.get("axis", 0)), len(shape))
    split = _attr_or_input(node, env, "split", 1)
    if split is None:
        n = int(node.attrs.get("num_outputs", len(node.outputs)))
        dim = shape[axis]
        if not isinstance(dim, int):
            raise ModelError(f"node '{node.name}' (Split): cannot split the symbolic axis {axis} without sizes")
        chunk = -(-dim // n)
        split = [min(chunk, dim - i * chunk) for i in range(n)]
    return _with(node, inputs=node.inputs[:1], drop=("num_outputs",), axis=axis, split=_ints(split))


def _slice(node: Node, env: Env) -> Node:
    rank = len(env.shape(node, node.inputs[0]))
    if env.opset < 10:
        starts, ends, axes, steps = (node.attrs.get(k) for k in ("starts", "ends", "axes", "steps"))
    else:
        starts, ends, axes, steps = (env.const(node, i, k) for i, k in enumerate(("starts", "ends", "axes", "steps"), 1))
    if starts is None or ends is None:
        raise ModelError(f"node '{node.name}' (Slice): starts and ends are required")
    starts, ends = _ints(starts), _ints(ends)
    axes = tuple(range(len(starts))) if axes is None else tuple(_axis(node, a, rank) for a in _ints(axes))
    steps = (1,) * len(starts) if steps is None else _ints(steps)
    return _with(node, inputs=node.inputs[:1], starts=starts, ends=ends, axes=axes, steps=steps)


def _pad(node: Node, env: Env) -> Node:
    rank = len(env.shape(node, node.inputs[0]))
    if env.opset < 11:
        pads = node.attrs.get("pads", node.attrs.get("paddings"))
        value = float(node.attrs.get("value", 0.0))
        axes = None
    else:
        pads = env.const(node, 1, "pads")
        cval = env.const(node, 2, "constant_value")
        value = 0.0 if cval is None else float(np.asarray(cval).reshape(-1)[0])
        axes = env.const(node, 3, "axes")
    pads = (0,) * (2 * rank) if pads is None else _ints(pads)
    if axes is not None:
        ax = [_axis(node, a, rank) for a in _ints(axes)]
        full = [0] * (2 * rank)
        for i, a in enumerate(ax):
            full[a], full[a + rank] = pads[i], pads[i + len(ax)]
        pads = tuple(full)
    if len(pads) != 2 * rank:
        raise ModelError(f"node '{node.name}' (Pad): {len(pads)} pads for a rank-{rank} input")
    return _with(node, inputs=node.inputs[:1], drop=("paddings",),
                 pads=pads, mode=str(node.attrs.get("mode", "constant")), value=value)


def _same_pads(node: Node, in_sp, k, s, d, auto: str) -> tuple[int, ...]:
    if auto == "VALID":
        return (0,) * (2 * len(k))
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise ModelError(f"node '{node.name}' ({node.op_type}): unknown auto_pad '{auto}'")
    total = [max(0, (-(-i // st) - 1) * st + (kk - 1) * dd + 1 - i) for i, kk, st, dd in zip(in_sp, k, s, d)]
    head = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
    return (*head, *(t - h for t, h in zip(total, head)))


def _window(node: Node, env: Env) -> Node:
    """Conv, ConvTranspose, MaxPool, AveragePool: explicit kernel_shape, strides, dilations, pads."""
    shape = env.shape(node, node.inputs[0])
    in_sp = shape[2:]
    n = len(in_sp)
    if any(not isinstance(v, int) for v in in_sp):
        raise ModelError(f"node '{node.name}' ({node.op_type}): spatial dims {in_sp} must be static")
    has_weight = node.op_type in ("Conv", "ConvTranspose")
    k = _ints(node.attrs["kernel_shape"]) if "kernel_shape" in node.attrs else tuple(env.shape(node, node.inputs[1])[2:])
    s = _ints(node.attrs.get("strides", (1,) * n))
    d = _ints(node.attrs.get("dilations", (1,) * n))
    auto = str(node.attrs.get("auto_pad", "NOTSET"))
    pads = _ints(node.attrs.get("pads", (0,) * (2 * n)))
    attrs: dict[str, Any] = {"kernel_shape": k, "strides": s}
    if node.op_type != "AveragePool" or "dilations" in node.attrs:
        attrs["dilations"] = d
    if node.op_type == "ConvTranspose":
        op = _ints(node.attrs.get("output_padding", (0,) * n))
        attrs["output_padding"] = op
        target = node.attrs.get("output_shape")
        if target is None and auto in ("SAME_UPPER", "SAME_LOWER"):
            target = tuple(i * st for i, st in zip(in_sp, s))
        if target is not None:
            full = [st * (i - 1) + o + (kk - 1) * dd + 1 for i, st, o, kk, dd in zip(in_sp, s, op, k, d)]
            total = [f - t for f, t in zip(full, _ints(target)[-n:])]
            if min(total) < 0:
                raise ModelError(
                    f"node '{node.name}' (ConvTranspose): output_shape {tuple(target)} is larger than the full output"
                )
            head = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
            pads = (*head, *(t - h for t, h in zip(total, head)))
        elif auto == "VALID":
            pads = (0,) * (2 * n)
    elif auto != "NOTSET":
        pads = _same_pads(node, in_sp, k, s, d, auto)
        if "ceil_mode" in node.attrs and auto != "VALID":
            attrs["ceil_mode"] = 0  # SAME sizes are exact with floor rounding; VALID keeps it, as onnxruntime does
    attrs["pads"] = pads
    out = _with(node, drop=("auto_pad", "output_shape", "storage_order"), **attrs)
    if not has_weight:
        return _drop_unused_outputs(out, env)
    return out


def _batchnorm(node: Node, env: Env) -> Node:
    if int(node.attrs.get("training_mode", 0)):
        raise ModelError(f"node '{node.name}' (BatchNormalization): training_mode=1; export the model in eval mode")
    if int(node.attrs.get("spatial", 1)) == 0:
        raise ModelError(
            f"node '{node.name}' (BatchNormalization): spatial=0 (per-activation statistics) is not supported"
        )
    out = Node(node.name, node.op_type, node.inputs[:5], node.outputs,
               {"epsilon": float(node.attrs.get("epsilon", 1e-5))}, node.domain)
    return _drop_unused_outputs(out, env)


def _sum(node: Node, env: Env) -> Node:
    if len(node.inputs) > 2:
        raise ModelError(f"node '{node.name}' (Sum): only Sum of one or two inputs is supported (got {len(node.inputs)})")
    return dataclasses.replace(node, op_type="Add" if len(node.inputs) == 2 else "Identity", attrs={})


def _legacy_broadcast(node: Node, env: Env) -> Node:
    """Opset < 7 Add/Sub/Mul/Div/Gemm with ``broadcast``/``axis``: numpy broadcasting instead."""
    if "broadcast" not in node.attrs:
        return node
    out = _with(node, drop=("broadcast", "axis"))
    if node.op_type == "Gemm" or not int(node.attrs["broadcast"]) or "axis" not in node.attrs:
        return out
    rank = len(env.shape(node, node.inputs[0]))
    b = env.const(node, 1, "the broadcast operand")
    axis = _axis(node, int(node.attrs["axis"]), rank)
    aligned = b.reshape(b.shape + (1,) * (rank - axis - b.ndim))
    return _with(out, inputs=(node.inputs[0], env.add_constant(f"{node.inputs[1]}_aligned", aligned)))


_RESIZE_DEFAULTS = {
    "mode": "nearest", "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_floor",
    "cubic_coeff_a": -0.75, "exclude_outside": 0, "extrapolation_value": 0.0, "antialias": 0,
}


def _resize(node: Node, env: Env) -> Node:
    shape = env.shape(node, node.inputs[0])
    rank = len(shape)
    attrs = {k: node.attrs.get(k, v) for k, v in _RESIZE_DEFAULTS.items()}
    roi = sizes = None
    if node.op_type == "Upsample" or env.opset < 11:
        scales = _attr_or_input(node, env, "scales", 1)
        attrs["mode"] = {"bilinear": "linear"}.get(attrs["mode"], attrs["mode"])
        attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="simple")
    else:
        roi, scales = env.const(node, 1, "roi"), env.const(node, 2, "scales")
        name = node.inputs[3] if len(node.inputs) > 3 else ""
        sizes = env.partials[name] if name in env.partials else env.const(node, 3, "sizes")
    if (scales is None) == (sizes is None):
        raise ModelError(f"node '{node.name}' ({node.op_type}): exactly one of scales and sizes must be given")
    given = _axes_keep_order(node, node.attrs["axes"], rank) if "axes" in node.attrs else tuple(range(rank))
    if scales is not None:
        full = dict.fromkeys(range(rank), 1.0)
        full.update(zip(given, (float(v) for v in np.asarray(scales, dtype=np.float32).reshape(-1))))
        attrs.update(axes=tuple(full), scales=tuple(full.values()))
    else:
        full = {a: d for a, d in enumerate(shape)}
        full.update(zip(given, _resize_sizes(node, shape, given, _ints(sizes))))
        # an unchanged symbolic (batch) axis is left out of ``axes``
        full = {a: v for a, v in full.items()
                if not (isinstance(shape[a], str) and (a not in given or env.symbols.name(v) == shape[a]))}
        if any(not isinstance(v, int) or v < 0 for v in full.values()):
            raise ModelError(f"node '{node.name}' (Resize): output sizes {tuple(full.values())} are not static")
        attrs.update(axes=tuple(full), sizes=tuple(full.values()))
    if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize":
        if roi is None:
            raise ModelError(f"node '{node.name}' (Resize): tf_crop_and_resize needs roi")
        attrs["roi"] = tuple(float(v) for v in roi.reshape(-1))
    return Node(node.name, "Resize", node.inputs[:1], node.outputs, attrs, node.domain)


def _resize_sizes(node: Node, shape, axes, sizes: tuple[int, ...]) -> tuple[int, ...]:
    policy = str(node.attrs.get("keep_aspect_ratio_policy", "stretch"))
    if policy == "stretch":
        return sizes
    ratios = [sz / shape[a] for a, sz in zip(axes, sizes)]
    scale = min(ratios) if policy == "not_larger" else max(ratios)
    return tuple(int(np.floor(scale * shape[a] + 0.5)) for a in axes)


_RULES: dict[str, Callable[[Node, Env], Node]] = {
    **{op: _axis_rule for op in ("Flatten", "Concat", "Gather", "LayerNormalization")},
    **{op: _qdq for op in ("QuantizeLinear", "DequantizeLinear")},
    "Transpose": _transpose,
    "Softmax": _softmax,
    "Clip": _clip,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    **{op: _reduce for op in ("ReduceMean", "ReduceSum", "ReduceMax")},
    "Split": _split,
    "Slice": _slice,
    "Pad": _pad,
    **{op: _window for op in ("Conv", "ConvTranspose", "MaxPool", "AveragePool")},
    "BatchNormalization": _batchnorm,
    "Resize": _resize,
    "Upsample": _resize,
    "Sum": _sum,
    **{op: _legacy_broadcast for op in ("Add", "Sub", "Mul", "Div", "Gemm")},
}
