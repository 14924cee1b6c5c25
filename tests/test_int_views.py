"""The integer view ops (Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Identity) are the float kernels
run on int8 codes: same values, same dtype, for every axis form."""
from __future__ import annotations

import numpy as np
import pytest

import hwsim.exec  # noqa: F401  (registers the integer kernels)
from hwsim.exec import lower, run_integer
from hwsim.target import load
from quant.ir import Graph, Node, TensorInfo
from quant.kernels.registry import KernelContext, Mode, lookup

X = np.arange(-60, 60, dtype=np.int8).reshape(2, 3, 4, 5)

CASES = {  # id: (op, extra inputs, attrs, expected output shape)
    "reshape": ("Reshape", [np.array([0, -1, 5], np.int64)], {}, (2, 12, 5)),
    "reshape_allowzero": ("Reshape", [np.array([2, 60], np.int64)], {"allowzero": 1}, (2, 60)),
    "flatten_default": ("Flatten", [], {}, (2, 60)),
    "flatten_axis_0": ("Flatten", [], {"axis": 0}, (1, 120)),
    "flatten_axis_rank": ("Flatten", [], {"axis": 4}, (120, 1)),
    "flatten_negative_axis": ("Flatten", [], {"axis": -1}, (24, 5)),
    "transpose_perm": ("Transpose", [], {"perm": (0, 2, 3, 1)}, (2, 4, 5, 3)),
    "transpose_reverse": ("Transpose", [], {}, (5, 4, 3, 2)),
    "squeeze_negative_axis": ("Squeeze", [np.array([-2], np.int64)], {}, (2, 3, 5)),
    "unsqueeze_negative_axes": ("Unsqueeze", [np.array([-1, 0], np.int64)], {}, (1, 2, 3, 4, 5, 1)),
    "unsqueeze_attr_axes": ("Unsqueeze", [], {"axes": (1,)}, (2, 1, 3, 4, 5)),
    "identity": ("Identity", [], {}, (2, 3, 4, 5)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_integer_view_op_equals_its_float_kernel_on_int8_codes(case):
    op, extra, attrs, shape = case
    x = X[:, :, :1] if op == "Squeeze" else X
    inputs = [x, *extra]
    got = lookup(op, Mode.INT, 17)(inputs, attrs, KernelContext("n", 17))[0]
    want = lookup(op, Mode.FLOAT, 17)(inputs, attrs, KernelContext("n", 17))[0]
    assert got.dtype == np.int8 and got.shape == shape and np.array_equal(got, want)


def test_flatten_at_axis_rank_runs_end_to_end_as_the_float_model_does():
    inits = {n: np.array(v, t) for n, v, t in (("s", 0.5, np.float32), ("z", 3, np.int8))}
    nodes = (
        Node("xq", "QuantizeLinear", ("x", "s", "z"), ("x_int",)), Node("xdq", "DequantizeLinear", ("x_int", "s", "z"), ("x_f",)),
        Node("flat", "Flatten", ("x_f",), ("f",), {"axis": 4}),
        Node("yq", "QuantizeLinear", ("f", "s", "z"), ("y_int",)), Node("ydq", "DequantizeLinear", ("y_int", "s", "z"), ("y",)),
    )
    g = Graph(nodes, (TensorInfo("x", (2, 3, 4, 5), "float32"),), (TensorInfo("y", (120, 1), "float32"),), inits)
    assert [n.op_type for n in lower(g, load("generic")).nodes] == ["IntQuantize", "Flatten", "IntDequantize"]
    x = np.linspace(-20, 20, 120, dtype=np.float32).reshape(2, 3, 4, 5)
    y = run_integer(g, load("generic"), {"x": x})["y"]
    assert y.shape == (120, 1) and np.array_equal(y.ravel(), ((np.clip(np.rint(x / 0.5) + 3, -128, 127) - 3) * 0.5).ravel())
