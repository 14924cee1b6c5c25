"""Our own quantizer's output breaks none of the rules it was quantized for, on every bundled target."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwsim.exec import check_constraints
from hwsim.target import load, target_names
from quant.ir import Graph, Node, TensorInfo
from quant.onnx_import import import_model
from quant.ptq import quantize

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits"


def constants_model() -> tuple[Graph, dict[str, np.ndarray]]:
    """x @ W + c, * k, concatenated with a constant e, then L @ (...): a constant on every kind of input."""
    rng = np.random.default_rng(0)
    inits = {
        "w": rng.normal(size=(4, 3)).astype(np.float32), "c": rng.normal(size=(3,)).astype(np.float32) + 2,
        "k": np.float32(0.7), "e": rng.normal(size=(2, 3)).astype(np.float32), "l": rng.normal(size=(5, 4)).astype(np.float32),
    }
    nodes = (
        Node("mm", "MatMul", ("x", "w"), ("m",)), Node("add", "Add", ("m", "c"), ("a",)),
        Node("mul", "Mul", ("a", "k"), ("p",)), Node("cat", "Concat", ("p", "e"), ("q",), {"axis": 0}),
        Node("lmm", "MatMul", ("l", "q"), ("y",)),
    )
    g = Graph(nodes, (TensorInfo("x", (2, 4), "float32"),), (TensorInfo("y", (5, 3), "float32"),), inits)
    return g, {"x": rng.normal(size=(2, 4)).astype(np.float32)}


@pytest.mark.parametrize("target", target_names())
def test_the_quantized_digits_example_has_no_violations(target):
    constraints = load(target).quantization
    x = np.load(DIGITS / "calib.npz")["x"]
    result = quantize(import_model(DIGITS / "model.onnx"), constraints, [{"x": x}])
    assert [str(v) for v in check_constraints(result.graph, constraints)] == []


@pytest.mark.parametrize("target", target_names())
def test_quantized_constants_of_non_mac_ops_have_no_violations(target):
    constraints = load(target).quantization
    g, feeds = constants_model()
    result = quantize(g, constraints, [feeds])
    assert [str(v) for v in check_constraints(result.graph, constraints)] == []
