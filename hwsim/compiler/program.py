"""What the compiler produces and the simulator consumes: a ``Program`` of ``Layer``s made of ``Tile``s.

Everything here is a frozen dataclass of plain numbers; durations of DMA transfers are left to the
simulator (they depend on contention), compute cycles of every tile are fixed by the cost models.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from hwsim.cost.systolic import GemmShape
from hwsim.errors import HwsimError


class CompileError(HwsimError):
    """A graph cannot be lowered onto a target (missing shape, a layer that cannot fit SRAM, ...)."""


class Unit(str, enum.Enum):
    """The block that computes a layer."""

    MAC_ARRAY = "mac_array"
    VECTOR = "vector"
    HOST = "host"


@dataclass(frozen=True)
class Tile:
    """One step of a layer: load (weights, then activations), compute on the layer's unit, store.

    Byte counts are DRAM traffic (0 when the data is already on chip). ``sram_bytes`` is the buffer
    space the tile takes when its load starts; the ``sram_out_bytes`` of it that hold the output
    (accumulators) are kept until its store ends, the rest (input, weight and residual slices) is
    returned when its compute ends.
    """

    index: int
    load_weight_bytes: int
    load_input_bytes: int
    compute_cycles: int
    store_bytes: int
    sram_bytes: int
    macs: int = 0
    sram_out_bytes: int = 0


Order = Literal["m_outer", "n_outer"]


@dataclass(frozen=True)
class Tiling:
    """How a layer's iteration space is cut. GEMM layers tile (m, n, k); streaming layers only m.

    ``order`` is the loop nest: ``m_outer`` (for m: for n: for k) reuses an input tile across
    output-channel tiles, ``n_outer`` (for n: for m: for k) reuses a weight tile across pixel tiles.
    """

    m: int
    n: int
    k: int
    order: Order
    weights_resident: bool
    count: int
    working_set_bytes: int
    estimate_cycles: int


@dataclass(frozen=True)
class Layer:
    """One hardware op: a fused group of ONNX nodes run as one command stream on one unit."""

    index: int
    name: str
    op_type: str
    unit: Unit
    nodes: tuple[str, ...]
    op_types: tuple[str, ...]
    reason: str
    gemm: GemmShape | None
    groups: int
    macs: int
    elements: int
    flops: int
    input_tensors: tuple[str, ...]
    inputs_on_chip: tuple[bool, ...]
    output_tensors: tuple[str, ...]
    output_on_chip: bool
    input_bytes: int
    weight_bytes: int
    output_bytes: int
    depends_on: tuple[int, ...]
    hold_bytes: int
    keep_bytes: int
    frees: tuple[int, ...]
    tiling: Tiling
    tiles: tuple[Tile, ...]

    @property
    def fused(self) -> bool:
        return len(self.nodes) > 1

    @property
    def input_on_chip(self) -> bool:
        return any(self.inputs_on_chip)

    @property
    def compute_cycles(self) -> int:
        return sum(t.compute_cycles for t in self.tiles)

    @property
    def dram_bytes_read(self) -> int:
        return sum(t.load_weight_bytes + t.load_input_bytes for t in self.tiles)

    @property
    def dram_bytes_written(self) -> int:
        return sum(t.store_bytes for t in self.tiles)


@dataclass(frozen=True)
class Program:
    """A graph lowered onto a target: layers in execution order."""

    graph_name: str
    target_name: str
    batch: int
    layers: tuple[Layer, ...]

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name or name in layer.nodes:
                return layer
        raise KeyError(name)
