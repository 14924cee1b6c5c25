"""Cycles (at the accelerator clock) of one op handed to the host processor.

``flops / host.gflops`` plus ``host.call_overhead_us``, converted to accelerator cycles so every
timeline is in one unit. The host runs the op in float from DRAM; the transfers of its inputs and
outputs are separate DMA costs the simulation charges on the shared DRAM bus.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from hwsim.target.compute import Host


@dataclass(frozen=True)
class HostCost:
    flops: int
    compute_cycles: int
    overhead_cycles: int

    @property
    def cycles(self) -> int:
        return self.compute_cycles + self.overhead_cycles


def host_cost(flops: int, host: Host, clock_mhz: float) -> HostCost:
    seconds = flops / (host.gflops * 1e9)
    return HostCost(
        flops,
        math.ceil(seconds * clock_mhz * 1e6 - 1e-9),
        math.ceil(host.call_overhead_us * clock_mhz - 1e-9),
    )
