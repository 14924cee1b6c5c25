"""HostFloat (ops the accelerator cannot run: dequantize, float kernel, quantize) and the view ops
(``groups.VIEW_OPS``: Reshape, Flatten, Transpose...), whose integer kernels are the float ones run on
codes, so there is one implementation of each.

HostFloat reuses the float registry (``quant.kernels``) so host ops compute exactly what the float
executor computes. Its output is quantized with the target's ``quantize_rounding`` (ONNX
QuantizeLinear: float32 division, round, saturate) unless it is a float graph output. IntResize runs
the same way on the vector unit (for nearest-neighbour resizing of one grid it only moves codes).
"""
from __future__ import annotations

import numpy as np

from hwsim.exec.groups import VIEW_OPS
from quant.kernels import KernelContext, Mode, kernel, lookup  # the package: its float kernels are registered
from quant.rounding import dequantize, quantize

OP_PREFIX = "op."  # HostFloat attributes that are the host op's own
HOST_REASON = "host_reason"  # why the lowering left the op on the host (see lower.host_nodes)


@kernel("IntResize", Mode.INT)
@kernel("HostFloat", Mode.INT)
def host_float(inputs, attrs, ctx: KernelContext):
    args = []
    for i, x in enumerate(inputs):
        if x is not None and f"in{i}_scale" in attrs:
            x = dequantize(x, attrs[f"in{i}_scale"], attrs[f"in{i}_zp"], attrs.get(f"in{i}_axis"))
        args.append(x)
    fn = lookup(attrs["host_op"], Mode.FLOAT, ctx.opset, ctx.node_name)
    op_attrs = {k[len(OP_PREFIX) :]: v for k, v in attrs.items() if k.startswith(OP_PREFIX)}
    outs = fn(args, op_attrs, KernelContext(ctx.node_name, ctx.opset, None))
    result = []
    for j, y in enumerate(outs):
        if f"out{j}_scale" in attrs:
            y = quantize(
                np.asarray(y, dtype=np.float32), attrs[f"out{j}_scale"], attrs[f"out{j}_zp"],
                attrs[f"out{j}_qmin"], attrs[f"out{j}_qmax"], ctx.arith.quantize_rounding,
            ).astype(attrs[f"out{j}_dtype"])
        result.append(y)
    return tuple(result)


def _view(op_type: str):
    """The integer kernel of a view op: its float kernel, which moves codes without touching them."""

    def view_int(inputs, attrs, ctx: KernelContext):
        return lookup(op_type, Mode.FLOAT, ctx.opset, ctx.node_name)(inputs, attrs, ctx)

    view_int.__name__ = f"{op_type.lower()}_int"
    return view_int


for _op in sorted(VIEW_OPS):
    kernel(_op, Mode.INT)(_view(_op))
