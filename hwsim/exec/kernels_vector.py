"""Integer kernels of the vector unit: IntAdd, IntMul, IntRescale, IntConcat, IntLut; IntQuantize and
IntDequantize at the edges of the integer graph.

Float mode emulates onnxruntime's x86 kernels bit for bit:
- IntAdd = MLAS ``MlasQLinearAddKernelAvx2Helper`` (qladd_avx2.cpp): ratios ``S_a/S_y``, ``S_b/S_y`` and
  the constant ``Z_y - (r_a Z_a + r_b Z_b)`` in float32, then ``fma(a, r_a, fma(b, r_b, const))`` on the
  raw codes, round to nearest even (a scalar operand is folded into the constant first).
- IntMul = MLAS ``MlasQLinearMulKernel`` (qlmul.cpp, SSE2): ``float((a-Z_a)(b-Z_b)) * (S_a S_b / S_y) + Z_y``.
- IntRescale / IntConcat = DequantizeLinear then QuantizeLinear in float32 (QLinearConcat's lookup table
  ``QlinearBuildLookupTable``): ``(S_x * (x - Z_x)) / S_y`` rounded.
fixed_point: TFLite ``add_common.cc`` (left_shift 20 for 8-bit, 15 for 16-bit; inputs scaled by
``S_i / (2 max(S_a, S_b))``, output by ``2 max / (2^left_shift S_y)``), TFLite MUL (one multiplier
``S_a S_b / S_y``), and rescale by ``S_x / S_y``. An Add fed by the int32 accumulator of a fused MAC op
(Conv -> Add -> Relu) instead moves the other operand onto the accumulator's grid (multiplier
``S_b / S_acc``), adds in the accumulator and requantizes once by ``S_acc / S_y``. shift: operands
aligned to the finer exponent by left shifts, then one rounding right shift to the output exponent.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from hwsim.exec.arith import Arith, accumulate, along, f32, finish, fma32, requant, round_float
from quant.kernels.registry import KernelContext, Mode, kernel
from quant.rounding import dequantize, quantize


def rescale(x: np.ndarray, p: Mapping, arith: Arith) -> np.ndarray:
    """Integer codes of ``x`` re-expressed on another grid, before the output zero point (int64)."""
    x = np.asarray(x, np.int64)
    ax = p.get("axis")
    d = x - along(p["x_zp"], ax, x.ndim)
    if arith.requant == "float":
        v = along(f32(p["x_scale"]), ax, x.ndim) * d.astype(np.float32)
        return round_float(v / f32(p["y_scale"]), arith.rounding)
    return requant(d, along(p["rq_mult"], ax, x.ndim), along(p["rq_shift"], ax, x.ndim), arith)


@kernel("IntRescale", Mode.INT)
def rescale_int(inputs, attrs, ctx: KernelContext):
    y = rescale(inputs[0], attrs, ctx.arith)
    return (finish(y, attrs["y_zp"], attrs["qmin"], attrs["qmax"], attrs["dtype"]),)


@kernel("IntAdd", Mode.INT)
def add_int(inputs, attrs, ctx: KernelContext):
    a, b = (np.asarray(v, np.int64) for v in inputs[:2])
    nd, ax = max(a.ndim, b.ndim), attrs.get("axis")

    def p(key):
        return along(attrs[key], ax, nd)

    mode = ctx.arith.requant
    if mode == "float":
        fa, fb, ra, rb, c = f32(a), f32(b), f32(p("ratio_a")), f32(p("ratio_b")), f32(p("offset"))
        if b.size == 1:
            r = fma32(fa, ra, f32(c + f32(fb * rb)))
        elif a.size == 1:
            r = fma32(fb, rb, f32(c + f32(fa * ra)))
        else:
            r = fma32(fa, ra, fma32(fb, rb, c))
        return (finish(round_float(r, ctx.arith.rounding), 0, attrs["qmin"], attrs["qmax"], attrs["dtype"]),)
    va, vb = a - p("a_zp"), b - p("b_zp")
    if mode == "fixed_point" and attrs.get("acc_grid"):  # b moved onto the accumulator a's grid, added there
        total = accumulate(va + requant(vb, p("b_mult"), p("b_shift"), ctx.arith), ctx.arith)
    elif mode == "fixed_point":
        left = int(attrs["left_shift"])
        total = requant(va << left, p("a_mult"), p("a_shift"), ctx.arith) + requant(vb << left, p("b_mult"), p("b_shift"), ctx.arith)
    else:
        total = (va << p("a_align")) + (vb << p("b_align"))
    y = requant(total, p("rq_mult"), p("rq_shift"), ctx.arith)
    return (finish(y, attrs["y_zp"], attrs["qmin"], attrs["qmax"], attrs["dtype"]),)


@kernel("IntMul", Mode.INT)
def mul_int(inputs, attrs, ctx: KernelContext):
    a, b = (np.asarray(v, np.int64) for v in inputs[:2])
    prod = (a - attrs["a_zp"]) * (b - attrs["b_zp"])
    if ctx.arith.requant == "float":
        r = f32(f32(prod) * f32(attrs["rq_mult"])) + f32(attrs["y_zp"])
        return (finish(round_float(r, ctx.arith.rounding), 0, attrs["qmin"], attrs["qmax"], attrs["dtype"]),)
    y = requant(prod, attrs["rq_mult"], attrs["rq_shift"], ctx.arith)
    return (finish(y, attrs["y_zp"], attrs["qmin"], attrs["qmax"], attrs["dtype"]),)


@kernel("IntConcat", Mode.INT)
def concat_int(inputs, attrs, ctx: KernelContext):
    parts = []
    for i, x in enumerate(inputs):
        if attrs["copy"][i]:
            parts.append(np.asarray(x, np.int64))
            continue
        p = {k: attrs[k][i] for k in ("x_scale", "x_zp", "rq_mult", "rq_shift")}
        parts.append(rescale(x, p | {"y_scale": attrs["y_scale"]}, ctx.arith) + int(attrs["y_zp"]))
    y = np.concatenate(parts, axis=int(attrs["axis"]))
    return (finish(y, 0, attrs["qmin"], attrs["qmax"], attrs["dtype"]),)


@kernel("IntLut", Mode.INT)
def lut_int(inputs, attrs, ctx: KernelContext):
    """A 2^bits-entry table indexed by the input code (sigmoid, tanh, hard-swish ... on int8)."""
    idx = np.asarray(inputs[0], np.int64) - int(attrs["x_min"])
    return (np.asarray(attrs["table"])[idx].astype(attrs["dtype"]),)


@kernel("IntQuantize", Mode.INT)
def quantize_int(inputs, attrs, ctx: KernelContext):
    """Float -> integer codes (model inputs), with the target's quantize_rounding (ONNX QuantizeLinear)."""
    axis = attrs.get("axis")
    y = quantize(inputs[0], attrs["scale"], attrs["zp"], attrs["qmin"], attrs["qmax"], ctx.arith.quantize_rounding, axis=axis)
    return (y.astype(attrs["dtype"]),)


@kernel("IntDequantize", Mode.INT)
def dequantize_int(inputs, attrs, ctx: KernelContext):
    """Integer codes -> float32 (the graph's final DequantizeLinear): (q - Z) * S."""
    return (dequantize(inputs[0], attrs["scale"], attrs["zp"], attrs.get("axis")),)
