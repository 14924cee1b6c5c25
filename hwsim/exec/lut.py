"""Lookup tables for nonlinear activations on int8 codes (2^bits entries), built from the in/out qparams.

table[i] = quantize(f(dequantize(qmin + i))): dequantize in float32 as ``S_x (x - Z_x)``, the float
registry's kernel for the op, then QuantizeLinear (float32 division, the target's quantize_rounding,
saturate into the clamp) - the way onnxruntime builds QLinearSigmoid / QLinearLeakyRelu tables
(``QlinearBuildLookupTable``, contrib_ops/cpu/quantization/qlinear_lookup_table.cc).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from hwsim.exec.qparams import QParams
from quant.kernels.registry import KernelContext, Mode, lookup
from quant.opset import ACTIVATIONS, ELEMENTWISE
from quant.rounding import Rounding, dequantize, quantize

# Unary ops computed by a lookup table: quant.opset's pointwise activations (not the clamps Relu/Clip, not
# two-input PRelu), its unary Exp/Sqrt, and ONNX unary functions quant.opset does not list yet.
TABLE_OPS = (
    (ACTIVATIONS - {"Relu", "Clip", "PRelu"}) | (ELEMENTWISE & {"Exp", "Sqrt"}) | frozenset({"Elu", "Selu", "Softplus"})
)


def float_function(op_type: str, attrs: Mapping, opset: int, node: str) -> Callable[[np.ndarray], np.ndarray]:
    """The float kernel of a unary op as x -> y (raises UnsupportedOpError when there is none)."""
    fn = lookup(op_type, Mode.FLOAT, opset, node)
    return lambda x: np.asarray(fn([x], attrs, KernelContext(node, opset, None))[0], dtype=np.float32)


def build_table(f: Callable[[np.ndarray], np.ndarray], qi: QParams, qo: QParams, lo: int, hi: int, rounding: Rounding) -> np.ndarray:
    codes = np.arange(qi.qmin, qi.qmax + 1, dtype=np.int64)
    y = f(dequantize(codes, qi.scale, qi.zero_point))
    return quantize(y, qo.scale, qo.zero_point, lo, hi, rounding)
