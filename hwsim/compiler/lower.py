"""``compile(graph, target, *, batch=1) -> Program``: lower a float or QDQ graph onto a target.

Stages, in order: resolve storage and integer-ness (``graph_view``), fuse (``group_ops``), pick a
unit and describe the work of every group (``spec``), decide which outputs stay on chip
(``plan_residency``), then tile every layer and list its tiles.

Units:

* Conv / ConvTranspose / Gemm / MatMul -> MAC array, as a GEMM (``workload``). A depthwise
  convolution goes where ``compute.mac_array.depthwise_unit`` says: on the array it is one GEMM per
  channel (N = 1, K = kh x kw), exactly as SCALE-Sim would run it, so its utilization is a sliver of
  the array; on the vector unit it costs ``kh x kw`` element operations per output.
* Ops listed in ``compute.vector.ops`` (element-wise, pooling, lookup-table activations, Resize,
  Concat, Pad) -> vector unit. Ops fused into a MAC layer ride along for free (the array's output
  pipeline applies them); a fused residual Add reads its other input with the output tile.
* Anything else, anything in ``quantization.float_ops``, and anything the quantization left float
  -> host: ``flops / gflops + call overhead``, reading its inputs from and writing its outputs to
  DRAM (so its producers cannot keep their outputs on chip).

On-chip reuse: going through layers in order, a layer's single output stays in SRAM for its
consumers (no DRAM write, no DRAM read) when every consumer is an accelerator layer, it is not a
graph output, every layer it stays alive across can still be tiled in what SRAM is left, and the
estimated time of those layers goes down. The bytes stay allocated from the producer's start to the
last consumer's last compute.

Not modelled (yet): further on-chip levels (``memory.shared``: whatever misses the local SRAM goes to
DRAM), SRAM bank conflicts and ``sram.bytes_per_cycle`` (compute reads SRAM at whatever rate it
needs), a lookup-table activation's table load (it costs one element operation per output), and
small constant operands of vector ops (scalars, per-channel parameters of a standalone BN).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from hwsim.compiler.fusion import Group, group_ops
from hwsim.compiler.graphview import GraphView, graph_view
from hwsim.compiler.program import CompileError, Layer, Program, Tile, Tiling, Unit
from hwsim.compiler.tiling import (
    GemmOperands, HostOperands, StreamOperands, TileEnv, gemm_tiles, host_tiles, plan_gemm, plan_host,
    plan_stream, stream_tiles,
)
from hwsim.compiler.workload import Footprint, GemmWork, StreamWork, Work, work_of
from hwsim.cost.systolic import GemmShape
from hwsim.target import Target
from quant.ir import Graph

Operands = GemmOperands | StreamOperands | HostOperands


@dataclass(frozen=True)
class LayerSpec:
    """A fused group with its unit and work, before residency and tiling."""

    group: Group
    unit: Unit
    reason: str
    work: Work
    sides: tuple[Footprint, ...]
    outputs: tuple[str, ...]
    output_bytes: int
    weight_bytes: int
    activations: tuple[str, ...]
    activation_bytes: int

    def operands(self, on_chip: frozenset[str]) -> Operands:
        out = len(self.outputs) == 1 and self.outputs[0] in on_chip
        if self.unit is Unit.HOST:
            return HostOperands(self.work.flops, self.activation_bytes, self.output_bytes, self.weight_bytes)
        sides = tuple(s.tensor in on_chip for s in self.sides)
        if isinstance(self.work, GemmWork):
            return GemmOperands(self.work, self.sides, self.work.a.tensor in on_chip, self.work.b_tensor in on_chip, sides, out)
        return StreamOperands(self.work, self.sides, tuple(f.tensor in on_chip for f in self.work.inputs), sides, out)


PLANNERS: dict[type, tuple[Callable, Callable]] = {
    GemmOperands: (plan_gemm, gemm_tiles),
    StreamOperands: (plan_stream, stream_tiles),
    HostOperands: (plan_host, host_tiles),
}


def assign_unit(group: Group, work: Work, target: Target) -> tuple[Unit, str]:
    q, vec = target.quantization, target.compute.vector
    left_float = next((op for op in group.ops if not op.integer), None)
    if left_float is not None:
        return Unit.HOST, f"'{left_float.name}' was left float by the quantization"
    listed = next((op for op in group.ops if op.op_type in q.float_ops), None)
    if listed is not None:
        return Unit.HOST, f"{listed.op_type} is in quantization.float_ops"
    if isinstance(work, GemmWork):
        if work.depthwise and target.compute.mac_array.depthwise_unit == "vector":
            return Unit.VECTOR, "depthwise convolution on the vector unit (compute.mac_array.depthwise_unit)"
        return Unit.MAC_ARRAY, "depthwise convolution, one GEMM per channel" if work.depthwise else "GEMM"
    missing = next((op for op in group.ops if op.op_type not in vec.ops), None)
    if missing is not None:
        return Unit.HOST, f"{missing.op_type} is not in compute.vector.ops"
    return Unit.VECTOR, "vector op"


def _with_output(work: Work, group: Group, view: GraphView) -> Work:
    """The head's work, writing the group's (tail's) output in its stored element type."""
    tail = group.tail
    out_bytes = sum(view.nbytes(o, tail.name) for o in tail.node.outputs if o)
    if isinstance(work, GemmWork):
        numel = sum(view.numel(o, tail.name) for o in tail.node.outputs if o)
        return dataclasses.replace(work, out_elem_bytes=max(1, out_bytes // max(1, numel)))
    return dataclasses.replace(work, out_bytes_per_m=out_bytes / work.m)


def _side_inputs(group: Group, view: GraphView, work: Work) -> tuple[Footprint, ...]:
    """Activations the fused tail ops read besides the chain (a residual Add's other input)."""
    per_output = work.m * work.n_total if isinstance(work, GemmWork) else work.m
    out_numel = sum(view.numel(o, group.tail.name) for o in group.tail.node.outputs if o)
    sides, chain = [], set(group.head.outputs)
    for op in group.ops[1:]:
        for name, s in zip(op.node.inputs, op.inputs):
            if name and s not in chain and s not in view.constants:
                whole = view.numel(name, op.name) < out_numel
                sides.append(Footprint(s, view.nbytes(name, op.name), per_output, whole=whole))
        chain.update(op.outputs)
    return tuple(sides)


def spec(group: Group, view: GraphView, target: Target) -> LayerSpec:
    work = _with_output(work_of(group.head, view), group, view)
    sides = _side_inputs(group, view, work)
    unit, reason = assign_unit(group, work, target)
    reads = {**work.activation_reads(view.constants), **{s.tensor: s.total_bytes for s in sides}}
    return LayerSpec(
        group=group, unit=unit, reason=reason, work=work, sides=sides,
        outputs=tuple(o for o in group.tail.outputs if o),
        output_bytes=sum(view.nbytes(o, group.tail.name) for o in group.tail.node.outputs if o),
        weight_bytes=work.weight_bytes(view.constants),
        activations=tuple(reads), activation_bytes=sum(reads.values()),
    )


class _Planner:
    """Tiling per layer under a residency assignment, memoized."""

    def __init__(self, specs: list[LayerSpec], env: TileEnv):
        self.specs, self.env = specs, env
        self._memo: dict[tuple, Tiling | None] = {}

    def plan(self, idx: int, on_chip: frozenset[str], budget: int) -> Tiling | None:
        sp = self.specs[idx]
        ops = sp.operands(on_chip & frozenset(sp.activations + sp.outputs))
        key = (sp.unit, budget, _anonymous(ops))  # identical layers (ResNet's repeated blocks) plan once
        if key not in self._memo:
            self._memo[key] = PLANNERS[type(ops)][0](ops, sp.unit, self.env, budget)
        return self._memo[key]


def _anonymous(ops: Operands) -> Operands:
    """``ops`` with tensor names blanked, so layers of the same shape share one tiling search."""
    if isinstance(ops, GemmOperands):
        w = ops.work
        work = dataclasses.replace(w, a=dataclasses.replace(w.a, tensor=""), b_tensor="")
        return dataclasses.replace(ops, work=work, sides=tuple(dataclasses.replace(s, tensor="") for s in ops.sides))
    if isinstance(ops, StreamOperands):
        work = dataclasses.replace(ops.work, inputs=tuple(dataclasses.replace(f, tensor="") for f in ops.work.inputs))
        return dataclasses.replace(ops, work=work, sides=tuple(dataclasses.replace(s, tensor="") for s in ops.sides))
    return ops


def plan_residency(specs: list[LayerSpec], view: GraphView, env: TileEnv) -> tuple[frozenset[str], list[Tiling], list[int]]:
    """Which layer outputs stay on chip; the tiling of every layer; SRAM held by resident tensors per layer."""
    planner = _Planner(specs, env)
    producer = {o: i for i, sp in enumerate(specs) for o in sp.outputs}
    readers: dict[str, list[int]] = {}
    for i, sp in enumerate(specs):
        for a in sp.activations:
            readers.setdefault(a, []).append(i)
    on_chip: frozenset[str] = frozenset()
    live = [0] * len(specs)
    plans: list[Tiling] = []
    for i, sp in enumerate(specs):
        t = planner.plan(i, on_chip, env.sram_bytes)
        if t is None:
            raise _no_tile_fits(sp, specs, i, env)
        plans.append(t)
    for p, sp in enumerate(specs):
        if sp.unit is Unit.HOST or len(sp.outputs) != 1 or sp.outputs[0] in view.graph_outputs:
            continue
        t = sp.outputs[0]
        users = readers.get(t, [])
        if not users or any(specs[u].unit is Unit.HOST for u in users) or producer.get(t) != p:
            continue
        size, span = sp.output_bytes, range(p, max(users) + 1)
        trial = on_chip | {t}
        new = [planner.plan(j, trial, env.sram_bytes - live[j] - size) for j in span]
        if any(n is None for n in new) or sum(n.estimate_cycles for n in new) >= sum(plans[j].estimate_cycles for j in span):
            continue
        on_chip = trial
        for j, n in zip(span, new):
            plans[j] = n
            live[j] += size
    return on_chip, plans, live


def _no_tile_fits(sp: LayerSpec, specs: list[LayerSpec], i: int, env: TileEnv) -> CompileError:
    """The error for a layer no tiling fits: blame the accumulator memory when SRAM alone would do."""
    where = f"layer '{sp.group.name}' ({sp.group.head.op_type})"
    if env.acc_mem_bytes and _Planner(specs, dataclasses.replace(env, acc_mem_bytes=0)).plan(i, frozenset(), env.sram_bytes):
        return CompileError(f"{where}: no tile's accumulators fit in memory.accumulator_bytes={env.acc_mem_bytes}; "
                            "give the target more accumulator memory")
    return CompileError(f"{where}: no tile fits in memory.sram.size_bytes={env.sram_bytes}; give the target more SRAM")


def compile(graph: Graph, target: Target, *, batch: int = 1) -> Program:
    """Lower ``graph`` (float, or QDQ) onto ``target`` for ``batch`` inputs at a time."""
    if batch < 1:
        raise CompileError(f"batch must be at least 1, got {batch}")
    fixed = graph.fixed_batch
    if fixed is not None and batch not in (1, fixed):
        raise CompileError(f"batch {batch}: the model's batch dimension is fixed at {fixed}; export it with a "
                           "symbolic batch dimension to simulate other batch sizes")
    batch = fixed or batch  # a fixed batch is what runs, and what the report says
    view = graph_view(graph, target, batch)
    patterns = [tuple(r.pattern) for r in target.quantization.fused_patterns]
    specs = [spec(g, view, target) for g in group_ops(view, patterns)]
    env = TileEnv.of(target)
    on_chip, plans, _ = plan_residency(specs, view, env)
    producer = {o: i for i, sp in enumerate(specs) for o in sp.outputs}
    last_reader: dict[str, int] = {}
    for i, sp in enumerate(specs):
        for a in sp.activations:
            last_reader[a] = i
    layers = []
    for i, (sp, tiling) in enumerate(zip(specs, plans)):
        mine = on_chip & frozenset(sp.activations + sp.outputs)
        ops = sp.operands(mine)
        tiles: tuple[Tile, ...] = PLANNERS[type(ops)][1](ops, sp.unit, env, tiling)
        kept = len(sp.outputs) == 1 and sp.outputs[0] in on_chip
        work = sp.work
        layers.append(Layer(
            index=i,
            name=sp.group.name,
            op_type=sp.group.head.op_type,
            unit=sp.unit,
            nodes=tuple(op.name for op in sp.group.ops),
            op_types=tuple(op.op_type for op in sp.group.ops),
            reason=sp.reason,
            gemm=_gemm_shape(work),
            groups=work.groups if isinstance(work, GemmWork) else 1,
            macs=work.macs if sp.unit is not Unit.HOST else 0,
            elements=_vector_elements(work) if sp.unit is Unit.VECTOR else 0,
            flops=work.flops if sp.unit is Unit.HOST else 0,
            input_tensors=sp.activations,
            inputs_on_chip=tuple(a in on_chip for a in sp.activations),
            output_tensors=sp.outputs,
            output_on_chip=kept,
            input_bytes=sp.activation_bytes,
            weight_bytes=sp.weight_bytes,
            output_bytes=sp.output_bytes,
            depends_on=tuple(sorted({producer[a] for a in sp.activations if a in producer})),
            hold_bytes=ops.held(tiling),
            keep_bytes=sp.output_bytes if kept else 0,
            frees=tuple(sorted({producer[a] for a in sp.activations if a in on_chip and last_reader[a] == i})),
            tiling=tiling,
            tiles=tiles,
        ))
    return Program(graph.name, target.name, batch, tuple(layers))


def _gemm_shape(work: Work) -> GemmShape | None:
    return GemmShape(work.m, work.n, work.k) if isinstance(work, GemmWork) else None


def _vector_elements(work: Work) -> int:
    return work.elements if isinstance(work, StreamWork) else work.macs
