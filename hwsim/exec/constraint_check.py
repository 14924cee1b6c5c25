"""check_constraints(qdq_graph, constraints): every place a QDQ model breaks a target's quantization rules.

Policy on granularity: ``weights.granularity: per_channel`` means the hardware *supports* per-channel
scales; per-tensor weights still run (per-tensor is per-channel with equal scales), so they are not a
violation. Per-channel weights on a ``per_tensor`` target are. ``symmetric`` means zero point 0.

Which rule a constant follows is decided as ``quant.passes.insert_qdq.quant_sites`` decides it (see
``_constant_roles``): a MAC op's (or an unfolded normalization's) second input is a weight and its
third a bias; every other constant (an Add's or Mul's operand, a Concat input, the first operand of
``W @ x``) runs beside the activations and follows the activations rule. A bias is checked by its
values: an int32 bias is fine on a 16-bit bias target while every value fits 16 bits. A constant input of a ``shared_scale_ops`` op may have its
own grid: it is re-quantized onto the shared grid when compiled, so the hardware never rescales it.
Each violation is reported, not just the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from hwsim.exec.qparams import QParams, qparams_of
from quant.constraints import QuantConstraints, TensorRule
from quant.ir import Graph, Node
from quant.opset import MATMUL_LIKE


@dataclass(frozen=True)
class Violation:
    node: str  # the op the tensor belongs to (its producer, or the op reading a constant)
    tensor: str
    rule: str  # dotted path of the constraint, e.g. "activations.scale"
    message: str

    def __str__(self) -> str:
        return f"node '{self.node}', tensor '{self.tensor}': {self.message} ({self.rule})"


def _pow2(scale: np.ndarray) -> np.ndarray:
    return np.frexp(np.asarray(scale, np.float64))[0] == 0.5


def _fmt(v) -> str:
    return f"{float(v):.6g}"


def _tensor_rule(kind: str, r: TensorRule, qp: QParams, values: np.ndarray | None, node: str, tensor: str) -> list[Violation]:
    out = []

    def bad(rule: str, msg: str) -> None:
        out.append(Violation(node, tensor, f"{kind}.{rule}", msg))

    if qp.bits > r.bits and values is None:
        bad("bits", f"{qp.dtype} {kind} exceed the target's {r.bits} bits")
    if values is not None and r.bits < qp.bits:
        lo, hi = (-(1 << (r.bits - 1)), (1 << (r.bits - 1)) - 1) if qp.signed else (0, (1 << r.bits) - 1)
        if values.min() < lo or values.max() > hi:
            bad("bits", f"values [{values.min()}, {values.max()}] exceed the target's {r.bits}-bit range [{lo}, {hi}]")
    if r.signedness == "signed" and not qp.signed or r.signedness == "unsigned" and qp.signed:
        bad("signedness", f"{qp.dtype} {kind}, but the target's {kind} are {r.signedness}")
    if r.symmetric and np.any(qp.zero_point != 0):
        bad("symmetric", f"zero point {int(qp.zero_point.ravel()[np.argmax(qp.zero_point.ravel() != 0)])} on a symmetric tensor")
    if r.narrow_range and values is not None and qp.signed and values.size and values.min() <= -(1 << (r.bits - 1)):
        bad("narrow_range", f"value {values.min()} is outside the narrow range [{-(1 << (r.bits - 1)) + 1}, {(1 << (r.bits - 1)) - 1}]")
    if qp.per_channel and r.granularity == "per_tensor":
        bad("granularity", f"{kind} are per-channel but the target supports per-tensor scales only")
    not_pow2 = ~_pow2(qp.scale).ravel()
    if r.scale == "power_of_two" and not_pow2.any():
        more = f" ({int(not_pow2.sum())} of {qp.scale.size} channels)" if qp.per_channel else ""
        bad("scale", f"scale {_fmt(np.ravel(qp.scale)[not_pow2][0])} is not a power of two{more}")
    return out


class _Model:
    """Lookups over a QDQ graph: what each DequantizeLinear feeds, the Q closing each op."""

    def __init__(self, g: Graph):
        self.g = g
        self.producers, self.consumers = g.producers(), g.consumers()
        self.dq = {n.outputs[0]: n for n in g.nodes if n.op_type == "DequantizeLinear"}

    def qp_in(self, tensor: str) -> tuple[QParams, str] | None:
        n = self.dq.get(tensor)
        return (qparams_of(self.g, n), n.inputs[0]) if n is not None else None

    def qp_out(self, node: Node) -> QParams | None:
        t = node.outputs[0]
        while True:
            uses = self.consumers.get(t, [])
            if len(uses) != 1:
                return None
            if uses[0].op_type == "QuantizeLinear":
                return qparams_of(self.g, uses[0])
            if uses[0].op_type not in ("Relu", "Clip"):
                return None
            t = uses[0].outputs[0]

    def owner(self, tensor: str, fallback: str) -> str:
        p = self.producers.get(tensor)
        return p.name if p is not None else fallback


ConstantRole = Literal["weights", "bias", "activations"]
# ops whose input 1 is a weight and input 2 a bias: the MAC ops, and the normalizations another
# tool may leave unfolded (onnxruntime's quantize_static quantizes a BatchNormalization's scale as a
# weight and its B as an int32 bias)
_PARAMETRIC = MATMUL_LIKE | {"BatchNormalization", "InstanceNormalization", "LayerNormalization"}


def _constant_roles(qdq_graph: Graph) -> dict[str, tuple[ConstantRole, str]]:
    """For each DequantizeLinear of a constant, keyed by its output: the rule its codes follow and the
    node that reads it, classified like ``quant_sites``: by its first reader in graph order, a weight
    at input 1 of a MAC op, a bias at input 2, else a constant on the activations rule."""
    consumers, out = qdq_graph.consumers(), {}
    for n in qdq_graph.nodes:
        if n.op_type != "DequantizeLinear" or n.inputs[0] not in qdq_graph.initializers:
            continue
        t = n.outputs[0]
        reader = next(iter(consumers.get(t, [])), None)
        if reader is None:
            out[t] = ("activations", n.name)
            continue
        slot = reader.inputs.index(t)
        role = {1: "weights", 2: "bias"}.get(slot, "activations") if reader.op_type in _PARAMETRIC else "activations"
        out[t] = (role, reader.name)
    return out


def check_constraints(qdq_graph: Graph, constraints: QuantConstraints) -> list[Violation]:
    """Every violation of ``constraints`` in a QDQ model, in graph order."""
    m, c, out = _Model(qdq_graph), constraints, []
    roles = _constant_roles(qdq_graph)
    for n in qdq_graph.nodes:
        if n.op_type == "QuantizeLinear" and n.inputs[0] not in qdq_graph.initializers:
            qp = qparams_of(qdq_graph, n)
            out += _tensor_rule("activations", c.activations, qp, None, m.owner(n.inputs[0], n.name), n.inputs[0])
        elif n.op_type == "DequantizeLinear" and n.inputs[0] in qdq_graph.initializers:
            qp, values = qparams_of(qdq_graph, n), np.asarray(qdq_graph.initializers[n.inputs[0]])
            role, node = roles[n.outputs[0]]
            if role == "bias":
                out += _bias(c, qp, values, node, n.inputs[0])
            else:
                rule = c.weights if role == "weights" else c.activations
                out += _tensor_rule(role, rule, qp, values, node, n.inputs[0])
        elif n.op_type in MATMUL_LIKE:
            out += _mac(m, c, n)
        elif n.op_type == "Add" and c.add_max_shift_diff_bits is not None:
            out += _add(m, c, n)
        if n.op_type in c.shared_scale_ops:
            out += _shared(m, n, roles)
    return out


def _bias(c: QuantConstraints, qp: QParams, values: np.ndarray, node: str, tensor: str) -> list[Violation]:
    """The bias's values (not its storage type: ONNX biases are int32) must fit ``bias_bits`` signed."""
    out, lo, hi = [], -(1 << (c.bias_bits - 1)), (1 << (c.bias_bits - 1)) - 1
    if values.size and (values.min() < lo or values.max() > hi):
        msg = f"bias values [{values.min()}, {values.max()}] exceed the target's {c.bias_bits}-bit range [{lo}, {hi}]"
        out.append(Violation(node, tensor, "bias_bits", msg))
    if np.any(qp.zero_point != 0):
        out.append(Violation(node, tensor, "bias_bits", "bias zero point is not 0"))
    return out


def _mac(m: _Model, c: QuantConstraints, n: Node) -> list[Violation]:
    x, w, y = m.qp_in(n.inputs[0]), m.qp_in(n.inputs[1]) if len(n.inputs) > 1 else None, m.qp_out(n)
    if x is None or w is None:
        return []
    out, s_acc = [], np.float64(x[0].s) * np.asarray(w[0].scale, np.float64)
    b = m.qp_in(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else None
    if b is not None and not np.allclose(np.asarray(b[0].scale, np.float64), s_acc, rtol=1e-6, atol=0):
        out.append(Violation(n.name, b[1], "bias_bits", f"bias scale {_fmt(np.ravel(b[0].scale)[0])} != S_in * S_w = {_fmt(np.ravel(s_acc)[0])}"))
    if c.requantization.mode == "shift" and y is not None:
        mult = s_acc / np.float64(y.s)
        frac, exp = np.frexp(mult)
        if np.any(frac != 0.5):
            out.append(Violation(n.name, n.outputs[0], "requantization.mode", f"requantization multiplier {_fmt(np.ravel(mult)[0])} is not a power of two, so it is not a shift"))
        elif np.any((1 - exp < c.requantization.shift_min) | (1 - exp > c.requantization.shift_max)):
            r = c.requantization
            out.append(Violation(n.name, n.outputs[0], "requantization.shift_max", f"shift {int(np.ravel(1 - exp)[0])} outside [{r.shift_min}, {r.shift_max}]"))
    return out


def _add(m: _Model, c: QuantConstraints, n: Node) -> list[Violation]:
    qs = [m.qp_in(t) for t in n.inputs[:2]]
    if any(q is None or q[0].per_channel or not _pow2(q[0].scale) for q in qs):
        return []
    exps = [int(np.frexp(np.float64(q[0].s))[1]) for q in qs]
    diff = abs(exps[0] - exps[1])
    if diff > c.add_max_shift_diff_bits:
        return [Violation(n.name, n.outputs[0], "add_max_shift_diff_bits", f"input exponents differ by {diff} bits (limit {c.add_max_shift_diff_bits})")]
    return []


def _shared(m: _Model, n: Node, constants: dict[str, tuple[ConstantRole, str]]) -> list[Violation]:
    y = m.qp_out(n)
    out = []
    for t in n.inputs:
        x = m.qp_in(t) if t and t not in constants else None
        if x is None or y is None or x[0].same(y):
            continue
        out.append(Violation(n.name, x[1], "shared_scale_ops", f"input scale {_fmt(np.ravel(x[0].scale)[0])} / zero point {int(np.ravel(x[0].zero_point)[0])} differs from the output's {_fmt(y.s)} / {y.z}; {n.op_type} must keep one grid"))
    return out
