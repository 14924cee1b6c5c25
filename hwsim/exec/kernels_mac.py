"""Integer kernels of the MAC array: IntConv, IntGemm, IntMatMul.

acc = sum((x - Z_x) * (w - Z_w)) + bias, computed exactly: int8/int16 products summed in float64 BLAS
are exact while |acc| < 2^53 (checked), then the accumulator saturates or wraps to the target's
width, is requantized per ``ctx.arith`` and clamped (the clamp holds any fused ReLU/Clip). The bias
is the model's int32 bias as is (the -Z_x * sum(w) term is not folded into it: padding is filled
with Z_x, so the subtraction covers it). With ``out == "acc"`` the kernel returns the int32
accumulator instead (a MAC op whose output feeds another op without a QuantizeLinear).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from hwsim.errors import HwsimError
from hwsim.exec.arith import accumulate, along, finish, requant
from hwsim.exec.window import geometry, windows
from quant.kernels.registry import KernelContext, Mode, kernel

EXACT = float(2**53)
COLS_BYTES = 64 << 20  # im2col working set per band


def _exact(acc: np.ndarray, node: str) -> np.ndarray:
    if acc.size and float(np.max(np.abs(acc))) >= EXACT:
        raise HwsimError(f"node '{node}': accumulator exceeds 2^53, so float64 GEMM is no longer exact; use narrower operands")
    return np.rint(acc).astype(np.int64)


def _output(acc: np.ndarray, attrs: Mapping, ctx: KernelContext, channel_axis: int) -> np.ndarray:
    """Bias, accumulator width, requantization, zero point and clamp; ``acc`` is int64."""
    bias = np.asarray(attrs["bias"], dtype=np.int64)
    if bias.ndim == 1:
        bias = along(bias, channel_axis, acc.ndim)
    acc = accumulate(acc + bias, ctx.arith)
    if attrs.get("out") == "acc":
        return acc.astype(np.int32 if ctx.arith.acc_bits <= 32 else np.int64)
    mult = along(attrs["rq_mult"], channel_axis, acc.ndim)
    shift = along(attrs["rq_shift"], channel_axis, acc.ndim)
    y = requant(acc, mult, shift, ctx.arith)
    return finish(y, attrs["y_zp"], attrs["qmin"], attrs["qmax"], attrs["dtype"])


@kernel("IntConv", Mode.INT)
def conv_int(inputs, attrs, ctx: KernelContext):
    """(N, C, *spatial) input, (M, C / group, *kernel) weights, any number of spatial axes."""
    x = inputs[0]
    r = x.ndim - 2
    w = np.asarray(attrs["w"], dtype=np.float64) - along(attrs["w_zp"], 0, x.ndim)
    m, cg, k = w.shape[0], w.shape[1], w.shape[2:]
    group = int(attrs.get("group", 1))
    g = geometry(x.shape[2:], k, attrs)
    win = windows(x.astype(np.float64) - float(attrs["x_zp"]), g, 0.0)  # (N, C, *out, *kernel)
    n, taps = x.shape[0], int(np.prod(k))
    if cg == 1 and group == x.shape[1]:  # depthwise: C x taps multiply-adds per output, no BLAS
        wd = w.reshape(group, m // group, *k)
        acc = np.zeros((n, group, m // group, *g.out))
        every = (slice(None),) * r
        for tap in np.ndindex(*k):
            acc += win[(slice(None), slice(None), None, *every, *tap)] * wd[(None, slice(None), slice(None), *tap, *(None,) * r)]
        acc = acc.reshape(n, m, *g.out)
    else:  # im2col per group, in bands of the first output axis so the column matrix stays under COLS_BYTES
        mg, rest = m // group, g.out[1:]
        rows = max(1, COLS_BYTES // (8 * n * int(np.prod(rest)) * cg * taps))
        to_cols = (0, *range(2, 2 + r), 1, *range(2 + r, 2 + 2 * r))  # (N, *out, C, *kernel)
        acc = np.empty((n, m, *g.out))
        for gi in range(group):
            wg = w[gi * mg : (gi + 1) * mg].reshape(mg, -1).T
            for b in range(0, g.out[0], rows):
                band = win[:, gi * cg : (gi + 1) * cg, b : b + rows]
                cols = band.transpose(to_cols).reshape(-1, cg * taps)
                out = (cols @ wg).reshape(n, band.shape[2], *rest, mg)
                acc[:, gi * mg : (gi + 1) * mg, b : b + rows] = np.moveaxis(out, -1, 1)
    return (_output(_exact(acc, ctx.node_name), attrs, ctx, 1),)


@kernel("IntMatMul", Mode.INT)
@kernel("IntGemm", Mode.INT)
def matmul_int(inputs, attrs, ctx: KernelContext):
    """(..., K) @ (K, N): weights from ``attrs['w']`` (constant) or the second input (activation)."""
    a = inputs[0].astype(np.float64) - float(attrs["x_zp"])
    w = attrs["w"] if "w" in attrs else inputs[1]
    wf = np.asarray(w, dtype=np.float64) - np.asarray(attrs["w_zp"], dtype=np.float64)
    acc = _exact(np.matmul(a, wf), ctx.node_name)
    return (_output(acc, attrs, ctx, -1),)
