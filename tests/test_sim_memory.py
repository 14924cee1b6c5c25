"""Memory matters as on silicon: bandwidth-bound vs compute-bound layers, SRAM size, array size."""
from __future__ import annotations

import pytest

from hwsim.sim import simulate
from test_sim_support import Builder, conv_graph, gemm_graph, make_target

WEIGHT_HEAVY = dict(m=1, k=2048, n=2048)  # 4 MiB of int8 weights, one row of activations
COMPUTE_BOUND = dict(h=58, w=58, cin=64, cout=64, k=3)  # ResNet layer1 conv: 3136 x 64 x 576


@pytest.fixture(scope="module")
def weight_heavy():
    return gemm_graph(**WEIGHT_HEAVY)


@pytest.fixture(scope="module")
def compute_bound():
    c = COMPUTE_BOUND
    return conv_graph(c["h"], c["w"], c["cin"], c["cout"], c["k"])


def test_halving_bandwidth_nearly_doubles_a_weight_heavy_gemm(weight_heavy):
    fast = simulate(weight_heavy, make_target(bandwidth=2.0)).report.total_cycles
    slow = simulate(weight_heavy, make_target(bandwidth=1.0)).report.total_cycles
    assert 1.85 < slow / fast <= 2.05


def test_a_weight_heavy_gemm_is_all_stall(weight_heavy):
    layer = simulate(weight_heavy, make_target(bandwidth=1.0)).report.layers[0]
    assert layer.stall_cycles > layer.compute_cycles


@pytest.mark.parametrize("dataflow", ["output_stationary", "weight_stationary", "input_stationary"])
def test_halving_bandwidth_barely_moves_a_compute_bound_conv(compute_bound, dataflow):
    fast = simulate(compute_bound, make_target(dataflow=dataflow, bandwidth=4.0)).report.total_cycles
    slow = simulate(compute_bound, make_target(dataflow=dataflow, bandwidth=2.0)).report.total_cycles
    assert slow / fast < 1.1


def test_shrinking_sram_below_the_working_set_adds_dram_traffic():
    graph = gemm_graph(64, 1024, 1024)  # A 64 KiB, W 1 MiB, Y 64 KiB (int8)
    one_pass = 64 * 1024 + 1024 * 1024 + 1024 * 4  # activations, weights and int32 bias read once
    reads = []
    for sram in (4 << 20, 96 << 10, 32 << 10):
        report = simulate(graph, make_target(sram=sram)).report
        assert report.peak_sram_bytes <= sram
        reads.append(report.dram_bytes_read)
    assert reads[0] == one_pass
    assert reads[0] < reads[1] < reads[2]


@pytest.mark.parametrize("dataflow", ["output_stationary", "weight_stationary", "input_stationary"])
def test_more_mac_rows_never_slow_a_compute_bound_conv(compute_bound, dataflow):
    cycles = [simulate(compute_bound, make_target(rows=r, dataflow=dataflow)).report.total_cycles for r in (4, 8, 16, 32, 64)]
    assert cycles == sorted(cycles, reverse=True)


def _two_convs():
    b = Builder((1, 16, 16, 16))
    b.conv("c2", b.conv("c1", "x", 16, 16, 3, pad=1), 16, 16, 3, pad=1)
    return b.graph()


def test_output_kept_on_chip_skips_the_dram_round_trip():
    report = simulate(_two_convs(), make_target(sram=1 << 20)).report
    c1, c2 = report.layers
    assert c1.output_on_chip and c2.input_on_chip
    assert c1.dram_bytes_written == 0
    assert c2.dram_bytes_read == 16 * 16 * 9 + 16 * 4  # weights and bias only
    assert (report.outputs_kept_on_chip, report.bytes_kept_on_chip) == (1, 16 * 16 * 16)


def test_output_goes_through_dram_when_sram_cannot_hold_it():
    report = simulate(_two_convs(), make_target(sram=8 << 10)).report  # the 4 KiB output leaves too little room
    c1, c2 = report.layers
    assert not c1.output_on_chip and c1.dram_bytes_written == 16 * 16 * 16
    assert c2.dram_bytes_read >= 16 * 16 * 16
