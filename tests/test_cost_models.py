"""Cost models: systolic closed forms per dataflow, vector, DMA and host costs."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.cost import MAPPINGS, Dataflow, GemmShape, dma_cost, host_cost, systolic_cost, systolic_cycles, vector_cost
from hwsim.target.compute import Host
from hwsim.target.memory import Dram
from test_sim_support import closed_form

UNEVEN = [(35, 37, 45, 8, 16), (49, 20, 40, 8, 16), (1, 1, 1, 4, 4), (169, 37, 63, 16, 8), (7, 300, 5, 5, 3)]


def test_every_dataflow_is_registered():
    assert set(MAPPINGS) == set(Dataflow)


@pytest.mark.parametrize("dataflow", list(Dataflow))
@pytest.mark.parametrize("m,n,k,r,c", UNEVEN)
def test_systolic_cycles_follow_the_closed_form(dataflow, m, n, k, r, c):
    cost = systolic_cost(GemmShape(m, n, k), r, c, dataflow)
    assert cost.cycles == closed_form(dataflow.value, m, n, k, r, c)
    assert systolic_cycles(m, n, k, r, c, dataflow) == cost.cycles


def test_scalesim_counts_one_cycle_less():
    # SCALE-Sim 3.0.0 on an 8x16 array, M=35 N=37 K=45: os 1004, ws 1169, is 1205 (run with tools/scalesim_run.py).
    got = {df.short: systolic_cost(GemmShape(35, 37, 45), 8, 16, df).scalesim_cycles for df in Dataflow}
    assert got == {"os": 1004, "ws": 1169, "is": 1205}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 500), st.integers(1, 500), st.integers(1, 500), st.integers(1, 64), st.integers(1, 64),
       st.sampled_from(list(Dataflow)))
def test_utilization_never_exceeds_one(m, n, k, r, c, dataflow):
    cost = systolic_cost(GemmShape(m, n, k), r, c, dataflow)
    assert 0 < cost.utilization <= 1
    assert 0 < cost.mapping_efficiency <= 1


def test_depthwise_gemm_uses_a_sliver_of_the_array():
    # One channel of a 3x3 depthwise conv on 56x56 outputs: N = 1, K = 9.
    cost = systolic_cost(GemmShape(56 * 56, 1, 9), 32, 32, Dataflow.WEIGHT_STATIONARY)
    assert cost.utilization < 0.01


def test_gemm_shape_rejects_empty_dims():
    with pytest.raises(ValueError, match="positive"):
        GemmShape(0, 1, 1)


def test_vector_cost_is_ceil_elements_over_lanes_plus_latency():
    assert vector_cost(100, 16, 8).cycles == 7 + 8
    assert vector_cost(0, 16, 8).cycles == 8


def test_dma_cost_is_latency_plus_bytes_over_sustained_bandwidth():
    dram = Dram(bandwidth_gb_per_s=4.0, latency_ns=100.0, efficiency=0.8)  # 6.4 B/cycle at 500 MHz
    cost = dma_cost(6400, dram, 500.0)
    assert (cost.latency_cycles, cost.transfer_cycles, cost.cycles) == (50, 1000, 1050)
    assert dma_cost(0, dram, 500.0).cycles == 0


def test_host_cost_is_flops_over_gflops_plus_overhead():
    cost = host_cost(10_000_000, Host(gflops=10.0, call_overhead_us=5.0), 1000.0)  # 1 ms of work at 1 GHz
    assert (cost.compute_cycles, cost.overhead_cycles) == (1_000_000, 5000)
