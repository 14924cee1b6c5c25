"""A QDQ model quantized by another tool (onnxruntime quantize_static) imports, runs on the integer
executor, and is checked against a target's quantization constraints."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from hwsim.exec import check_constraints, run_integer
from hwsim.target import Target, load
from quant.executor import run
from quant.onnx_import import import_model

RNG = np.random.default_rng(11)


def _w(name, shape, scale=0.3):
    return numpy_helper.from_array((RNG.normal(size=shape) * scale).astype(np.float32), name)


def float_model() -> onnx.ModelProto:
    node = helper.make_node
    nodes = [
        node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        node("Relu", ["c1"], ["r1"], name="relu1"),
        node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        node("GlobalAveragePool", ["c2"], ["g"], name="gap"),
        node("Flatten", ["g"], ["f"], name="flatten"),
        node("Gemm", ["f", "w3", "b3"], ["y"], transB=1, name="fc"),
    ]
    inits = [_w("w1", (4, 3, 3, 3)), _w("b1", (4,), 0.1), _w("w2", (6, 4, 3, 3)), _w("b2", (6,), 0.1), _w("w3", (5, 6)), _w("b3", (5,), 0.1)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])
    m = helper.make_model(helper.make_graph(nodes, "small", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


class _Reader(CalibrationDataReader):
    def __init__(self):
        self._it = iter([{"x": RNG.normal(size=(1, 3, 8, 8)).astype(np.float32)} for _ in range(8)])

    def get_next(self):
        return next(self._it, None)


@pytest.fixture(scope="module")
def qdq_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qdq")
    onnx.save(float_model(), folder / "f.onnx")
    quantize_static(
        str(folder / "f.onnx"), str(folder / "q.onnx"), _Reader(), quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
    )
    return folder


def pow2_shift_target() -> Target:
    d = load("generic").model_dump(mode="json")
    q = d["quantization"]
    q["weights"]["scale"] = q["activations"]["scale"] = "power_of_two"
    q["requantization"] |= {"mode": "shift", "rounding": "half_up"}
    return Target.model_validate(d)


def test_ort_quantized_model_imports_and_runs_close_to_the_float_model(qdq_path):
    graph = import_model(qdq_path / "q.onnx")
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= graph.op_types()
    x = RNG.normal(size=(4, 3, 8, 8)).astype(np.float32)
    y = run_integer(graph, load("generic"), {"x": x})["y"]
    ref = run(import_model(qdq_path / "f.onnx"), {"x": x})["y"]
    assert y.dtype == np.float32 and y.shape == (4, 5)
    assert np.abs(y - ref).max() < 0.1 * np.abs(ref).max()


def test_check_constraints_lists_each_violation_with_node_and_tensor(qdq_path):
    violations = check_constraints(import_model(qdq_path / "q.onnx"), pow2_shift_target().quantization)
    found = {(v.node, v.tensor, v.rule) for v in violations}
    for mac, weight in (("conv1", "w1_quantized"), ("conv2", "w2_quantized"), ("fc", "w3_quantized")):
        assert (mac, weight, "weights.scale") in found
        assert any(v.node == mac and v.rule == "requantization.mode" for v in violations)
    for node, tensor in (("x_QuantizeLinear", "x"), ("conv1", "r1"), ("conv2", "c2"), ("gap", "g")):
        assert (node, tensor, "activations.scale") in found
    assert all("not a power of two" in v.message for v in violations)
    assert len(violations) == len(found)  # each listed once


def test_an_unfolded_batchnorm_keeps_its_int32_bias_off_the_activations_rule(tmp_path):
    node = helper.make_node
    nodes = [node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["y"], name="bn1")]
    inits = [_w("w1", (4, 3, 3, 3)), _w("b1", (4,), 0.1), _w("gamma", (4,), 1.0), _w("beta", (4,), 3.0),
             _w("mean", (4,), 0.1), numpy_helper.from_array(np.ones(4, np.float32), "var")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])
    m = helper.make_model(helper.make_graph(nodes, "bn", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "f.onnx")
    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), _Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    graph = import_model(tmp_path / "q.onnx")
    bn_constants = {n.inputs[0] for n in graph.nodes if n.op_type == "DequantizeLinear" and n.inputs[0] in graph.initializers
                    and any(c.name == "bn1" for c in graph.consumers().get(n.outputs[0], []))}
    assert bn_constants, "onnxruntime quantized no BatchNormalization parameter; the case does not arise"
    violations = check_constraints(graph, load("generic").quantization)
    assert not [v for v in violations if v.tensor in bn_constants and v.rule.startswith("activations")]
