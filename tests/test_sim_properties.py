"""Properties a hardware architect expects of the simulator, written as specifications.

Array size, DRAM bandwidth, edge-case shapes and memories, trace sanity and determinism. What
``test_sim_memory.py`` already pins down is not repeated here: halving bandwidth on the 2048 x 2048
weight-stationary Gemm, halving bandwidth on the compute-bound conv (all dataflows) and the row sweep
of that conv at 4 GB/s.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwsim.errors import HwsimError
from hwsim.sim import simulate
from quant import zoo
from quant.ir import Graph
from quant.onnx_import import import_model
from test_sim_support import UNLIMITED, Builder, closed_form, conv_graph, make_target

DATAFLOWS = ("output_stationary", "weight_stationary", "input_stationary")
POWERS_OF_TWO = (4, 8, 16, 32, 64)
COMPUTE_BOUND = dict(h=58, w=58, cin=64, cout=64, k=3)  # ResNet layer1 conv: M 3136, N 64, K 576
HUGE = dict(m=1, k=4096, n=4096)  # 16 MiB of int8 weights, 64x the generic target's SRAM


def qdq_gemm_graph(m: int, k: int, n: int) -> Graph:
    """x -Q/DQ-> Gemm(int8 W, int32 b) -Q/DQ-> y: a quantized Gemm (int8 weights keep a 16 MiB model fast to build)."""
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z"),
        numpy_helper.from_array(np.ones((k, n), np.int8), "w_q"), numpy_helper.from_array(np.full(n, 0.01, np.float32), "sw"),
        numpy_helper.from_array(np.zeros(n, np.int8), "zw"), numpy_helper.from_array(np.zeros(n, np.int32), "b_q"),
        numpy_helper.from_array(np.full(n, 0.0002, np.float32), "sb"), numpy_helper.from_array(np.zeros(n, np.int32), "zb"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["x_q"], name="x_Q"),
        helper.make_node("DequantizeLinear", ["x_q", "s", "z"], ["x_dq"], name="x_DQ"),
        helper.make_node("DequantizeLinear", ["w_q", "sw", "zw"], ["w"], name="w_DQ", axis=1),
        helper.make_node("DequantizeLinear", ["b_q", "sb", "zb"], ["b"], name="b_DQ", axis=0),
        helper.make_node("Gemm", ["x_dq", "w", "b"], ["y"], name="fc"),
        helper.make_node("QuantizeLinear", ["y", "s", "z"], ["y_q"], name="y_Q"),
        helper.make_node("DequantizeLinear", ["y_q", "s", "z"], ["y_dq"], name="y_DQ"),
    ]
    g = helper.make_graph(nodes, "qdq_gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                          [helper.make_tensor_value_info("y_dq", TensorProto.FLOAT, [m, n])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return import_model(model)


def mixed_network() -> Graph:
    """Every kind of layer: fused conv, fused residual conv, pooling (vector), Gemm, Softmax (host)."""
    b = Builder((1, 8, 32, 32))
    y = b.op("Relu", "relu1", [b.conv("conv1", "x", 8, 16, 3, pad=1)])
    y = b.op("Relu", "relu2", [b.op("Add", "add", [b.conv("conv2", y, 16, 16, 3, pad=1), y])])
    y = b.op("MaxPool", "pool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.op("Relu", "relu3", [b.conv("conv3", y, 16, 32, 3, pad=1)])
    y = b.op("Flatten", "flatten", [b.op("GlobalAveragePool", "gap", [y])], axis=1)
    b.op("Softmax", "softmax", [b.gemm("fc", y, 32, 10)], axis=1)
    return b.graph()


@pytest.fixture(scope="module")
def compute_bound_conv():
    c = COMPUTE_BOUND
    return conv_graph(c["h"], c["w"], c["cin"], c["cout"], c["k"])


@pytest.fixture(scope="module")
def tiny_cnn():
    return import_model(zoo.tiny_cnn(h=32))


@pytest.fixture(scope="module")
def huge_gemm():
    return qdq_gemm_graph(**HUGE)


@pytest.fixture(scope="module")
def heavy_conv():
    """8x8x64 -> 64, 3x3: 37,120 bytes of weights and bias, nine times a 4 KiB SRAM."""
    return conv_graph(8, 8, 64, 64, 3, pad=1)


@pytest.fixture(scope="module")
def mixed():
    return mixed_network()


# ------------------------------------------------------------------------------------ array size
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("dim", ["rows", "cols"])
def test_doubling_rows_or_columns_never_slows_a_compute_bound_conv(compute_bound_conv, dim, dataflow):
    cycles = [simulate(compute_bound_conv, make_target(**{dim: r}, dataflow=dataflow, **UNLIMITED)).report.total_cycles
              for r in POWERS_OF_TWO]
    assert cycles == sorted(cycles, reverse=True)


def test_a_row_that_saves_no_fold_only_adds_its_fill(compute_bound_conv):
    """Why the sweeps double: 48 and 49 rows both need ceil(576 / r) = 12 row folds of K, and under
    weight stationary every fold (12 x 4 column folds) pays 2 more cycles of weight preload per row."""
    at = {r: simulate(compute_bound_conv, make_target(rows=r, **UNLIMITED)).report.layers[0] for r in (48, 49)}
    assert at[49].compute_cycles - at[48].compute_cycles == 12 * 4 * 2
    assert at[49].cycles > at[48].cycles


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_a_small_network_gets_faster_from_a_4x4_to_a_32x32_array(tiny_cnn, dataflow):
    cycles = [simulate(tiny_cnn, make_target(rows=r, cols=r, dataflow=dataflow)).report.total_cycles for r in (4, 8, 16, 32)]
    assert cycles == sorted(cycles, reverse=True)


def test_a_small_network_slows_on_a_64x64_array_by_fill_and_drain_alone(tiny_cnn):
    """tiny_cnn's GEMMs (K 27/72/16, N 8/16/10) barely fold on 32x32; on 64x64 the longer fill and
    drain of every fold outweigh the folds saved. The whole slowdown is the SCALE-Sim closed form."""
    runs = {r: simulate(tiny_cnn, make_target(rows=r, cols=r, **UNLIMITED)).report for r in (32, 64)}
    closed = {r: sum(closed_form("weight_stationary", L.gemm_m, L.gemm_n, L.gemm_k, r, r) * L.groups
                     for L in runs[r].layers if L.unit == "mac_array") for r in runs}
    growth = runs[64].total_cycles - runs[32].total_cycles
    assert growth > 0
    assert growth == closed[64] - closed[32]


# ------------------------------------------------------------------------------------- bandwidth
@pytest.mark.parametrize("dataflow", ["output_stationary", "input_stationary"])  # weight_stationary: test_sim_memory
def test_halving_bandwidth_nearly_doubles_a_huge_gemm(huge_gemm, dataflow):
    fast = simulate(huge_gemm, make_target(dataflow=dataflow, bandwidth=2.0)).report.total_cycles
    slow = simulate(huge_gemm, make_target(dataflow=dataflow, bandwidth=1.0)).report.total_cycles
    assert 1.8 < slow / fast <= 2.05


# ------------------------------------------------------------------------------------ edge cases
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_weights_larger_than_a_4k_sram_stream_in_with_more_dram_traffic(heavy_conv, dataflow):
    roomy = simulate(heavy_conv, make_target(dataflow=dataflow)).report
    tiny = simulate(heavy_conv, make_target(dataflow=dataflow, sram=4 << 10)).report
    layer = tiny.layers[0]
    assert not layer.weights_resident and tiny.peak_sram_bytes <= 4 << 10
    assert tiny.dram_bytes_read > roomy.dram_bytes_read >= layer.weight_bytes


def test_an_sram_too_small_for_any_tile_is_a_one_line_error_naming_layer_and_field(heavy_conv):
    with pytest.raises(HwsimError) as err:
        simulate(heavy_conv, make_target(dataflow="output_stationary", sram=256))
    message = str(err.value)
    assert "\n" not in message
    assert "'conv'" in message and "memory.sram.size_bytes=256" in message


def test_an_accumulator_memory_too_small_for_any_tile_names_accumulator_bytes(heavy_conv):
    """The accumulators of one 1 x 16 tile, double-buffered, need 2 x 16 x 4 = 128 bytes."""
    with pytest.raises(HwsimError, match=r"memory\.accumulator_bytes"):
        simulate(heavy_conv, make_target(accumulator_bytes=64))


def test_a_huge_gemm_reads_every_weight_once_and_waits_on_dram(huge_gemm):
    target = make_target()  # 256 KiB SRAM; 4 GB/s x 0.8 at 500 MHz = 6.4 bytes per cycle
    report = simulate(huge_gemm, target).report
    m, k, n = HUGE["m"], HUGE["k"], HUGE["n"]
    assert report.macs == m * k * n
    assert report.weight_bytes == k * n + 4 * n
    assert report.dram_bytes_read == report.weight_bytes + m * k
    assert report.total_cycles >= report.dram_bytes_read / 6.4
    assert report.peak_sram_bytes <= target.memory.sram.size_bytes


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_a_1x1_conv_is_a_gemm_over_pixels_costed_by_the_closed_form(dataflow):
    layer = simulate(conv_graph(14, 14, 32, 48, 1), make_target(dataflow=dataflow)).report.layers[0]
    assert (layer.gemm_m, layer.gemm_n, layer.gemm_k) == (14 * 14, 48, 32)
    assert layer.compute_cycles == closed_form(dataflow, 196, 48, 32, 16, 16)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_a_1x1_conv_with_roomy_sram_reads_its_input_and_weights_once(dataflow):
    layer = simulate(conv_graph(14, 14, 32, 48, 1), make_target(dataflow=dataflow)).report.layers[0]
    assert layer.dram_bytes_read == 14 * 14 * 32 + 48 * 32 + 48 * 4  # int8 input and weights, int32 bias


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_a_batch_of_one_with_a_1x1_output_is_a_single_row_gemm(dataflow):
    report = simulate(conv_graph(7, 7, 32, 64, 7), make_target(dataflow=dataflow)).report
    layer = report.layers[0]
    assert (layer.gemm_m, layer.gemm_n, layer.gemm_k) == (1, 64, 7 * 7 * 32)
    assert layer.compute_cycles == closed_form(dataflow, 1, 64, 7 * 7 * 32, 16, 16)
    assert layer.dram_bytes_written == 64  # one int8 per output channel
    assert 0 < layer.mac_utilization < 1


def test_a_network_run_entirely_on_the_host_leaves_the_accelerator_idle(mixed):
    everything = ["Conv", "Relu", "Add", "MaxPool", "GlobalAveragePool", "Gemm", "Softmax"]
    report = simulate(mixed, make_target(float_ops=everything)).report
    assert {layer.unit for layer in report.layers} == {"host"}
    busy = {u.unit: u.busy_cycles for u in report.units}
    assert busy["mac_array"] == busy["vector"] == 0 and busy["host"] > 0
    assert report.macs == 0 and report.mac_utilization == 0.0
    assert all(layer.dram_bytes_written > 0 and not layer.output_on_chip for layer in report.layers)
    assert sum(layer.cycles for layer in report.layers) == report.total_cycles


# ------------------------------------------------------------------------------------ trace sanity
SANITY = [(df, sram, db) for df in DATAFLOWS for sram, db in ((16 << 10, False), (256 << 10, True))]


@pytest.fixture(scope="module", params=SANITY, ids=[f"{df[:2]}-{sram >> 10}k-{'db' if db else 'sb'}" for df, sram, db in SANITY])
def run(request, mixed):
    df, sram, db = request.param
    return simulate(mixed, make_target(dataflow=df, sram=sram, double_buffered=db))


def test_spans_on_one_block_never_overlap(run):
    spans = defaultdict(list)
    for s in run.trace.spans():
        spans[s.block].append(s)
    assert {"dma_in", "dma_out", "mac_array", "vector", "host"} <= set(spans)
    for block, ss in spans.items():
        ss.sort(key=lambda s: (s.start, s.end))
        assert all(s.start <= s.end for s in ss), block
        assert all(a.end <= b.start for a, b in zip(ss, ss[1:])), block


def test_every_layer_ends_at_or_after_it_starts(run):
    assert all(layer.end >= layer.start for layer in run.report.layers)


def test_total_cycles_is_the_latest_layer_end(run):
    assert run.report.total_cycles == max(layer.end for layer in run.report.layers)


def test_a_layer_computes_within_its_interval(run):
    """compute <= cycles, so the stall is a true difference (its max(0, ...) clamp never engages)."""
    for layer in run.report.layers:
        assert 0 < layer.compute_cycles <= layer.cycles, layer.name
        assert layer.stall_cycles == layer.cycles - layer.compute_cycles >= 0, layer.name


def test_mac_utilization_is_a_fraction(run):
    report = run.report
    assert 0 < report.mac_utilization <= 1
    for layer in report.layers:
        assert (0 < layer.mac_utilization <= 1) if layer.unit == "mac_array" else layer.mac_utilization == 0, layer.name


def test_every_layer_reads_at_least_its_weights_from_dram(run):
    """No weights are on chip before their layer starts, so each layer loads all of its own."""
    layers = run.report.layers
    assert sum(layer.weight_bytes > 0 for layer in layers) == 4  # conv1, conv2, conv3, fc
    assert all(layer.dram_bytes_read >= layer.weight_bytes for layer in layers)


# ----------------------------------------------------------------------------------- determinism
def test_simulating_twice_gives_identical_reports(mixed):
    target = make_target(sram=16 << 10)
    assert simulate(mixed, target).report == simulate(mixed, target).report


def test_simulating_twice_gives_identical_traces(mixed):
    target = make_target(sram=16 << 10)
    assert simulate(mixed, target).trace.events == simulate(mixed, target).trace.events


def test_a_batch_for_a_model_whose_batch_is_fixed_is_refused():
    with pytest.raises(HwsimError, match="batch dimension is fixed at 1"):
        simulate(conv_graph(14, 14, 32, 48, 1), make_target(), batch=3)


def test_a_fixed_batch_is_the_batch_the_report_states():
    assert simulate(conv_graph(8, 8, 4, 4, 3, pad=1, batch=4), make_target()).report.batch == 4
