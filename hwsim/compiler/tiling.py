"""Cut each layer into tiles whose working set fits the SRAM budget, and list the tiles.

Policy (one search per layer, the same for every op):

* GEMM layers tile (m, n, k), k innermost (partial sums stay in the accumulators across the k
  loop). Candidate sizes split each dimension into 1, 2, 3, 4, 6, 8, ... parts, rounded up to the
  array's fold size along that dimension (rows/cols for the two dims the dataflow folds), so
  cutting them adds no fold. The dimension the dataflow *streams* (K for output-stationary, M for
  weight-stationary, N for input-stationary) is kept whole, because every piece of it re-pays the
  fill and drain of every fold; only when nothing fits is it cut, to the largest piece that fits
  (typically M under weight-stationary, whose M x N accumulators must stay live). A grouped or
  depthwise GEMM tiles whole groups and never cuts K.
* Working set of a tile: input slice (with its halo rows) + weight slice + residual slice +
  accumulators (``accumulator_bits`` per output in SRAM, or the output tile in SRAM when the target
  has a separate accumulator memory), times 2 when double-buffered; plus the whole weight tensor
  when weights stay resident. Operands already on chip (kept by the previous layer) take no buffer.
* Weights are kept resident (loaded once, held for the layer) when that is cheaper; otherwise the
  loop order (``m_outer`` reusing the input tile across channel tiles, ``n_outer`` reusing a weight
  tile across pixel tiles) is the one with less DRAM traffic.
* Among the tilings that fit, those whose estimate is within 1% of the smallest count as best, and
  of those the one with the least DRAM traffic, then the fewest tiles wins (fewer, larger
  transfers; fewer simulation events).
  The estimate is ``max(compute, dram) + 0.25 * min(compute, dram) + first load + last store``
  when double-buffered (the 0.25 stands for what bursty stores and uneven tiles keep double
  buffering from hiding, so a plan near the memory/compute balance is not preferred for a sliver of
  compute), ``compute + dram`` when not, with ``dram = bytes / bandwidth + tiles * latency``. The
  simulation, not this estimate, gives the time.
* Streaming (vector) layers tile the output positions only; host layers are one tile that reads
  every input from DRAM and writes every output back.

The tile list follows the chosen loop nest exactly: a tile loads a slice only when it differs from
the previous tile's, so the DRAM bytes of the tiles are the layer's traffic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

from hwsim.compiler.program import Tile, Tiling, Unit
from hwsim.compiler.workload import Footprint, GemmWork, StreamWork
from hwsim.cost.dma import dram_bytes_per_cycle, dram_latency_cycles
from hwsim.cost.host import host_cost
from hwsim.cost.systolic import MAPPINGS, Dataflow, systolic_cycles
from hwsim.cost.vector import vector_cost
from hwsim.target import Target

OVERLAP_LOSS = 0.25  # share of the smaller of compute and DMA that double buffering fails to hide
TOLERANCE = 0.01  # estimates this close count as equal; then less traffic, then fewer tiles win
PARTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512, 1024)


@dataclass(frozen=True)
class TileEnv:
    """The target's numbers that tiling needs, read once."""

    target: Target
    sram_bytes: int
    buffers: int
    acc_bytes: int
    acc_mem_bytes: int
    dram_bpc: float
    dram_latency: int
    rows: int
    cols: int
    dataflow: Dataflow

    @classmethod
    def of(cls, target: Target) -> TileEnv:
        mem, arr = target.memory, target.compute.mac_array
        return cls(
            target=target,
            sram_bytes=mem.sram.size_bytes,
            buffers=2 if mem.sram.double_buffered else 1,
            acc_bytes=-(-arr.accumulator_bits // 8),
            acc_mem_bytes=mem.accumulator_bytes,
            dram_bpc=dram_bytes_per_cycle(mem.dram, target.compute.clock_mhz),
            dram_latency=dram_latency_cycles(mem.dram, target.compute.clock_mhz),
            rows=arr.rows,
            cols=arr.cols,
            dataflow=Dataflow(arr.dataflow),
        )

    def estimate(self, compute: int, traffic: int, tiles: int, first: int, last: int) -> int:
        dram = traffic / self.dram_bpc + tiles * self.dram_latency
        if self.buffers > 1:
            exposed = (first + last) / self.dram_bpc + 2 * self.dram_latency
            return int(max(compute, dram) + OVERLAP_LOSS * min(compute, dram) + exposed)
        return int(compute + dram)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _sizes(total: int, align: int) -> list[int]:
    out = {min(total, _ceil(_ceil(total, p), align) * align) for p in PARTS} | {min(total, align)}
    return sorted(out, reverse=True)


def _splits(total: int, t: int) -> list[tuple[int, int]]:
    full, rem = divmod(total, t)
    return [(t, full)] + ([(rem, 1)] if rem else [])


def _share(total: int, part: int, whole: int) -> int:
    return -(-total * part // whole)


def _pick(cands: list[tuple[tuple, Tiling]]) -> Tiling | None:
    """Among the tilings whose estimate is within ``TOLERANCE`` of the best: least DRAM traffic, then fewest tiles."""
    if not cands:
        return None
    bound = min(t.estimate_cycles for _, t in cands) * (1 + TOLERANCE)
    return min((c for c in cands if c[1].estimate_cycles <= bound), key=lambda c: c[0])[1]


# ----------------------------------------------------------------------------------------- GEMM
@dataclass(frozen=True)
class GemmOperands:
    """A GEMM layer's operands after residency: what must come from DRAM and what is on chip."""

    work: GemmWork
    sides: tuple[Footprint, ...]  # fused element-wise inputs shaped like the output
    a_on_chip: bool
    b_on_chip: bool
    sides_on_chip: tuple[bool, ...]
    out_on_chip: bool

    @property
    def w_bytes(self) -> int:
        return 0 if self.b_on_chip else self.work.b_bytes + self.work.bias_bytes

    def held(self, t: Tiling) -> int:
        """SRAM held for the whole layer (resident weights)."""
        return self.w_bytes if t.weights_resident else 0

    def a_slice(self, m: int, n: int, k: int) -> int:
        w = self.work
        if self.a_on_chip:
            return 0
        frac = (n, w.n_total) if w.groups > 1 else (k, w.k)
        return _share(w.a.bytes_for(m), *frac)

    def w_slice(self, n: int, k: int, bias: bool = True) -> int:
        """Weight bytes of an (n, k) slice; the bias comes with the first k slice only."""
        w = self.work
        if self.b_on_chip:
            return 0
        return _share(w.b_bytes, k * n, w.k * w.n_total) + (_share(w.bias_bytes, n, w.n_total) if bias else 0)

    def side_slice(self, m: int, n: int) -> int:
        return sum(s.bytes_for(m * n) for s, chip in zip(self.sides, self.sides_on_chip) if not chip)

    def out_slice(self, m: int, n: int) -> int:
        return 0 if self.out_on_chip else m * n * self.work.out_elem_bytes


def _gemm_compute(unit: Unit, work: GemmWork, env: TileEnv) -> Callable[[int, int, int], int]:
    if unit is Unit.VECTOR:
        vec = env.target.compute.vector
        return lambda m, n, k: vector_cost(m * n * k, vec.lanes, vec.pipeline_latency_cycles).cycles
    if work.groups > 1:
        return lambda m, n, k: (n // work.n) * systolic_cycles(m, work.n, k, env.rows, env.cols, env.dataflow)
    return lambda m, n, k: systolic_cycles(m, n, k, env.rows, env.cols, env.dataflow)


def _gemm_loads(nm: int, nn: int, nk: int, order: str, grouped: bool, resident: bool) -> tuple[int, int]:
    """How many times the input (per m slice) and weights are read, for a loop nest."""
    if grouped:
        a_mult = 1
        w_mult = 1 if resident or order == "n_outer" or nn == 1 else nm
    elif order == "m_outer":
        a_mult = 1 if nk == 1 else nn
        w_mult = 1 if resident or (nn == 1 and nk == 1) else nm
    else:
        a_mult = 1 if (nm == 1 and nk == 1) else nn
        w_mult = 1 if resident or nk == 1 else nm
    return a_mult, w_mult


def plan_gemm(ops: GemmOperands, unit: Unit, env: TileEnv, budget: int) -> Tiling | None:
    work = ops.work
    grouped = work.groups > 1
    raw_cost = _gemm_compute(unit, work, env)
    memo: dict[tuple[int, int, int], int] = {}

    def cost(m: int, n: int, k: int) -> int:
        if (m, n, k) not in memo:
            memo[(m, n, k)] = raw_cost(m, n, k)
        return memo[(m, n, k)]

    mp = MAPPINGS[env.dataflow]
    on_array = unit is Unit.MAC_ARRAY
    align = {d: mp.align(d, env.rows, env.cols) if on_array else 1 for d in "mnk"}
    m_sizes = _sizes(work.m, align["m"])
    n_sizes = [g * work.n for g in _sizes(work.groups, 1)] if grouped else _sizes(work.n, align["n"])
    acc_elem = env.acc_bytes if on_array else work.out_elem_bytes
    w_total = ops.w_bytes
    m_splits = {mt: _splits(work.m, mt) for mt in m_sizes}
    a_tile = {mt: 0 if ops.a_on_chip else work.a.bytes_for(mt) for mt in m_sizes}
    a_once = {mt: 0 if ops.a_on_chip else sum(c * work.a.bytes_for(ms) for ms, c in m_splits[mt]) for mt in m_sizes}
    fixed = ops.side_slice(work.m, work.n_total) + ops.out_slice(work.m, work.n_total)
    cands: list[tuple[tuple, Tiling]] = []

    def evaluate(mt: int, nt: int, kt: int) -> bool:
        """Add the candidates of one tile size; False if none fits."""
        nm, nn, nk = _ceil(work.m, mt), _ceil(work.n_total, nt), _ceil(work.k, kt)
        acc = mt * nt * acc_elem
        if env.acc_mem_bytes and on_array:
            if env.buffers * acc > env.acc_mem_bytes:
                return False
            acc = ops.out_slice(mt, nt)
        a_t = _share(a_tile[mt], *((nt, work.n_total) if grouped else (kt, work.k)))
        w_tile = ops.w_slice(nt, kt)
        base = a_t + ops.side_slice(mt, nt) + acc
        tiles = nm * nn * nk
        options = []
        if w_total and tiles > 1 and env.buffers * base + w_total <= budget:
            options.append(True)
        if env.buffers * (base + w_tile) <= budget:
            options.append(False)
        if not options:
            return False
        compute = sum(cm * cn * ck * cost(ms, ns, ks) for ms, cm in m_splits[mt]
                      for ns, cn in _splits(work.n_total, nt) for ks, ck in _splits(work.k, kt))
        last = ops.out_slice(mt, nt)
        for resident in options:
            ws = env.buffers * (base + (0 if resident else w_tile)) + (w_total if resident else 0)
            first = a_t + (w_total if resident else w_tile)
            for order in ("m_outer", "n_outer") if nm > 1 and nn > 1 else ("m_outer",):
                am, wm = _gemm_loads(nm, nn, nk, order, grouped, resident)
                traffic = a_once[mt] * am + w_total * wm + fixed
                est = env.estimate(compute, traffic, tiles, first, last)
                key = (traffic, tiles, est, -mt, order != "m_outer", not resident)
                cands.append((key, Tiling(mt, nt, kt, order, resident, tiles, ws, est)))
        return True

    sizes = {"m": m_sizes, "n": n_sizes, "k": [work.k] if grouped else _sizes(work.k, align["k"])}
    full = {"m": work.m, "n": work.n_total, "k": work.k}
    streamed = mp.streamed if on_array else "k"
    f1, f2 = (d for d in "mnk" if d != streamed)
    # Keep the streamed dimension whole (cutting it re-pays fill and drain per piece) ...
    for a in sizes[f1]:
        for b in sizes[f2]:
            evaluate(**{f"{f1}t": a, f"{f2}t": b, f"{streamed}t": full[streamed]})
    # ... unless nothing fits: then the largest piece of it that does, for each folded tile size.
    if not cands:
        for a in sizes[f1]:
            for b in sizes[f2]:
                for s_ in sizes[streamed][1:]:
                    if evaluate(**{f"{f1}t": a, f"{f2}t": b, f"{streamed}t": s_}):
                        break
    return _pick(cands)


def _nest(work: GemmWork, t: Tiling) -> Iterator[tuple[int, int, int, int, int, int]]:
    """(mi, m, ni, n, ki, k) in loop-nest order."""
    ms = [(i * t.m, min(t.m, work.m - i * t.m)) for i in range(_ceil(work.m, t.m))]
    ns = [(i * t.n, min(t.n, work.n_total - i * t.n)) for i in range(_ceil(work.n_total, t.n))]
    ks = [(i * t.k, min(t.k, work.k - i * t.k)) for i in range(_ceil(work.k, t.k))]
    if t.order == "m_outer":
        for mi, (_, m) in enumerate(ms):
            for ni, (_, n) in enumerate(ns):
                for ki, (_, k) in enumerate(ks):
                    yield mi, m, ni, n, ki, k
    else:
        for ni, (_, n) in enumerate(ns):
            for mi, (_, m) in enumerate(ms):
                for ki, (_, k) in enumerate(ks):
                    yield mi, m, ni, n, ki, k


def gemm_tiles(ops: GemmOperands, unit: Unit, env: TileEnv, t: Tiling) -> tuple[Tile, ...]:
    work = ops.work
    cost = _gemm_compute(unit, work, env)
    grouped = work.groups > 1
    acc_elem = env.acc_bytes if unit is Unit.MAC_ARRAY else work.out_elem_bytes
    acc = ops.out_slice(t.m, t.n) if env.acc_mem_bytes and unit is Unit.MAC_ARRAY else t.m * t.n * acc_elem
    sram = ops.a_slice(t.m, t.n, t.k) + ops.side_slice(t.m, t.n) + acc + (0 if t.weights_resident else ops.w_slice(t.n, t.k))
    nk = _ceil(work.k, t.k)
    tiles, prev_a, prev_w = [], None, None
    for i, (mi, m, ni, n, ki, k) in enumerate(_nest(work, t)):
        a_key = (mi, ni) if grouped else (mi, ki)
        w_key = (ni, ki)
        load_a = ops.a_slice(m, n, k) if a_key != prev_a else 0
        if t.weights_resident:
            load_w = ops.w_bytes if i == 0 else 0
        else:
            load_w = ops.w_slice(n, k, bias=ki == 0) if w_key != prev_w else 0
        prev_a, prev_w = a_key, w_key
        side = ops.side_slice(m, n) if ki == 0 else 0
        store = ops.out_slice(m, n) if ki == nk - 1 else 0
        tiles.append(Tile(i, load_w, load_a + side, cost(m, n, k), store, sram, m * n * k, acc))
    return tuple(tiles)


# ------------------------------------------------------------------------------------ streaming
@dataclass(frozen=True)
class StreamOperands:
    work: StreamWork
    sides: tuple[Footprint, ...]
    inputs_on_chip: tuple[bool, ...]  # per work.inputs
    sides_on_chip: tuple[bool, ...]
    out_on_chip: bool

    def streamed(self) -> list[Footprint]:
        fps = [f for f, c in zip(self.work.inputs, self.inputs_on_chip) if not c and not f.whole]
        return fps + [s for s, c in zip(self.sides, self.sides_on_chip) if not c]

    @property
    def whole_bytes(self) -> int:
        return sum(f.total_bytes for f, c in zip(self.work.inputs, self.inputs_on_chip) if not c and f.whole)

    def held(self, t: Tiling) -> int:
        """SRAM held for the whole layer (broadcast inputs, read once)."""
        return self.whole_bytes

    def in_slice(self, m: int) -> int:
        return sum(f.bytes_for(m) for f in self.streamed())

    def out_slice(self, m: int) -> int:
        return 0 if self.out_on_chip else math.ceil(m * self.work.out_bytes_per_m)


def _vector_cycles(env: TileEnv, elements: int) -> int:
    vec = env.target.compute.vector
    return vector_cost(elements, vec.lanes, vec.pipeline_latency_cycles).cycles


def plan_stream(ops: StreamOperands, unit: Unit, env: TileEnv, budget: int) -> Tiling | None:
    work = ops.work
    cands: list[tuple[tuple, Tiling]] = []
    whole = ops.whole_bytes
    for mt in _sizes(work.m, 1):
        nm = _ceil(work.m, mt)
        ws = env.buffers * (ops.in_slice(mt) + math.ceil(mt * work.out_bytes_per_m)) + whole
        if ws > budget:
            continue
        splits = _splits(work.m, mt)
        compute = sum(c * _vector_cycles(env, ms * work.ops_per_m) for ms, c in splits)
        traffic = whole + sum(c * (ops.in_slice(ms) + ops.out_slice(ms)) for ms, c in splits)
        est = env.estimate(compute, traffic, nm, whole + ops.in_slice(mt), ops.out_slice(mt))
        cands.append(((traffic, nm, est), Tiling(mt, 1, 1, "m_outer", whole > 0, nm, ws, est)))
    return _pick(cands)


def stream_tiles(ops: StreamOperands, unit: Unit, env: TileEnv, t: Tiling) -> tuple[Tile, ...]:
    work = ops.work
    out = math.ceil(t.m * work.out_bytes_per_m)
    sram = ops.in_slice(t.m) + out
    tiles = []
    for i in range(t.count):
        m = min(t.m, work.m - i * t.m)
        load = ops.in_slice(m) + (ops.whole_bytes if i == 0 else 0)
        tiles.append(Tile(i, 0, load, _vector_cycles(env, m * work.ops_per_m), ops.out_slice(m), sram, 0, out))
    return tuple(tiles)


# ----------------------------------------------------------------------------------------- host
@dataclass(frozen=True)
class HostOperands:
    flops: int
    input_bytes: int
    output_bytes: int
    weight_bytes: int

    def held(self, t: Tiling) -> int:
        return 0  # the host computes from its own memory


def plan_host(ops: HostOperands, unit: Unit, env: TileEnv, budget: int) -> Tiling:
    compute = host_cost(ops.flops, env.target.compute.host, env.target.compute.clock_mhz).cycles
    traffic = ops.input_bytes + ops.output_bytes + ops.weight_bytes
    return Tiling(1, 1, 1, "m_outer", False, 1, 0, int(compute + traffic / env.dram_bpc + 2 * env.dram_latency))


def host_tiles(ops: HostOperands, unit: Unit, env: TileEnv, t: Tiling) -> tuple[Tile, ...]:
    compute = host_cost(ops.flops, env.target.compute.host, env.target.compute.clock_mhz).cycles
    return (Tile(0, ops.weight_bytes, ops.input_bytes, compute, ops.output_bytes, 0),)
