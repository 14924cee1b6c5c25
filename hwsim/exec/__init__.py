"""hwsim's bit-exact integer executor: lower a QDQ model for a target, then run its Int* kernels.

    run_integer(qdq_graph, target, feeds)        -> the QDQ model's outputs (float after the final DQ)
    run_integer_codes(qdq_graph, target, feeds)  -> {float tensor: QuantTensor(codes, scale, zero point)}
    lower(qdq_graph, target)                     -> the integer graph (Int* nodes, quant.ir.Graph)
    host_nodes(lower(qdq_graph, target))         -> its HostFloat nodes: (name, op_type, reason)
    check_constraints(qdq_graph, constraints)    -> every Violation of the target's quantization rules
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from hwsim.exec import kernels_host, kernels_mac, kernels_pool, kernels_vector  # noqa: F401  (fill the registry)
from hwsim.exec.arith import Arith
from hwsim.exec.constraint_check import Violation, check_constraints
from hwsim.exec.lower import HostNode, host_nodes, lower, lower_with_codes
from hwsim.exec.qparams import LoweringError, QParams
from quant.executor import run
from quant.ir import Graph
from quant.kernels.registry import Mode

__all__ = [
    "Arith", "HostNode", "LoweringError", "QParams", "QuantTensor", "Violation",
    "check_constraints", "host_nodes", "lower", "run_integer", "run_integer_codes",
]


@dataclass(frozen=True, eq=False)
class QuantTensor:
    """Integer codes of one quantized tensor and its grid: real = scale * (codes - zero_point)."""

    codes: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    int_name: str  # the QuantizeLinear output naming these codes in the QDQ graph

    def dequantize(self) -> np.ndarray:
        return (self.codes.astype(np.int64) - self.zero_point).astype(np.float32) * self.scale


def _target(target: Any) -> Any:
    if isinstance(target, str):
        from hwsim.target import load

        return load(target)
    return target


def run_integer(
    qdq_graph: Graph, target: Any, feeds: Mapping[str, np.ndarray], *, fetch: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Execute a QDQ model the way ``target``'s integer hardware computes it (target: Target or name).

    Returns the QDQ model's outputs (float after its final DequantizeLinear) plus any integer-graph
    tensor named in ``fetch``.
    """
    target = _target(target)
    return run(lower(qdq_graph, target), feeds, mode=Mode.INT, fetch=fetch, arith=Arith.from_target(target))


def run_integer_codes(qdq_graph: Graph, target: Any, feeds: Mapping[str, np.ndarray]) -> dict[str, QuantTensor]:
    """Integer codes of every quantized tensor, keyed by the float tensor its QuantizeLinear quantizes
    (the float model's tensor name, so per-layer SQNR can pair them); fused intermediates are absent."""
    target = _target(target)
    graph, codes = lower_with_codes(qdq_graph, target)
    values = run(graph, feeds, mode=Mode.INT, fetch=[n for n, _ in codes.values()], arith=Arith.from_target(target))
    return {f: QuantTensor(values[n], qp.scale, qp.zero_point, n) for f, (n, qp) in codes.items()}
