"""Lowering rules of the vector unit (Add, Mul, Concat, pooling, Relu/Clip, tables, data movement,
Resize) and the host fallback. Each returns None when the group is not expressible in integers."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwsim.exec.arith import f32, fma32, requant_params, show
from hwsim.exec.kernels_host import HOST_REASON, OP_PREFIX
from hwsim.exec.groups import VIEW_OPS, Group, Lowered, Operand, clamp_range, int_activation, rule
from hwsim.exec.lut import TABLE_OPS, build_table, float_function
from hwsim.exec.qparams import LoweringError, QParams
from quant.errors import UnsupportedOpError
from quant.ir import Node

if TYPE_CHECKING:
    from hwsim.exec.lower import Lowering


def rescale_attrs(ctx: Lowering, qi: QParams, qo: QParams, where: str) -> dict:
    """Parameters taking codes on grid ``qi`` to grid ``qo`` (before Z_y): M = S_x / S_y."""
    m64 = np.asarray(qi.scale, np.float64) / np.float64(qo.s)
    attrs = {"x_scale": qi.scale, "x_zp": qi.zero_point, "y_scale": qo.scale}
    attrs |= requant_params(m64, m64.astype(np.float32), ctx.arith, f"{where}: S_x={show(qi.scale)}, S_y={qo.s:.6g}")
    if qi.axis is not None:
        attrs["axis"] = qi.axis
    return attrs


def dequantize_node(ctx: Lowering, op: Operand, out: str, name: str) -> Node:
    attrs = {"scale": op.qp.scale, "zp": op.qp.zero_point}
    if op.qp.axis is not None:
        attrs["axis"] = op.qp.axis
    return ctx.node("IntDequantize", [ctx.use(op)], [out], attrs, f"{name}.dequantize")


def rescale_node(ctx: Lowering, op: Operand, qp: QParams, out: str, name: str, lo: int, hi: int) -> Node:
    """``op``'s codes on the grid of ``qp`` (an Identity when the grids agree and no clamp tightens)."""
    if op.qp.same(qp) and (lo, hi) == (qp.qmin, qp.qmax):
        return ctx.node("Identity", [ctx.use(op)], [out], {}, name)
    attrs = rescale_attrs(ctx, op.qp, qp, f"node '{name}'") | {"y_zp": qp.z, "qmin": lo, "qmax": hi, "dtype": qp.dtype}
    return ctx.node("IntRescale", [ctx.use(op)], [out], attrs, name)


def _quantized_out(g: Group, ctx: Lowering) -> tuple[int, int] | None:
    return clamp_range(g.out_q, g.fused, ctx)


def _out_attrs(g: Group, clamp: tuple[int, int]) -> dict:
    return {"y_zp": g.out_q.z, "qmin": clamp[0], "qmax": clamp[1], "dtype": g.out_q.dtype}


def _pow2_exponent(scale: np.ndarray, where: str) -> np.ndarray:
    frac, exp = np.frexp(np.asarray(scale, np.float64))
    if np.any(frac != 0.5):
        raise LoweringError(f"{where}: scale {show(scale)} is not a power of two, but the target requantizes by shifts")
    return np.asarray(1 - exp, np.int64)  # scale = 2^-n


@rule("Add")
def add(g: Group, ctx: Lowering) -> Lowered | None:
    a, b = g.inputs[0], g.inputs[1]
    clamp = _quantized_out(g, ctx)
    if a is None or b is None or a.qp is None or b.qp is None or clamp is None:
        return None
    if a.qp.axis is not None and b.qp.axis is not None and a.qp.axis != b.qp.axis:
        return None
    if b.qp.dtype == "int32" and a.qp.dtype != "int32":
        a, b = b, a  # an accumulator operand (a fused Conv -> Add) goes first
    qa, qb, qy = a.qp, b.qp, g.out_q
    attrs = _out_attrs(g, clamp) | {"a_zp": qa.zero_point, "b_zp": qb.zero_point}
    axis = qa.axis if qa.axis is not None else qb.axis
    if axis is not None:
        attrs["axis"] = axis
    mode = ctx.arith.requant
    if mode == "float":  # MLAS qladd_avx2.cpp
        ra, rb = f32(qa.scale / f32(qy.s)), f32(qb.scale / f32(qy.s))
        offset = f32(f32(qy.z) - fma32(ra, f32(qa.zero_point), f32(rb * f32(qb.zero_point))))
        attrs |= {"ratio_a": ra, "ratio_b": rb, "offset": offset}
    elif mode == "fixed_point" and qa.dtype == "int32":  # residual added in the accumulator of a fused MAC op
        sa, sb = np.asarray(qa.scale, np.float64), np.asarray(qb.scale, np.float64)
        p = requant_params(sb / sa, f32(0), ctx.arith, g.where)
        attrs |= {"b_mult": p["rq_mult"], "b_shift": p["rq_shift"], "acc_grid": 1}
        attrs |= requant_params(sa / qy.s, f32(0), ctx.arith, g.where)
    elif mode == "fixed_point":  # TFLite add_common.cc
        left = 20 if max(qa.bits, qb.bits) <= 8 else 15
        twice = 2 * np.maximum(np.asarray(qa.scale, np.float64), np.asarray(qb.scale, np.float64))
        for key, m in (("a", qa.scale / twice), ("b", qb.scale / twice)):
            p = requant_params(m, f32(m), ctx.arith, g.where)
            attrs |= {f"{key}_mult": p["rq_mult"], f"{key}_shift": p["rq_shift"]}
        attrs |= requant_params(twice / (2.0**left * qy.s), f32(0), ctx.arith, g.where) | {"left_shift": left}
    else:
        na, nb = (_pow2_exponent(q.scale, g.where) for q in (qa, qb))
        n = np.maximum(na, nb)
        attrs |= {"a_align": np.asarray(n - na), "b_align": np.asarray(n - nb)}
        attrs |= requant_params(np.ldexp(1.0, -n) / qy.s, f32(0), ctx.arith, g.where)
    return Lowered([ctx.node("IntAdd", [ctx.use(a), ctx.use(b)], [g.out], attrs, g.node.name)])


@rule("Mul")
def mul(g: Group, ctx: Lowering) -> Lowered | None:
    a, b = g.inputs[0], g.inputs[1]
    clamp = _quantized_out(g, ctx)
    if not (int_activation(a) and int_activation(b)) or clamp is None:
        return None
    m64 = np.float64(a.qp.s) * np.float64(b.qp.s) / np.float64(g.out_q.s)
    m32 = f32(f32(f32(a.qp.s) * f32(b.qp.s)) / f32(g.out_q.s))  # MLAS qlmul.cpp: ScaleA * ScaleB / ScaleC
    attrs = _out_attrs(g, clamp) | {"a_zp": a.qp.z, "b_zp": b.qp.z} | requant_params(m64, m32, ctx.arith, g.where)
    return Lowered([ctx.node("IntMul", [ctx.use(a), ctx.use(b)], [g.out], attrs, g.node.name)])


@rule("Concat")
def concat(g: Group, ctx: Lowering) -> Lowered | None:
    clamp = _quantized_out(g, ctx)
    if clamp is None or not all(int_activation(op) for op in g.inputs):
        return None
    per_input = [rescale_attrs(ctx, op.qp, g.out_q, g.where) for op in g.inputs]
    attrs = _out_attrs(g, clamp) | {"axis": int(g.node.attrs["axis"]), "y_scale": g.out_q.scale}
    attrs["copy"] = np.array([op.qp.same(g.out_q) for op in g.inputs], np.int64)
    for key in ("x_scale", "x_zp", "rq_mult", "rq_shift"):
        attrs[key] = np.stack([np.asarray(p[key]) for p in per_input])
    return Lowered([ctx.node("IntConcat", [ctx.use(op) for op in g.inputs], [g.out], attrs, g.node.name)])


def _same_grid(g: Group, ctx: Lowering, op_type: str, x: Operand, attrs: dict, extra_inputs=(), clamps=False) -> Lowered | None:
    """An op that keeps its input's grid (``clamps``: it also applies qmin/qmax itself); followed by an
    IntRescale when the output Q's grid differs or a fused clamp is left to apply."""
    names = [ctx.use(x), *extra_inputs]
    own = {"y_zp": 0, "qmin": x.qp.qmin, "qmax": x.qp.qmax, "dtype": x.qp.dtype} if clamps else {}
    if g.out_q is None:
        if g.fused:
            return None
        out = ctx.fresh(f"{g.float_out}.q")
        return Lowered([ctx.node(op_type, names, [out], attrs | own, g.node.name)], Operand(out, x.qp))
    clamp = _quantized_out(g, ctx)
    if clamp is None:
        return None
    if x.qp.same(g.out_q) and (clamps or clamp == (x.qp.qmin, x.qp.qmax)):
        return Lowered([ctx.node(op_type, names, [g.out], attrs | (_out_attrs(g, clamp) if clamps else {}), g.node.name)])
    tmp = ctx.fresh(f"{g.float_out}.q")
    first = ctx.node(op_type, names, [tmp], attrs | own, g.node.name)
    return Lowered([first, rescale_node(ctx, Operand(tmp, x.qp), g.out_q, g.out, f"{g.node.name}.rescale", *clamp)])


def _pool_attrs(g: Group) -> dict:
    keys = ("kernel_shape", "strides", "pads", "dilations", "auto_pad", "ceil_mode", "count_include_pad")
    return {k: g.node.attrs[k] for k in keys if k in g.node.attrs}


@rule("MaxPool")
def maxpool(g: Group, ctx: Lowering) -> Lowered | None:
    x = g.inputs[0]
    if not int_activation(x) or (len(g.node.outputs) > 1 and g.node.outputs[1]):
        return None
    return _same_grid(g, ctx, "IntMaxPool", x, _pool_attrs(g), clamps=True)


@rule("AveragePool", "GlobalAveragePool")
def avgpool(g: Group, ctx: Lowering) -> Lowered | None:
    x = g.inputs[0]
    clamp = _quantized_out(g, ctx)
    if not int_activation(x) or clamp is None:
        return None
    attrs = _pool_attrs(g) | rescale_attrs(ctx, x.qp, g.out_q, g.where) | _out_attrs(g, clamp)
    return Lowered([ctx.node(f"Int{g.node.op_type}", [ctx.use(x)], [g.out], attrs, g.node.name)])


@rule("Relu", "Clip")
def clamp_op(g: Group, ctx: Lowering) -> Lowered | None:
    x = g.inputs[0]
    clamp = clamp_range(g.out_q, (g.node, *g.fused), ctx)
    if not int_activation(x) or clamp is None:
        return None
    return Lowered([rescale_node(ctx, x, g.out_q, g.out, g.node.name, *clamp)])


@rule(*TABLE_OPS)
def table(g: Group, ctx: Lowering) -> Lowered | None:
    x = g.inputs[0]
    clamp = _quantized_out(g, ctx)
    if not int_activation(x) or x.qp.bits > 8 or clamp is None:
        return None
    try:
        f = float_function(g.node.op_type, dict(g.node.attrs), ctx.graph.opset, g.node.name)
    except UnsupportedOpError:
        return None
    t = build_table(f, x.qp, g.out_q, *clamp, ctx.arith.quantize_rounding)
    attrs = {"table": t, "x_min": x.qp.qmin, "dtype": g.out_q.dtype}
    return Lowered([ctx.node("IntLut", [ctx.use(x)], [g.out], attrs, g.node.name)])


@rule(*VIEW_OPS)
def movement(g: Group, ctx: Lowering) -> Lowered | None:
    x = g.inputs[0]
    rest = g.inputs[1:]
    if not int_activation(x) or any(op is not None and op.const is None for op in rest):
        return None
    extra = [ctx.use(op) if op is not None else "" for op in rest]
    return _same_grid(g, ctx, g.node.op_type, x, dict(g.node.attrs), extra)


@rule("Resize", "Upsample")
def resize(g: Group, ctx: Lowering) -> Lowered | None:
    if not int_activation(g.inputs[0]) or g.out_q is None or g.fused:
        return None
    return _host_node(g, ctx, "IntResize")


def host(g: Group, ctx: Lowering, reason: str) -> Lowered:
    """The fallback: HostFloat dequantizes its integer inputs, runs the float kernel, quantizes.
    ``reason`` (why the op is not on the accelerator) is kept in the node's ``host_reason``."""
    return _host_node(g, ctx, "HostFloat", {HOST_REASON: reason})


def _host_node(g: Group, ctx: Lowering, op_type: str, extra: dict | None = None) -> Lowered:
    attrs: dict = {"host_op": g.node.op_type} | {OP_PREFIX + k: v for k, v in g.node.attrs.items()} | (extra or {})
    names = []
    for i, op in enumerate(g.inputs):
        names.append(ctx.use(op) if op is not None else "")
        if op is not None and op.qp is not None:
            attrs |= {f"in{i}_scale": op.qp.scale, f"in{i}_zp": op.qp.zero_point}
            if op.qp.axis is not None:
                attrs[f"in{i}_axis"] = op.qp.axis
    outputs = list(g.node.outputs)
    if g.out_q is not None:
        qp = g.out_q
        outputs[0] = g.out
        attrs |= {"out0_scale": qp.scale, "out0_zp": qp.zero_point, "out0_qmin": qp.qmin, "out0_qmax": qp.qmax, "out0_dtype": qp.dtype}
    value = None if g.out_q is not None else Operand(g.float_out)
    return Lowered([ctx.node(op_type, names, outputs, attrs, g.node.name)], value)
