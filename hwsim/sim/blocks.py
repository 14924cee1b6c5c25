"""One small class per hardware block; each holds its simpy primitives and records to the trace.

* ``Dram``: the DRAM bus, a ``Resource`` of capacity 1: data phases of all transfers share it.
* ``DmaEngine``: a DMA channel (``Resource``): pays the transfer's latency while holding the channel
  (so one engine's latency overlaps another's data phase), then streams over the DRAM bus.
* ``ComputeUnit``: the MAC array, the vector unit or the host, a ``Resource`` of capacity 1.
* ``Sram``: on-chip capacity in bytes, a ``Container``; tiles and resident tensors take and return bytes.

Durations come from the cost models (``hwsim.cost``); the blocks only wait.
"""
from __future__ import annotations

from typing import Generator

import simpy

from hwsim.cost.dma import dma_cost
from hwsim.sim.trace import Trace
from hwsim.target.memory import Dram as DramSpec


class Dram:
    def __init__(self, env: simpy.Environment, spec: DramSpec, clock_mhz: float):
        self.env, self.spec, self.clock_mhz = env, spec, clock_mhz
        self.bus = simpy.Resource(env, capacity=1)


class DmaEngine:
    def __init__(self, env: simpy.Environment, name: str, dram: Dram, trace: Trace):
        self.env, self.name, self.dram, self.trace = env, name, dram, trace
        self.channel = simpy.Resource(env, capacity=1)

    def transfer(self, nbytes: int, action: str, layer: int, tile: int) -> Generator:
        if nbytes <= 0:
            return
        cost = dma_cost(nbytes, self.dram.spec, self.dram.clock_mhz)
        with self.channel.request() as req:
            yield req
            self.trace.record(self.env.now, self.name, "begin", action, layer, tile, nbytes)
            yield self.env.timeout(cost.latency_cycles)
            with self.dram.bus.request() as bus:
                yield bus
                yield self.env.timeout(cost.transfer_cycles)
            self.trace.record(self.env.now, self.name, "end", action, layer, tile, nbytes)


class ComputeUnit:
    def __init__(self, env: simpy.Environment, name: str, trace: Trace):
        self.env, self.name, self.trace = env, name, trace
        self.resource = simpy.Resource(env, capacity=1)

    def run(self, cycles: int, layer: int, tile: int) -> Generator:
        with self.resource.request() as req:
            yield req
            self.trace.record(self.env.now, self.name, "begin", "compute", layer, tile)
            yield self.env.timeout(cycles)
            self.trace.record(self.env.now, self.name, "end", "compute", layer, tile)


class Sram:
    def __init__(self, env: simpy.Environment, size_bytes: int, trace: Trace):
        self.env, self.trace = env, trace
        self.space = simpy.Container(env, capacity=size_bytes, init=size_bytes)

    def alloc(self, nbytes: int, action: str, layer: int, tile: int) -> Generator:
        if nbytes <= 0:
            return
        yield self.space.get(nbytes)
        self.trace.record(self.env.now, "sram", "alloc", action, layer, tile, nbytes)

    def free(self, nbytes: int, action: str, layer: int, tile: int) -> None:
        if nbytes <= 0:
            return
        self.space.put(nbytes)
        self.trace.record(self.env.now, "sram", "free", action, layer, tile, nbytes)
