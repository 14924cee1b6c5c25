"""lower(qdq_graph, target): a QDQ graph -> an integer graph of Int* nodes with precomputed parameters.

Each ``DequantizeLinear -> op [-> Relu/Clip ...] -> QuantizeLinear`` group becomes one integer node
(rules in ``rules_mac`` / ``rules_vector``, keyed by op type) whose output is the QuantizeLinear's
output tensor, so integer tensors keep the QDQ model's names. Fused Relu/Clip (no Q/DQ between them
and the op) only tighten the output clamp. A MAC op whose output is not quantized hands its int32
accumulator (scale S_x * S_w, zero point 0) to its consumers. Ops the target cannot run, ops listed
in ``quantization.float_ops`` and ops with float inputs become ``HostFloat`` nodes; ``host_nodes`` lists
them with the reason (e.g. a Sigmoid right after a Conv, with no QuantizeLinear between, reads the int32
accumulator). The model input's QuantizeLinear becomes ``IntQuantize``; a DequantizeLinear producing a
graph output, ``IntDequantize``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from hwsim.exec import rules_mac  # noqa: F401  (fills RULES)
from hwsim.exec.arith import Arith
from hwsim.exec.groups import FUSED_CLAMPS, RULES, VIEW_OPS, Group, Operand
from hwsim.exec.qparams import LoweringError, QParams, qparams_of
from hwsim.exec.kernels_host import HOST_REASON
from hwsim.exec.rules_vector import dequantize_node, host, rescale_node
from quant.ir import Graph, Node, TensorInfo, verify
from quant.opset import MATMUL_LIKE
from quant.rounding import quantize
from quant.passes.rewrite import fresh_name


@dataclass
class Lowering:
    """The state of one lowering walk over a QDQ graph (in topological order)."""

    graph: Graph
    target: Any
    arith: Arith
    nodes: list[Node] = field(default_factory=list)
    inits: dict[str, np.ndarray] = field(default_factory=dict)
    dq: dict[str, Operand] = field(default_factory=dict)  # float tensor -> the integer operand behind it
    folded: dict[str, np.ndarray] = field(default_factory=dict)  # QuantizeLinear of a constant, precomputed
    codes: dict[str, tuple[str, QParams]] = field(default_factory=dict)  # float tensor -> (int tensor, qparams)
    handled: set[str] = field(default_factory=set)  # nodes already lowered as part of a group
    _tensor_names: set[str] = field(default_factory=set)
    _node_names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.consumers, self.producers = self.graph.consumers(), self.graph.producers()
        self.outputs = set(self.graph.output_names)
        self._tensor_names = {t for n in self.graph.nodes for t in (*n.inputs, *n.outputs)} | set(self.graph.input_names) | set(self.graph.initializers)

    # --- helpers for rules --------------------------------------------------------------------
    def fresh(self, base: str, taken: set[str] | None = None) -> str:
        """A new tensor name (or, with ``taken``, a name unused in that set) starting with ``base``."""
        return fresh_name(base, self._tensor_names if taken is None else taken)

    def use(self, op: Operand) -> str:
        """The operand's tensor name, adding a constant operand to the integer graph's initializers."""
        if op.const is not None:
            self.inits[op.name] = op.const
        return op.name

    def node(self, op_type: str, inputs, outputs, attrs: dict, name: str) -> Node:
        return Node(self.fresh(name, self._node_names), op_type, tuple(inputs), tuple(outputs), attrs)

    # --- the walk -------------------------------------------------------------------------------
    def run(self) -> Graph:
        for n in self.graph.nodes:
            if n.name in self.handled:
                continue
            {"DequantizeLinear": self._dequantize, "QuantizeLinear": self._quantize}.get(n.op_type, self._op)(n)
        return self._graph()

    def operand(self, name: str) -> Operand | None:
        if not name:
            return None
        if name in self.dq:
            return self.dq[name]
        if name in self.graph.initializers:
            return Operand(name, None, np.asarray(self.graph.initializers[name]))
        return Operand(name)

    def _dequantize(self, n: Node) -> None:
        src = n.inputs[0]
        const = self.folded.get(src, self.graph.initializers.get(src))
        op = Operand(src, qparams_of(self.graph, n), None if const is None else np.asarray(const))
        self.dq[n.outputs[0]] = op
        if n.outputs[0] in self.outputs:
            self.nodes.append(dequantize_node(self, op, n.outputs[0], n.name))

    def _quantize(self, n: Node) -> None:
        src, out, qp = n.inputs[0], n.outputs[0], qparams_of(self.graph, n)
        if src in self.graph.initializers:
            arr = np.asarray(self.graph.initializers[src])
            self.folded[out] = quantize(arr, qp.scale, qp.zero_point, qp.qmin, qp.qmax, self.arith.quantize_rounding, axis=qp.axis).astype(qp.dtype)
            return
        if qp.per_channel:
            raise LoweringError(f"node '{n.name}': per-channel quantization of activation '{src}' is not supported")
        self.codes[src] = (out, qp)
        if src in self.dq:
            self.nodes.append(rescale_node(self, self.dq[src], qp, out, n.name, qp.qmin, qp.qmax))
            return
        attrs = {"scale": qp.scale, "zp": qp.zero_point, "qmin": qp.qmin, "qmax": qp.qmax, "dtype": qp.dtype}
        self.nodes.append(self.node("IntQuantize", [src], [out], attrs, n.name))

    def _sole_consumer(self, tensor: str) -> Node | None:
        uses = self.consumers.get(tensor, [])
        return uses[0] if len(uses) == 1 and tensor not in self.outputs else None

    def _chain(self, n: Node) -> tuple[tuple[Node, ...], Node | None]:
        """Relu/Clip nodes fused after ``n`` and the QuantizeLinear closing the group (or None)."""
        chain: list[Node] = []
        tensor = n.outputs[0]
        while (nxt := self._sole_consumer(tensor)) is not None and nxt.op_type in FUSED_CLAMPS:
            chain.append(nxt)
            tensor = nxt.outputs[0]
        nxt = self._sole_consumer(tensor)
        if nxt is not None and nxt.op_type == "QuantizeLinear" and nxt.inputs[0] == tensor:
            return tuple(chain), nxt
        return (), None

    def _group(self, n: Node, chain: tuple[Node, ...], q: Node | None) -> Group:
        inputs = tuple(self.operand(i) for i in n.inputs)
        float_out = chain[-1].outputs[0] if chain else n.outputs[0]
        if q is None:
            return Group(n, inputs, None, float_out, float_out, chain)
        return Group(n, inputs, qparams_of(self.graph, q), q.outputs[0], float_out, chain)

    def _op(self, n: Node) -> None:
        chain, q = self._chain(n)
        rule_fn = RULES.get(n.op_type) if self.supported(n.op_type) else None
        attempts = [self._group(n, chain, q)]
        if chain:
            attempts.append(self._group(n, (), None))
        for group in attempts:
            result = rule_fn(group, self) if rule_fn is not None else None
            if result is not None:
                break
        else:
            group = self._group(n, (), q if not chain else None)
            result = host(group, self, self._host_reason(group))
        self.nodes.extend(result.nodes)
        if group.out_q is not None:
            self.handled.update([q.name, *(c.name for c in group.fused)])
            self.codes[group.float_out] = (group.out, group.out_q)
        elif result.value is not None and result.value.qp is not None:
            self.dq[group.float_out] = result.value
            if group.float_out in self.outputs:
                self.nodes.append(dequantize_node(self, result.value, group.float_out, n.name))

    def _host_reason(self, g: Group) -> str:
        """Why ``g``'s op runs on the host (the first of: configuration, kernel, operands, output)."""
        n, op = g.node, g.node.op_type
        if op in self.target.quantization.float_ops:
            return f"{op} is in quantization.float_ops"
        if op not in RULES:
            return f"{op} has no integer kernel"
        if not self.supported(op):
            return f"{op} is not in compute.vector.ops"
        for name, x in zip(n.inputs, g.inputs):
            if x is None or x.const is not None:
                continue
            if x.qp is None:
                return f"{op} reads the float tensor '{name}'"
            prod = self.producers.get(name)
            if prod is not None and prod.op_type in MATMUL_LIKE and x.qp.dtype == "int32":
                return f"{op} follows an unrequantized accumulator (no QuantizeLinear after '{prod.name}')"
        if g.out_q is None:
            return f"{op}'s output is not quantized"
        return f"{op} has no integer form for these operands or attributes"

    def supported(self, op_type: str) -> bool:
        q, compute = self.target.quantization, self.target.compute
        if op_type in q.float_ops:
            return False
        return op_type in MATMUL_LIKE or op_type in compute.vector.ops or op_type in VIEW_OPS

    def _graph(self) -> Graph:
        tensors = dict(self.graph.tensors)
        for _, (name, qp) in self.codes.items():
            old = tensors.get(name)
            tensors[name] = TensorInfo(name, old.shape if old else (), qp.dtype)
        g = Graph(tuple(self.nodes), self.graph.inputs, self.graph.outputs, dict(self.inits), tensors, self.graph.opset, self.graph.name)
        verify(g)
        return g


def lower_with_codes(qdq_graph: Graph, target: Any) -> tuple[Graph, dict[str, tuple[str, QParams]]]:
    """The integer graph, and for each quantized float tensor of the QDQ graph its integer tensor."""
    arith = Arith.from_target(target)
    if arith.requant == "fixed_point" and arith.acc_bits > 32:
        raise LoweringError(
            f"target '{target.name}': fixed_point requantization works on int32 accumulators, but "
            f"compute.mac_array.accumulator_bits is {arith.acc_bits}; use 32 or requantization mode float/shift"
        )
    ctx = Lowering(qdq_graph, target, arith)
    return ctx.run(), dict(ctx.codes)


class HostNode(NamedTuple):
    """A node of an integer graph that runs in float on the host, and why."""

    name: str
    op_type: str
    reason: str


def host_nodes(int_graph: Graph) -> list[HostNode]:
    """The HostFloat nodes of a lowered graph (``lower``'s output), in order, with their reasons."""
    return [HostNode(n.name, n.attrs["host_op"], n.attrs[HOST_REASON]) for n in int_graph.nodes if n.op_type == "HostFloat"]


def lower(qdq_graph: Graph, target: Any) -> Graph:
    """Rewrite a QDQ graph into an integer graph for ``target`` (see the module docstring)."""
    return lower_with_codes(qdq_graph, target)[0]
