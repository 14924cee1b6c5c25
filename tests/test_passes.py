"""Graph passes: BN folding, fusion marking, float marking, QDQ insertion, the prepare pipeline."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from quant.constraints import FusionRule, QuantConstraints
from quant.executor import run
from quant.ir import TensorInfo, verify
from quant.onnx_import import import_model
from quant.passes import (
    FUSED_GROUP, KEEP_FLOAT, fold_batchnorm, fuse_patterns, insert_qdq, interior_tensors, mark_float, prepare,
    quant_sites,
)
from quant.qparams import qparams
from quant.constraints import TensorRule

RNG = np.random.default_rng(0)


def _graph(nodes, inits, inputs, outputs, opset=17):
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    return import_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]))


def _bn_params(prefix, c):
    return {f"{prefix}.g": RNG.uniform(0.5, 1.5, c), f"{prefix}.b": RNG.normal(0, 0.1, c),
            f"{prefix}.m": RNG.normal(0, 0.2, c), f"{prefix}.v": RNG.uniform(0.5, 2, c)}


def _bn(prefix, x, y):
    return helper.make_node("BatchNormalization", [x, *(f"{prefix}.{k}" for k in "gbmv")], [y], name=prefix, epsilon=1e-3)


def conv_bn_relu(bias=True):
    inits = {"w": RNG.normal(size=(4, 3, 3, 3)), **_bn_params("bn", 4)}
    ins = ["x", "w"]
    if bias:
        inits["b"] = RNG.normal(size=4)
        ins.append("b")
    nodes = [helper.make_node("Conv", ins, ["c"], name="conv", pads=[1, 1, 1, 1]), _bn("bn", "c", "n"),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    return _graph(nodes, inits, [("x", [2, 3, 8, 8])], [("y", [2, 4, 8, 8])])


def residual():
    """x -> conv1 -> relu1 -> conv2 -> add(relu1) -> relu2 -> y"""
    inits = {"w1": RNG.normal(size=(4, 4, 1, 1)), "w2": RNG.normal(size=(4, 4, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
             helper.make_node("Add", ["c2", "r1"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["y"], name="relu2")]
    return _graph(nodes, inits, [("x", [1, 4, 4, 4])], [("y", [1, 4, 4, 4])])


X = {"x": RNG.normal(size=(2, 3, 8, 8)).astype(np.float32)}


@pytest.mark.parametrize("bias", [True, False])
def test_fold_conv_bn_is_numerically_equal(bias):
    g = conv_bn_relu(bias)
    f = fold_batchnorm(g)
    verify(f)
    assert "BatchNormalization" not in f.op_types()
    np.testing.assert_allclose(run(f, X)["y"], run(g, X)["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_fold_gemm_bn_is_numerically_equal(trans_b):
    w = RNG.normal(size=(5, 6) if trans_b else (6, 5))
    inits = {"w": w, "c": RNG.normal(size=5), **_bn_params("bn", 5)}
    nodes = [helper.make_node("Gemm", ["x", "w", "c"], ["h"], name="fc", transB=trans_b, beta=0.5), _bn("bn", "h", "y")]
    g = _graph(nodes, inits, [("x", [3, 6])], [("y", [3, 5])])
    f = fold_batchnorm(g)
    x = {"x": RNG.normal(size=(3, 6)).astype(np.float32)}
    assert f.op_types() == {"Gemm"}
    np.testing.assert_allclose(run(f, x)["y"], run(g, x)["y"], rtol=1e-5, atol=1e-5)


def test_bn_without_preceding_conv_stays():
    g = _graph([_bn("bn", "x", "y")], _bn_params("bn", 3), [("x", [1, 3, 2, 2])], [("y", [1, 3, 2, 2])])
    assert fold_batchnorm(g) is g


def test_bn_stays_when_conv_output_has_another_reader():
    g = conv_bn_relu()
    g = g.replace(outputs=(*g.outputs, TensorInfo("c", (2, 4, 8, 8), "float32")))
    assert "BatchNormalization" in fold_batchnorm(g).op_types()


def test_fuse_marks_conv_relu_group():
    g = fuse_patterns(fold_batchnorm(conv_bn_relu()), [["Conv", "Relu"]])
    assert {n.name: n.attrs.get(FUSED_GROUP) for n in g.nodes} == {"conv": "conv", "relu": "conv"}


def test_fuse_pattern_with_bn_matches_after_folding():
    g = fuse_patterns(fold_batchnorm(conv_bn_relu()), [FusionRule(pattern=["Conv", "BatchNormalization", "Relu"])])
    assert all(n.attrs.get(FUSED_GROUP) == "conv" for n in g.nodes)


def test_longest_pattern_wins():
    g = fuse_patterns(residual(), [["Conv", "Relu"], ["Conv", "Add", "Relu"]])
    marks = {n.name: n.attrs.get(FUSED_GROUP) for n in g.nodes}
    assert marks == {"conv1": "conv1", "relu1": "conv1", "conv2": "conv2", "add": "conv2", "relu2": "conv2"}


def test_no_fusion_across_a_tensor_with_two_readers():
    inits = {"w": RNG.normal(size=(4, 4, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Add", ["c", "r"], ["y"], name="add")]
    g = fuse_patterns(_graph(nodes, inits, [("x", [1, 4, 2, 2])], [("y", [1, 4, 2, 2])]), [["Conv", "Relu"]])
    assert not any(FUSED_GROUP in n.attrs for n in g.nodes)


def test_float_nodes_never_join_a_group():
    g = mark_float(residual(), lambda n: n.name == "relu1")
    g = fuse_patterns(g, [["Conv", "Relu"]])
    assert FUSED_GROUP not in g.node("conv1").attrs and g.node("relu1").attrs[KEEP_FLOAT] == 1


def _table(g):
    rule = TensorRule(symmetric=False)
    table = {}
    for s in quant_sites(g):
        if s.kind == "activation":
            table[s.tensor] = qparams(-10.0, 10.0, rule)
        elif s.kind == "weight":
            w = g.initializers[s.tensor]
            table[s.tensor] = qparams(w.min(axis=(1, 2, 3)), w.max(axis=(1, 2, 3)), TensorRule(narrow_range=True), axis=0)
    return table


def test_insert_qdq_leaves_no_quantizer_inside_a_group():
    g = fuse_patterns(residual(), [["Conv", "Relu"], ["Conv", "Add", "Relu"]])
    q = insert_qdq(g, _table(g))
    verify(q)
    quantized = {n.inputs[0] for n in q.nodes if n.op_type == "QuantizeLinear"}
    assert quantized == {"x", "r1", "y_QuantizeLinear_Input"}
    assert not quantized & interior_tensors(g)


def test_insert_qdq_refuses_a_tensor_inside_a_group():
    g = fuse_patterns(residual(), [["Conv", "Relu"]])
    with pytest.raises(ValueError, match="c1"):
        insert_qdq(g, {"c1": qparams(-1.0, 1.0, TensorRule())})


def test_insert_qdq_keeps_graph_output_names_and_stores_int8_weights():
    g = residual()
    q = insert_qdq(g, _table(g))
    assert q.output_names == ("y",) and q.producers()["y"].op_type == "DequantizeLinear"
    assert q.initializers["w1_quantized"].dtype == np.int8
    dq = q.node("w1_DequantizeLinear")
    assert dq.attrs == {"axis": 0} and q.initializers["w1_scale"].shape == (4,)


def test_fake_quant_graph_stays_close_to_float():
    g = residual()
    q = insert_qdq(g, _table(g))
    x = {"x": RNG.uniform(-1, 1, size=(1, 4, 4, 4)).astype(np.float32)}
    np.testing.assert_allclose(run(q, x)["y"], run(g, x)["y"], atol=0.5)  # a few 20/255 steps


def test_sites_skip_clip_bounds_and_float_islands():
    inits = {"lo": np.float32(0), "hi": np.float32(6)}
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["c"], name="clip"),
             helper.make_node("Softmax", ["c"], ["s"], name="softmax"),
             helper.make_node("Exp", ["s"], ["y"], name="exp")]
    g = _graph(nodes, inits, [("x", [2, 3])], [("y", [2, 3])])
    g = mark_float(g, lambda n: n.op_type in ("Softmax", "Exp"))
    assert [(s.tensor, s.kind) for s in quant_sites(g)] == [("x", "activation"), ("c", "activation")]


def test_prepare_runs_the_list_and_verifies_each_pass():
    seen = []
    c = QuantConstraints(fused_patterns=[FusionRule(pattern=["Conv", "Relu"])])
    g = prepare(conv_bn_relu(), c, dump=lambda name, graph: seen.append(name))
    assert seen == ["fold_batchnorm", "mark_float", "fuse_patterns"]
    assert g.op_types() == {"Conv", "Relu"} and all(FUSED_GROUP in n.attrs for n in g.nodes)


def test_prepare_marks_target_float_ops():
    nodes = [helper.make_node("Softmax", ["x"], ["y"], name="sm")]
    g = prepare(_graph(nodes, {}, [("x", [1, 4])], [("y", [1, 4])]), QuantConstraints())
    assert g.node("sm").attrs[KEEP_FLOAT] == 1


def test_fusion_stops_before_an_op_that_needs_a_requantized_input():
    """Conv+Relu+MaxPool: the quantization group is Conv+Relu; MaxPool reads a quantized tensor."""
    from quant.passes import fuse_patterns

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2])]
    g = import_model(helper.make_model(helper.make_graph(nodes, "g", [x], [y], [w]), opset_imports=[helper.make_opsetid("", 17)]))
    fused = fuse_patterns(g, [["Conv", "Relu", "MaxPool"]])
    marks = {n.name: n.attrs.get("_fused_group") for n in fused.nodes}
    assert marks == {"conv": "conv", "relu": "conv", "pool": None}
