"""Integer executor vs onnxruntime on models quantized by onnxruntime's quantize_static (QDQ).

onnxruntime with default graph optimizations fuses DequantizeLinear -> op -> QuantizeLinear into its
integer QLinear* kernels; a target with ``requantization: float`` (``generic``) must reproduce their
output codes: >= 99.9 % identical and never more than 1 LSB apart.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from hwsim.exec import run_integer, run_integer_codes
from hwsim.target import Target, load
from quant.onnx_import import import_model

RNG = np.random.default_rng(2024)


def _w(name: str, shape, scale: float) -> onnx.TensorProto:
    return numpy_helper.from_array((RNG.normal(size=shape) * scale).astype(np.float32), name)


def _model(nodes, inits, x_shape, y_shape) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *x_shape])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *y_shape])
    m = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _conv(name, x, out, cin, cout, k=3, group=1, stride=1, relu=False):
    """Conv (+ Relu) with weights and bias; returns (nodes, initializers)."""
    conv_out = f"{name}_c" if relu else out
    nodes = [helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [conv_out], pads=[k // 2] * 4, group=group, strides=[stride] * 2)]
    if relu:
        nodes.append(helper.make_node("Relu", [conv_out], [out]))
    return nodes, [_w(f"{name}_w", (cout, cin // group, k, k), 0.3), _w(f"{name}_b", (cout,), 0.1)]


def _conv_nd(name, x, out, cin, cout, rank, group=1, stride=1):
    """A 1-D or 3-D Conv (kernel 3, same padding) with weights and bias."""
    node = helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [out], pads=[1] * 2 * rank, group=group, strides=[stride] * rank)
    return [node], [_w(f"{name}_w", (cout, cin // group, *(3,) * rank), 0.3), _w(f"{name}_b", (cout,), 0.1)]


def _pools_nd(rank: int):
    """Conv -> MaxPool -> depthwise Conv -> AveragePool over ``rank`` spatial axes."""
    n1, i1 = _conv_nd("a", "x", "c", 4, 8, rank)
    n2, i2 = _conv_nd("b", "p", "d", 8, 8, rank, group=8, stride=2)
    node = helper.make_node
    pools = [node("MaxPool", ["c"], ["p"], kernel_shape=[3] * rank, strides=[2] * rank, pads=[1] * 2 * rank)]
    size = 32 if rank == 1 else 8
    return _model(n1 + pools + n2 + [node("AveragePool", ["d"], ["y"], kernel_shape=[2] * rank, strides=[2] * rank)], i1 + i2,
                  (4, *(size,) * rank), (8, *(size // 8,) * rank))


def _with_conv(op_nodes, x_shape, y_shape, extra_inits=()):
    """A Conv(8 -> 8) producing 'c' in front of the op under test, so its input is quantized."""
    nodes, inits = _conv("pre", "x", "c", 8, 8)
    return _model(nodes + op_nodes, inits + list(extra_inits), x_shape, y_shape)


def _cnn():
    n1, i1 = _conv("c1", "x", "r1", 3, 8, relu=True)
    n2, i2 = _conv("c2", "p1", "r2", 8, 16, relu=True)
    n3, i3 = _conv("dw", "r2", "r3", 16, 16, group=16, relu=True)
    nodes = n1 + [helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2])] + n2 + n3 + [
        helper.make_node("Add", ["r2", "r3"], ["a"]),
        helper.make_node("GlobalAveragePool", ["a"], ["gp"]),
        helper.make_node("Flatten", ["gp"], ["fl"]),
        helper.make_node("Gemm", ["fl", "fc_w", "fc_b"], ["y"], transB=1),
    ]
    return _model(nodes, i1 + i2 + i3 + [_w("fc_w", (10, 16), 0.3), _w("fc_b", (10,), 0.1)], (3, 16, 16), (10,))


def _models() -> dict[str, onnx.ModelProto]:
    node = helper.make_node
    conv_relu = _model(*_conv("c", "x", "y", 3, 8, relu=True), (3, 12, 12), (8, 12, 12))
    dw = _model(*_conv("dw", "x", "y", 6, 12, group=6, stride=2), (6, 12, 12), (12, 6, 6))
    branches = [node("Relu", ["x"], ["r"]), node("Sigmoid", ["x"], ["s"])]
    return {
        "conv_relu": conv_relu,
        "depthwise": dw,
        "gemm": _model([node("Gemm", ["x", "w", "b"], ["y"], transB=1)], [_w("w", (10, 64), 0.2), _w("b", (10,), 0.1)], (64,), (10,)),
        "matmul": _model([node("MatMul", ["x", "w"], ["y"])], [_w("w", (64, 10), 0.2)], (64,), (10,)),
        "add": _model([*branches, node("Add", ["r", "s"], ["y"])], [], (8, 12, 12), (8, 12, 12)),
        "mul": _model([node("Tanh", ["x"], ["t"]), node("Mul", ["t", "x"], ["y"])], [], (8, 12, 12), (8, 12, 12)),
        "maxpool": _with_conv([node("MaxPool", ["c"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)], (8, 12, 12), (8, 6, 6)),
        "averagepool": _with_conv([node("AveragePool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], (8, 12, 12), (8, 6, 6)),
        "averagepool_pad": _with_conv(
            [node("AveragePool", ["c"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)], (8, 12, 12), (8, 6, 6)
        ),
        "globalaveragepool": _with_conv([node("GlobalAveragePool", ["c"], ["y"])], (8, 12, 12), (8, 1, 1)),
        "concat": _model([*branches, node("Concat", ["r", "s", "x"], ["y"], axis=1)], [], (8, 12, 12), (24, 12, 12)),
        "sigmoid": _model([node("Sigmoid", ["x"], ["y"])], [], (8, 12, 12), (8, 12, 12)),
        "cnn": _cnn(),
        "conv_pools_1d": _pools_nd(1),
        "conv_pools_3d": _pools_nd(3),
    }


MODELS = _models()
VARIANTS = [(QuantType.QUInt8, True), (QuantType.QUInt8, False), (QuantType.QInt8, True), (QuantType.QInt8, False)]


class _Reader(CalibrationDataReader):
    def __init__(self, shape, n: int = 8):
        self._it = iter([{"x": RNG.normal(size=(1, *shape)).astype(np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self._it, None)


def _input_shape(m: onnx.ModelProto) -> tuple[int, ...]:
    return tuple(d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:])


def quantized(tmp_path, name: str, act: QuantType, per_channel: bool):
    model = MODELS[name]
    src, dst = tmp_path / f"{name}.onnx", tmp_path / f"{name}_{act.name}_{per_channel}.qdq.onnx"
    onnx.save(model, src)
    quantize_static(
        str(src), str(dst), _Reader(_input_shape(model)), quant_format=QuantFormat.QDQ,
        activation_type=act, weight_type=QuantType.QInt8, per_channel=per_channel,
    )
    return dst


def output_scale(graph) -> float:
    dq = next(n for n in graph.nodes if n.op_type == "DequantizeLinear" and n.outputs[0] == "y")
    return float(graph.initializers[dq.inputs[1]])


def compare(name: str, path, batch: int = 16) -> tuple[float, int]:
    """(fraction of identical output codes, largest difference in LSB) on random inputs."""
    graph = import_model(path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = (RNG.normal(size=(batch, *_input_shape(MODELS[name]))) * 1.5).astype(np.float32)
    ref = sess.run(None, {"x": x})[0]
    ours = run_integer(graph, load("generic"), {"x": x})["y"]
    s = output_scale(graph)
    diff = np.abs(np.rint(ref / s) - np.rint(ours / s))
    return float(np.mean(diff == 0)), int(diff.max())


@pytest.mark.parametrize(("act", "per_channel"), VARIANTS, ids=[f"{a.name}-{'pc' if p else 'pt'}" for a, p in VARIANTS])
@pytest.mark.parametrize("name", list(MODELS))
def test_integer_executor_matches_onnxruntime(tmp_path, name, act, per_channel):
    exact, max_lsb = compare(name, quantized(tmp_path, name, act, per_channel))
    assert exact >= 0.999 and max_lsb <= 1, f"{name}: {exact:.4%} identical, max {max_lsb} LSB"


def _fixed_point_target():
    d = load("generic").model_dump(mode="json")
    d["quantization"]["requantization"] |= {"mode": "fixed_point", "rounding": "half_away"}
    return Target.model_validate(d)


@pytest.mark.parametrize("name", ["conv_relu", "depthwise", "gemm", "matmul", "mul"])
def test_fixed_point_target_is_within_one_lsb_of_the_float_target(tmp_path, name):
    """TFLite-style requantization (Q31 multiplier, double rounding) differs from float only near ties."""
    graph = import_model(quantized(tmp_path, name, QuantType.QUInt8, True))
    x = (RNG.normal(size=(8, *_input_shape(MODELS[name]))) * 1.5).astype(np.float32)
    a, b = run_integer_codes(graph, load("generic"), {"x": x}), run_integer_codes(graph, _fixed_point_target(), {"x": x})
    key = next(k for k, t in a.items() if t.int_name.startswith("y_"))  # the QuantizeLinear feeding output y
    diff = np.abs(a[key].codes.astype(int) - b[key].codes.astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.05


@pytest.mark.parametrize(
    ("mode", "rounding", "max_lsb", "min_identical"),
    [("float", "half_even", 1, 0.999), ("fixed_point", "half_away", 2, 0.75), ("shift", "half_up", 3, 0.5)],
)
def test_own_quantizer_output_runs_on_every_requantization_mode(tmp_path, mode, rounding, max_lsb, min_identical):
    """quant.ptq's QDQ graph for a target runs on that target's arithmetic. A float target matches the
    graph's fake-quant execution; fixed_point and shift targets stay near it (their ties and roundings
    differ from float's at every layer of the 5-layer CNN)."""
    from quant.executor import run
    from quant.ptq import quantize

    d = load("generic").model_dump(mode="json")
    q = d["quantization"]
    if mode == "shift":
        q["weights"]["scale"] = q["activations"]["scale"] = "power_of_two"
    q["requantization"] |= {"mode": mode, "rounding": rounding}
    target = Target.model_validate(d)
    onnx.save(MODELS["cnn"], tmp_path / "cnn.onnx")
    float_graph = import_model(tmp_path / "cnn.onnx")
    calib = [{"x": RNG.normal(size=(4, 3, 16, 16)).astype(np.float32)} for _ in range(4)]
    qdq = quantize(float_graph, target.quantization, calib).graph
    x = RNG.normal(size=(32, 3, 16, 16)).astype(np.float32)
    s = output_scale(qdq)
    diff = np.abs(np.rint(run_integer(qdq, target, {"x": x})["y"] / s) - np.rint(run(qdq, {"x": x})["y"] / s))
    assert diff.max() <= max_lsb and np.mean(diff == 0) >= min_identical
