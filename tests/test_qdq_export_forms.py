"""Export writes each canonical op in the form its opset wants: checker-clean and equal to the original in onnxruntime."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import hwsim.target
from quant.errors import ModelError
from quant.executor import run
from quant.fake_quant import agreement
from quant.ir import Graph, Node, TensorInfo
from quant.onnx_import import import_model
from quant.ptq import quantize
from quant.qdq_export import to_onnx

OPSETS = (11, 13, 17, 18, 21)
F = TensorProto.FLOAT


def _const(name, value, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def _inputs(opset, since, name, value, dtype=np.int64):
    """``value`` as the input ``name`` (returned) at opset >= since, else as an attribute (in the dict)."""
    if opset >= since:
        return [name], {}, [_const(name, value, dtype)]
    return [], {name.split(".")[-1]: list(value)}, []


def _attr_or_input(op, opset, since, key, value, x_shape, outputs=("y",), **attrs):
    names, extra, inits = _inputs(opset, since, f"n.{key}", value)
    return [helper.make_node(op, ["x", *names], list(outputs), name="n", **extra, **attrs)], inits, x_shape


def squeeze(opset):
    return _attr_or_input("Squeeze", opset, 13, "axes", [2], ["N", 3, 1, 4])


def unsqueeze(opset):
    return _attr_or_input("Unsqueeze", opset, 13, "axes", [1, -1], ["N", 3, 4])


def reduce_mean(opset):
    return _attr_or_input("ReduceMean", opset, 18, "axes", [2, -1], ["N", 3, 4, 5], keepdims=1)


def reduce_sum(opset):
    return _attr_or_input("ReduceSum", opset, 13, "axes", [1], ["N", 3, 4, 5], keepdims=0)


def split(opset):
    return _attr_or_input("Split", opset, 13, "split", [2, 4], ["N", 6, 4], outputs=("y", "y2"), axis=1)


def split_even(opset):
    """no sizes: equal parts (opset 18+: ``num_outputs``, and the last part may be smaller)"""
    extra = {"num_outputs": 3} if opset >= 18 else {}
    width = 7 if opset >= 18 else 6
    return [helper.make_node("Split", ["x"], ["y", "y2", "y3"], name="n", axis=-1, **extra)], [], ["N", 2, width]


def slice_(opset):
    inits = [_const("st", [1, -1]), _const("en", [6, -2**63]), _const("ax", [1, -1]), _const("sp", [2, -2])]
    return [helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"], name="n")], inits, ["N", 7, 8]


def _pad(mode, value):
    def build(opset):
        inits = [_const("p", [0, 0, 1, 2, 0, 0, 2, 1]), _const("v", value, np.float32)]
        inputs = ["x", "p", "v" if mode == "constant" else ""]
        return [helper.make_node("Pad", inputs, ["y"], name="n", mode=mode)], inits, ["N", 3, 4, 5]
    return build


def resize_scales(opset):
    """nearest, scales on the two spatial axes (opset 18+: with ``axes``)"""
    axes = {"axes": [2, 3]} if opset >= 18 else {}
    scales = [2.0, 3.0] if axes else [1.0, 1.0, 2.0, 3.0]
    roi = "roi" if opset < 13 else ""
    inits = [_const("sc", scales, np.float32), _const("roi", [], np.float32)]
    node = helper.make_node("Resize", ["x", roi, "sc"], ["y"], name="up", mode="nearest", **axes)
    return [node], inits, ["N", 3, 4, 5]


def resize_sizes(opset):
    """linear, static sizes for every axis"""
    inits = [_const("roi", [], np.float32), _const("sc", [], np.float32), _const("sz", [2, 3, 7, 9])]
    node = helper.make_node("Resize", ["x", "roi", "sc", "sz"], ["y"], name="up", mode="linear")
    return [node], inits, [2, 3, 4, 5]


def resize_sizes_batch(opset):
    """linear, sizes (N, 3, 7, 9) built from Shape(x) as PyTorch exports ``interpolate(size=...)``"""
    inits = [_const("s0", [0]), _const("s2", [2]), _const("hw", [7, 9]), _const("roi", [], np.float32),
             _const("sc", [], np.float32)]
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"], name="shape"),
        helper.make_node("Slice", ["shp", "s0", "s2"], ["nc"], name="nc"),
        helper.make_node("Concat", ["nc", "hw"], ["sz"], name="cat", axis=0),
        helper.make_node("Resize", ["x", "roi", "sc", "sz"], ["y"], name="up", mode="linear",
                         coordinate_transformation_mode="half_pixel"),
    ]
    return nodes, inits, ["N", 3, 4, 5]


def resize_sizes_axes(opset):
    """linear, sizes on two axes through ``axes`` (opset 18+)"""
    inits = [_const("sz", [7, 9])]
    node = helper.make_node("Resize", ["x", "", "", "sz"], ["y"], name="up", mode="linear", axes=[2, 3])
    return [node], inits, [2, 3, 4, 5]


def conv_clip(opset):
    w = np.random.default_rng(0).normal(0, 0.5, (4, 3, 3, 3))
    inits = [_const("w", w, np.float32), _const("lo", 0.0, np.float32), _const("hi", 0.5, np.float32)]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["c", "lo", "hi"], ["y"], name="n")]
    return nodes, inits, ["N", 3, 5, 5]


def clip_max(opset):
    return [helper.make_node("Clip", ["x", "", "hi"], ["y"], name="n")], [_const("hi", 0.25, np.float32)], ["N", 6]


CASES = {
    "squeeze": (squeeze, 11), "unsqueeze": (unsqueeze, 11), "reduce_mean": (reduce_mean, 11),
    "reduce_sum": (reduce_sum, 11), "split": (split, 11), "split_even": (split_even, 11),
    "slice": (slice_, 11), "pad_constant": (_pad("constant", 0.5), 11), "pad_reflect": (_pad("reflect", 0.0), 11),
    "resize_scales": (resize_scales, 11), "resize_sizes": (resize_sizes, 11),
    "resize_sizes_batch": (resize_sizes_batch, 11), "resize_sizes_axes": (resize_sizes_axes, 18),
    "conv_clip": (conv_clip, 11), "clip_max": (clip_max, 11),
}


def _model(nodes, inits, x_shape, outputs, opset):
    outs = [helper.make_tensor_value_info(o, F, None) for o in outputs]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, x_shape)], outs, inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return onnx.shape_inference.infer_shapes(model, data_prop=True)  # output shapes


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _assert_export_matches(nodes, inits, x_shape, opset):
    outputs = [o for n in nodes for o in n.output if o.startswith("y")]
    original = _model(nodes, inits, x_shape, outputs, opset)
    exported = to_onnx(import_model(original), check=True)
    assert exported.opset_import[0].version == opset
    x = np.random.default_rng(1).normal(size=[2 if isinstance(d, str) else d for d in x_shape]).astype(np.float32)
    for want, got in zip(_ort(original, {"x": x}), _ort(exported, {"x": x})):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # sizes -> scales moves coordinates by an ulp


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_export_matches_original_in_onnxruntime(case, opset):
    build, since = CASES[case]
    if opset < since:
        pytest.skip(f"{case} needs opset {since}")
    _assert_export_matches(*build(opset), opset)


LEGACY = {  # opset < 11: attribute forms, Resize-10 and Upsample
    "resize_10": (10, [helper.make_node("Resize", ["x", "sc"], ["y"], mode="linear")], [_const("sc", [1, 1, 2, 3], np.float32)]),
    "upsample_9": (9, [helper.make_node("Upsample", ["x", "sc"], ["y"])], [_const("sc", [1, 1, 2, 3], np.float32)]),
    "upsample_8": (8, [helper.make_node("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 3.0])], []),
    "slice_9": (9, [helper.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, -1], axes=[1, 3])], []),
    "pad_10": (10, [helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 1, 0, 0, 0, 0, 2], value=0.5)], []),
    "clip_10": (10, [helper.make_node("Clip", ["x"], ["y"], min=-0.5)], []),
    "maxpool_8": (8, [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])], []),  # no dilations before 10
}


@pytest.mark.parametrize("case", sorted(LEGACY))
def test_legacy_opsets_export_matches_original(case):
    opset, nodes, inits = LEGACY[case]
    _assert_export_matches(nodes, inits, ["N", 3, 4, 5], opset)


def _graph(node, x_shape, y_shape, opset, inits=None):
    x, y = TensorInfo("x", x_shape, "float32"), TensorInfo("y", y_shape, "float32")
    return Graph((node,), (x,), (y,), inits or {}, {"x": x, "y": y}, opset)


def _resize(opset, y_shape=("N", 3, 7, 6), **attrs):
    canon = {"mode": "nearest", "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_floor",
             "cubic_coeff_a": -0.75, "exclude_outside": 0, "extrapolation_value": 0.0, "antialias": 0}
    node = Node("up", "Resize", ("x",), ("y",), {**canon, **attrs})
    return _graph(node, ("N", 3, 3, 3), y_shape, opset)


def test_resize_sizes_without_batch_become_exact_scales():
    g = _resize(13, axes=(1, 2, 3), sizes=(3, 7, 6), mode="linear")
    model = to_onnx(g)
    scales = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "up.scales"))
    assert scales[0] == 1.0 and scales[1] == 1.0
    assert [int(np.floor(np.float32(3) * s)) for s in scales[2:]] == [7, 6]
    assert [i for i in model.graph.node[0].input] == ["x", "", "up.scales"]


def test_resize_keeps_axes_from_opset_18_and_drops_neutral_attributes_before():
    g18 = to_onnx(_resize(18, axes=(2, 3), sizes=(7, 6))).graph.node[0]
    assert {a.name for a in g18.attribute} >= {"axes", "antialias"}
    g17 = to_onnx(_resize(17, ("N", 3, 6, 6), axes=(0, 1, 2, 3), scales=(1.0, 1.0, 2.0, 2.0))).graph.node[0]
    assert not {"axes", "antialias"} & {a.name for a in g17.attribute}


def test_attribute_the_opset_cannot_express_names_the_node():
    with pytest.raises(ModelError, match="'up'.*antialias"):
        to_onnx(_resize(17, ("N", 3, 6, 6), axes=(0, 1, 2, 3), scales=(1.0, 1.0, 2.0, 2.0), antialias=1))


def test_new_initializer_names_are_unique():
    node = Node("n", "Unsqueeze", ("x",), ("y",), {"axes": (1,)})
    g = _graph(node, ("N", 3), ("N", 1, 3), 13, {"n.axes": np.zeros(1, np.float32)})
    taken = g.replace(tensors={**g.tensors, "n.axes": TensorInfo("n.axes", (1,), "float32")})
    assert list(to_onnx(taken).graph.node[0].input) == ["x", "n.axes_1"]


def test_markers_go_to_doc_string():
    node = Node("n", "Unsqueeze", ("x",), ("y",), {"axes": (1,), "_fused_group": "g1"})
    proto = to_onnx(_graph(node, ("N", 3), ("N", 1, 3), 11)).graph.node[0]
    assert proto.doc_string == "hwsim: _fused_group=g1" and [a.name for a in proto.attribute] == ["axes"]


@pytest.mark.parametrize("opset", (13, 18))
def test_quantized_conv_relu_resize_pad_unsqueeze_squeeze_round_trip(opset):
    rng = np.random.default_rng(2)
    inits = [_const("w", rng.normal(0, 0.4, (4, 3, 3, 3)), np.float32), _const("b", rng.normal(0, 0.1, 4), np.float32),
             _const("sc", [1.0, 1.0, 2.0, 2.0], np.float32), _const("p", [0, 0, 1, 1, 0, 0, 1, 1]),
             _const("ax", [1])]
    ax_in = ["ax"]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Resize", ["r", "", "sc"], ["u"], name="up", mode="nearest"),
        helper.make_node("Pad", ["u", "p"], ["pd"], name="pad"),
        helper.make_node("Unsqueeze", ["pd", *ax_in], ["us"], name="unsq"),
        helper.make_node("Squeeze", ["us", *ax_in], ["y"], name="sq"),
    ]
    graph = import_model(_model(nodes, inits, ["N", 3, 6, 6], ["y"], opset))
    data = rng.normal(size=(8, 3, 6, 6)).astype(np.float32)
    result = quantize(graph, hwsim.target.load("generic").quantization, [{"x": data}])
    model = to_onnx(result.graph, check=True)
    onnx.checker.check_model(model, full_check=True)
    x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    (got,) = _ort(model, {"x": x})
    assert got.shape == (2, 4, 14, 14)
    assert agreement(run(result.graph, {"x": x})["y"], got, atol=1e-5) >= 0.999
