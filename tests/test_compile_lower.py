"""Lowering: which unit runs what, fusion, Q/DQ handling, byte sizes, on-chip reuse."""
from __future__ import annotations

import pytest

from hwsim.compiler import CompileError, Unit, compile
from test_sim_support import Builder, conv_graph, make_target, qdq_conv_softmax_graph


def _layers(graph, target=None):
    return {layer.name: layer for layer in compile(graph, target or make_target()).layers}


def test_qdq_nodes_are_not_layers_and_a_dq_op_q_group_is_one_integer_layer():
    layers = _layers(qdq_conv_softmax_graph())
    assert list(layers) == ["conv", "softmax"]
    assert layers["conv"].unit is Unit.MAC_ARRAY and layers["conv"].nodes == ("conv", "relu")


def test_tensor_bytes_follow_the_quantized_element_type():
    conv = _layers(qdq_conv_softmax_graph())["conv"]
    assert conv.input_bytes == 4 * 10 * 10  # uint8 input (zero point dtype)
    assert conv.weight_bytes == 8 * 4 * 3 * 3 + 8 * 4  # int8 weights, int32 bias
    assert conv.output_bytes == 8 * 10 * 10  # int8 output


def test_float_ops_run_on_the_host_reading_and_writing_dram():
    layers = _layers(qdq_conv_softmax_graph())
    softmax = layers["softmax"]
    assert softmax.unit is Unit.HOST and "float_ops" in softmax.reason
    assert not layers["conv"].output_on_chip  # the host reads from DRAM
    assert softmax.dram_bytes_read == 800 and softmax.dram_bytes_written == 800 * 4


def test_an_op_the_quantization_left_float_runs_on_the_host():
    conv = _layers(qdq_conv_softmax_graph(float_weight=True))["conv"]
    assert conv.unit is Unit.HOST and "left float" in conv.reason


def test_float_graph_is_costed_as_if_quantized():
    conv = _layers(conv_graph(10, 10, 4, 8, 3, pad=1))["conv"]
    assert (conv.input_bytes, conv.weight_bytes, conv.output_bytes) == (400, 288 + 32, 800)


def test_conv_bn_relu_is_one_layer_named_after_the_conv():
    b = Builder((1, 8, 12, 12))
    b.op("Relu", "relu", [b.bn("bn", b.conv("conv", "x", 8, 8, 3, pad=1), 8)])
    layers = _layers(b.graph())
    assert list(layers) == ["conv"] and layers["conv"].nodes == ("conv", "bn", "relu")


def test_batchnorm_folds_into_conv_even_without_a_pattern():
    b = Builder((1, 8, 12, 12))
    b.op("Relu", "relu", [b.bn("bn", b.conv("conv", "x", 8, 8, 3, pad=1), 8)])
    layers = _layers(b.graph(), make_target(patterns=[]))
    assert layers["conv"].nodes == ("conv", "bn") and layers["relu"].unit is Unit.VECTOR


def test_fused_residual_add_runs_where_its_other_input_exists():
    b = Builder((1, 8, 12, 12))
    a = b.conv("a", "x", 8, 8, 3, pad=1)
    c = b.conv("c", "x", 8, 8, 1)
    b.op("Relu", "relu", [b.op("Add", "add", [a, c])])
    program = compile(b.graph(), make_target())
    assert [layer.name for layer in program.layers] == ["c", "a"]
    fused = program.layers[1]
    assert fused.nodes == ("a", "add", "relu") and fused.depends_on == (0,)
    assert "c" in fused.input_tensors


def test_reshape_and_flatten_cost_nothing():
    b = Builder((1, 8, 4, 4))
    y = b.op("Flatten", "flatten", [b.conv("conv", "x", 8, 8, 1)], axis=1)
    b.gemm("fc", y, 128, 10)
    assert [layer.name for layer in compile(b.graph(), make_target()).layers] == ["conv", "fc"]


def test_pooling_and_elementwise_run_on_the_vector_unit():
    b = Builder((1, 8, 12, 12))
    y = b.op("MaxPool", "pool", ["x"], kernel_shape=[2, 2], strides=[2, 2])
    b.op("Sigmoid", "sig", [y])
    layers = _layers(b.graph())
    assert layers["pool"].unit is Unit.VECTOR and layers["sig"].unit is Unit.VECTOR
    assert layers["pool"].elements == 8 * 6 * 6 * 4  # window size per output


def test_an_op_the_vector_unit_lacks_goes_to_the_host():
    b = Builder((1, 8, 12, 12))
    b.op("Sigmoid", "sig", ["x"])
    sig = _layers(b.graph(), make_target(vector_ops=["Add", "Relu", "MaxPool"]))["sig"]
    assert sig.unit is Unit.HOST and "vector.ops" in sig.reason


@pytest.mark.parametrize("where,unit", [("mac_array", Unit.MAC_ARRAY), ("vector", Unit.VECTOR)])
def test_depthwise_runs_where_the_target_says(where, unit):
    dw = _layers(conv_graph(12, 12, 16, 16, 3, pad=1, group=16), make_target(depthwise_unit=where))["conv"]
    assert dw.unit is unit and dw.groups == 16


def test_depthwise_on_the_vector_unit_costs_one_mac_per_lane_per_cycle():
    target = make_target(depthwise_unit="vector", lanes=16)
    dw = _layers(conv_graph(12, 12, 16, 16, 3, pad=1, group=16), target)["conv"]
    elements = 12 * 12 * 16 * 9
    assert dw.elements == elements
    assert dw.compute_cycles >= elements // 16


def test_every_tile_fits_the_sram():
    target = make_target(sram=48 << 10)
    for layer in compile(conv_graph(56, 56, 64, 64, 3, pad=1), target).layers:
        assert layer.tiling.working_set_bytes <= 48 << 10
        assert len(layer.tiles) == layer.tiling.count > 1


def test_weights_are_read_once_when_they_fit():
    # 112x112 outputs x 32 channels of int32 accumulators cannot all be live: the pixels are cut.
    layer = compile(conv_graph(112, 112, 16, 32, 3, pad=1), make_target()).layers[0]
    assert len(layer.tiles) > 1
    assert sum(t.load_weight_bytes for t in layer.tiles) == layer.weight_bytes


def test_sram_too_small_for_any_tile_is_a_compile_error():
    with pytest.raises(CompileError, match="SRAM"):
        compile(conv_graph(8, 8, 4, 4, 3), make_target(sram=16))


def test_batch_multiplies_m():
    one = compile(conv_graph(8, 8, 4, 4, 3, pad=1), make_target()).layers[0]
    four = compile(conv_graph(8, 8, 4, 4, 3, pad=1, batch=4), make_target(), batch=4).layers[0]
    assert four.gemm.m == 4 * one.gemm.m
