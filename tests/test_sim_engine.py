"""The simpy engine on hand-made programs: exact event logs, buffering, ordering, prefetch."""
from __future__ import annotations

import pytest

from hwsim.compiler.program import Layer, Program, Tile, Tiling, Unit
from hwsim.sim import SimulationError, build_report, run
from test_sim_support import make_target

# 1 byte per cycle, 10 cycles of latency: clock 1000 MHz, 1 GB/s at full efficiency, 10 ns.
TARGET = dict(clock_mhz=1000.0, bandwidth=1.0, efficiency=1.0, latency_ns=10.0, sram=4096)


def _layer(index: int, tiles: list[Tile], *, unit: Unit = Unit.MAC_ARRAY, depends_on=(), hold=0) -> Layer:
    return Layer(
        index=index, name=f"L{index}", op_type="Conv", unit=unit, nodes=(f"L{index}",), op_types=("Conv",), reason="test",
        gemm=None, groups=1, macs=0, elements=0, flops=0, input_tensors=(), inputs_on_chip=(), output_tensors=(),
        output_on_chip=False, input_bytes=0, weight_bytes=0, output_bytes=0, depends_on=tuple(depends_on),
        hold_bytes=hold, keep_bytes=0, frees=(),
        tiling=Tiling(1, 1, 1, "m_outer", hold > 0, len(tiles), 0, 0), tiles=tuple(tiles),
    )


def _program(*layers: Layer) -> Program:
    return Program("toy", "test", 1, layers)


TWO_TILES = _program(_layer(0, [Tile(0, 100, 50, 200, 40, 1000, sram_out_bytes=300), Tile(1, 0, 50, 200, 40, 1000, sram_out_bytes=300)]))


def _log(trace, blocks=("dma_in", "dma_out", "mac_array")):
    return [(e.t, e.block, e.phase, e.action, e.tile) for e in trace.events if e.block in blocks]


def test_two_tiles_double_buffered_exact_event_log():
    trace = run(TWO_TILES, make_target(**TARGET))
    assert _log(trace) == [
        (0, "dma_in", "begin", "load_weights", 0),
        (110, "dma_in", "end", "load_weights", 0),
        (110, "dma_in", "begin", "load_input", 0),
        (170, "dma_in", "end", "load_input", 0),
        (170, "dma_in", "begin", "load_input", 1),       # next tile loads while tile 0 computes
        (170, "mac_array", "begin", "compute", 0),
        (230, "dma_in", "end", "load_input", 1),
        (370, "mac_array", "end", "compute", 0),
        (370, "dma_out", "begin", "store", 0),
        (370, "mac_array", "begin", "compute", 1),       # no stall: its data is already in
        (420, "dma_out", "end", "store", 0),
        (570, "mac_array", "end", "compute", 1),
        (570, "dma_out", "begin", "store", 1),
        (620, "dma_out", "end", "store", 1),
    ]


def test_two_tiles_single_buffered_load_only_overlaps_the_previous_store():
    trace = run(TWO_TILES, make_target(double_buffered=False, **TARGET))
    assert _log(trace)[4:] == [
        (170, "mac_array", "begin", "compute", 0),
        (370, "mac_array", "end", "compute", 0),
        (370, "dma_out", "begin", "store", 0),
        (370, "dma_in", "begin", "load_input", 1),       # the one input buffer is free again
        (420, "dma_out", "end", "store", 0),
        (470, "dma_in", "end", "load_input", 1),         # its data waited for the store on the DRAM bus
        (470, "mac_array", "begin", "compute", 1),
        (670, "mac_array", "end", "compute", 1),
        (670, "dma_out", "begin", "store", 1),
        (720, "dma_out", "end", "store", 1),
    ]


def test_report_splits_layer_time_into_compute_and_stall():
    target = make_target(**TARGET)
    report = build_report(TWO_TILES, run(TWO_TILES, target), target)
    layer = report.layers[0]
    assert (report.total_cycles, layer.start, layer.end) == (620, 0, 620)
    assert (layer.compute_cycles, layer.stall_cycles) == (400, 220)
    assert (layer.dram_bytes_read, layer.dram_bytes_written) == (200, 80)


def test_sram_holds_two_tile_buffers_at_most():
    target = make_target(**TARGET)
    report = build_report(TWO_TILES, run(TWO_TILES, target), target)
    assert report.peak_sram_bytes == 2000


def test_next_layer_prefetches_weights_but_waits_for_its_producer_before_loading_input():
    program = _program(
        _layer(0, [Tile(0, 0, 10, 500, 100, 100)]),
        _layer(1, [Tile(0, 300, 100, 100, 10, 100)], depends_on=(0,)),
    )
    trace = run(program, make_target(**TARGET))
    events = {(e.layer, e.action, e.phase): e.t for e in trace.events if e.block.startswith("dma")}
    assert events[(1, "load_weights", "begin")] < events[(0, "store", "begin")]  # prefetch during layer 0
    assert events[(1, "load_input", "begin")] >= events[(0, "store", "end")]  # data dependency


def test_compute_is_issued_in_program_order_across_units():
    program = _program(
        _layer(0, [Tile(0, 0, 1000, 10, 0, 100)], unit=Unit.VECTOR),
        _layer(1, [Tile(0, 0, 0, 10, 0, 100)], unit=Unit.MAC_ARRAY),
    )
    trace = run(program, make_target(**TARGET))
    starts = [(e.layer, e.t) for e in trace.events if e.action == "compute" and e.phase == "begin"]
    assert starts == [(0, 1010), (1, 1020)]


def test_a_buffer_larger_than_the_sram_is_a_simulation_error():
    program = _program(_layer(0, [Tile(0, 0, 0, 1, 0, 10_000)]))
    with pytest.raises(SimulationError, match="size_bytes"):
        run(program, make_target(**TARGET))


def test_resident_weights_are_held_until_the_layer_computes_its_last_tile():
    program = _program(_layer(0, [Tile(0, 64, 0, 10, 0, 100), Tile(1, 0, 0, 10, 0, 100)], hold=64))
    trace = run(program, make_target(**TARGET))
    sram = [(e.t, e.phase, e.action, e.value) for e in trace.events if e.block == "sram" and e.action == "weights"]
    last_compute = max(e.t for e in trace.events if e.action == "compute")
    assert sram == [(0, "alloc", "weights", 64), (last_compute, "free", "weights", 64)]


def test_a_tile_returns_its_input_buffer_after_compute_and_its_output_buffer_after_store():
    trace = run(TWO_TILES, make_target(**TARGET))
    tile0 = [(e.t, e.phase, e.value) for e in trace.events if e.block == "sram" and e.tile == 0]
    assert tile0 == [(0, "alloc", 1000), (370, "free", 700), (420, "free", 300)]
