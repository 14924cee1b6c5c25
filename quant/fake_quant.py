"""Fake quantization = the QDQ graph run by the float executor (QuantizeLinear rounds half to even
and returns integers, DequantizeLinear returns float32), plus bias correction built on it.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from quant.calibrate import Batch, check_batch
from quant.executor import run
from quant.ir import Graph
from quant.kernels import KernelContext, Mode, lookup
from quant.passes import Site
from quant.qparams import QParams
from quant.rounding import Rounding, dequantize, quantize


def fake_quant_run(qdq: Graph, feeds: Mapping[str, np.ndarray], fetch: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Run a QDQ graph as fake-quant in the float executor."""
    return run(qdq, feeds, fetch=fetch)


def fake_quantize(x: np.ndarray, p: QParams, rounding: Rounding = Rounding.HALF_EVEN) -> np.ndarray:
    """``dequantize(quantize(x))`` with ``p`` (per-channel along ``p.axis``)."""
    axis = p.axis if p.per_channel else None
    q = quantize(x, p.scale, p.zero_point, p.qmin, p.qmax, rounding, axis=axis)
    return dequantize(q, p.scale, p.zero_point, axis)


def agreement(a: np.ndarray, b: np.ndarray, atol: float = 1e-6, rtol: float = 1e-5) -> float:
    """Fraction of elements where two outputs agree (``np.isclose``)."""
    return float(np.mean(np.isclose(a, b, atol=atol, rtol=rtol)))


def correct_biases(
    prepared: Graph,
    table: Mapping[str, QParams],
    sites: Sequence[Site],
    batches: Iterable[Batch],
    rounding: Rounding = Rounding.HALF_EVEN,
) -> tuple[Graph, int]:
    """Empirical bias correction, per layer: for each Conv/Gemm with a quantized bias, the mean
    (over batch and space) of ``y_float - y_fakequant`` per output channel is added to its float bias.

    Both outputs see the same float input (the fake-quant side quantizes it and the weights with
    their final QParams), so each layer's correction is its own quantization bias; corrections are
    not applied sequentially. Returns the graph with new bias values and how many biases changed.
    """
    bias_sites = [s for s in sites if s.kind == "bias"]
    if not bias_sites:
        return prepared, 0
    nodes = {n.name: n for n in prepared.nodes}
    fetch = sorted({t for s in bias_sites for t in (nodes[s.node].inputs[0], nodes[s.node].outputs[0])})
    wq = {s.node: fake_quantize(prepared.initializers[s.operands[1]], table[s.operands[1]], rounding) for s in bias_sites}
    sums: dict[str, np.ndarray] = {}
    count = 0
    for i, batch in enumerate(batches):
        values = run(prepared, check_batch(prepared, batch, i), fetch=fetch)
        for s in bias_sites:
            n = nodes[s.node]
            x = fake_quantize(values[n.inputs[0]], table[n.inputs[0]])
            fn = lookup(n.op_type, Mode.FLOAT, prepared.opset, n.name)
            y_q = fn([x, wq[s.node], prepared.initializers[s.tensor]], n.attrs, KernelContext(n.name, prepared.opset))[0]
            diff = values[n.outputs[0]].astype(np.float64) - y_q
            axes = tuple(a for a in range(diff.ndim) if a != 1)
            sums[s.node] = sums.get(s.node, 0.0) + diff.mean(axis=axes)
        count += 1
    inits = dict(prepared.initializers)
    for s in bias_sites:
        b = inits[s.tensor]
        inits[s.tensor] = (b.astype(np.float64) + (sums[s.node] / max(count, 1)).reshape(b.shape)).astype(b.dtype)
    return prepared.replace(initializers=inits), len(bias_sites)
