"""lower(): hand-built QDQ graphs -> integer graphs (one behaviour per test)."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim.exec import HostNode, LoweringError, host_nodes, lower, run_integer, run_integer_codes
from hwsim.target import Target, load
from quant.ir import Graph, Node, TensorInfo
from quant.kernels.registry import KernelContext, Mode, lookup

S_X, Z_X, S_Y, Z_Y = 0.05, 3, 0.04, -20
RNG = np.random.default_rng(7)


def q(name, x, s, z, dtype=np.int8):
    return [Node(f"{name}_q", "QuantizeLinear", (x, f"{name}_s", f"{name}_z"), (f"{name}_int",))], {
        f"{name}_s": np.array(s, np.float32), f"{name}_z": np.array(z, dtype)}


def dq(name, src, out, s, z, dtype=np.int8, axis=None):
    attrs = {} if axis is None else {"axis": axis}
    return [Node(f"{name}_dq", "DequantizeLinear", (src, f"{name}_ds", f"{name}_dz"), (out,), attrs)], {
        f"{name}_ds": np.array(s, np.float32), f"{name}_dz": np.array(z, dtype)}


def graph(nodes, inits, x_shape=(1, 2, 4, 4), outputs=("y",)) -> Graph:
    ins = (TensorInfo("x", x_shape, "float32"),)
    return Graph(tuple(nodes), ins, tuple(TensorInfo(o, (), "float32") for o in outputs), inits, {}, 17, "g")


def quantized_input():
    n1, i1 = q("x", "x", S_X, Z_X)
    n2, i2 = dq("x", "x_int", "x_f", S_X, Z_X)
    return n1 + n2, i1 | i2


def conv_graph(act=None, act_inputs=(), act_attrs=None, quantize_out=True):
    nodes, inits = quantized_input()
    w = RNG.integers(-127, 128, (3, 2, 3, 3)).astype(np.int8)
    n, i = dq("w", "w_int", "w_f", np.array([0.01, 0.02, 0.03]), np.zeros(3, np.int8), axis=0)
    nodes, inits = nodes + n, inits | i | {"w_int": w}
    conv_out = "c" if act or quantize_out else "y"
    nodes.append(Node("conv", "Conv", ("x_f", "w_f"), (conv_out,), {"pads": (1, 1, 1, 1)}))
    if act:
        nodes.append(Node("act", act, ("c", *act_inputs), ("r",), act_attrs or {}))
    if quantize_out:
        n1, i1 = q("y", "r" if act else "c", S_Y, Z_Y)
        n2, i2 = dq("y", "y_int", "y", S_Y, Z_Y)
        nodes, inits = nodes + n1 + n2, inits | i1 | i2
    return graph(nodes, inits)


def shift_target() -> Target:
    d = load("generic").model_dump(mode="json")
    d["quantization"]["weights"]["scale"] = d["quantization"]["activations"]["scale"] = "power_of_two"
    d["quantization"]["requantization"] |= {"mode": "shift", "rounding": "half_up"}
    return Target.model_validate(d)


def test_conv_relu_becomes_one_int_conv_clamped_at_the_zero_point():
    g = lower(conv_graph("Relu"), load("generic"))
    assert [n.op_type for n in g.nodes] == ["IntQuantize", "IntConv", "IntDequantize"]
    conv = g.nodes[1]
    assert (conv.attrs["qmin"], conv.attrs["qmax"], conv.outputs) == (Z_Y, 127, ("y_int",))


def test_fused_clip_clamps_at_its_quantized_bounds():
    g = conv_graph("Clip", ("lo", "hi"))
    g = g.replace(initializers=dict(g.initializers) | {"lo": np.array(0.0, np.float32), "hi": np.array(2.0, np.float32)})
    conv = lower(g, load("generic")).nodes[1]
    assert (conv.attrs["qmin"], conv.attrs["qmax"]) == (Z_Y, round(2.0 / S_Y) + Z_Y)


def test_requant_multiplier_is_float32_sx_sw_over_sy():
    conv = lower(conv_graph(), load("generic")).nodes[1]
    sw = np.array([0.01, 0.02, 0.03], np.float32)
    assert np.array_equal(conv.attrs["rq_mult"], (np.float32(S_X) * sw) / np.float32(S_Y))


def test_unquantized_conv_output_is_the_accumulator_dequantized():
    g = conv_graph(quantize_out=False)
    lowered = lower(g, load("generic"))
    assert [n.op_type for n in lowered.nodes] == ["IntQuantize", "IntConv", "IntDequantize"]
    deq = lowered.nodes[2]
    assert lowered.nodes[1].attrs["out"] == "acc" and deq.attrs["axis"] == 1
    assert np.allclose(deq.attrs["scale"], np.float32(S_X) * np.array([0.01, 0.02, 0.03], np.float32))


def test_shift_target_rejects_non_power_of_two_scales_naming_node_and_scales():
    with pytest.raises(LoweringError, match=r"node 'conv' \(Conv\): S_x=0\.05, S_w=\[0\.01, 0\.02, 0\.03\], S_y=0\.04"):
        lower(conv_graph(), shift_target())


def test_shift_target_lowers_power_of_two_scales_to_shifts():
    nodes, inits = quantized_input()
    inits |= {"x_s": np.array(0.25, np.float32), "x_ds": np.array(0.25, np.float32)}
    n1, i1 = q("y", "x_f", 2.0, 0)
    n2, i2 = dq("y", "y_int", "y", 2.0, 0)
    g = graph(nodes + n1 + n2, inits | i1 | i2)
    rescale = lower(g, shift_target()).nodes[1]
    assert rescale.op_type == "IntRescale" and int(rescale.attrs["rq_shift"]) == 3  # 0.25 / 2 = 2^-3
    x = np.array([[[[1.0, 1.75, -1.0, 30.0]]]], np.float32)  # codes 7, 10, -1, 123: (c - 3) / 8, ties up
    assert run_integer(g, shift_target(), {"x": x})["y"].ravel().tolist() == [2.0, 2.0, 0.0, 30.0]


def test_dq_q_pair_on_one_grid_is_an_identity_and_on_another_a_rescale():
    nodes, inits = quantized_input()
    same = graph(nodes + q("y", "x_f", S_X, Z_X)[0] + dq("y", "y_int", "y", S_X, Z_X)[0], inits | q("y", "x_f", S_X, Z_X)[1] | dq("y", "y_int", "y", S_X, Z_X)[1])
    other = graph(nodes + q("y", "x_f", S_Y, Z_Y)[0] + dq("y", "y_int", "y", S_Y, Z_Y)[0], inits | q("y", "x_f", S_Y, Z_Y)[1] | dq("y", "y_int", "y", S_Y, Z_Y)[1])
    assert lower(same, load("generic")).nodes[1].op_type == "Identity"
    assert lower(other, load("generic")).nodes[1].op_type == "IntRescale"


def test_reshape_runs_on_codes_and_rescales_only_when_the_grid_changes():
    nodes, inits = quantized_input()
    nodes.append(Node("reshape", "Reshape", ("x_f", "shape"), ("r",)))
    n1, i1 = q("y", "r", S_Y, Z_Y)
    n2, i2 = dq("y", "y_int", "y", S_Y, Z_Y)
    g = graph(nodes + n1 + n2, inits | i1 | i2 | {"shape": np.array([1, -1], np.int64)})
    assert [n.op_type for n in lower(g, load("generic")).nodes] == ["IntQuantize", "Reshape", "IntRescale", "IntDequantize"]


def test_softmax_runs_on_the_host_in_float():
    nodes, inits = quantized_input()
    nodes.append(Node("softmax", "Softmax", ("x_f",), ("sm",), {"axis": -1}))
    n1, i1 = q("y", "sm", 1 / 256, -128)
    n2, i2 = dq("y", "y_int", "y", 1 / 256, -128)
    g = graph(nodes + n1 + n2, inits | i1 | i2)
    assert [n.op_type for n in lower(g, load("generic")).nodes] == ["IntQuantize", "HostFloat", "IntDequantize"]
    x = RNG.normal(size=(1, 2, 4, 4)).astype(np.float32)
    codes = np.clip(np.rint(x / np.float32(S_X)) + Z_X, -128, 127)
    xf = ((codes - Z_X) * np.float32(S_X)).astype(np.float32)
    sm = lookup("Softmax", Mode.FLOAT, 17)([xf], {"axis": -1}, KernelContext("s", 17))[0]
    want = (np.clip(np.rint(sm * 256) - 128, -128, 127) + 128) / np.float32(256)
    assert np.allclose(run_integer(g, load("generic"), {"x": x})["y"], want)


def test_codes_are_keyed_by_the_quantized_float_tensor():
    g = conv_graph("Relu")
    x = RNG.normal(size=(1, 2, 4, 4)).astype(np.float32)
    codes = run_integer_codes(g, load("generic"), {"x": x})
    assert set(codes) == {"x", "r"} and codes["r"].int_name == "y_int" and codes["r"].codes.dtype == np.int8
    assert np.array_equal(codes["r"].dequantize(), run_integer(g, load("generic"), {"x": x})["y"])


def fixed_point_target() -> Target:
    d = load("generic").model_dump(mode="json")
    d["quantization"]["requantization"] |= {"mode": "fixed_point", "rounding": "half_away"}
    return Target.model_validate(d)


@pytest.mark.parametrize("target", [load("generic"), fixed_point_target()], ids=["float", "fixed_point"])
def test_fused_conv_add_relu_adds_the_residual_to_the_accumulator(target):
    nodes, inits = quantized_input()
    n1, i1 = q("r", "x2", 0.03, 5)
    n2, i2 = dq("r", "r_int", "r_f", 0.03, 5)
    w = RNG.integers(-127, 128, (2, 2, 3, 3)).astype(np.int8)
    nw, iw = dq("w", "w_int", "w_f", np.array([0.01, 0.02]), np.zeros(2, np.int8), axis=0)
    nodes += n1 + n2 + nw + [
        Node("conv", "Conv", ("x_f", "w_f"), ("c",), {"pads": (1, 1, 1, 1)}),
        Node("add", "Add", ("c", "r_f"), ("s",)),
        Node("relu", "Relu", ("s",), ("a",)),
    ]
    ny, iy = q("y", "a", S_Y, Z_Y)
    nd, idd = dq("y", "y_int", "y", S_Y, Z_Y)
    g = graph(nodes + ny + nd, inits | i1 | i2 | iw | iy | idd | {"w_int": w})
    g = g.replace(inputs=g.inputs + (TensorInfo("x2", (1, 2, 4, 4), "float32"),))
    assert [n.op_type for n in lower(g, target).nodes] == ["IntQuantize", "IntQuantize", "IntConv", "IntAdd", "IntDequantize"]
    x, x2 = RNG.normal(size=(2, 1, 2, 4, 4)).astype(np.float32)
    xc = np.clip(np.rint(x / np.float32(S_X)) + Z_X, -128, 127) - Z_X
    rc = np.clip(np.rint(x2 / np.float32(0.03)) + 5, -128, 127) - 5
    acc = sum(np.pad(xc, ((0, 0), (0, 0), (1, 1), (1, 1)))[:, None, ci, i : i + 4, j : j + 4] * w[None, :, ci, i, j, None, None].astype(np.int64)
              for ci in range(2) for i in range(3) for j in range(3))
    real = acc * (np.float64(np.float32(S_X)) * np.array([np.float32(0.01), np.float32(0.02)], np.float64))[None, :, None, None] + rc * np.float64(np.float32(0.03))
    want = np.clip(np.rint(real / np.float64(np.float32(S_Y))) + Z_Y, Z_Y, 127)
    got = np.rint(run_integer(g, target, {"x": x, "x2": x2})["y"] / np.float32(S_Y)) + Z_Y
    assert np.abs(got - want).max() <= 1 and np.mean(got == want) > 0.9


def test_a_host_op_without_quantize_after_it_leaves_a_float_graph_output():
    nodes, inits = quantized_input()
    g = graph(nodes + [Node("softmax", "Softmax", ("x_f",), ("y",), {"axis": -1})], inits)
    lowered = lower(g, load("generic"))
    assert [n.op_type for n in lowered.nodes] == ["IntQuantize", "HostFloat"] and "out0_scale" not in lowered.nodes[1].attrs
    y = run_integer(g, load("generic"), {"x": RNG.normal(size=(1, 2, 4, 4)).astype(np.float32)})["y"]
    assert y.dtype == np.float32 and np.allclose(y.sum(axis=-1), 1, atol=1e-5)


def test_a_fully_integer_model_has_no_host_nodes():
    assert host_nodes(lower(conv_graph("Relu"), load("generic"))) == []


def test_sigmoid_right_after_a_conv_runs_on_the_host_and_says_why():
    lowered = lower(conv_graph("Sigmoid"), load("generic"))  # no QuantizeLinear between Conv and Sigmoid
    assert [n.op_type for n in lowered.nodes] == ["IntQuantize", "IntConv", "HostFloat", "IntDequantize"]
    assert host_nodes(lowered) == [HostNode("act", "Sigmoid", "Sigmoid follows an unrequantized accumulator (no QuantizeLinear after 'conv')")]


def test_a_host_node_names_the_float_ops_setting():
    nodes, inits = quantized_input()
    g = graph(nodes + [Node("softmax", "Softmax", ("x_f",), ("y",), {"axis": -1})], inits)
    assert host_nodes(lower(g, load("generic"))) == [("softmax", "Softmax", "Softmax is in quantization.float_ops")]


def test_an_op_the_vector_unit_lacks_runs_on_the_host():
    nodes, inits = quantized_input()
    n1, i1 = q("y", "s", 1 / 256, -128)
    n2, i2 = dq("y", "y_int", "y", 1 / 256, -128)
    g = graph(nodes + [Node("sig", "Sigmoid", ("x_f",), ("s",))] + n1 + n2, inits | i1 | i2)
    assert host_nodes(lower(g, load("gemmini"))) == [("sig", "Sigmoid", "Sigmoid is not in compute.vector.ops")]


def test_an_op_without_an_integer_kernel_runs_on_the_host():
    nodes, inits = quantized_input()
    n, i = dq("w", "w_int", "w_f", 0.01, 0)
    ny, iy = q("y", "t", S_Y, Z_Y)
    nd, idd = dq("y", "y_int", "y", S_Y, Z_Y)
    nodes += n + [Node("deconv", "ConvTranspose", ("x_f", "w_f"), ("t",))] + ny + nd
    g = graph(nodes, inits | i | iy | idd | {"w_int": RNG.integers(-127, 128, (2, 3, 3, 3)).astype(np.int8)})
    assert host_nodes(lower(g, load("generic"))) == [("deconv", "ConvTranspose", "ConvTranspose has no integer kernel")]
