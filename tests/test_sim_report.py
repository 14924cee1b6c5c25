"""The report as data and the Chrome/Perfetto trace: stable field names, consistency, well-formedness."""
from __future__ import annotations

import json

import pytest

from hwsim.sim import LayerReport, SimReport, chrome_trace, simulate
from test_sim_support import Builder, make_target, qdq_conv_softmax_graph

SCRIPT_FIELDS = ["name", "op_type", "unit", "cycles", "compute_cycles", "stall_cycles", "dram_bytes_read",
                 "dram_bytes_written", "mac_utilization"]


@pytest.fixture(scope="module")
def target():
    return make_target(sram=64 << 10)


@pytest.fixture(scope="module")
def result(target):
    b = Builder((1, 8, 32, 32))
    y = b.op("Relu", "relu1", [b.conv("conv1", "x", 8, 16, 3, pad=1)])
    y = b.op("MaxPool", "pool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.op("Relu", "relu2", [b.conv("conv2", y, 16, 32, 3, pad=1)])
    y = b.op("Flatten", "flatten", [b.op("GlobalAveragePool", "gap", [y])], axis=1)
    b.op("Softmax", "softmax", [b.gemm("fc", y, 32, 10)], axis=1)
    return simulate(b.graph(), target)


def test_script_fields_are_present_and_described():
    for field in SCRIPT_FIELDS:
        assert field in LayerReport.model_fields and LayerReport.model_fields[field].description
    for field in ("total_cycles", "latency_ms", "layers", "peak_sram_bytes", "dram_bytes_read", "weight_bytes"):
        assert SimReport.model_fields[field].description
    for model in (LayerReport, SimReport):
        assert all(f.description for f in model.model_fields.values()), model.__name__


def test_layers_are_named_after_their_first_onnx_node(result):
    assert [layer.name for layer in result.report.layers] == ["conv1", "pool", "conv2", "gap", "fc", "softmax"]
    assert result.report.layers[0].nodes == ["conv1", "relu1"] and result.report.layers[0].fused


def test_layer_intervals_tile_the_timeline(result):
    layers = result.report.layers
    assert layers[0].start == 0 and layers[-1].end == result.report.total_cycles
    assert all(a.end == b.start for a, b in zip(layers, layers[1:]))
    assert all(layer.cycles == layer.compute_cycles + layer.stall_cycles for layer in layers)
    assert sum(layer.cycles for layer in layers) == result.report.total_cycles


def test_latency_is_cycles_at_the_clock(result, target):
    assert result.report.latency_ms == pytest.approx(result.report.total_cycles / (target.compute.clock_mhz * 1e3), rel=1e-5)


def test_totals_agree_with_layers(result):
    r = result.report
    assert r.dram_bytes_read == sum(layer.dram_bytes_read for layer in r.layers)
    assert r.dram_bytes_written == sum(layer.dram_bytes_written for layer in r.layers)
    assert r.weight_bytes == sum(layer.weight_bytes for layer in r.layers)
    assert 0 < r.peak_sram_bytes <= r.sram_size_bytes


def test_units_report_busy_time(result):
    busy = {u.unit: u for u in result.report.units}
    assert set(busy) == {"mac_array", "vector", "host", "dram"}
    macs = [layer for layer in result.report.layers if layer.unit == "mac_array"]
    assert busy["mac_array"].busy_cycles == sum(layer.compute_cycles for layer in macs)
    assert busy["host"].busy_cycles > 0  # Softmax
    assert all(0 <= layer.mac_utilization <= 1 for layer in result.report.layers)


def test_report_round_trips_through_json(result):
    text = result.report.model_dump_json()
    assert SimReport.model_validate_json(text) == result.report


def test_chrome_trace_is_well_formed(result, target):
    trace = chrome_trace(result.trace, target, result.program)
    json.dumps(trace)
    assert trace["displayTimeUnit"] in ("ns", "ms")
    events = trace["traceEvents"]
    for e in events:
        assert {"ph", "ts", "dur", "pid", "tid", "name"} <= set(e), e
    spans = [e for e in events if e["ph"] == "X"]
    assert {e["name"] for e in spans} >= {"conv1", "softmax"}
    names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert {"mac_array", "vector", "host", "dma_in", "dma_out"} <= names
    assert all(e["dur"] >= 0 for e in spans)


def test_chrome_trace_times_are_microseconds(result, target):
    spans = [e for e in chrome_trace(result.trace, target, result.program)["traceEvents"] if e["ph"] == "X"]
    end_us = max(e["ts"] + e["dur"] for e in spans)
    assert end_us == pytest.approx(result.report.latency_ms * 1e3, rel=1e-4)


def test_host_layer_reports_why():
    report = simulate(qdq_conv_softmax_graph(), make_target()).report
    softmax = report.layers[-1]
    assert softmax.unit == "host" and "float_ops" in softmax.reason and softmax.mac_utilization == 0.0


@pytest.mark.parametrize("builder,h", [("tiny_cnn", 32), ("mobilenet_v3_small", 64), ("resnet18", 64)])
def test_zoo_networks_simulate_end_to_end(builder, h):
    from quant import zoo
    from quant.onnx_import import import_model

    target = make_target()
    report = simulate(import_model(getattr(zoo, builder)(h=h)), target).report
    assert sum(layer.cycles for layer in report.layers) == report.total_cycles
    assert report.peak_sram_bytes <= target.memory.sram.size_bytes
    assert all(layer.compute_cycles > 0 for layer in report.layers)
    assert report.layers[0].dram_bytes_read >= 3 * h * h  # the int8 input image comes from DRAM
    assert max(level for _, level in report.sram_timeline) == report.peak_sram_bytes
    assert len(report.sram_timeline) <= 512


def test_sram_timeline_starts_empty_peaks_and_ends_empty(result):
    timeline = result.report.sram_timeline
    assert timeline[0][1] > 0 and timeline[-1][1] == 0
    assert [t for t, _ in timeline] == sorted({t for t, _ in timeline})  # one step per cycle, in time order
    assert max(level for _, level in timeline) == result.report.peak_sram_bytes


def test_a_long_sram_timeline_is_thinned_but_keeps_its_peak():
    from hwsim.sim.report import TIMELINE_POINTS, _timeline

    levels = [(t, (t * 7919) % 1000) for t in range(10_000)] + [(4321, 5000)]
    thinned = _timeline(levels, total=10_000)
    assert len(thinned) <= TIMELINE_POINTS and max(level for _, level in thinned) == 5000
