"""Streaming calibration and its data errors (one clear line each)."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from quant.calibrate import calibrate
from quant.errors import DataError
from quant.observers import MinMax
from quant.onnx_import import import_model

RNG = np.random.default_rng(0)


@pytest.fixture
def graph():
    """x[N,4] -> Relu -> r; sqrt(-1 - x*x) -> nan (always NaN); y = nan + r"""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Mul", ["x", "x"], ["sq"], name="square"),
        helper.make_node("Sub", ["minus_one", "sq"], ["m"], name="sub"),
        helper.make_node("Sqrt", ["m"], ["nan"], name="sqrt"),
        helper.make_node("Add", ["nan", "r"], ["y"], name="add"),
    ]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(np.float32(-1.0), "minus_one")],
    )
    return import_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def _batches(n=3, shape=(2, 4)):
    return [{"x": RNG.normal(size=shape).astype(np.float32)} for _ in range(n)]


pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")


def test_streaming_updates_every_observer(graph):
    batches = _batches()
    cal = calibrate(graph, iter(batches), {"x": MinMax(), "r": MinMax()})
    xs = np.concatenate([b["x"] for b in batches])
    assert cal.observers["x"][0].range() == (xs.min(), xs.max())
    assert cal.observers["r"][0].range() == (0.0, xs.max())
    assert (cal.batches, cal.samples) == (3, 6)


def test_several_observers_per_tensor(graph):
    a, b = MinMax(), MinMax()
    calibrate(graph, _batches(), {"r": (a, b)})
    assert a.range() == b.range()


def test_empty_data(graph):
    with pytest.raises(DataError, match="calibration data is empty"):
        calibrate(graph, iter([]), {"x": MinMax()})


def test_nan_in_input_names_input_and_count(graph):
    x = np.ones((2, 4), np.float32)
    x[0, :3] = np.nan
    x[1, 0] = np.inf
    with pytest.raises(DataError, match=r"batch 0: input 'x' has 4 NaN/Inf values"):
        calibrate(graph, [{"x": x}], {"x": MinMax()})


def test_wrong_shape_says_expected_and_got(graph):
    with pytest.raises(DataError, match=r"input 'x' has shape \(2, 5\) but the model expects \(N, 4\)"):
        calibrate(graph, _batches(1, (2, 5)), {"x": MinMax()})


def test_wrong_rank(graph):
    with pytest.raises(DataError, match=r"input 'x' has shape \(8\) but the model expects \(N, 4\)"):
        calibrate(graph, _batches(1, (8,)), {"x": MinMax()})


def test_unknown_input_name(graph):
    with pytest.raises(DataError, match=r"input 'image' is not a model input; the model's inputs are \['x'\]"):
        calibrate(graph, [{"image": np.zeros((2, 4), np.float32)}], {"x": MinMax()})


def test_missing_input(graph):
    with pytest.raises(DataError, match="input 'x' is missing"):
        calibrate(graph, [{}], {"x": MinMax()})


def test_tensor_without_range_names_tensor_node_and_fix(graph):
    with pytest.raises(DataError) as e:
        calibrate(graph, _batches(), {"r": MinMax(), "nan": MinMax()})
    msg = str(e.value)
    assert "tensor 'nan'" in msg and "node 'sqrt' (Sqrt)" in msg and "float: true" in msg and "calibration data" in msg
    assert "\n" not in msg
