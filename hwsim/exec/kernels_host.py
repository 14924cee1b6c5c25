"""HostFloat (ops the accelerator cannot run: dequantize, float kernel, quantize) and the pure data
movement ops, which run on integer codes unchanged.

HostFloat reuses the float registry (``quant.kernels``) so host ops compute exactly what the float
executor computes. Its output is quantized with the target's ``quantize_rounding`` (ONNX
QuantizeLinear: float32 division, round, saturate) unless it is a float graph output. IntResize runs
the same way on the vector unit (for nearest-neighbour resizing of one grid it only moves codes).
"""
from __future__ import annotations

import numpy as np

from quant.kernels.registry import KernelContext, Mode, kernel, lookup
from quant.rounding import dequantize, quantize

OP_PREFIX = "op."


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


def _axes(inputs, attrs) -> tuple[int, ...] | None:
    if len(inputs) > 1 and inputs[1] is not None:
        return tuple(int(a) for a in np.asarray(inputs[1]).ravel())
    return tuple(attrs["axes"]) if "axes" in attrs else None


@kernel("Reshape", Mode.INT)
def reshape_int(inputs, attrs, ctx: KernelContext):
    x, shape = inputs[0], [int(d) for d in np.asarray(inputs[1]).ravel()]
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return (x.reshape(shape),)


@kernel("Flatten", Mode.INT)
def flatten_int(inputs, attrs, ctx: KernelContext):
    x = inputs[0]
    axis = int(attrs.get("axis", 1)) % max(x.ndim, 1) if x.ndim else 0
    return (x.reshape(int(np.prod(x.shape[:axis])), -1),)


@kernel("Transpose", Mode.INT)
def transpose_int(inputs, attrs, ctx: KernelContext):
    perm = attrs.get("perm")
    return (np.transpose(inputs[0], tuple(perm) if perm else None),)


@kernel("Squeeze", Mode.INT)
def squeeze_int(inputs, attrs, ctx: KernelContext):
    axes = _axes(inputs, attrs)
    return (np.squeeze(inputs[0], axis=axes),)


@kernel("Unsqueeze", Mode.INT)
def unsqueeze_int(inputs, attrs, ctx: KernelContext):
    x, axes = inputs[0], _axes(inputs, attrs)
    ndim = x.ndim + len(axes)
    return (np.expand_dims(x, tuple(sorted(a % ndim for a in axes))),)


@kernel("Identity", Mode.INT)
def identity_int(inputs, attrs, ctx: KernelContext):
    return (inputs[0],)
