"""With SRAM and bandwidth unlimited, simulated conv/GEMM compute equals the closed-form systolic count."""
from __future__ import annotations

import pytest

from hwsim.sim import simulate
from test_sim_support import UNLIMITED, closed_form, conv_graph, gemm_graph, make_target

DATAFLOWS = ["output_stationary", "weight_stationary", "input_stationary"]
ARRAYS = [(8, 16), (16, 8), (5, 3)]


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("rows,cols", ARRAYS)
def test_conv_compute_cycles_equal_closed_form(dataflow, rows, cols):
    # 13x11 output pixels (M = 143), 37 filters, K = 3*3*7 = 63: nothing divides evenly.
    target = make_target(rows=rows, cols=cols, dataflow=dataflow, **UNLIMITED)
    layer = simulate(conv_graph(13, 11, 7, 37, 3, pad=1), target).report.layers[0]
    assert layer.compute_cycles == closed_form(dataflow, 143, 37, 63, rows, cols)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("rows,cols", ARRAYS)
def test_gemm_compute_cycles_equal_closed_form(dataflow, rows, cols):
    target = make_target(rows=rows, cols=cols, dataflow=dataflow, **UNLIMITED)
    layer = simulate(gemm_graph(37, 100, 53), target).report.layers[0]
    assert layer.compute_cycles == closed_form(dataflow, 37, 53, 100, rows, cols)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_unlimited_memory_adds_only_the_transfers(dataflow):
    # Each transfer takes one cycle at unlimited bandwidth: load weights, load input, store.
    target = make_target(rows=8, cols=16, dataflow=dataflow, **UNLIMITED)
    report = simulate(conv_graph(13, 11, 7, 37, 3, pad=1), target).report
    assert report.total_cycles == report.layers[0].compute_cycles + 3
    assert report.layers[0].tiles == 1


def test_strided_batched_conv_counts_batch_in_m():
    target = make_target(rows=8, cols=8, dataflow="output_stationary", **UNLIMITED)
    layer = simulate(conv_graph(15, 15, 3, 10, 3, stride=2, batch=2), target, batch=2).report.layers[0]
    assert (layer.gemm_m, layer.gemm_n, layer.gemm_k) == (2 * 7 * 7, 10, 27)
    assert layer.compute_cycles == closed_form("output_stationary", 98, 10, 27, 8, 8)


def test_depthwise_conv_on_the_array_is_one_gemm_per_channel():
    target = make_target(rows=8, cols=8, dataflow="weight_stationary", **UNLIMITED)
    layer = simulate(conv_graph(10, 10, 6, 6, 3, pad=1, group=6), target).report.layers[0]
    assert (layer.gemm_n, layer.gemm_k, layer.groups) == (1, 9, 6)
    assert layer.compute_cycles == 6 * closed_form("weight_stationary", 100, 1, 9, 8, 8)
    assert layer.mac_utilization < 0.1  # 9 of 64 PEs hold a weight, and each fold refills the array
