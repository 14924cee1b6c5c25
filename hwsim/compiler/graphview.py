"""The compiler's view of a graph: compute ops only, each tensor resolved to the bytes that hold it.

Quantization boundaries and pure reinterpretations are not work:

* ``QuantizeLinear`` / ``DequantizeLinear`` are where a tensor changes representation, not ops the
  hardware runs: a ``DQ -> op -> Q`` group is one integer op, and its tensors are stored in the
  element type of the quantizer's zero point (1 byte for int8/uint8). A DQ output, a Q output and
  the Q's float input all name the same stored bytes (their *storage* tensor).
* ``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze``, ``Identity`` and ``Dropout`` only rename
  storage; ``Constant``, ``Shape`` and the other import-time ops produce constants. None costs a cycle.

Which ops run in integer: in a QDQ graph, an op whose every non-constant input comes (through
reshapes) from a DequantizeLinear or from another integer op, and whose Conv/Gemm/MatMul weight is
quantized; an op downstream of a float tensor that never passed a QuantizeLinear was left float by
the quantization and runs on the host. A float graph (no Q/DQ at all) is costed *as if quantized*
with the target's rules: activations and weights take the target's bit widths, biases its bias
width, and every op the target can run runs in integer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from hwsim.compiler.program import CompileError
from hwsim.target import Target
from quant.ir import Graph, Node
from quant.opset import IMPORT_ONLY, MATMUL_LIKE, QDQ

ALIAS_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
CONSTANT_OPS = IMPORT_ONLY - {"Dropout"}
WEIGHT_INPUT, BIAS_INPUT = 1, 2  # positions of weight and bias in Conv/Gemm/MatMul inputs


@dataclass(frozen=True)
class Op:
    """A compute node with each input and output resolved to its storage tensor ('' if omitted)."""

    node: Node
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    integer: bool

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def op_type(self) -> str:
        return self.node.op_type


@dataclass(frozen=True)
class GraphView:
    ops: tuple[Op, ...]
    shapes: Mapping[str, tuple[int, ...]]
    storage: Mapping[str, str]
    elem_bytes: Mapping[str, int]
    constants: frozenset[str]
    graph_inputs: frozenset[str]
    graph_outputs: frozenset[str]
    quantized: bool

    def shape(self, name: str, node: str = "?") -> tuple[int, ...]:
        if name not in self.shapes:
            raise CompileError(
                f"node '{node}': tensor '{name}' has no known shape; import the model with "
                "quant.onnx_import.import_model (it runs shape inference) or give the graph value_info"
            )
        return self.shapes[name]

    def numel(self, name: str, node: str = "?") -> int:
        return math.prod(self.shape(name, node))

    def nbytes(self, name: str, node: str = "?") -> int:
        """Bytes of the storage behind ``name`` (by its own shape: a Flatten's output has its input's bytes)."""
        return self.numel(name, node) * self.elem_bytes.get(self.storage.get(name, name), 4)


def _itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


def graph_view(graph: Graph, target: Target, batch: int = 1) -> GraphView:
    """Resolve storage, element sizes and integer-ness of every op of ``graph``."""
    q = target.quantization
    quantized = any(n.op_type in QDQ for n in graph.nodes)
    shapes = {name: info.with_batch(batch) for name, info in graph.tensors.items()}
    for name, arr in graph.initializers.items():
        shapes[name] = tuple(arr.shape)
    for info in (*graph.inputs, *graph.outputs):
        shapes.setdefault(info.name, info.with_batch(batch))

    storage: dict[str, str] = {}
    constants = set(graph.initializers)
    int_domain: set[str] = set()  # tensors that hold (or stand for) integer data
    elem: dict[str, int] = {}
    ops: list[Op] = []

    def st(name: str) -> str:
        return storage.get(name, name) if name else ""

    for node in graph.nodes:
        ins = tuple(st(i) for i in node.inputs)
        if node.op_type in QDQ or node.op_type in ALIAS_OPS:
            storage[node.outputs[0]] = ins[0]
            if node.op_type == "QuantizeLinear":
                zp = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
                elem[ins[0]] = _itemsize(graph.initializers[zp].dtype.name) if zp in graph.initializers else 1
            if node.op_type in QDQ or node.inputs[0] in int_domain:
                int_domain.add(node.outputs[0])
            continue
        if node.op_type in CONSTANT_OPS:
            constants.update(o for o in node.outputs if o)
            continue
        activations = [i for i, s in zip(node.inputs, ins) if i and s not in constants]
        weight_ok = True
        if node.op_type in MATMUL_LIKE and len(node.inputs) > WEIGHT_INPUT:
            w = node.inputs[WEIGHT_INPUT]
            weight_ok = w in int_domain or (ins[WEIGHT_INPUT] in constants and ins[WEIGHT_INPUT] in elem)
            if not weight_ok and ins[WEIGHT_INPUT] in graph.initializers:
                weight_ok = np.issubdtype(graph.initializers[ins[WEIGHT_INPUT]].dtype, np.integer)
        integer = not quantized or (weight_ok and all(i in int_domain for i in activations))
        if integer:
            int_domain.update(o for o in node.outputs if o)
        ops.append(Op(node, ins, tuple(o for o in node.outputs), integer))

    # Element sizes of everything a Q did not mark.
    act_bytes = -(-q.activations.bits // 8)
    for op in ops:
        for pos, s in enumerate(op.inputs):
            if s and s not in elem:
                elem[s] = _default_bytes(s, pos, op, graph, quantized, constants, target, act_bytes)
        for o in op.outputs:
            if o and o not in elem:
                elem[o] = act_bytes if not quantized else _itemsize(graph.tensors[o].dtype if o in graph.tensors else "float32")
    for info in graph.inputs:
        elem.setdefault(info.name, act_bytes if not quantized else _itemsize(info.dtype))

    return GraphView(
        ops=tuple(ops),
        shapes=shapes,
        storage=storage,
        elem_bytes=elem,
        constants=frozenset(constants),
        graph_inputs=frozenset(st(i.name) for i in graph.inputs),
        graph_outputs=frozenset(st(o.name) for o in graph.outputs),
        quantized=quantized,
    )


def _default_bytes(s: str, pos: int, op: Op, graph: Graph, quantized: bool, constants: set[str], target: Target, act_bytes: int) -> int:
    q = target.quantization
    if s not in constants:
        if quantized:
            return _itemsize(graph.tensors[s].dtype) if s in graph.tensors else 4
        return act_bytes
    if not quantized and op.op_type in MATMUL_LIKE and pos == WEIGHT_INPUT:
        return -(-q.weights.bits // 8)
    if not quantized and op.op_type in MATMUL_LIKE and pos == BIAS_INPUT:
        return -(-q.bias_bits // 8)
    if s in graph.initializers:
        return graph.initializers[s].dtype.itemsize
    return 4
