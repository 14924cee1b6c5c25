"""check_constraints on hand-built QDQ graphs: one rule per test, every violation listed."""
from __future__ import annotations

import numpy as np

from hwsim.exec import check_constraints
from hwsim.target import load
from quant.constraints import QuantConstraints, Requantization, TensorRule
from quant.ir import Graph, Node, TensorInfo

BASE = QuantConstraints()  # signed 8-bit, weights symmetric per-channel narrow, float scales


def qdq(name: str, src: str, s, z, dtype=np.int8, axis=None) -> tuple[list[Node], dict]:
    """QuantizeLinear (unless src is a constant) + DequantizeLinear producing f'{name}_f'."""
    attrs = {} if axis is None else {"axis": axis}
    inits = {f"{name}_s": np.asarray(s, np.float32), f"{name}_z": np.asarray(z, dtype)}
    nodes = []
    if not src.endswith("_int"):
        nodes.append(Node(f"{name}_q", "QuantizeLinear", (src, f"{name}_s", f"{name}_z"), (f"{name}_int",), attrs))
    nodes.append(Node(f"{name}_dq", "DequantizeLinear", (f"{name}_int", f"{name}_s", f"{name}_z"), (f"{name}_f",), attrs))
    return nodes, inits


def conv_graph(x=(0.5, 0, np.int8), w_scale=(0.25, 0.125), w_values=None, bias_scale=None, y=(1.0, 0, np.int8),
               bias_dtype=np.int32, bias=(10, -20)):
    nx, ix = qdq("x", "x", *x)
    w = np.array([[[[3]], [[-4]]], [[[5]], [[6]]]], np.int8) if w_values is None else w_values
    nw, iw = qdq("w", "w_int", np.asarray(w_scale), np.zeros(np.shape(w_scale), np.int8), axis=0 if np.size(w_scale) > 1 else None)
    sb = np.float32(x[0]) * np.asarray(w_scale, np.float32) if bias_scale is None else bias_scale
    nb, ib = qdq("b", "b_int", sb, np.zeros(np.shape(sb), np.int32), np.int32, axis=0 if np.size(sb) > 1 else None)
    conv = Node("conv1", "Conv", ("x_f", "w_f", "b_f"), ("c",))
    ny, iy = qdq("y", "c", *y)
    inits = ix | iw | ib | iy | {"w_int": w, "b_int": np.array(bias, bias_dtype)}
    return Graph((*nx, *nw, *nb, conv, *ny), (TensorInfo("x", (1, 2, 1, 1), "float32"),), (TensorInfo("y_f", (), "float32"),), inits)


def rules(violations) -> list[tuple[str, str, str]]:
    return [(v.node, v.tensor, v.rule) for v in violations]


def test_a_conforming_model_has_no_violations():
    assert check_constraints(conv_graph(), BASE) == []


def test_power_of_two_target_lists_every_scale_that_is_not_one():
    c = BASE.model_copy(update={"activations": TensorRule(symmetric=False, scale="power_of_two"), "weights": TensorRule(granularity="per_channel", scale="power_of_two")})
    v = check_constraints(conv_graph(x=(0.3, 0, np.int8), w_scale=(0.25, 0.2), y=(0.7, 0, np.int8)), c)
    assert rules(v) == [("x_q", "x", "activations.scale"), ("conv1", "w_int", "weights.scale"), ("conv1", "c", "activations.scale")]
    assert v[0].message == "scale 0.3 is not a power of two" and "(1 of 2 channels)" in v[1].message


def test_zero_point_on_a_symmetric_activation_is_reported():
    c = BASE.model_copy(update={"activations": TensorRule(symmetric=True)})
    v = check_constraints(conv_graph(x=(0.5, 3, np.int8)), c)
    assert rules(v) == [("x_q", "x", "activations.symmetric")] and v[0].message == "zero point 3 on a symmetric tensor"


def test_int16_activations_exceed_an_8_bit_target():
    v = check_constraints(conv_graph(x=(0.5, 0, np.int16)), BASE)
    assert rules(v) == [("x_q", "x", "activations.bits")] and "int16" in v[0].message


def test_unsigned_activations_on_a_signed_target():
    v = check_constraints(conv_graph(y=(1.0, 0, np.uint8)), BASE)
    assert rules(v) == [("conv1", "c", "activations.signedness")]


def test_per_tensor_weights_run_on_a_per_channel_target():
    assert check_constraints(conv_graph(w_scale=0.25), BASE) == []


def test_per_channel_weights_on_a_per_tensor_target_are_a_violation():
    c = BASE.model_copy(update={"weights": TensorRule(granularity="per_tensor", narrow_range=True)})
    assert rules(check_constraints(conv_graph(), c)) == [("conv1", "w_int", "weights.granularity")]


def test_weights_using_minus_128_break_the_narrow_range():
    w = np.array([[[[-128]], [[1]]], [[[2]], [[3]]]], np.int8)
    assert rules(check_constraints(conv_graph(w_values=w), BASE)) == [("conv1", "w_int", "weights.narrow_range")]


def test_four_bit_weights_must_fit_four_bits():
    c = BASE.model_copy(update={"weights": TensorRule(bits=4, granularity="per_channel")})
    v = check_constraints(conv_graph(w_values=np.array([[[[3]], [[-4]]], [[[9]], [[6]]]], np.int8)), c)
    assert rules(v) == [("conv1", "w_int", "weights.bits")] and "[-4, 9]" in v[0].message


def test_bias_scale_must_be_input_times_weight_scale():
    v = check_constraints(conv_graph(bias_scale=np.array([0.2, 0.0625], np.float32)), BASE)
    assert rules(v) == [("conv1", "b_int", "bias_bits")] and v[0].message.startswith("bias scale 0.2 != S_in * S_w = 0.125")


def test_int32_bias_whose_values_fit_passes_a_16_bit_bias_target():
    tda4vm = load("tda4vm").quantization  # bias_bits 16; ONNX stores every bias as int32
    assert tda4vm.bias_bits == 16 and check_constraints(conv_graph(w_scale=0.25, bias=(32767, -32768)), tda4vm) == []


def test_bias_value_outside_a_16_bit_bias_is_reported_naming_node_and_tensor():
    v = check_constraints(conv_graph(w_scale=0.25, bias=(10, 40000)), load("tda4vm").quantization)
    assert rules(v) == [("conv1", "b_int", "bias_bits")]
    assert v[0].message == "bias values [10, 40000] exceed the target's 16-bit range [-32768, 32767]"


def test_shift_requantization_needs_a_power_of_two_multiplier_in_range():
    pow2 = TensorRule(scale="power_of_two")
    c = QuantConstraints(activations=pow2, weights=pow2, requantization=Requantization(mode="shift", shift_max=2))
    v = check_constraints(conv_graph(w_scale=0.25, y=(1 / 64, 0, np.int8)), c)  # 0.5 * 0.25 / 2^-6 = 8: left shift 3
    assert rules(v) == [("conv1", "c", "requantization.shift_max")]


def test_shared_scale_op_with_two_grids_names_the_input():
    nx, ix = qdq("x", "x", 0.5, 0)
    ny, iy = qdq("y", "p", 0.25, 1)
    pool = Node("pool", "MaxPool", ("x_f",), ("p",), {"kernel_shape": (2, 2)})
    g = Graph((*nx, pool, *ny), (TensorInfo("x", (1, 1, 2, 2), "float32"),), (TensorInfo("y_f", (), "float32"),), ix | iy)
    v = check_constraints(g, BASE)
    assert rules(v) == [("pool", "x_int", "shared_scale_ops")] and "MaxPool must keep one grid" in v[0].message


def test_add_inputs_whose_exponents_differ_too_much():
    pow2 = TensorRule(scale="power_of_two")
    c = QuantConstraints(activations=pow2, weights=pow2, add_max_shift_diff_bits=2)
    na, ia = qdq("a", "a", 2.0**-2, 0)
    nb, ib = qdq("b", "b", 2.0**-7, 0)
    add = Node("add1", "Add", ("a_f", "b_f"), ("s",))
    ny, iy = qdq("y", "s", 2.0**-3, 0)
    ins = tuple(TensorInfo(n, (4,), "float32") for n in "ab")
    v = check_constraints(Graph((*na, *nb, add, *ny), ins, (TensorInfo("y_f", (), "float32"),), ia | ib | iy), c)
    assert rules(v) == [("add1", "s", "add_max_shift_diff_bits")] and "differ by 5 bits" in v[0].message


ASYMMETRIC_U8 = TensorRule(signedness="unsigned", symmetric=False)  # activations: uint8 with zero points


def elementwise_graph(op: str, k_codes, k_zero_point, k_dtype=np.uint8, constant_first=False):
    """x (uint8, zero point 7) -> op with a quantized constant k -> y."""
    nx, ix = qdq("x", "x", 0.5, 7, np.uint8)
    nk, ik = qdq("k", "k_int", 0.25, k_zero_point, k_dtype)
    ins = ("k_f", "x_f") if constant_first else ("x_f", "k_f")
    node = Node("op1", op, ins, ("o",), {"axis": 0} if op == "Concat" else {})
    ny, iy = qdq("y", "o", 0.5, 7, np.uint8)
    inits = ix | ik | iy | {"k_int": np.asarray(k_codes, k_dtype)}
    return Graph((*nx, *nk, node, *ny), (TensorInfo("x", (2, 2), "float32"),), (TensorInfo("y_f", (), "float32"),), inits)


def test_an_add_constant_follows_the_activations_rule_not_the_weights_rule():
    c = BASE.model_copy(update={"activations": ASYMMETRIC_U8})  # weights stay signed and symmetric
    assert check_constraints(elementwise_graph("Add", [[1, 200], [3, 4]], 65), c) == []


def test_a_constant_breaking_the_activations_rule_names_the_node_reading_it():
    c = BASE.model_copy(update={"activations": ASYMMETRIC_U8})
    v = check_constraints(elementwise_graph("Mul", 3, 0, np.int8), c)
    assert rules(v) == [("op1", "k_int", "activations.signedness")] and v[0].message.startswith("int8 activations")


def test_the_constant_first_operand_of_w_at_x_follows_the_activations_rule_as_quant_sites_does():
    c = BASE.model_copy(update={"activations": ASYMMETRIC_U8})
    assert check_constraints(elementwise_graph("MatMul", [[1, 200], [3, 4]], 65, constant_first=True), c) == []


def test_a_concat_constant_on_its_own_grid_is_not_a_shared_scale_violation():
    c = BASE.model_copy(update={"activations": ASYMMETRIC_U8, "shared_scale_ops": ["Concat"]})
    assert check_constraints(elementwise_graph("Concat", [[1, 200]], 65), c) == []
