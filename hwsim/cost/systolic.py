"""Compute cycles of a GEMM on an R x C systolic array, per dataflow, as SCALE-Sim counts them.

A GEMM is ``M`` output rows (output pixels) x ``N`` output columns (filters) x ``K`` reduction
(window x input channels). Each dataflow keeps one operand in the processing elements and streams
another; two GEMM dimensions fold over the array's rows and columns, the third streams:

=================  ===========  ===========  ========  =====================
dataflow           over rows    over cols    streams   cycles of one fold
=================  ===========  ===========  ========  =====================
output_stationary  M            N            K         K + R + C - 2
weight_stationary  K            N            M         M + 2R + C - 2
input_stationary   K            M            N         N + 2R + C - 2
=================  ===========  ===========  ========  =====================

Folds run back to back, so ``cycles = ceil(rows_dim / R) * ceil(cols_dim / C) * cycles_per_fold``.
SCALE-Sim 3 reports one cycle less for a whole layer (it counts from cycle 0); that number is
``SystolicCost.scalesim_cycles``. The fill (``R - 1`` or ``2R - 1`` with a weight or input
preload) and the drain (``C - 1``) are charged to every fold, which is what makes a tall-and-thin
GEMM such as a depthwise convolution (``N = 1``) use a sliver of the array.

Each dataflow is one ``Mapping`` registered in ``MAPPINGS``; there is no per-dataflow copy of the
cost function.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Literal

GemmDim = Literal["m", "n", "k"]


class Dataflow(str, enum.Enum):
    """What stays in the processing elements (the target file's ``mac_array.dataflow``)."""

    OUTPUT_STATIONARY = "output_stationary"
    WEIGHT_STATIONARY = "weight_stationary"
    INPUT_STATIONARY = "input_stationary"

    @property
    def short(self) -> str:
        """SCALE-Sim's name for it: os, ws or is."""
        return {"output_stationary": "os", "weight_stationary": "ws", "input_stationary": "is"}[self.value]


@dataclass(frozen=True)
class GemmShape:
    """One GEMM: ``m`` output rows x ``n`` output columns x ``k`` reduction length."""

    m: int
    n: int
    k: int

    def __post_init__(self) -> None:
        if min(self.m, self.n, self.k) < 1:
            raise ValueError(f"GEMM dimensions must be positive, got m={self.m} n={self.n} k={self.k}")

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k


@dataclass(frozen=True)
class Mapping:
    """How one dataflow places a GEMM: the dims folded over rows and columns, the streamed dim, and
    the per-fold overhead (fill + drain) in cycles as a function of (rows, cols)."""

    over_rows: GemmDim
    over_cols: GemmDim
    streamed: GemmDim
    fill_drain: Callable[[int, int], int]

    def align(self, dim: GemmDim, rows: int, cols: int) -> int:
        """Tile sizes along ``dim`` that are multiples of this keep tiling free of extra folds."""
        return {self.over_rows: rows, self.over_cols: cols}.get(dim, 1)


MAPPINGS: dict[Dataflow, Mapping] = {
    Dataflow.OUTPUT_STATIONARY: Mapping("m", "n", "k", lambda r, c: r + c - 2),
    Dataflow.WEIGHT_STATIONARY: Mapping("k", "n", "m", lambda r, c: 2 * r + c - 2),
    Dataflow.INPUT_STATIONARY: Mapping("k", "m", "n", lambda r, c: 2 * r + c - 2),
}


@dataclass(frozen=True)
class SystolicCost:
    """Cycles of one GEMM on the array (compute only: no memory stalls)."""

    dataflow: Dataflow
    shape: GemmShape
    rows: int
    cols: int
    row_folds: int
    col_folds: int
    cycles_per_fold: int

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds

    @property
    def cycles(self) -> int:
        return self.folds * self.cycles_per_fold

    @property
    def scalesim_cycles(self) -> int:
        """What SCALE-Sim 3 reports as the layer's compute cycles (it counts from 0)."""
        return self.cycles - 1

    @property
    def macs(self) -> int:
        return self.shape.macs

    @property
    def utilization(self) -> float:
        """Useful MACs over MAC slots during the compute cycles."""
        return self.macs / (self.cycles * self.rows * self.cols)

    @property
    def mapping_efficiency(self) -> float:
        """Fraction of the array the folds cover (SCALE-Sim's 'Mapping Efficiency')."""
        m = MAPPINGS[self.dataflow]
        dims = {"m": self.shape.m, "n": self.shape.n, "k": self.shape.k}
        return (dims[m.over_rows] * dims[m.over_cols]) / (self.folds * self.rows * self.cols)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def systolic_cost(shape: GemmShape, rows: int, cols: int, dataflow: Dataflow | str) -> SystolicCost:
    """Compute cycles of ``shape`` on a ``rows`` x ``cols`` array with ``dataflow``."""
    df = Dataflow(dataflow)
    mp = MAPPINGS[df]
    dims = {"m": shape.m, "n": shape.n, "k": shape.k}
    return SystolicCost(
        dataflow=df,
        shape=shape,
        rows=rows,
        cols=cols,
        row_folds=_ceil(dims[mp.over_rows], rows),
        col_folds=_ceil(dims[mp.over_cols], cols),
        cycles_per_fold=dims[mp.streamed] + mp.fill_drain(rows, cols),
    )


def systolic_cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: Dataflow) -> int:
    """``systolic_cost(...).cycles`` without building objects (the tiler calls this in its search)."""
    mp = MAPPINGS[dataflow]
    dims = {"m": m, "n": n, "k": k}
    return _ceil(dims[mp.over_rows], rows) * _ceil(dims[mp.over_cols], cols) * (dims[mp.streamed] + mp.fill_drain(rows, cols))
