"""Canonical Graph nodes -> ONNX nodes valid at the graph's opset (the inverse of ``quant.onnx_normalize``).

The importer gives every op one canonical form (axes, pads, sizes ... as attributes), which is not
always valid ONNX at the model's opset. ``export_nodes`` turns each node back, in two steps:

1. a *form* registered for (op type, since) rewrites the node for the opset; the highest ``since``
   <= the opset wins, and an op without one is written as it is. Forms move attributes to constant
   inputs (Squeeze/Unsqueeze/ReduceSum ``axes`` from 13, ReduceMean/ReduceMax ``axes`` from 18,
   Split ``split`` from 13, Slice from 10, Pad from 11, Resize per version, Clip bounds to
   attributes before 11). New constants are named ``{node}.{input}`` (``up.scales``), made unique.
   Before opset 18 Resize has no ``axes``: scales get 1.0 on the missing axes, and ``sizes``
   missing a symbolic batch axis become scales (size / static input dim);
2. ``to_proto`` checks every node against ``onnx.defs.get_schema(op, opset)``: an attribute the
   schema does not know is dropped when its value is neutral (the default of the newest schema
   that has it, or ``_NEUTRAL``); any other value raises ``ModelError`` naming the node. hwsim's
   ``_`` markers go to the ``doc_string``; trailing empty optional inputs ("") are cut.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np
import onnx
from onnx import AttributeProto, helper, numpy_helper

from quant.constant_fold import attr_value
from quant.errors import ModelError
from quant.ir import Dim, Graph, Node

DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class ExportContext:
    """What a form may look at (the graph: opset, shapes, initializers) and the constants it adds."""

    graph: Graph
    taken: set[str]
    added: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: Graph) -> ExportContext:
        names = {*graph.initializers, *graph.tensors, *graph.input_names, *graph.output_names}
        names.update(t for n in graph.nodes for t in (*n.inputs, *n.outputs))
        return cls(graph, names)

    @property
    def opset(self) -> int:
        return self.graph.opset

    def shape(self, node: Node, name: str) -> tuple[Dim, ...]:
        info = self.graph.tensors.get(name)
        if info is None:
            raise ModelError(f"node '{node.name}' ({node.op_type}): the shape of input '{name}' is unknown")
        return tuple(info.shape)

    def dtype(self, name: str) -> np.dtype:
        info = self.graph.tensors.get(name)
        return np.dtype(info.dtype if info else "float32")

    def constant(self, node: Node, key: str, value: np.ndarray) -> str:
        """A new initializer ``{node}.{key}`` (suffixed ``_1``, ``_2`` ... when taken); returns its name."""
        hint = f"{node.name}.{key}"
        name, k = hint, 1
        while name in self.taken:
            name, k = f"{hint}_{k}", k + 1
        self.taken.add(name)
        self.added[name] = value
        return name


Form = Callable[[Node, ExportContext], Node]
_FORMS: dict[str, dict[int, Form]] = {}


def _form(*ops: str, since: int) -> Callable[[Form], Form]:
    def register(fn: Form) -> Form:
        for op in ops:
            _FORMS.setdefault(op, {})[since] = fn
        return fn
    return register


def _with(node: Node, inputs: tuple[str, ...], drop: tuple[str, ...] = (), **attrs: Any) -> Node:
    kept = {k: v for k, v in node.attrs.items() if k not in drop}
    return dataclasses.replace(node, inputs=inputs, attrs={**kept, **attrs})


def _to_inputs(node: Node, ctx: ExportContext, keys: tuple[str, ...]) -> Node:
    """Attributes ``keys`` (int lists) become int64 constant inputs after the data input, in order."""
    names = tuple(ctx.constant(node, k, np.asarray(node.attrs[k], np.int64).reshape(-1)) for k in keys)
    return _with(node, node.inputs[:1] + names, drop=keys)


# ---- forms -----------------------------------------------------------------------------------

_form("Squeeze", "Unsqueeze", "ReduceSum", since=13)(partial(_to_inputs, keys=("axes",)))
_form("ReduceMean", "ReduceMax", since=18)(partial(_to_inputs, keys=("axes",)))
_form("Split", since=13)(partial(_to_inputs, keys=("split",)))
_form("Slice", since=10)(partial(_to_inputs, keys=("starts", "ends", "axes", "steps")))


@_form("Slice", since=1)
def _slice_attrs(node: Node, ctx: ExportContext) -> Node:
    if any(int(s) != 1 for s in node.attrs.get("steps", ())):
        raise ModelError(f"node '{node.name}' (Slice): steps {tuple(node.attrs['steps'])} need opset >= 10 (opset {ctx.opset})")
    return _with(node, node.inputs, drop=("steps",))


@_form("Pad", since=11)
def _pad_inputs(node: Node, ctx: ExportContext) -> Node:
    value = float(node.attrs.get("value", 0.0))
    pads = ctx.constant(node, "pads", np.asarray(node.attrs["pads"], np.int64))
    cval = ""
    if value != 0.0 and node.attrs.get("mode", "constant") == "constant":
        cval = ctx.constant(node, "constant_value", np.array(value, ctx.dtype(node.inputs[0])))
    return _with(node, (node.inputs[0], pads, cval), drop=("pads", "value"))


@_form("Clip", since=1)
def _clip_attrs(node: Node, ctx: ExportContext) -> Node:
    """Before opset 11 the bounds are attributes: read them from the (constant) bound inputs."""
    bounds = {}
    for key, name in zip(("min", "max"), node.inputs[1:3]):
        if not name:
            continue
        if name not in ctx.graph.initializers:
            raise ModelError(f"node '{node.name}' (Clip): bound '{name}' is computed at run time; opset {ctx.opset} needs a constant")
        bounds[key] = float(np.asarray(ctx.graph.initializers[name]).reshape(-1)[0])
    return _with(node, node.inputs[:1], **bounds)


@_form("Clip", since=11)
def _as_is(node: Node, ctx: ExportContext) -> Node:
    return node


# ---- Resize ----------------------------------------------------------------------------------

_RESIZE_KEYS = ("axes", "scales", "sizes", "roi")


def _scale_for(node: Node, size: int, dim: Dim) -> float:
    """A float32 scale whose output dim floor(dim * scale) is exactly ``size``: size / dim, raised by
    an ulp where float32 rounding would floor it one short (coordinates then move by about an ulp)."""
    if not isinstance(dim, int) or dim <= 0:
        raise ModelError(f"node '{node.name}' (Resize): sizes need a static input dim to become scales, got {dim!r}")
    s = np.float32(size / dim)
    while np.floor(np.float32(dim) * s) < size or np.floor(dim * float(s)) < size:
        s = np.nextafter(s, np.float32(np.inf))
    return float(s)


def _full_scales(node: Node, shape: tuple[Dim, ...]) -> np.ndarray:
    """Scales for every axis: 1.0 where ``axes`` leaves one out; ``sizes`` divided by the input dims."""
    full = [1.0] * len(shape)
    if "scales" in node.attrs:
        for a, s in zip(node.attrs["axes"], node.attrs["scales"]):
            full[a] = float(s)
    else:
        for a, size in zip(node.attrs["axes"], node.attrs["sizes"]):
            full[a] = _scale_for(node, int(size), shape[a])
    return np.asarray(full, np.float32)


def _full_sizes(node: Node, shape: tuple[Dim, ...]) -> np.ndarray | None:
    """``sizes`` for every axis (an axis left out keeps its dim), or None when such a dim is symbolic."""
    full = list(shape)
    for a, size in zip(node.attrs["axes"], node.attrs["sizes"]):
        full[a] = int(size)
    return np.asarray(full, np.int64) if all(isinstance(d, int) for d in full) else None


def _roi(node: Node, axes: tuple[int, ...], rank: int) -> np.ndarray | None:
    """The canonical roi (starts..., ends...) for the written ``axes``; it must cover them or every axis."""
    if "roi" not in node.attrs:
        return None
    roi = np.asarray(node.attrs["roi"], np.float32)
    if roi.size == 2 * len(axes):
        return roi
    if roi.size == 2 * rank:
        return np.concatenate([roi[list(axes)], roi[[rank + a for a in axes]]])
    raise ModelError(f"node '{node.name}' (Resize): roi has {roi.size} values for rank {rank} and axes {axes}")


@_form("Resize", since=18)
def _resize_18(node: Node, ctx: ExportContext) -> Node:
    rank = len(ctx.shape(node, node.inputs[0]))
    axes = tuple(int(a) for a in node.attrs["axes"])
    every = axes == tuple(range(rank))
    roi = _roi(node, axes, rank)
    key = "scales" if "scales" in node.attrs else "sizes"
    value = np.asarray(node.attrs[key], np.float32 if key == "scales" else np.int64)
    named = {"roi": "" if roi is None else ctx.constant(node, "roi", roi), "scales": "", "sizes": ""}
    named[key] = ctx.constant(node, key, value)
    extra = {} if every else {"axes": axes}
    return _with(node, (node.inputs[0], named["roi"], named["scales"], named["sizes"]), drop=_RESIZE_KEYS, **extra)


def _resize_11(node: Node, ctx: ExportContext, *, required: bool) -> Node:
    """Resize-11 (roi and scales required, maybe empty) and Resize-13 (optional): every axis, no ``axes``."""
    shape = ctx.shape(node, node.inputs[0])
    roi = _roi(node, tuple(range(len(shape))), len(shape))
    sizes = _full_sizes(node, shape) if "sizes" in node.attrs else None
    scales = _full_scales(node, shape) if sizes is None else None

    def named(key: str, value: np.ndarray | None, dtype) -> str:
        if value is None:
            return ctx.constant(node, key, np.zeros(0, dtype)) if required else ""
        return ctx.constant(node, key, value)

    inputs = (node.inputs[0], named("roi", roi, np.float32), named("scales", scales, np.float32),
              "" if sizes is None else ctx.constant(node, "sizes", sizes))
    return _with(node, inputs, drop=_RESIZE_KEYS)


_form("Resize", since=11)(partial(_resize_11, required=True))
_form("Resize", since=13)(partial(_resize_11, required=False))


def _legacy_resize(node: Node, ctx: ExportContext) -> tuple[Node, np.ndarray]:
    """Opset < 11 (Resize-10, Upsample): asymmetric coordinates and ``simple`` nearest rounding only."""
    ctm, nearest = node.attrs["coordinate_transformation_mode"], node.attrs["nearest_mode"]
    if ctm != "asymmetric" or (node.attrs["mode"] == "nearest" and nearest != "simple"):
        raise ModelError(
            f"node '{node.name}' (Resize): coordinate_transformation_mode={ctm!r}, nearest_mode={nearest!r} "
            f"need opset >= 11 (opset {ctx.opset} has asymmetric/simple only)"
        )
    scales = _full_scales(node, ctx.shape(node, node.inputs[0]))
    return _with(node, node.inputs[:1], drop=(*_RESIZE_KEYS, "coordinate_transformation_mode", "nearest_mode")), scales


@_form("Resize", since=9)
def _resize_10(node: Node, ctx: ExportContext) -> Node:
    """Resize-10, and Upsample-9 before it: scales as the second input."""
    out, scales = _legacy_resize(node, ctx)
    op = "Resize" if ctx.opset >= 10 else "Upsample"
    return dataclasses.replace(out, op_type=op, inputs=(*out.inputs, ctx.constant(node, "scales", scales)))


@_form("Resize", since=7)
def _upsample_7(node: Node, ctx: ExportContext) -> Node:
    out, scales = _legacy_resize(node, ctx)
    return dataclasses.replace(out, op_type="Upsample", attrs={**out.attrs, "scales": tuple(float(s) for s in scales)})


# ---- schema filter and NodeProto ---------------------------------------------------------------

# Canonical-only attributes whose newest schema records no default, with the test for "neutral".
_NEUTRAL: dict[str, Callable[[Any], bool]] = {
    "dilations": lambda v: all(int(d) == 1 for d in v),
}


def _schema(node: Node, opset: int) -> onnx.defs.OpSchema | None:
    if node.domain not in DEFAULT_DOMAINS:
        return None
    try:
        return onnx.defs.get_schema(node.op_type, opset)
    except onnx.defs.SchemaError:
        raise ModelError(f"node '{node.name}': op {node.op_type} does not exist at opset {opset}") from None


def _neutral(op_type: str, key: str, value: Any) -> bool:
    """Whether dropping attribute ``key`` keeps the meaning: it equals the newest ``op_type`` schema's default."""
    try:
        newest = onnx.defs.get_schema(op_type).attributes.get(key)
    except onnx.defs.SchemaError:
        newest = None
    if newest is not None and newest.default_value.type != AttributeProto.UNDEFINED:
        default = attr_value(newest.default_value)
        if isinstance(default, str) or isinstance(value, str):
            return value == default
        return np.array_equal(np.asarray(value, np.float32), np.asarray(default, np.float32))
    test = _NEUTRAL.get(key)
    return bool(test and test(value))


_CAST: dict[int, Callable[[Any], Any]] = {
    AttributeProto.FLOAT: float, AttributeProto.INT: int, AttributeProto.STRING: str,
    AttributeProto.FLOATS: lambda v: [float(x) for x in v], AttributeProto.INTS: lambda v: [int(x) for x in v],
    AttributeProto.STRINGS: lambda v: [str(x) for x in v], AttributeProto.TENSOR: numpy_helper.from_array,
}


def _attribute(node: Node, key: str, value: Any, attr_type: int | None) -> AttributeProto:
    if isinstance(value, Graph):
        raise ModelError(f"node '{node.name}': attribute '{key}' holds a subgraph, which QDQ export does not support")
    if attr_type in _CAST:
        return helper.make_attribute(key, _CAST[attr_type](value), attr_type=attr_type)
    if isinstance(value, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(value))
    return helper.make_attribute(key, list(value) if isinstance(value, tuple) else value)


def to_proto(node: Node, opset: int, canonical_op: str | None = None) -> onnx.NodeProto:
    """One node, already in its opset form, as a NodeProto checked against the opset's schema.

    ``canonical_op`` is the op type the node had before its form (Resize for an Upsample); the
    defaults of its newest schema decide which unknown attributes are neutral.
    """
    schema = _schema(node, opset)
    attrs = []
    for key, value in node.attrs.items():
        if key.startswith("_"):
            continue
        if schema is None or key in schema.attributes:
            attr_type = int(schema.attributes[key].type) if schema is not None else None
            attrs.append(_attribute(node, key, value, attr_type))
        elif not _neutral(canonical_op or node.op_type, key, value):
            raise ModelError(
                f"node '{node.name}' ({node.op_type}): attribute {key}={value!r} cannot be expressed at opset {opset}"
            )
    inputs = list(node.inputs)
    while inputs and not inputs[-1]:
        inputs.pop()
    proto = helper.make_node(node.op_type, inputs, list(node.outputs), name=node.name, domain=node.domain or None)
    proto.attribute.extend(attrs)
    markers = [f"{k}={v}" for k, v in node.attrs.items() if k.startswith("_")]
    if markers:
        proto.doc_string = "hwsim: " + " ".join(markers)
    return proto


def opset_form(node: Node, ctx: ExportContext) -> Node:
    """The node rewritten by the form registered for its op at the highest ``since`` <= the opset."""
    forms = _FORMS.get(node.op_type, {}) if node.domain in DEFAULT_DOMAINS else {}
    since = max((v for v in forms if v <= ctx.opset), default=None)
    return node if since is None else forms[since](node, ctx)


def export_nodes(graph: Graph) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray]]:
    """Every node as a NodeProto valid at ``graph.opset``, and the constants the forms added."""
    ctx = ExportContext.of(graph)
    protos = [to_proto(opset_form(n, ctx), graph.opset, n.op_type) for n in graph.nodes]
    return protos, ctx.added


__all__ = ["ExportContext", "export_nodes", "opset_form", "to_proto"]
