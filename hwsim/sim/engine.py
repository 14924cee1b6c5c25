"""Run a ``Program`` in simpy: tiles flow load -> compute -> store through the target's blocks.

* One dispatcher walks the layers in program order and starts one process per tile. Buffers are
  ping-pong pairs when the SRAM is double-buffered, single otherwise: a tile takes an *input
  buffer* (a ``Resource`` of 2 or 1) from its load to the end of its compute, and an *output
  buffer* from the start of its compute to the end of its store. Double-buffered, tile i+1 loads
  while tile i computes and tile i-1 stores; single-buffered, a load can only overlap the previous
  tile's store.
* A tile takes its buffer bytes from the SRAM container, loads its weight slice once the previous
  tile's loads are done (DMA descriptors run in program order; a layer's first weight load may start
  before its producers finish: weight prefetch), waits for its producer layers to finish
  (their outputs stored, or computed when kept on chip), loads its activation slice, computes on the
  layer's unit, then stores its output slice and returns its bytes.
* Compute is issued in program order (one command stream): a tile computes after the previous
  tile's compute, so a gap between the two is a stall on memory, which the report measures.
* A layer's resident weights and kept-on-chip output are allocated by its first tile (SRAM requests
  are served first come, first served, so always in program order); the weights are freed after the
  layer's last compute, a kept output after its last consumer's.
"""
from __future__ import annotations

from typing import Callable, Generator

import simpy

from hwsim.compiler.program import Layer, Program, Tile, Unit
from hwsim.errors import HwsimError
from hwsim.sim.blocks import ComputeUnit, DmaEngine, Dram, Sram
from hwsim.sim.trace import Trace
from hwsim.target import Target


class SimulationError(HwsimError):
    """The program could not run to completion on the target (e.g. a buffer larger than the SRAM)."""


class Machine:
    """The target's blocks, wired to one environment and one trace."""

    def __init__(self, env: simpy.Environment, target: Target, trace: Trace):
        mem = target.memory
        self.env = env
        self.dram = Dram(env, mem.dram, target.compute.clock_mhz)
        self.dma_in = DmaEngine(env, "dma_in", self.dram, trace)
        self.dma_out = DmaEngine(env, "dma_out", self.dram, trace)
        self.units = {u: ComputeUnit(env, u.value, trace) for u in Unit}
        self.sram = Sram(env, mem.sram.size_bytes, trace)
        buffers = 2 if mem.sram.double_buffered else 1
        self.in_buffers = simpy.Resource(env, capacity=buffers)
        self.out_buffers = simpy.Resource(env, capacity=buffers)
        self.tiles_done = 0


class _Progress:
    """Counts a layer's stored tiles; ``done`` fires when the last one lands."""

    def __init__(self, env: simpy.Environment, tiles: int, on_done: Callable[[], None] | None):
        self.done, self.left, self.on_done = env.event(), tiles, on_done

    def stored(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.succeed()
            if self.on_done is not None:
                self.on_done()


def _tile(m: Machine, layer: Layer, tile: Tile, in_buffer, ready, prev: tuple, mine: tuple, progress: _Progress) -> Generator:
    prev_loaded, prev_compute = prev
    loaded, computed = mine
    env, li, ti = m.env, layer.index, tile.index
    if ti == 0:  # layer-lifetime buffers, requested in program order behind the previous layer's tiles
        yield from m.sram.alloc(layer.hold_bytes, "weights", li, -1)
        yield from m.sram.alloc(layer.keep_bytes, "output", li, -1)
    yield from m.sram.alloc(tile.sram_bytes, "tile", li, ti)
    yield prev_loaded
    yield from m.dma_in.transfer(tile.load_weight_bytes, "load_weights", li, ti)
    if ready is not None:
        yield ready
    yield from m.dma_in.transfer(tile.load_input_bytes, "load_input", li, ti)
    loaded.succeed()
    yield prev_compute
    with m.out_buffers.request() as out_buffer:
        yield out_buffer
        yield from m.units[layer.unit].run(tile.compute_cycles, li, ti)
        computed.succeed()
        m.sram.free(tile.sram_bytes - tile.sram_out_bytes, "tile", li, ti)
        m.in_buffers.release(in_buffer)
        yield from m.dma_out.transfer(tile.store_bytes, "store", li, ti)
        m.sram.free(tile.sram_out_bytes, "tile", li, ti)
    m.tiles_done += 1
    progress.stored()


def _release(m: Machine, layer: Layer, program: Program, last_compute) -> Generator:
    yield last_compute
    m.sram.free(layer.hold_bytes, "weights", layer.index, -1)
    for p in layer.frees:
        m.sram.free(program.layers[p].keep_bytes, "output", p, -1)


def _dispatch(m: Machine, program: Program, on_layer_done: Callable[[], None] | None) -> Generator:
    env = m.env
    progress = [_Progress(env, len(layer.tiles), on_layer_done) for layer in program.layers]
    prev = (env.event().succeed(), env.event().succeed())  # (loads issued, compute done) of the previous tile
    for layer in program.layers:
        deps = [progress[d].done for d in layer.depends_on]
        ready = None if not deps else deps[0] if len(deps) == 1 else env.all_of(deps)
        for tile in layer.tiles:
            in_buffer = m.in_buffers.request()
            yield in_buffer
            mine = (env.event(), env.event())  # loaded, computed
            env.process(_tile(m, layer, tile, in_buffer, ready, prev, mine, progress[layer.index]))
            prev = mine
        env.process(_release(m, layer, program, prev[1]))


def run(program: Program, target: Target, trace: Trace | None = None, on_layer_done: Callable[[], None] | None = None) -> Trace:
    """Simulate ``program`` on ``target``; return the trace (the engine prints and writes nothing).

    ``on_layer_done`` is called as each layer's last tile is stored (a progress bar's hook).
    """
    trace = trace if trace is not None else Trace()
    env = simpy.Environment()
    machine = Machine(env, target, trace)
    for layer in program.layers:
        too_big = max([t.sram_bytes for t in layer.tiles] + [layer.hold_bytes + layer.keep_bytes])
        if too_big > target.memory.sram.size_bytes:
            raise SimulationError(
                f"layer '{layer.name}' needs a {too_big}-byte SRAM buffer but memory.sram.size_bytes is "
                f"{target.memory.sram.size_bytes}; compile the program for this target"
            )
    env.process(_dispatch(machine, program, on_layer_done))
    env.run()
    expected = sum(len(layer.tiles) for layer in program.layers)
    if machine.tiles_done != expected:
        raise SimulationError(
            f"simulation stalled after {machine.tiles_done} of {expected} tiles (SRAM over-committed); "
            "the program does not fit the target it runs on"
        )
    return trace
