"""ONNX import: normalization to one form per op, folding, renaming, and the errors users see."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from quant.errors import ModelError, UnsupportedOpError
from quant.executor import run
from quant.ir import verify
from quant.kernels import registered_ops
from quant.onnx_import import import_model

ort = pytest.importorskip("onnxruntime")


def make(nodes, inputs, outputs, inits=None, opset=17, domains=()):
    graph = h.make_graph(nodes, "g", inputs, outputs, [nh.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    ops = [h.make_opsetid("", opset), *(h.make_opsetid(d, 1) for d in domains)]
    return h.make_model(graph, opset_imports=ops)


def vi(name, shape, elem=T.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def const(name, value):
    return h.make_node("Constant", [], [name], value=nh.from_array(np.asarray(value)))


def run_ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def needs_kernels(*ops):
    missing = sorted(set(ops) - set(registered_ops()))
    if missing:
        pytest.skip(f"no float kernel yet for {missing}")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_clip_opset6_attrs_and_opset13_inputs_normalize_to_the_same_form():
    old = make([h.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0)], [vi("x", [1, 4])], [vi("y", [1, 4])], opset=6)
    new = make([h.make_node("Clip", ["x", "lo", "hi"], ["y"])], [vi("x", [1, 4])], [vi("y", [1, 4])],
               {"lo": np.float32(0), "hi": np.float32(6)}, opset=13)
    forms = []
    for g in (import_model(old), import_model(new)):
        (n,) = g.nodes
        assert n.op_type == "Clip" and dict(n.attrs) == {} and len(n.inputs) == 3
        forms.append(tuple(float(g.initializers[i]) for i in n.inputs[1:]))
    assert forms[0] == forms[1] == (0.0, 6.0)


def test_squeeze_axes_attribute_and_input_normalize_to_the_same_attribute():
    old = make([h.make_node("Squeeze", ["x"], ["y"], axes=[-1])], [vi("x", [2, 3, 1])], [vi("y", [2, 3])], opset=11)
    new = make([h.make_node("Squeeze", ["x", "axes"], ["y"])], [vi("x", [2, 3, 1])], [vi("y", [2, 3])],
               {"axes": np.array([2], np.int64)}, opset=13)
    for g in (import_model(old), import_model(new)):
        (n,) = g.nodes
        assert n.inputs == ("x",) and n.attrs["axes"] == (2,)
        assert "axes" not in g.initializers


def test_resize_scales_input_becomes_attribute_and_matches_onnxruntime():
    needs_kernels("Resize")
    node = h.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")
    model = make([node], [vi("x", [1, 2, 3, 3])], [vi("y", [1, 2, 6, 6])], {"scales": np.array([1, 1, 2, 2], np.float32)}, opset=13)
    g = import_model(model)
    (n,) = g.nodes
    assert n.inputs == ("x",) and n.attrs["scales"] == (1.0, 1.0, 2.0, 2.0) and "sizes" not in n.attrs
    assert n.attrs["coordinate_transformation_mode"] == "half_pixel" and n.attrs["nearest_mode"] == "round_prefer_floor"
    x = rand(1, 2, 3, 3)
    np.testing.assert_allclose(run(g, {"x": x})["y"], run_ort(model, {"x": x})[0], rtol=1e-6)


def test_resize_sizes_input_becomes_attribute_and_matches_onnxruntime():
    needs_kernels("Resize")
    node = h.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")
    model = make([node], [vi("x", [1, 2, 4, 4])], [vi("y", [1, 2, 7, 5])], {"sizes": np.array([1, 2, 7, 5], np.int64)}, opset=13)
    g = import_model(model)
    (n,) = g.nodes
    assert n.inputs == ("x",) and n.attrs["sizes"] == (1, 2, 7, 5) and "scales" not in n.attrs
    x = rand(1, 2, 4, 4)
    np.testing.assert_allclose(run(g, {"x": x})["y"], run_ort(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_upsample_becomes_resize_with_legacy_coordinates():
    model = make([h.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")], [vi("x", [1, 1, 2, 2])],
                 [vi("y", [1, 1, 4, 4])], {"s": np.array([1, 1, 2, 2], np.float32)}, opset=9)
    (n,) = import_model(model).nodes
    assert n.op_type == "Resize" and n.inputs == ("x",) and n.attrs["scales"] == (1.0, 1.0, 2.0, 2.0)
    assert n.attrs["coordinate_transformation_mode"] == "asymmetric"


def test_resize_sizes_from_the_runtime_shape_drop_the_symbolic_batch_axis():
    nodes = [
        h.make_node("Shape", ["x"], ["s"]),
        h.make_node("Slice", ["s", "b", "e"], ["nc"]),
        h.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
        h.make_node("Resize", ["x", "", "", "sizes"], ["y"]),
    ]
    inits = {"b": np.array([0], np.int64), "e": np.array([2], np.int64), "hw": np.array([6, 8], np.int64)}
    g = import_model(make(nodes, [vi("x", ["N", 3, 3, 4])], [vi("y", ["N", 3, 6, 8])], inits, opset=13))
    (n,) = g.nodes
    assert n.op_type == "Resize" and n.inputs == ("x",)
    assert n.attrs["axes"] == (1, 2, 3) and n.attrs["sizes"] == (3, 6, 8)
    assert g.tensors["y"].shape == ("N", 3, 6, 8)


def test_pad_attribute_and_input_forms_normalize_to_attributes():
    old = make([h.make_node("Pad", ["x"], ["y"], pads=[0, 1, 0, 2], value=1.5)], [vi("x", [2, 3])], [vi("y", [2, 6])], opset=2)
    new = make([h.make_node("Pad", ["x", "p", "v", "a"], ["y"])], [vi("x", [2, 3])], [vi("y", [2, 6])],
               {"p": np.array([1, 2], np.int64), "v": np.float32(1.5), "a": np.array([1], np.int64)}, opset=18)
    for g in (import_model(old), import_model(new)):
        (n,) = g.nodes
        assert n.inputs == ("x",) and n.attrs["pads"] == (0, 1, 0, 2)
        assert n.attrs["mode"] == "constant" and n.attrs["value"] == 1.5


def test_split_attribute_and_input_forms_normalize_to_explicit_sizes():
    outs = [vi("a", [1, 2]), vi("b", [1, 4])]
    old = make([h.make_node("Split", ["x"], ["a", "b"], axis=-1, split=[2, 4])], [vi("x", [1, 6])], outs, opset=11)
    new = make([h.make_node("Split", ["x", "s"], ["a", "b"], axis=1)], [vi("x", [1, 6])], outs,
               {"s": np.array([2, 4], np.int64)}, opset=13)
    for g in (import_model(old), import_model(new)):
        (n,) = g.nodes
        assert n.inputs == ("x",) and n.attrs["axis"] == 1 and n.attrs["split"] == (2, 4)


def test_reduce_mean_axes_input_becomes_attribute():
    model = make([h.make_node("ReduceMean", ["x", "ax"], ["y"], keepdims=0)], [vi("x", [1, 3, 4])], [vi("y", [1, 3])],
                 {"ax": np.array([-1], np.int64)}, opset=18)
    (n,) = import_model(model).nodes
    assert n.inputs == ("x",) and n.attrs["axes"] == (2,) and n.attrs["keepdims"] == 0


def test_auto_pad_same_upper_resolves_to_explicit_pads_matching_onnxruntime():
    needs_kernels("Conv")
    w = rand(4, 2, 3, 3, seed=1)
    node = h.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])
    model = make([node], [vi("x", [1, 2, 6, 6])], [vi("y", [1, 4, 3, 3])], {"w": w})
    g = import_model(model)
    (n,) = g.nodes
    assert "auto_pad" not in n.attrs and n.attrs["pads"] == (0, 0, 1, 1)
    assert n.attrs["kernel_shape"] == (3, 3) and n.attrs["dilations"] == (1, 1)
    x = rand(1, 2, 6, 6)
    np.testing.assert_allclose(run(g, {"x": x})["y"], run_ort(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_pool_auto_pad_resolves_to_pads_matching_onnxruntime(op, auto_pad):
    needs_kernels(op)
    node = h.make_node(op, ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad=auto_pad, ceil_mode=1)
    model = make([node], [vi("x", [1, 2, 8, 8])], [vi("y", [1, 2, None, None])])
    g = import_model(model)
    (n,) = g.nodes
    assert "auto_pad" not in n.attrs and len(n.attrs["pads"]) == 4
    x = rand(1, 2, 8, 8)
    np.testing.assert_allclose(run(g, {"x": x})["y"], run_ort(model, {"x": x})[0], rtol=1e-6)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
def test_conv_transpose_auto_pad_resolves_to_pads_matching_onnxruntime(auto_pad):
    needs_kernels("ConvTranspose")
    w = rand(2, 3, 3, 3, seed=2)
    node = h.make_node("ConvTranspose", ["x", "w"], ["y"], auto_pad=auto_pad, strides=[2, 2])
    model = make([node], [vi("x", [1, 2, 3, 3])], [vi("y", [1, 3, 6, 6])], {"w": w})
    g = import_model(model)
    (n,) = g.nodes
    assert "auto_pad" not in n.attrs and n.attrs["pads"] == ((0, 0, 1, 1) if auto_pad == "SAME_UPPER" else (1, 1, 0, 0))
    x = rand(1, 2, 3, 3)
    np.testing.assert_allclose(run(g, {"x": x})["y"], run_ort(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_identity_and_dropout_are_removed():
    nodes = [h.make_node("Identity", ["x"], ["a"]), h.make_node("Dropout", ["a"], ["b"]), h.make_node("Relu", ["b"], ["y"])]
    g = import_model(make(nodes, [vi("x", [2])], [vi("y", [2])], opset=13))
    (n,) = g.nodes
    assert n.op_type == "Relu" and n.inputs == ("x",) and n.outputs == ("y",)


def test_graph_output_identity_keeps_the_output_name():
    nodes = [h.make_node("Relu", ["x"], ["r"]), h.make_node("Identity", ["r"], ["y"]), h.make_node("Sigmoid", ["r"], ["z"])]
    g = import_model(make(nodes, [vi("x", [2])], [vi("y", [2]), vi("z", [2])]))
    assert [n.op_type for n in g.nodes] == ["Relu", "Sigmoid"]
    assert g.nodes[0].outputs == ("y",) and g.nodes[1].inputs == ("y",)
    assert g.output_names == ("y", "z") and set(g.tensors) == {"x", "y", "z"}


def test_identity_of_a_graph_input_to_a_graph_output_stays():
    g = import_model(make([h.make_node("Identity", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])]))
    assert [(n.op_type, n.inputs, n.outputs) for n in g.nodes] == [("Identity", ("x",), ("y",))]


def test_constant_node_becomes_an_initializer():
    nodes = [const("c", np.array([1.0, 2.0], np.float32)), h.make_node("Add", ["x", "c"], ["y"])]
    g = import_model(make(nodes, [vi("x", [2])], [vi("y", [2])]))
    assert [n.op_type for n in g.nodes] == ["Add"]
    np.testing.assert_array_equal(g.initializers["c"], [1.0, 2.0])
    assert g.tensors["c"].shape == (2,)


def test_a_graph_output_computed_from_constants_becomes_an_initializer():
    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Relu", ["x"], ["y"])]
    g = import_model(make(nodes, [vi("x", [2, 3])], [vi("s", [2], T.INT64), vi("y", [2, 3])]))
    assert [n.op_type for n in g.nodes] == ["Relu"]
    np.testing.assert_array_equal(g.initializers["s"], [2, 3])


def test_dequantize_of_constant_weights_is_not_folded():
    nodes = [h.make_node("DequantizeLinear", ["wq", "scale", "zp"], ["w"]), h.make_node("MatMul", ["x", "w"], ["y"])]
    inits = {"wq": np.ones((3, 2), np.int8), "scale": np.float32(0.5), "zp": np.int8(0)}
    g = import_model(make(nodes, [vi("x", [1, 3])], [vi("y", [1, 2])], inits, opset=13))
    assert [n.op_type for n in g.nodes] == ["DequantizeLinear", "MatMul"]


def test_pytorch_flatten_chain_with_symbolic_batch_folds_to_a_constant_reshape():
    nodes = [
        h.make_node("Relu", ["x"], ["r"]),
        h.make_node("Shape", ["r"], ["s"]),
        const("zero", np.array(0, np.int64)),
        h.make_node("Gather", ["s", "zero"], ["batch"], axis=0),
        const("axes", np.array([0], np.int64)),
        h.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        const("minus1", np.array([-1], np.int64)),
        h.make_node("Concat", ["batch1", "minus1"], ["shape"], axis=0),
        h.make_node("Reshape", ["r", "shape"], ["y"]),
    ]
    g = import_model(make(nodes, [vi("x", ["N", 3, 4, 4])], [vi("y", ["N", 48])], opset=13))
    assert [n.op_type for n in g.nodes] == ["Relu", "Reshape"]
    np.testing.assert_array_equal(g.initializers[g.nodes[1].inputs[1]], [0, -1])
    assert g.tensors["y"].shape == ("N", 48)
    x = rand(5, 3, 4, 4)
    np.testing.assert_allclose(run(g, {"x": x})["y"], np.maximum(x, 0).reshape(5, 48))


def test_every_surviving_tensor_has_a_shape():
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("GlobalAveragePool", ["r"], ["p"]), h.make_node("Flatten", ["p"], ["y"])]
    g = import_model(make(nodes, [vi("x", ["batch", 2, 5, 5])], [vi("y", ["batch", 4])], {"w": rand(4, 2, 3, 3)}))
    verify(g)
    names = {i for n in g.nodes for i in (*n.inputs, *n.outputs)}
    assert names <= set(g.tensors)
    assert g.tensors["c"].shape == ("batch", 4, 5, 5) and g.tensors["y"].shape == ("batch", 4)


def test_unnamed_nodes_get_unique_names():
    nodes = [h.make_node("Relu", ["x"], ["a"]), h.make_node("Relu", ["a"], ["y"])]
    g = import_model(make(nodes, [vi("x", [2])], [vi("y", [2])]))
    assert [n.name for n in g.nodes] == ["Relu_0", "Relu_1"]


def test_symbolic_non_batch_dim_is_an_error_naming_input_and_dim(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(make([h.make_node("Relu", ["x"], ["y"])], [vi("x", ["N", 3, "height", "width"])],
                   [vi("y", ["N", 3, "height", "width"])]), path)
    with pytest.raises(ModelError) as e:
        import_model(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: input 'x' has symbolic dimension 'height' at axis 2")
    assert "--input-shape x=1x3x<height>x<width>" in msg


def test_input_shapes_override_fixes_symbolic_dims(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(make([h.make_node("Relu", ["x"], ["y"])], [vi("x", ["N", 3, "height", "width"])],
                   [vi("y", ["N", 3, "height", "width"])]), path)
    g = import_model(path, input_shapes={"x": (2, 3, 8, 8)})
    assert g.inputs[0].shape == (2, 3, 8, 8) and g.tensors["y"].shape == (2, 3, 8, 8)


def test_input_shapes_override_may_keep_the_batch_symbolic(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(make([h.make_node("Relu", ["x"], ["y"])], [vi("x", ["N", 3, "height", "width"])],
                   [vi("y", ["N", 3, "height", "width"])]), path)
    g = import_model(path, input_shapes={"x": ("N", 3, 8, 8)})
    assert isinstance(g.inputs[0].shape[0], str) and g.inputs[0].shape[1:] == (3, 8, 8)


def test_input_shapes_override_names_only_the_batch(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(make([h.make_node("Relu", ["x"], ["y"])], [vi("x", ["N", 3, "height", "width"])],
                   [vi("y", ["N", 3, "height", "width"])]), path)
    with pytest.raises(ModelError, match="the first may be a name"):
        import_model(path, input_shapes={"x": (1, 3, "H", 8)})


def test_unsupported_ops_are_listed_in_one_error():
    nodes = [h.make_node("NonZero", ["x"], [f"nz{i}"], name=f"nz{i}") for i in range(4)]
    nodes += [h.make_node("FusedThing", ["x"], ["f"], name="fused", domain="com.example"),
              h.make_node("Concat", [*(f"nz{i}" for i in range(4)), "f"], ["y"], axis=1)]
    model = make(nodes, [vi("x", [2, 2])], [vi("y", [2, None], T.INT64)], domains=["com.example"])
    with pytest.raises(UnsupportedOpError) as e:
        import_model(model)
    msg = str(e.value)
    assert "NonZero (nodes 'nz0', 'nz1', 'nz2' and 1 more)" in msg
    assert "com.example:FusedThing (node 'fused')" in msg


def test_a_file_that_is_not_onnx_is_an_error_naming_it(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n")
    with pytest.raises(ModelError, match=str(path)):
        import_model(path)


def test_a_model_failing_the_checker_is_an_error_naming_it(tmp_path):
    path = tmp_path / "broken.onnx"
    model = make([h.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    model.graph.node[0].input[0] = "missing"
    onnx.save(model, path)
    with pytest.raises(ModelError, match=f"{path}: not a valid ONNX model"):
        import_model(path)
