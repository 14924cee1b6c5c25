"""Constant folding on an ONNX model (one sweep; the importer repeats it with shape inference).

One sweep, in topological order:
- ``Constant`` nodes and every node whose inputs are all constant are evaluated (with the
  registered float kernel on the node's canonical form, else with ``onnx.reference``) and become
  initializers. Quantize/DequantizeLinear and random ops are never folded.
- ``Identity`` and inference ``Dropout`` are removed by rewiring their consumers; a graph output
  keeps its name (its producer is renamed, or an Identity stays when the value is a graph input).
- ``Shape`` of a tensor with a known rank folds to a constant. A symbolic dim (the batch) becomes a
  stand-in value (``Symbols``) that flows through Gather/Slice/Concat/Unsqueeze/Squeeze/Cast; a
  ``Reshape`` target that holds one is rewritten with 0 (copy the same symbolic input dim) or -1,
  so ``x.view(x.size(0), -1)`` becomes ``Reshape(x, [0, -1])``. Shape vectors with stand-ins that
  are still read elsewhere are returned as ``partials`` (Resize uses them for its ``sizes``).
- Nodes no graph output depends on are dropped.

Constant values travel in a numpy dict beside the model; the model itself holds only stubs (dims
and type, no data) for large initializers, so shape inference never copies weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import quant.kernels  # noqa: F401  (fills the kernel registry)
from quant.kernels.registry import KernelContext, Mode, lookup, registered_ops
from quant.ir import Node
from quant.onnx_normalize import Env, Symbols, normalize_node

NEVER_FOLD = frozenset({
    "QuantizeLinear", "DequantizeLinear", "RandomNormal", "RandomUniform", "RandomNormalLike",
    "RandomUniformLike", "Multinomial", "Bernoulli", "If", "Loop", "Scan",
})
PASS_THROUGH = frozenset({"Identity", "Dropout"})
# Ops that only move the entries of a shape vector; stand-in values pass through them unchanged.
SHAPE_MOVERS = frozenset({"Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Reshape", "Flatten", "Cast"})


STUB_ELEMENTS = 256  # initializers larger than this are stubs in the working model


@dataclass(frozen=True)
class FoldResult:
    model: onnx.ModelProto  # large initializers are stubs: their values are in ``constants``
    constants: dict[str, np.ndarray]
    partials: dict[str, np.ndarray]  # shape vectors with symbolic stand-ins still read by a node
    changed: bool


def attr_value(a: onnx.AttributeProto) -> Any:
    """An attribute as a plain Python value: tuples for lists, numpy arrays for tensors, str for strings."""
    v = helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, list):
        return tuple(numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto)
                     else x.decode("utf-8") if isinstance(x, bytes) else x for x in v)
    return v


def node_from_proto(n: onnx.NodeProto) -> Node:
    return Node(n.name, n.op_type, tuple(n.input), tuple(n.output),
                {a.name: attr_value(a) for a in n.attribute}, n.domain)


def light_initializer(name: str, value: np.ndarray) -> onnx.TensorProto:
    """An initializer for shape inference: the data only when it is small (shape vectors, scalars)."""
    if value.size <= STUB_ELEMENTS:
        return numpy_helper.from_array(value, name)
    stub = onnx.TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(value.dtype))
    stub.dims.extend(value.shape)
    return stub


def default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def evaluate(node: onnx.NodeProto, values: Sequence[np.ndarray | None], model: onnx.ModelProto,
             expected: Sequence[tuple[tuple[int, ...], np.dtype] | None] = ()) -> list[np.ndarray]:
    """Run one node on constant inputs: the float kernel if it gives the expected outputs, else onnx.reference."""
    opset = default_opset(model)
    if node.domain in ("", "ai.onnx") and node.op_type in registered_ops(Mode.FLOAT):
        try:
            outs = _run_kernel(node, values, opset)
            if _matches(outs, node, expected):
                return outs
        except Exception:  # noqa: BLE001 - a float kernel need not cover integer shape math; the reference does
            pass
    feeds = {name: v for name, v in zip(node.input, values) if name}
    graph = helper.make_graph(
        [node], "fold", [helper.make_value_info(k, onnx.TypeProto()) for k in feeds],
        [helper.make_value_info(k, onnx.TypeProto()) for k in node.output if k],
    )
    one = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    results = ReferenceEvaluator(one).run(None, feeds)
    return [np.asarray(r) for r in results]


def _run_kernel(node: onnx.NodeProto, values: Sequence[np.ndarray | None], opset: int) -> list[np.ndarray]:
    constants = {name: v for name, v in zip(node.input, values) if name and v is not None}
    env = Env(opset, constants, {}, {k: v.dtype.name for k, v in constants.items()})
    canon = normalize_node(node_from_proto(node), env)
    known = {**constants, **env.added}
    fn = lookup(canon.op_type, Mode.FLOAT, opset, node.name)
    return list(fn([known[i] if i else None for i in canon.inputs], canon.attrs, KernelContext(node.name, opset)))


def _matches(outs: Sequence[np.ndarray], node: onnx.NodeProto, expected) -> bool:
    if len(outs) < sum(1 for o in node.output if o):
        return False
    for out, exp in zip(outs, expected):
        if exp is not None and (tuple(out.shape) != exp[0] or out.dtype != exp[1]):
            return False
    return True


def _dims(vi: onnx.ValueInfoProto | None) -> list[int | str | None] | None:
    if vi is None or not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in vi.type.tensor_type.shape.dim]


def _expected(vi: onnx.ValueInfoProto | None) -> tuple[tuple[int, ...], np.dtype] | None:
    dims = _dims(vi)
    elem = vi.type.tensor_type.elem_type if vi is not None else 0
    if dims is None or not elem or not all(isinstance(d, int) for d in dims):
        return None
    return tuple(dims), helper.tensor_dtype_to_np_dtype(elem)


class _Folder:
    def __init__(self, model: onnx.ModelProto, constants: Mapping[str, np.ndarray], symbols: Symbols) -> None:
        g = model.graph
        self.model, self.symbols = model, symbols
        self.constants = dict(constants)
        self.infos = {vi.name: vi for vi in (*g.input, *g.value_info, *g.output)}
        self.readers: dict[str, int] = {}
        for n in g.node:
            for i in n.input:
                self.readers[i] = self.readers.get(i, 0) + 1
        self.taken = {*self.constants, *(i.name for i in g.input), *(o for n in g.node for o in n.output),
                      *(n.name for n in g.node)}
        self.graph_inputs = {i.name for i in g.input}
        self.graph_outputs = {o.name for o in g.output}
        self.alias: dict[str, str] = {}
        self.partial: dict[str, np.ndarray] = {}
        self.kept: list[onnx.NodeProto] = []

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.taken:
            name, k = f"{hint}_{k}", k + 1
        self.taken.add(name)
        return name

    def visit(self, node: onnx.NodeProto) -> None:
        n = onnx.NodeProto()
        n.CopyFrom(node)
        del n.input[:]
        n.input.extend(self.resolve(i) for i in node.input)
        default = n.domain in ("", "ai.onnx")
        if default and n.op_type in PASS_THROUGH and self._removable(n):
            self.alias[n.output[0]] = n.input[0]
            return
        if default and n.op_type == "Shape" and self._fold_shape(n):
            return
        known = [i == "" or i in self.constants for i in n.input]
        if all(known) and n.op_type not in NEVER_FOLD and self._fold(n):
            return
        if default and n.op_type == "Reshape" and n.input[1] in self.partial and n.input[0] not in self.partial:
            self._resolve_reshape(n)
        elif default and self._movable(n) and self._fold(n, partial=True):
            if not any(o in self.partial for o in n.output):
                return  # every stand-in was sliced away: the outputs are plain constants
        self.kept.append(n)

    def _removable(self, n: onnx.NodeProto) -> bool:
        """Not when the Dropout mask is read, nor when it copies a graph input or output to a graph output."""
        if len(n.output) > 1 and self.readers.get(n.output[1]):
            return False
        ends = self.graph_inputs | self.graph_outputs
        return not (n.output[0] in self.graph_outputs and n.input[0] in ends)

    def _fold(self, n: onnx.NodeProto, partial: bool = False) -> bool:
        values = [None if not i else self.partial.get(i, self.constants.get(i)) for i in n.input]
        expected = [] if partial else [_expected(self.infos.get(o)) for o in n.output]
        try:
            outs = evaluate(n, values, self.model, expected)
        except Exception:  # noqa: BLE001 - an op that cannot be evaluated here stays in the graph
            return False
        for name, value in zip(n.output, outs):
            if name:
                target = self.partial if partial and self.symbols.contains(value) else self.constants
                target[name] = value
        return True

    def _movable(self, n: onnx.NodeProto) -> bool:
        if n.op_type not in SHAPE_MOVERS or not any(i in self.partial for i in n.input):
            return False
        if n.op_type == "Cast" and helper.get_node_attr_value(n, "to") != onnx.TensorProto.INT64:
            return False
        rest = n.input if n.op_type == "Concat" else n.input[1:]
        return (n.op_type == "Concat" or n.input[0] in self.partial) and all(
            i == "" or i in self.constants or (n.op_type == "Concat" and i in self.partial) for i in rest
        )

    def _fold_shape(self, n: onnx.NodeProto) -> bool:
        src = n.input[0]
        dims = list(self.constants[src].shape) if src in self.constants else _dims(self.infos.get(src))
        if dims is None or any(d is None for d in dims):
            return False
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        dims = dims[slice(attrs.get("start", 0), attrs.get("end"))]
        value = np.array([d if isinstance(d, int) else self.symbols.value(d) for d in dims], dtype=np.int64)
        (self.partial if self.symbols.contains(value) else self.constants)[n.output[0]] = value
        if self.symbols.contains(value):
            self.kept.append(n)
        return True

    def _resolve_reshape(self, n: onnx.NodeProto) -> None:
        """Rewrite a Reshape target holding symbolic stand-ins with 0 (same input dim) or -1."""
        target = self.partial[n.input[1]].copy()
        data = _dims(self.infos.get(n.input[0])) or []
        allowzero = any(a.name == "allowzero" and a.i for a in n.attribute)
        for p, v in enumerate(target):
            sym = self.symbols.name(int(v))
            if sym is not None and not allowzero and p < len(data) and data[p] == sym:
                target[p] = 0
        left = [p for p, v in enumerate(target) if self.symbols.name(int(v)) is not None]
        if len(left) == 1 and -1 not in target:
            target[left[0]] = -1
        elif left:
            return
        name = self.fresh(f"{n.input[1]}_static")
        self.constants[name] = target
        n.input[1] = name

    def finish(self) -> FoldResult:
        g = self.model.graph
        outputs = [o.name for o in g.output]
        inputs = {i.name for i in g.input}
        renames: dict[str, str] = {}
        for o in outputs:
            r = self.resolve(o)
            if r == o:
                continue
            if r in self.constants:
                self.constants[o] = self.constants[r]
            elif r in inputs or r in outputs or r in renames or r in self.partial:
                self.kept.append(helper.make_node("Identity", [r], [o], name=self.fresh(f"Identity_{o}")))
            else:
                renames[r] = o
        for n in self.kept:
            for field in (n.input, n.output):
                field[:] = [renames.get(x, x) for x in field]
        needed = set(outputs)
        live = []
        for n in reversed(self.kept):
            if any(o in needed for o in n.output if o):
                live.append(n)
                needed.update(i for i in n.input if i)
        live.reverse()
        produced = {o for n in live for o in n.output}
        names = needed | produced
        constants = {k: v for k, v in self.constants.items() if k in needed and k not in produced}
        graph = helper.make_graph(
            live, g.name, list(g.input), list(g.output), [light_initializer(k, v) for k, v in constants.items()],
            value_info=[vi for vi in g.value_info if vi.name in names],
        )
        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        model.graph.CopyFrom(graph)
        before = [(n.op_type, tuple(n.input), tuple(n.output)) for n in g.node]
        after = [(n.op_type, tuple(n.input), tuple(n.output)) for n in live]
        partials = {k: v for k, v in self.partial.items() if k in needed}
        return FoldResult(model, constants, partials, before != after)


def fold_constants(model: onnx.ModelProto, constants: Mapping[str, np.ndarray],
                   symbols: Symbols | None = None) -> FoldResult:
    """One folding sweep over a shape-inferred model whose initializer values are ``constants``.

    ``symbols`` keeps the stand-ins for symbolic dims stable across sweeps.
    """
    folder = _Folder(model, constants, symbols or Symbols())
    for node in model.graph.node:
        folder.visit(node)
    return folder.finish()
