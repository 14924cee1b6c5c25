"""PTQ end to end: QDQ conventions, constraints, export, and onnxruntime agreement."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from quant.constraints import FusionRule, QuantConstraints, Requantization, TensorRule
from quant.errors import ConfigError
from quant.executor import run
from quant.fake_quant import agreement
from quant.onnx_import import import_model
from quant.ptq import quantize
from quant.qconfig import PRESETS, KindConfig, Override, QConfig
from quant.qdq_export import save, to_onnx

RNG = np.random.default_rng(0)
FUSED = [FusionRule(pattern=["Conv", "Relu"]), FusionRule(pattern=["Conv", "Add", "Relu"]), FusionRule(pattern=["Gemm", "Relu"])]


def _model(nodes, inits, x_shape, y_shape, opset=17):
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    return import_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]))


def cnn(opset=17):
    """conv1(+bn)+relu -> maxpool -> conv2 + add(maxpool) + relu -> gap -> flatten -> fc -> y (same weights each call)"""
    c, r = 8, np.random.default_rng(1)
    inits = {
        "w1": r.normal(0, 0.3, (c, 3, 3, 3)), "b1": r.normal(0, 0.1, c),
        "bn.g": r.uniform(0.5, 1.5, c), "bn.b": r.normal(0, 0.1, c), "bn.m": r.normal(0, 0.1, c),
        "bn.v": r.uniform(0.5, 2, c),
        "w2": r.normal(0, 0.2, (c, c, 3, 3)), "b2": r.normal(0, 0.1, c),
        "fc.w": r.normal(0, 0.3, (10, c)), "fc.b": r.normal(0, 0.1, 10),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn.g", "bn.b", "bn.m", "bn.v"], ["n1"], name="bn1"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "p"], ["a"], name="add"),
        helper.make_node("Relu", ["a"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="fc", transB=1),
    ]
    return _model(nodes, inits, ["N", 3, 8, 8], ["N", 10], opset)


def data(n=4, batch=8, shape=(3, 8, 8)):
    return [{"x": RNG.normal(size=(batch, *shape)).astype(np.float32)} for _ in range(n)]


def ort_run(graph, feeds):
    sess = ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def dq_of(g, tensor):
    """The DequantizeLinear node feeding ``tensor``'s readers, and its (int, scale, zp) initializers."""
    node = next(n for n in g.nodes if n.op_type == "DequantizeLinear" and n.name == f"{tensor}_DequantizeLinear")
    return node, [g.initializers.get(i) for i in node.inputs]


@pytest.fixture(scope="module")
def result():
    return quantize(cnn(), QuantConstraints(fused_patterns=FUSED), data())


def test_onnxruntime_matches_fake_quant_executor(result):
    x = RNG.normal(size=(16, 3, 8, 8)).astype(np.float32)
    ours = run(result.graph, {"x": x})["y"]
    theirs = ort_run(result.graph, {"x": x})[0]
    assert agreement(ours, theirs) >= 0.999


def test_fake_quant_is_close_to_float(result):
    x = RNG.normal(size=(16, 3, 8, 8)).astype(np.float32)
    ref, fq = run(cnn(), {"x": x})["y"], run(result.graph, {"x": x})["y"]
    sqnr = 10 * np.log10(np.sum(ref**2) / np.sum((ref - fq) ** 2))
    assert sqnr > 25


def test_conv_weights_are_int8_per_channel_axis_0(result):
    node, (q, scale, zp) = dq_of(result.graph, "w1")
    assert node.attrs == {"axis": 0} and q.dtype == np.int8 and scale.shape == (8,) and zp.dtype == np.int8
    assert not zp.any() and q.min() >= -127  # symmetric, narrow range


def test_gemm_trans_b_weights_use_axis_0(result):
    node, (q, scale, _) = dq_of(result.graph, "fc.w")
    assert node.attrs == {"axis": 0} and scale.shape == (10,)


def test_bias_is_int32_with_scale_s_in_times_s_w(result):
    g = result.graph
    _, (qb, sb, zb) = dq_of(g, "b2")
    _, (_, sw, _) = dq_of(g, "w2")
    sx = g.initializers["p_scale"]
    assert qb.dtype == np.int32 and zb.dtype == np.int32 and not zb.any()
    np.testing.assert_array_equal(sb, (sx * sw).astype(np.float32))


def test_no_quantizer_inside_fused_groups(result):
    quantized = {n.inputs[0] for n in result.graph.nodes if n.op_type == "QuantizeLinear"}
    assert not quantized & {"n1", "c2", "a"}  # conv1+relu1 and conv2+add+relu2 are groups
    assert {"r1", "r2"} <= quantized


def test_relu_output_zero_point_at_minus_128_when_signed_affine(result):
    assert result.table["r1"].params.zero_point == -128 and result.table["r1"].params.dtype == "int8"


def test_relu_output_uint8_with_auto_signedness():
    c = QuantConstraints(fused_patterns=FUSED, activations=TensorRule(symmetric=False, signedness="auto"))
    r = quantize(cnn(), c, data(2))
    assert r.graph.initializers["r1_zero_point"].dtype == np.uint8
    assert r.graph.initializers["x_zero_point"].dtype == np.int8  # inputs go negative


def test_shared_scale_ops_share_qparams(result):
    t = result.table
    assert t["p"].params.scale == t["r1"].params.scale and t["p"].params.zero_point == t["r1"].params.zero_point
    assert t["f"].params.scale == t["g"].params.scale  # Flatten


def test_concat_inputs_and_output_share_the_union_range():
    inits = {"wa": RNG.normal(0, 1, (2, 3, 1, 1)), "wb": RNG.normal(0, 3, (2, 3, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "wa"], ["ca"], name="ca"), helper.make_node("Conv", ["x", "wb"], ["cb"], name="cb"),
             helper.make_node("Concat", ["ca", "cb"], ["y"], name="cat", axis=1)]
    r = quantize(_model(nodes, inits, ["N", 3, 4, 4], ["N", 4, 4, 4]), QuantConstraints(), data(2, shape=(3, 4, 4)))
    scales = {r.table[t].params.scale.item() for t in ("ca", "cb", "y")}
    assert len(scales) == 1
    x = data(1, shape=(3, 4, 4))[0]
    ref = run(_model(nodes, inits, ["N", 3, 4, 4], ["N", 4, 4, 4]), x)["y"]
    assert float(r.table["y"].params.scale) >= (ref.max() - ref.min()) / 255 * 0.5


def test_matmul_weights_use_axis_1():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    r = quantize(_model(nodes, {"w": RNG.normal(size=(6, 5))}, ["N", 6], ["N", 5]), QuantConstraints(), data(2, shape=(6,)))
    node, (_, scale, _) = dq_of(r.graph, "w")
    assert node.attrs == {"axis": 1} and scale.shape == (5,)


def test_w4a8_weights_stay_in_four_bit_range():
    r = quantize(cnn(), QuantConstraints(fused_patterns=FUSED), data(2), PRESETS["w4a8"])
    _, (q, _, _) = dq_of(r.graph, "w2")
    assert q.dtype == np.int8 and q.min() >= -8 and q.max() <= 7
    assert r.table["w2"].params.bits == 4 and r.table["r1"].params.bits == 8


def test_per_channel_config_on_per_tensor_target_names_the_node():
    c = QuantConstraints(weights=TensorRule(granularity="per_tensor"))
    with pytest.raises(ConfigError, match="node 'conv1'.*per_channel weights"):
        quantize(cnn(), c, data(1), PRESETS["per_channel_int8"])


def test_sixteen_bit_needs_opset_21():
    c = QuantConstraints(activations=TensorRule(bits=16, symmetric=False))
    qc = QConfig(overrides=[Override(name="conv1", activations=KindConfig(bits=16))])
    with pytest.raises(ConfigError, match="opset >= 21"):
        quantize(cnn(), c, data(1), qc)


def test_sixteen_bit_activations_run_in_onnxruntime():
    c = QuantConstraints(activations=TensorRule(bits=16, symmetric=False), fused_patterns=FUSED)
    qc = QConfig(activations=KindConfig(bits=8), overrides=[Override(name="conv1", activations=KindConfig(bits=16))])
    r = quantize(cnn(opset=21), c, data(2), qc)
    assert r.graph.initializers["r1_zero_point"].dtype == np.int16
    assert r.graph.initializers["x_zero_point"].dtype == np.int16  # x belongs to conv1 (its reader)
    assert r.graph.initializers["r2_zero_point"].dtype == np.int8
    x = data(1)[0]
    assert agreement(run(r.graph, x)["y"], ort_run(r.graph, x)[0]) >= 0.999


def test_float_override_leaves_node_without_quantizers():
    qc = QConfig(overrides=[Override(name="fc", float=True)])
    r = quantize(cnn(), QuantConstraints(fused_patterns=FUSED), data(2), qc)
    assert r.float_nodes == ("fc",) and any("fc" in n for n in r.notes)
    assert "fc.w_quantized" not in r.graph.initializers and r.graph.producers()["y"].op_type == "Gemm"
    assert "f" in r.table  # its input still comes from the quantized Flatten


def _shifts(r, conv, x, out):
    f = lambda t: r.table[t].params.frac_bits  # noqa: E731
    return f(x) + f(conv) - f(out)


def test_pow2_shift_range_is_repaired():
    req = Requantization(mode="shift", shift_min=0, shift_max=6)
    pow2 = TensorRule(scale="power_of_two", symmetric=True)
    c = QuantConstraints(weights=pow2.model_copy(update={"granularity": "per_channel"}), activations=pow2,
                         requantization=req, fused_patterns=FUSED)
    r = quantize(cnn(), c, data(2))
    assert all(row["pow2"] for row in r.rows() if row["kind"] != "bias")
    for w, x, out in (("w1", "x", "r1"), ("w2", "p", "r2"), ("fc.w", "f", "y")):
        s = _shifts(r, w, x, out)
        assert s.min() >= 0 and s.max() <= 6, (w, s)


def test_add_inputs_exponents_aligned():
    pow2 = TensorRule(scale="power_of_two", symmetric=True)
    c = QuantConstraints(weights=pow2, activations=pow2, add_max_shift_diff_bits=0)
    inits = {"w": RNG.normal(0, 0.01, (3, 3, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), helper.make_node("Add", ["c", "x"], ["y"], name="add")]
    r = quantize(_model(nodes, inits, ["N", 3, 4, 4], ["N", 3, 4, 4]), c, data(2, shape=(3, 4, 4)))
    assert r.table["c"].params.frac_bits == r.table["x"].params.frac_bits


def test_bias_correction_reduces_mean_output_error():
    inits = {"w": RNG.normal(0, 1, (4, 3, 3, 3)), "b": np.zeros(4)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv")]
    g = _model(nodes, inits, ["N", 3, 6, 6], ["N", 4, 4, 4])
    calib = [{"x": (RNG.normal(size=(16, 3, 6, 6)) + 1.0).astype(np.float32)} for _ in range(2)]
    c = QuantConstraints(weights=TensorRule(bits=4, narrow_range=True))
    x = calib[0]
    ref = run(g, x)["y"]

    def mean_bias(res):
        return np.abs((run(res.graph, x)["y"] - ref).mean(axis=(0, 2, 3))).mean()

    plain = quantize(g, c, calib)
    corrected = quantize(g, c, iter(calib), bias_correction=True)
    assert mean_bias(corrected) < 0.5 * mean_bias(plain)


def test_generator_data_is_read_once():
    r = quantize(cnn(), QuantConstraints(), (b for b in data(2)))
    assert "x" in r.table


def test_table_rows(result):
    row = next(r for r in result.rows() if r["name"] == "w1")
    assert row["kind"] == "weight" and row["bits"] == 8 and row["per_channel"] and len(row["scale"]) == 8
    assert not row["pow2"] and row["zero_point"] == [0] * 8


def test_export_is_standard_onnx(result, tmp_path):
    path = save(result.graph, tmp_path / "m.qdq.onnx")
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    conv = next(n for n in m.graph.node if n.name == "conv2")
    assert [a.name for a in conv.attribute if a.name.startswith("_")] == []
    assert "_fused_group=conv2" in conv.doc_string


def test_zoo_network_matches_onnxruntime():
    zoo = pytest.importorskip("quant.zoo", reason="quant.zoo not available")
    g = import_model(zoo.tiny_cnn())
    r = quantize(g, QuantConstraints(fused_patterns=FUSED), data(2, shape=(3, 32, 32)), PRESETS["entropy"])
    x = data(1, batch=16, shape=(3, 32, 32))[0]
    out = g.output_names[0]
    assert agreement(run(r.graph, x)[out], ort_run(r.graph, x)[0]) >= 0.999


def test_export_import_round_trip_keeps_qdq_structure(result):
    back = import_model(to_onnx(result.graph))
    count = lambda g: sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in g.nodes)  # noqa: E731
    assert count(back) == count(result.graph)
    x = data(1)[0]
    np.testing.assert_array_equal(run(back, x)["y"], run(result.graph, x)["y"])


def test_biases_that_overflow_the_bias_width_are_reported():
    """A 10-bit bias cannot hold a large bias at a fine scale: the quantizer warns, naming the tensor."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    inits = [numpy_helper.from_array(np.full((2, 4), 0.01, np.float32), "w"), numpy_helper.from_array(np.array([50.0, -50.0], np.float32), "b")]
    model = helper.make_model(helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)], "g", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    constraints = QuantConstraints(bias_bits=10)
    result = quantize(import_model(model), constraints, [{"x": np.random.default_rng(0).random((8, 4), dtype=np.float32)}])
    assert any("bias 'b'" in w and "saturated" in w for w in result.warnings)
