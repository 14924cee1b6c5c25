"""The executor may let a kernel write over an input nobody reads afterwards; it must never let it
write over memory anyone can still see: the caller's feeds, initializers, fetched tensors, or a
view of the input that another tensor still holds."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from quant import executor
from quant.onnx_import import import_model

SHAPE = [2, 3, 4, 4]


def _model(nodes, outputs, inits=(), out_shape=SHAPE):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, out_shape) for o in outputs], list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


LO, HI = numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(0.5), "hi")
FLAT = numpy_helper.from_array(np.array([2, 48], np.int64), "flat")
BIAS = numpy_helper.from_array(np.linspace(-1, 1, 48, dtype=np.float32).reshape(1, 3, 4, 4), "bias")

CASES = {
    # r is a view of a; Clip reads a last, but r still holds its memory
    "a reshape view outlives its source": _model(
        [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Reshape", ["a", "flat"], ["r"]),
         helper.make_node("Clip", ["a", "lo", "hi"], ["c"]), helper.make_node("Reshape", ["c", "flat"], ["c2"]),
         helper.make_node("Add", ["r", "c2"], ["y"])], ["y"], [LO, HI, FLAT], out_shape=[2, 48]),
    "an input read twice by one node": _model(
        [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Add", ["a", "a"], ["y"])], ["y"]),
    "a graph output read by a later node": _model(
        [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Clip", ["a", "lo", "hi"], ["y"])], ["a", "y"], [LO, HI]),
    "an initializer operand": _model(
        [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Add", ["bias", "a"], ["y"])], ["y"], [BIAS]),
}


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)


@pytest.mark.parametrize("case", CASES)
def test_results_match_onnxruntime_when_inputs_are_donated(case, x):
    model = CASES[case]
    ours = executor.run(import_model(model), {"x": x.copy()})
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for out, want in zip(model.graph.output, ref):
        np.testing.assert_allclose(ours[out.name], want, atol=1e-6)


def test_a_feed_is_never_written(x):
    feed = x.copy()
    executor.run(import_model(_model([helper.make_node("Relu", ["x"], ["y"])], ["y"])), {"x": feed})
    np.testing.assert_array_equal(feed, x)


def test_an_initializer_is_never_written(x):
    graph = import_model(CASES["an initializer operand"])
    before = graph.initializers["bias"].copy()
    executor.run(graph, {"x": x})
    np.testing.assert_array_equal(graph.initializers["bias"], before)


def test_a_fetched_intermediate_keeps_its_values(x):
    graph = import_model(CASES["a reshape view outlives its source"])
    got = executor.run(graph, {"x": x}, fetch=["a", "c"])
    np.testing.assert_array_equal(got["a"], np.maximum(x, 0))
    np.testing.assert_array_equal(got["c"], np.clip(np.maximum(x, 0), 0, 0.5))
