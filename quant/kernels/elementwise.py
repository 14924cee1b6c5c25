"""Float element-wise ops and activations (numpy broadcasting; float32 in, float32 out)."""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
from onnx import helper

from quant.kernels.registry import KernelContext, donated_out, kernel

def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return np.trunc(np.true_divide(a, b)).astype(np.result_type(a, b))  # C integer division
    return np.divide(a, b)


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Div": _int_div,
    "Pow": lambda a, b: np.power(a, b).astype(a.dtype, copy=False),  # the base's type, as ONNX
}
_UFUNC_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}  # may write into a donated operand


def erf(x: np.ndarray) -> np.ndarray:
    """erf to about 1e-7 absolute: Taylor series below 0.5, Abramowitz-Stegun 7.1.26 above."""
    z = np.abs(x.astype(np.float64))
    z2 = z * z
    term, series = z.copy(), z.copy()
    for n in range(1, 12):
        term *= -z2 / n
        series += term / (2 * n + 1)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    big = 1.0 - poly * np.exp(-z2)
    return (np.sign(x) * np.where(z < 0.5, series * (2 / math.sqrt(math.pi)), big)).astype(x.dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    t = np.negative(x)
    with np.errstate(over="ignore"):  # exp overflows to inf for very negative x, and 1 / inf = 0
        np.exp(t, out=t)
    t += 1
    return np.reciprocal(t, out=t)


def hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    t = x * x.dtype.type(alpha)
    t += x.dtype.type(beta)
    return np.clip(t, 0, 1, out=t)


def hard_swish(x: np.ndarray) -> np.ndarray:
    t = hard_sigmoid(x, 1 / 6, 0.5)
    t *= x
    return t


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Sqrt": np.sqrt, "Exp": np.exp, "Tanh": np.tanh, "Erf": erf, "Sigmoid": sigmoid,
    "HardSwish": hard_swish,
}


def _binary_kernel(fn):
    def k(inputs, attrs, ctx):
        return (fn(inputs[0], inputs[1]),)
    return k


def _ufunc_binary_kernel(fn):
    def k(inputs, attrs, ctx):
        a, b = inputs[0], inputs[1]
        shape, dtype = np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b)
        out = donated_out(inputs, ctx, 0, shape, dtype)
        out = donated_out(inputs, ctx, 1, shape, dtype) if out is None else out
        return (fn(a, b, out=out),)
    return k


def _unary_kernel(fn):
    def k(inputs, attrs, ctx):
        return (fn(inputs[0]),)
    return k


for _op, _fn in _BINARY.items():
    kernel(_op)(_binary_kernel(_fn))
for _op, _fn in _UFUNC_BINARY.items():
    kernel(_op)(_ufunc_binary_kernel(_fn))
for _op, _fn in _UNARY.items():
    kernel(_op)(_unary_kernel(_fn))


@kernel("Cast")
def cast(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    to = attrs["to"]
    dtype = np.dtype(to) if isinstance(to, str) else helper.tensor_dtype_to_np_dtype(int(to))
    return (inputs[0].astype(dtype),)


@kernel("Relu")
def relu(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    return (np.maximum(x, x.dtype.type(0), out=donated_out(inputs, ctx, 0, x.shape, x.dtype)),)


@kernel("LeakyRelu")
def leaky_relu(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    return (np.where(x >= 0, x, x * x.dtype.type(attrs.get("alpha", 0.01))),)


@kernel("PRelu")
def prelu(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x, slope = inputs
    return (np.where(x >= 0, x, x * slope.astype(x.dtype, copy=False)),)


@kernel("Clip")
def clip(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    lo = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("min")
    hi = inputs[2] if len(inputs) > 2 and inputs[2] is not None else attrs.get("max")
    if lo is None and hi is None:
        return (x.copy(),)
    bound = [None if v is None else np.asarray(v, dtype=x.dtype).reshape(()) for v in (lo, hi)]
    return (np.clip(x, *bound, out=donated_out(inputs, ctx, 0, x.shape, x.dtype)),)


@kernel("HardSigmoid")
def hardsigmoid(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    return (hard_sigmoid(inputs[0], attrs.get("alpha", 0.2), attrs.get("beta", 0.5)),)


@kernel("Gelu")
def gelu(inputs, attrs: Mapping[str, Any], ctx: KernelContext) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    if attrs.get("approximate", "none") == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return (0.5 * x * (1 + np.tanh(inner)),)
    return (0.5 * x * (1 + erf(x * x.dtype.type(1 / math.sqrt(2)))),)
