"""The simulation report as data: pydantic models built by a pure function of trace + program + target.

How a layer's time is attributed: compute is one in-order stream, so the timeline splits into
consecutive per-layer intervals. A layer's interval opens when the previous layer's last tile
finishes computing (``start``) and closes when its own last tile finishes computing (``end``; for
the last layer, when its last store lands). Inside it the layer's unit computes for
``compute_cycles``; the rest, ``stall_cycles``, is time the command stream waited on memory (a tile's
load, a free buffer, or a producer's store). ``cycles = end - start = compute_cycles + stall_cycles``,
and the layers' cycles add up to ``total_cycles``. DMA of a layer may run before its ``start``
(prefetch) and after its ``end`` (the last store, overlapping the next layer).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hwsim.compiler.program import Program, Unit
from hwsim.cost.dma import dram_bytes_per_cycle
from hwsim.sim.trace import Trace
from hwsim.target import Target

SCHEMA_VERSION = 1
TIMELINE_POINTS = 512  # enough to draw; few enough that report.json stays small


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _f(x: float) -> float:
    return round(float(x), 6)


class LayerReport(_Model):
    """One hardware layer (a fused group of ONNX nodes)."""

    name: Annotated[str, Field(description="ONNX node name of the layer's op, or of the first op of a fused group.")]
    op_type: Annotated[str, Field(description="ONNX op type of that node.")]
    unit: Annotated[str, Field(description="Block that computes it: mac_array, vector or host.")]
    reason: Annotated[str, Field(description="Why it runs on that unit (e.g. 'Softmax is in quantization.float_ops').")]
    nodes: Annotated[list[str], Field(description="ONNX node names fused into this layer, in data-flow order.")]
    fused: Annotated[bool, Field(description="More than one ONNX node runs as this layer.")]
    start: Annotated[int, Field(description="Cycle the layer's interval opens: the previous layer's last compute ends.")]
    end: Annotated[int, Field(description="Cycle the layer's last tile finishes computing (last store, for the final layer).")]
    cycles: Annotated[int, Field(description="end - start = compute_cycles + stall_cycles.")]
    compute_cycles: Annotated[int, Field(description="Cycles the unit spent computing this layer's tiles.")]
    stall_cycles: Annotated[int, Field(description="Cycles of the layer's interval the unit waited on memory (loads, buffers, producers' stores).")]
    macs: Annotated[int, Field(description="Useful multiply-accumulates (0 for vector and host layers).")]
    mac_utilization: Annotated[float, Field(description="macs / (rows * cols * cycles): useful fraction of the MAC array over the layer's interval.")]
    dram_bytes_read: Annotated[int, Field(description="Bytes the layer's tiles read from DRAM (weights and activations, halos re-read).")]
    dram_bytes_written: Annotated[int, Field(description="Bytes the layer's tiles wrote to DRAM (0 when its output stays on chip).")]
    weight_bytes: Annotated[int, Field(description="Bytes of the layer's weights and bias as stored (int8 weights, int32 bias).")]
    input_on_chip: Annotated[bool, Field(description="At least one activation input was read from SRAM, kept there by its producer.")]
    output_on_chip: Annotated[bool, Field(description="The output stayed in SRAM for its consumers (no DRAM round trip).")]
    weights_resident: Annotated[bool, Field(description="Weights were loaded once and held in SRAM for the whole layer.")]
    tiles: Annotated[int, Field(description="Number of tiles the layer was cut into.")]
    sram_bytes: Annotated[int, Field(description="Planned SRAM working set of the layer (buffers, times 2 when double-buffered, plus resident weights).")]
    gemm_m: Annotated[int | None, Field(description="GEMM rows (output pixels x batch) for MAC-array work; None otherwise.")] = None
    gemm_n: Annotated[int | None, Field(description="GEMM columns (output channels per group).")] = None
    gemm_k: Annotated[int | None, Field(description="GEMM reduction (window x input channels per group).")] = None
    groups: Annotated[int, Field(description="Independent GEMMs (convolution groups; channels of a depthwise conv).")] = 1


class UnitReport(_Model):
    unit: Annotated[str, Field(description="mac_array, vector, host, or dram (the shared bus).")]
    busy_cycles: Annotated[int, Field(description="Cycles the block was busy (for dram: bytes / sustained bytes per cycle).")]
    utilization: Annotated[float, Field(description="busy_cycles / total_cycles.")]


class SimReport(_Model):
    """Timing and memory of one inference of a program on a target."""

    schema_version: Annotated[int, Field(description="Version of this report's layout.")] = SCHEMA_VERSION
    graph: Annotated[str, Field(description="Name of the simulated graph.")]
    target: Annotated[str, Field(description="Name of the target.")]
    batch: Annotated[int, Field(description="Inputs per inference.")]
    clock_mhz: Annotated[float, Field(description="Accelerator clock used to convert cycles to time.")]
    total_cycles: Annotated[int, Field(description="Cycles from the first load to the last store.")]
    latency_ms: Annotated[float, Field(description="total_cycles at clock_mhz, in milliseconds.")]
    macs: Annotated[int, Field(description="Useful multiply-accumulates of all layers.")]
    mac_utilization: Annotated[float, Field(description="macs / (rows * cols * total_cycles).")]
    peak_sram_bytes: Annotated[int, Field(description="Most SRAM in use at any time in the simulation.")]
    sram_size_bytes: Annotated[int, Field(description="SRAM capacity of the target.")]
    dram_bytes_read: Annotated[int, Field(description="Bytes read from DRAM in total.")]
    dram_bytes_written: Annotated[int, Field(description="Bytes written to DRAM in total.")]
    weight_bytes: Annotated[int, Field(description="Bytes of all weights and biases as stored.")]
    outputs_kept_on_chip: Annotated[int, Field(description="Layers whose output stayed in SRAM for its consumers.")]
    bytes_kept_on_chip: Annotated[int, Field(description="Bytes of those outputs: each spared a DRAM write and its reads.")]
    units: Annotated[list[UnitReport], Field(description="Busy time of each block.")]
    layers: Annotated[list[LayerReport], Field(description="Per layer, in execution order.")]
    sram_timeline: Annotated[list[tuple[int, int]], Field(
        description=f"SRAM bytes in use over the simulation as (cycle, bytes) steps; at most {TIMELINE_POINTS} "
                    "points, each the highest level of the stretch it stands for, so the peak is always shown.")] = []


def _timeline(levels: list[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    """(cycle, bytes) steps, one per cycle that changes the level (its highest), then at most
    ``TIMELINE_POINTS`` by keeping the highest level of each equal stretch of time."""
    per_cycle: dict[int, int] = {}
    for t, level in levels:
        per_cycle[t] = max(per_cycle.get(t, 0), level)
    points = sorted(per_cycle.items())
    if len(points) <= TIMELINE_POINTS:
        return points
    width = max(1, -(-(total + 1) // TIMELINE_POINTS))
    merged: dict[int, int] = {}
    for t, level in points:
        start = t // width * width
        merged[start] = max(merged.get(start, 0), level)
    return sorted(merged.items())


def build_report(program: Program, trace: Trace, target: Target) -> SimReport:
    """Summarize a simulation: a pure function of what the engine recorded."""
    arr = target.compute.mac_array
    peak_macs = arr.rows * arr.cols
    compute_end: dict[tuple[int, int], int] = {}
    busy: dict[str, int] = defaultdict(int)
    layer_compute: dict[int, int] = defaultdict(int)
    rd: dict[int, int] = defaultdict(int)
    wr: dict[int, int] = defaultdict(int)
    total = max((e.t for e in trace.events), default=0)
    for s in trace.spans():
        if s.action == "compute":
            compute_end[(s.layer, s.tile)] = s.end
            busy[s.block] += s.end - s.start
            layer_compute[s.layer] += s.end - s.start
        elif s.action == "store":
            wr[s.layer] += s.value
        else:
            rd[s.layer] += s.value
    levels = list(trace.sram_levels())
    peak = max((level for _, level in levels), default=0)
    layers, prev_end = [], 0
    for layer in program.layers:
        ends = [compute_end[(layer.index, t.index)] for t in layer.tiles]
        end = total if layer.index == len(program.layers) - 1 else max(ends + [prev_end])
        cycles = end - prev_end
        compute = layer_compute[layer.index]
        g = layer.gemm
        layers.append(LayerReport(
            name=layer.name, op_type=layer.op_type, unit=layer.unit.value, reason=layer.reason,
            nodes=list(layer.nodes), fused=layer.fused, start=prev_end, end=end, cycles=cycles,
            compute_cycles=compute, stall_cycles=max(0, cycles - compute), macs=layer.macs,
            mac_utilization=_f(layer.macs / (peak_macs * cycles)) if cycles and layer.unit is Unit.MAC_ARRAY else 0.0,
            dram_bytes_read=rd[layer.index], dram_bytes_written=wr[layer.index], weight_bytes=layer.weight_bytes,
            input_on_chip=layer.input_on_chip, output_on_chip=layer.output_on_chip,
            weights_resident=layer.tiling.weights_resident, tiles=len(layer.tiles),
            sram_bytes=layer.tiling.working_set_bytes,
            gemm_m=g.m if g else None, gemm_n=g.n if g else None, gemm_k=g.k if g else None, groups=layer.groups,
        ))
        prev_end = end
    read, written = sum(rd.values()), sum(wr.values())
    bpc = dram_bytes_per_cycle(target.memory.dram, target.compute.clock_mhz)
    dram_busy = round((read + written) / bpc)
    units = [UnitReport(unit=u.value, busy_cycles=busy[u.value], utilization=_f(busy[u.value] / total) if total else 0.0) for u in Unit]
    units.append(UnitReport(unit="dram", busy_cycles=dram_busy, utilization=_f(dram_busy / total) if total else 0.0))
    macs = sum(layer.macs for layer in program.layers if layer.unit is Unit.MAC_ARRAY)
    return SimReport(
        graph=program.graph_name, target=program.target_name, batch=program.batch,
        clock_mhz=target.compute.clock_mhz, total_cycles=total,
        latency_ms=_f(total / (target.compute.clock_mhz * 1e3)), macs=macs,
        mac_utilization=_f(macs / (peak_macs * total)) if total else 0.0,
        peak_sram_bytes=peak, sram_size_bytes=target.memory.sram.size_bytes,
        dram_bytes_read=read, dram_bytes_written=written, weight_bytes=program.weight_bytes,
        outputs_kept_on_chip=sum(1 for layer in program.layers if layer.output_on_chip),
        bytes_kept_on_chip=sum(layer.keep_bytes for layer in program.layers),
        units=units, layers=layers, sram_timeline=_timeline(levels, total),
    )
