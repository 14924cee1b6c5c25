"""Lowering rules of the MAC-array ops: Conv, Gemm, MatMul -> IntConv, IntGemm, IntMatMul.

Requantization multiplier M = S_x * S_w[c] / S_y per output channel: exact (float64) for the
fixed_point and shift modes, float32 in onnxruntime's order ``(S_x * S_w) / S_y`` (Gemm:
``(alpha * S_a) * S_b / S_y``, quant_gemm.cc) for the float mode. A bias whose scale differs from
S_x * S_w by more than 1e-6 (relative) is re-expressed on the accumulator grid; a float bias is
quantized there with the target's quantize_rounding.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwsim.exec.arith import f32, requant_params, round_float, show
from hwsim.exec.groups import Group, Lowered, Operand, clamp_range, int_activation, rule
from hwsim.exec.qparams import QParams

if TYPE_CHECKING:
    from hwsim.exec.lower import Lowering


def _const_weight(op: Operand | None, ndims: tuple[int, ...], channel_axis: int) -> bool:
    if op is None or op.qp is None or op.const is None or op.const.ndim not in ndims:
        return False
    return not op.qp.per_channel or op.qp.axis % op.const.ndim == channel_axis % op.const.ndim


def _channels(v: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(v), (n,)).copy()


def _bias(b: Operand | None, s_acc: np.ndarray, n: int, ctx: Lowering) -> np.ndarray | None:
    """int64 bias on the accumulator grid (scale s_acc), or None when it is not a constant."""
    if b is None:
        return np.zeros(n, np.int64)
    if b.const is None:
        return None
    if b.qp is None:
        return round_float(np.asarray(b.const, np.float64) / s_acc.astype(np.float64), ctx.arith.quantize_rounding)
    vals = np.asarray(b.const, np.int64) - b.qp.zero_point
    b_scale = np.asarray(b.qp.scale, np.float64)
    if np.allclose(b_scale, s_acc, rtol=1e-6, atol=0):
        return vals
    return round_float(vals * b_scale / s_acc.astype(np.float64), ctx.arith.quantize_rounding)


def _emit(g: Group, ctx: Lowering, op_type: str, inputs: list[Operand], attrs: dict, sx: float, sw: np.ndarray, acc_axis: int) -> Lowered | None:
    """The MAC node with its requantization (quantized output) or its int32 accumulator (not)."""
    names = [ctx.use(op) for op in inputs]
    if g.out_q is None:
        acc = ctx.fresh(f"{g.float_out}.acc")
        acc_qp = QParams.make(f32(f32(sx) * sw), np.zeros(sw.shape, np.int64), "int32", acc_axis)
        node = ctx.node(op_type, names, [acc], attrs | {"out": "acc"}, g.node.name)
        return Lowered([node], Operand(acc, acc_qp))
    clamp = clamp_range(g.out_q, g.fused, ctx)
    if clamp is None:
        return None
    sy = g.out_q.s
    m64 = np.float64(sx) * sw.astype(np.float64) / np.float64(sy)
    m32 = f32(f32(f32(sx) * sw) / f32(sy))
    where = f"{g.where}: S_x={sx:.6g}, S_w={show(sw)}, S_y={sy:.6g}"
    attrs = attrs | requant_params(m64, m32, ctx.arith, where, mac=True)
    attrs |= {"y_zp": g.out_q.z, "qmin": clamp[0], "qmax": clamp[1], "dtype": g.out_q.dtype}
    return Lowered([ctx.node(op_type, names, [g.out], attrs, g.node.name)])


def _mac_input(op: Operand | None) -> bool:
    """A per-tensor integer activation narrow enough for the MAC array (not an int32 accumulator)."""
    return int_activation(op) and op.qp.bits <= 16


@rule("Conv")
def conv(g: Group, ctx: Lowering) -> Lowered | None:
    x, w = g.inputs[0], g.inputs[1]
    if not _mac_input(x) or not _const_weight(w, (3, 4, 5), 0):  # 1-D, 2-D and 3-D convolutions
        return None
    wc = np.asarray(w.const, np.int32)
    attrs = {k: g.node.attrs[k] for k in ("strides", "pads", "dilations", "auto_pad", "group") if k in g.node.attrs}
    m = wc.shape[0]
    sx, sw = x.qp.s, _channels(w.qp.scale, m)
    bias = _bias(g.inputs[2] if len(g.inputs) > 2 else None, f32(f32(sx) * sw), m, ctx)
    if bias is None:
        return None
    attrs |= {"w": wc, "w_zp": _channels(w.qp.zero_point, m), "x_zp": x.qp.z, "bias": bias}
    return _emit(g, ctx, "IntConv", [x], attrs, sx, sw, 1)


@rule("Gemm")
def gemm(g: Group, ctx: Lowering) -> Lowered | None:
    a, b = g.inputs[0], g.inputs[1]
    trans_b = int(g.node.attrs.get("transB", 0))
    if int(g.node.attrs.get("transA", 0)) or not _mac_input(a) or not _const_weight(b, (2,), 0 if trans_b else 1):
        return None
    c = g.inputs[2] if len(g.inputs) > 2 else None
    if c is not None and float(g.node.attrs.get("beta", 1.0)) != 1.0:
        return None
    w = np.asarray(b.const, np.int32)
    w = w.T.copy() if trans_b else w
    n = w.shape[1]
    alpha = float(g.node.attrs.get("alpha", 1.0))
    sx, sw = float(f32(f32(alpha) * f32(a.qp.s))), _channels(b.qp.scale, n)
    bias = _bias(c, f32(f32(sx) * sw), n, ctx)  # C may be (), (N,), (1, N) or (M, N)
    if bias is None:
        return None
    bias = np.broadcast_to(bias.reshape(-1), (n,)).copy() if bias.size in (1, n) else bias
    attrs = {"w": w, "w_zp": _channels(b.qp.zero_point, n), "x_zp": a.qp.z, "bias": bias}
    return _emit(g, ctx, "IntGemm", [a], attrs, sx, sw, -1)


@rule("MatMul")
def matmul(g: Group, ctx: Lowering) -> Lowered | None:
    a, b = g.inputs[0], g.inputs[1]
    if not _mac_input(a) or b is None or b.qp is None:
        return None
    if b.const is None:  # activation x activation: the second operand streams in as an input
        if not _mac_input(b):
            return None
        attrs = {"w_zp": b.qp.z, "x_zp": a.qp.z, "bias": np.zeros((), np.int64)}
        return _emit(g, ctx, "IntMatMul", [a, b], attrs, a.qp.s, np.asarray(b.qp.scale).reshape(()), -1)
    if not _const_weight(b, (2,), 1):
        return None
    w = np.asarray(b.const, np.int32)
    n = w.shape[1]
    sw = _channels(b.qp.scale, n)
    attrs = {"w": w, "w_zp": _channels(b.qp.zero_point, n), "x_zp": a.qp.z, "bias": np.zeros(n, np.int64)}
    return _emit(g, ctx, "IntMatMul", [a], attrs, a.qp.s, sw, -1)
