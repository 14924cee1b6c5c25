"""Cycles of one DMA transfer between DRAM and SRAM: latency plus bytes over sustained bandwidth.

Sustained bandwidth is ``dram.bandwidth_gb_per_s * dram.efficiency`` (10^9 bytes/s), converted to
bytes per accelerator cycle with ``clock_mhz``. The latency (``dram.latency_ns``) is paid once per
transfer; in the simulation it occupies the DMA engine but not the DRAM bus, so one engine's
latency overlaps another's data transfer, while the data phases of all engines share the bus.
A transfer of zero bytes costs nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from hwsim.target.memory import Dram


@dataclass(frozen=True)
class DmaCost:
    nbytes: int
    latency_cycles: int
    transfer_cycles: int

    @property
    def cycles(self) -> int:
        return self.latency_cycles + self.transfer_cycles


def dram_bytes_per_cycle(dram: Dram, clock_mhz: float) -> float:
    """Sustained DRAM bytes per accelerator cycle."""
    return dram.bandwidth_gb_per_s * dram.efficiency * 1e3 / clock_mhz


def dram_latency_cycles(dram: Dram, clock_mhz: float) -> int:
    return math.ceil(dram.latency_ns * clock_mhz / 1e3 - 1e-9)


def dma_cost(nbytes: int, dram: Dram, clock_mhz: float) -> DmaCost:
    if nbytes <= 0:
        return DmaCost(0, 0, 0)
    return DmaCost(
        nbytes,
        dram_latency_cycles(dram, clock_mhz),
        math.ceil(nbytes / dram_bytes_per_cycle(dram, clock_mhz) - 1e-9),
    )
