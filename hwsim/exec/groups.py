"""What the lowering rules see: operands, groups (op + fused clamps + closing QuantizeLinear), results,
and the rule registry keyed by op type (filled by ``@rule`` in rules_mac / rules_vector)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from hwsim.exec.qparams import QParams
from quant.ir import Node
from quant.opset import ACTIVATIONS, DATA_MOVEMENT
from quant.rounding import quantize

if TYPE_CHECKING:
    from hwsim.exec.lower import Lowering

# Op families of the integer executor, drawn from quant.opset's (the one place op families are defined;
# they belong there once quant/opset.py is free to change).
# VIEW_OPS: the quant.opset.DATA_MOVEMENT ops that re-view one tensor, so integer codes pass through
# unchanged and their integer kernels are the float ones (kernels_host).
VIEW_OPS = DATA_MOVEMENT & frozenset({"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity"})
# FUSED_CLAMPS: the quant.opset.ACTIVATIONS a MAC or vector op absorbs as a tighter output clamp.
FUSED_CLAMPS = ACTIVATIONS & frozenset({"Relu", "Clip"})


@dataclass(frozen=True)
class Operand:
    """One input as the integer graph sees it."""

    name: str  # tensor name in the integer graph
    qp: QParams | None = None  # None: a float tensor or a raw (unquantized) constant
    const: np.ndarray | None = None  # the values, when constant


@dataclass(frozen=True)
class Group:
    node: Node
    inputs: tuple[Operand | None, ...]
    out_q: QParams | None  # qparams of the QuantizeLinear after the group; None: unquantized output
    out: str  # the tensor the group produces (the QuantizeLinear's output, or float_out)
    float_out: str  # the float tensor at the end of the fused chain
    fused: tuple[Node, ...] = ()

    @property
    def where(self) -> str:
        return f"node '{self.node.name}' ({self.node.op_type})"


@dataclass
class Lowered:
    nodes: list[Node]
    value: Operand | None = None  # unquantized output: the integer operand its consumers read


Rule = Callable[[Group, "Lowering"], "Lowered | None"]
RULES: dict[str, Rule] = {}


def rule(*op_types: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for op in op_types:
            RULES[op] = fn
        return fn

    return register


def int_activation(op: Operand | None) -> bool:
    return op is not None and op.qp is not None and not op.qp.per_channel


def clamp_range(qp: QParams | None, fused, ctx: Lowering) -> tuple[int, int] | None:
    """[lo, hi] of the output codes: the type's range tightened by fused Relu / Clip (None: not constant)."""
    if qp is None:
        return None
    lo, hi = qp.qmin, qp.qmax
    for n in fused:
        if n.op_type == "Relu":
            lo = max(lo, qp.z)
            continue
        bounds = []
        for i, key in ((1, "min"), (2, "max")):
            name = n.inputs[i] if len(n.inputs) > i else ""
            if name and name not in ctx.graph.initializers:
                return None
            bounds.append(ctx.graph.initializers[name] if name else n.attrs.get(key))
        q = [None if v is None else int(quantize(np.float32(v), qp.scale, qp.zero_point, qp.qmin, qp.qmax, ctx.arith.quantize_rounding)) for v in bounds]
        lo, hi = max(lo, q[0]) if q[0] is not None else lo, min(hi, q[1]) if q[1] is not None else hi
    return lo, hi
