"""Integer pooling kernels: IntMaxPool, IntAveragePool, IntGlobalAveragePool (N, C, *spatial), any rank.

MaxPool compares codes directly (in and out share one grid; the lowering adds an IntRescale if not).
Average pooling, float mode (onnxruntime, bit for bit):
- AveragePool = ``QLinearAveragePool`` (contrib_ops/cpu/quantization/qlinear_pool.cc): inputs dequantized
  to float32 ``S_x (x - Z_x)``, summed in float32 in row-major window order, divided by the count
  (the whole kernel if count_include_pad, else the taps inside the input), then
  ``nearbyintf(avg / S_y + Z_y)``; a window covering the whole unpadded input runs as GlobalAveragePool.
  int8 adds ``Z_y + 128`` there and subtracts 128 after rounding: onnxruntime on x86-64 runs int8 QDQ
  average pools as uint8 (QDQS8ToU8Transformer), and the float add of the shifted zero point decides
  near-ties (measured: without it 5-7 % of int8 codes differ on 2x2 pools with shared scales).
- GlobalAveragePool = MLAS ``MlasQLinearGlobalAveragePoolNchw`` (qlgavgpool.cpp): exact integer sum
  ``sum(x) - Z_x N``, times float32 ``S_x / (S_y N)``, round to nearest even, ``+ Z_y``.
fixed_point / shift modes: the exact integer sum of ``x - Z_x``, scaled by ``S_x / (S_y count)`` with one
rounding (``arith.mean_requant``: a QuantizeMultiplier per count, or an exact division for shifts);
count as ONNX defines it (count_include_pad counts explicit pads, never the ceil_mode overhang).
"""
from __future__ import annotations

import numpy as np

from hwsim.exec.arith import f32, finish, mean_requant, round_float
from hwsim.exec.requantize import requantize_float
from hwsim.exec.window import geometry, valid_counts, windows
from quant.kernels.registry import KernelContext, Mode, kernel


def _spatial(x: np.ndarray) -> tuple[int, ...]:
    """The window axes of (N, C, *spatial) windows, (N, C, *out, *kernel): the last ndim - 2."""
    return tuple(range(-(x.ndim - 2), 0))


@kernel("IntMaxPool", Mode.INT)
def maxpool_int(inputs, attrs, ctx: KernelContext):
    x = np.asarray(inputs[0])
    g = geometry(x.shape[2:], attrs["kernel_shape"], attrs)
    y = windows(x.astype(np.int64), g, np.iinfo(np.int64).min).max(axis=_spatial(x))
    return (finish(y, 0, attrs["qmin"], attrs["qmax"], attrs["dtype"]),)


def _global_float(x: np.ndarray, attrs, ctx: KernelContext) -> np.ndarray:
    n = int(np.prod(x.shape[2:]))
    acc = x.astype(np.int64).reshape(*x.shape[:2], -1).sum(axis=-1) - int(attrs["x_zp"]) * n
    scale = f32(f32(attrs["x_scale"]) / f32(f32(attrs["y_scale"]) * f32(n)))
    y = requantize_float(acc, scale, ctx.arith.rounding)
    return finish(y, attrs["y_zp"], attrs["qmin"], attrs["qmax"], attrs["dtype"]).reshape(*x.shape[:2], *([1] * (x.ndim - 2)))


def _average_int(total: np.ndarray, count, attrs, ctx: KernelContext) -> np.ndarray:
    y = mean_requant(total, count, attrs, ctx.arith)
    return finish(y, attrs["y_zp"], attrs["qmin"], attrs["qmax"], attrs["dtype"])


@kernel("IntGlobalAveragePool", Mode.INT)
def global_avgpool_int(inputs, attrs, ctx: KernelContext):
    x = np.asarray(inputs[0])
    if ctx.arith.requant == "float":
        return (_global_float(x, attrs, ctx),)
    flat = x.astype(np.int64).reshape(*x.shape[:2], -1) - int(attrs["x_zp"])
    y = _average_int(flat.sum(axis=-1), flat.shape[-1], attrs, ctx)
    return (y.reshape(*x.shape[:2], *([1] * (x.ndim - 2))),)


@kernel("IntAveragePool", Mode.INT)
def avgpool_int(inputs, attrs, ctx: KernelContext):
    x = np.asarray(inputs[0])
    g = geometry(x.shape[2:], attrs["kernel_shape"], attrs)
    include_pad = bool(attrs.get("count_include_pad", 0))
    if ctx.arith.requant == "float":
        unpadded = not any(g.pad_begin + g.pad_end + g.extra_end)
        if tuple(x.shape[2:]) == g.kernel and unpadded:
            return (_global_float(x, attrs, ctx),)
        xf = f32(attrs["x_scale"]) * (x.astype(np.int64) - int(attrs["x_zp"])).astype(np.float32)
        win = windows(xf, g, np.float32(0.0))
        acc = np.zeros(win.shape[: x.ndim], np.float32)
        for tap in np.ndindex(*g.kernel):  # row-major tap order, as onnxruntime sums
            acc = acc + win[(..., *tap)]
        count = float(np.prod(g.kernel)) if include_pad else valid_counts(x.shape[2:], g, False).astype(np.float32)
        avg = acc / f32(count)
        shift = 128 if attrs["dtype"] == "int8" else 0  # onnxruntime x86 runs int8 as uint8 (QDQS8ToU8)
        r = f32(avg / f32(attrs["y_scale"])) + f32(int(attrs["y_zp"]) + shift)
        return (finish(round_float(r, ctx.arith.rounding) - shift, 0, attrs["qmin"], attrs["qmax"], attrs["dtype"]),)
    win = windows(x.astype(np.int64) - int(attrs["x_zp"]), g, 0)
    count = valid_counts(x.shape[2:], g, include_pad)
    return (_average_int(win.sum(axis=_spatial(x)), count, attrs, ctx),)
