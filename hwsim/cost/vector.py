"""Cycles of one command on the vector (SIMD) unit: ``ceil(elements / lanes)`` plus pipeline latency.

``elements`` is the number of element operations the command performs: one per output element for
element-wise ops, lookup-table activations, Concat, Resize and Pad; the window size per output for
pooling; ``kh * kw`` per output for a depthwise convolution run on the vector unit (one MAC per
lane per cycle). The compiler decides the count; this function only turns it into cycles. The
latency is charged once per command, i.e. once per tile.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VectorCost:
    elements: int
    lanes: int
    pipeline_latency_cycles: int

    @property
    def issue_cycles(self) -> int:
        return -(-self.elements // self.lanes)

    @property
    def cycles(self) -> int:
        return self.issue_cycles + self.pipeline_latency_cycles


def vector_cost(elements: int, lanes: int, pipeline_latency_cycles: int) -> VectorCost:
    if elements < 0 or lanes < 1:
        raise ValueError(f"vector_cost needs elements >= 0 and lanes >= 1, got {elements}, {lanes}")
    return VectorCost(elements, lanes, pipeline_latency_cycles)
