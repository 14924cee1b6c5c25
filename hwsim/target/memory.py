"""Memory hierarchy of a target: on-chip SRAM levels and off-chip DRAM."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hwsim.target.base import Strict


class OnChipMemory(Strict):
    """One on-chip SRAM level."""

    size_bytes: Annotated[int, Field(gt=0, description="Capacity in bytes.", examples=[262144])]
    bytes_per_cycle: Annotated[float, Field(gt=0, description="Read+write bandwidth to the compute units, bytes per accelerator cycle.")] = 64.0
    double_buffered: Annotated[bool, Field(description="Tiles are double-buffered (load of tile i+1 overlaps compute of tile i).")] = True
    banks: Annotated[int, Field(ge=1, description="Independent banks (informational; conflicts are not modelled).")] = 1


class SharedMemory(OnChipMemory):
    """A further on-chip level (L2/L3, e.g. TI's MSMC) between the local SRAM and DRAM."""

    name: Annotated[str, Field(min_length=1, description="Vendor name of the level.", examples=["MSMC"])]


class Dram(Strict):
    """Off-chip memory, shared by all DMA transfers."""

    bandwidth_gb_per_s: Annotated[float, Field(gt=0, description="Peak bandwidth, 10^9 bytes per second.", examples=[12.8])]
    latency_ns: Annotated[float, Field(ge=0, description="Latency of one transfer, nanoseconds.")] = 100.0
    efficiency: Annotated[float, Field(gt=0, le=1, description="Fraction of peak bandwidth sustained in practice.")] = 0.8


class Memory(Strict):
    sram: Annotated[OnChipMemory, Field(description="The local buffer the compute units read (scratchpad).")]
    accumulator_bytes: Annotated[
        int, Field(ge=0, description="Separate accumulator memory (e.g. Gemmini's); 0 = accumulators live in sram.")
    ] = 0
    shared: Annotated[list[SharedMemory], Field(description="Further on-chip levels, innermost first.")] = []
    dram: Dram
