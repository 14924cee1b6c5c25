"""Whole synthetic networks (quant.zoo) through the float executor vs onnxruntime, at 224x224 batch 1.

Tolerance as for single kernels: max|ours - ort| <= 1e-4 * (range of the ort output) + 1e-6.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from quant import executor, zoo
from quant.onnx_import import import_model

# (builder, an inner tensor to fetch as well)
NETWORKS = {
    "resnet18": (zoo.resnet18, "layer3.0.relu2"),
    "mobilenet_v2": (zoo.mobilenet_v2, "features.9.add"),
    "mobilenet_v3_small": (zoo.mobilenet_v3_small, "features.4.se.mul"),
}


def assert_close(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    span = float(ref.max() - ref.min())
    err = float(np.abs(ours.astype(np.float64) - ref).max())
    assert err <= 1e-4 * span + 1e-6, f"{what}: max error {err:g} over output range {span:g}"


def with_output(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    extra = onnx.ModelProto()
    extra.CopyFrom(model)
    extra.graph.output.append(helper.make_empty_tensor_value_info(name))
    return extra


@pytest.fixture(scope="module", params=list(NETWORKS))
def run(request):
    """(name, inner tensor, ours, onnxruntime's): both runs fetch the logits and the inner tensor."""
    build, inner = NETWORKS[request.param]
    model = build(224)
    x = np.random.default_rng(7).standard_normal((1, 3, 224, 224)).astype(np.float32)
    sess = ort.InferenceSession(with_output(model, inner).SerializeToString(), providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
    ours = executor.run(import_model(model), {"x": x}, fetch=[inner])
    return request.param, inner, ours, ref


def test_logits_match_onnxruntime(run) -> None:
    name, _, ours, ref = run
    assert_close(ours["logits"], ref["logits"], f"{name} logits")
    assert ref["logits"].std() > 0.05, "the synthetic network should produce spread-out logits"


def test_fetch_inner_tensor(run) -> None:
    name, inner, ours, ref = run
    assert set(ours) == {"logits", inner}
    assert_close(ours[inner], ref[inner], f"{name} {inner}")


def test_tiny_cnn_symbolic_batch() -> None:
    model = zoo.tiny_cnn()
    onnx.checker.check_model(model)
    x = np.random.default_rng(3).standard_normal((3, 3, 32, 32)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = executor.run(import_model(model), {"x": x})["logits"]
    assert got.shape == (3, 10)
    assert_close(got, ref, "tiny_cnn logits")


def test_zoo_structure() -> None:
    g = zoo.resnet18(64)
    names = {n.name for n in g.graph.node}
    assert {"conv1", "bn1", "maxpool", "layer1.0.conv1", "layer2.0.downsample.0", "layer4.1.add", "avgpool"} <= names
    assert [d.dim_param or d.dim_value for d in g.graph.input[0].type.tensor_type.shape.dim] == ["N", 3, 64, 64]
    assert g.graph.output[0].name == "logits"
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in g.graph.initializer}
    assert not np.allclose(inits["bn1.running_mean"], 0) and not np.allclose(inits["bn1.running_var"], 1)
    ops = {n.op_type for n in zoo.mobilenet_v3_small(64).graph.node}
    assert {"HardSwish", "HardSigmoid", "GlobalAveragePool", "Mul", "BatchNormalization"} <= ops
    dw = [n for n in zoo.mobilenet_v2(64).graph.node if n.name.endswith(".dw.conv")]
    assert len(dw) == 17 and all(a.i > 1 for n in dw for a in n.attribute if a.name == "group")
    assert zoo.resnet18(64, seed=1).graph.initializer[0] != g.graph.initializer[0]
