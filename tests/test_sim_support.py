"""Helpers shared by the compiler/simulator tests: targets built from a dict and tiny ONNX graphs.

(Imported by the other test_sim_*/test_compile*/test_cost_* files; its own tests check the helpers.)
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hwsim.target import Target, load
from quant.ir import Graph
from quant.onnx_import import import_model

UNLIMITED = dict(sram=1 << 40, bandwidth=1e9, latency_ns=0.0)  # SRAM and DRAM that never limit


def make_target(
    *,
    rows: int = 16,
    cols: int = 16,
    dataflow: str = "weight_stationary",
    sram: int = 262144,
    bandwidth: float = 4.0,
    latency_ns: float = 100.0,
    efficiency: float = 0.8,
    clock_mhz: float = 500.0,
    double_buffered: bool = True,
    depthwise_unit: str = "mac_array",
    lanes: int = 16,
    accumulator_bytes: int = 0,
    patterns: list[list[str]] | None = None,
    float_ops: list[str] | None = None,
    vector_ops: list[str] | None = None,
) -> Target:
    """A validated variant of the generic target."""
    d = load("generic").model_dump()
    c, m = d["compute"], d["memory"]
    c["clock_mhz"] = clock_mhz
    c["mac_array"].update(rows=rows, cols=cols, dataflow=dataflow, depthwise_unit=depthwise_unit)
    c["vector"]["lanes"] = lanes
    if vector_ops is not None:
        c["vector"]["ops"] = vector_ops
        c["vector"]["lut_ops"] = [o for o in c["vector"]["lut_ops"] if o in vector_ops]
    if depthwise_unit == "vector" and "Conv" not in c["vector"]["ops"]:
        c["vector"]["ops"] = [*c["vector"]["ops"], "Conv"]
    m["sram"].update(size_bytes=sram, double_buffered=double_buffered)
    m["dram"].update(bandwidth_gb_per_s=bandwidth, latency_ns=latency_ns, efficiency=efficiency)
    m["accumulator_bytes"] = accumulator_bytes
    if patterns is not None:
        d["quantization"]["fused_patterns"] = [{"pattern": p} for p in patterns]
    if float_ops is not None:
        d["quantization"]["float_ops"] = float_ops
    return Target.model_validate(d)


class Builder:
    """A float ONNX graph grown node by node; ``graph()`` imports it (with shape inference)."""

    def __init__(self, shape: tuple[int, ...], seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))]
        self.outputs: list[str] = []

    def const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type: str, name: str, inputs: list[str], **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def conv(self, name: str, x: str, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0, group: int = 1) -> str:
        w = self.const(f"{name}.w", self.rng.standard_normal((cout, cin // group, k, k)).astype(np.float32))
        b = self.const(f"{name}.b", np.zeros(cout, np.float32))
        return self.op("Conv", name, [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group)

    def gemm(self, name: str, x: str, k: int, n: int) -> str:
        w = self.const(f"{name}.w", self.rng.standard_normal((k, n)).astype(np.float32))
        b = self.const(f"{name}.b", np.zeros(n, np.float32))
        return self.op("Gemm", name, [x, w, b])

    def bn(self, name: str, x: str, c: int) -> str:
        ps = [self.const(f"{name}.{p}", v) for p, v in (("s", np.ones(c)), ("b", np.zeros(c)), ("m", np.zeros(c)), ("v", np.ones(c)))]
        return self.op("BatchNormalization", name, [x, *[p for p in ps]])

    def graph(self, *outputs: str) -> Graph:
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in (outputs or [self.nodes[-1].output[0]])]
        g = helper.make_graph(self.nodes, "test", self.inputs, outs, self.inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        return import_model(onnx.shape_inference.infer_shapes(model))


def conv_graph(h: int, w: int, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0, group: int = 1, batch: int = 1) -> Graph:
    b = Builder((batch, cin, h, w))
    b.conv("conv", "x", cin, cout, k, stride, pad, group)
    return b.graph()


def gemm_graph(m: int, k: int, n: int) -> Graph:
    b = Builder((m, k))
    b.gemm("fc", "x", k, n)
    return b.graph()


def ceil(a: int, b: int) -> int:
    return -(-a // b)


def closed_form(dataflow: str, m: int, n: int, k: int, r: int, c: int) -> int:
    """The issue's closed form (SCALE-Sim's total plus one)."""
    if dataflow == "output_stationary":
        return ceil(m, r) * ceil(n, c) * (k + r + c - 2)
    if dataflow == "weight_stationary":
        return ceil(k, r) * ceil(n, c) * (m + 2 * r + c - 2)
    return ceil(k, r) * ceil(m, c) * (n + 2 * r + c - 2)


def test_make_target_revalidates_and_applies_overrides():
    t = make_target(rows=8, cols=4, dataflow="input_stationary", sram=1000)
    assert (t.compute.mac_array.rows, t.compute.mac_array.cols, t.memory.sram.size_bytes) == (8, 4, 1000)
    assert t.compute.mac_array.dataflow == "input_stationary"


def test_conv_graph_has_inferred_shapes():
    g = conv_graph(13, 11, 5, 7, 3, pad=1)
    assert g.tensors["conv"].shape == (1, 7, 13, 11)


def qdq_conv_softmax_graph(float_weight: bool = False) -> Graph:
    """x -Q(uint8)-DQ-> Conv(int8 W, int32 b) -> Relu -Q(int8)-DQ-> Flatten -> Softmax, in QDQ form."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "sx"), numpy_helper.from_array(np.array(128, np.uint8), "zx"),
        numpy_helper.from_array(np.array(0.05, np.float32), "sy"), numpy_helper.from_array(np.array(0, np.int8), "zy"),
        numpy_helper.from_array(np.full(8, 0.01, np.float32), "sw"), numpy_helper.from_array(np.zeros(8, np.int8), "zw"),
        numpy_helper.from_array(np.full(8, 0.0002, np.float32), "sb"), numpy_helper.from_array(np.zeros(8, np.int32), "zb"),
        numpy_helper.from_array(np.zeros(8, np.int32), "b_q"),
    ]
    if float_weight:
        inits.append(numpy_helper.from_array(rng.standard_normal((8, 4, 3, 3)).astype(np.float32), "w"))
    else:
        inits.append(numpy_helper.from_array(rng.integers(-127, 128, (8, 4, 3, 3)).astype(np.int8), "w_q"))
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["x_q"], name="x_Q"),
        helper.make_node("DequantizeLinear", ["x_q", "sx", "zx"], ["x_dq"], name="x_DQ"),
        helper.make_node("DequantizeLinear", ["b_q", "sb", "zb"], ["b"], name="b_DQ", axis=0),
        helper.make_node("Conv", ["x_dq", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("QuantizeLinear", ["r", "sy", "zy"], ["r_q"], name="r_Q"),
        helper.make_node("DequantizeLinear", ["r_q", "sy", "zy"], ["r_dq"], name="r_DQ"),
        helper.make_node("Flatten", ["r_dq"], ["f"], name="flatten", axis=1),
        helper.make_node("Softmax", ["f"], ["y"], name="softmax", axis=1),
    ]
    if not float_weight:
        nodes.insert(2, helper.make_node("DequantizeLinear", ["w_q", "sw", "zw"], ["w"], name="w_DQ", axis=0))
    g = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 10, 10])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 800])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return import_model(model)
