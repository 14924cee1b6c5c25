"""The numpy executor: one loop for every mode; it never branches on op type."""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from quant.errors import ModelError
from quant.ir import Graph
from quant.kernels.registry import KernelContext, Mode, lookup


def _last_uses(graph: Graph, keep: set[str]) -> dict[int, list[str]]:
    """For each node index, the tensors whose last reader it is (so memory stays bounded)."""
    last: dict[str, int] = {}
    for idx, n in enumerate(graph.nodes):
        for i in n.inputs:
            if i:
                last[i] = idx
    frees: dict[int, list[str]] = {}
    for name, idx in last.items():
        if name not in keep and name not in graph.initializers:
            frees.setdefault(idx, []).append(name)
    return frees


def run(
    graph: Graph,
    feeds: Mapping[str, np.ndarray],
    *,
    mode: Mode = Mode.FLOAT,
    fetch: Iterable[str] | None = None,
    arith: object = None,
) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``feeds``; return the graph outputs plus every tensor named in ``fetch``."""
    wanted = set(graph.output_names) | set(fetch or ())
    values: dict[str, np.ndarray] = dict(graph.initializers)
    values.update(feeds)
    frees = _last_uses(graph, wanted)
    for idx, node in enumerate(graph.nodes):
        fn = lookup(node.op_type, mode, graph.opset, node.name)
        args = [values[i] if i else None for i in node.inputs]
        outs = fn(args, node.attrs, KernelContext(node.name, graph.opset, arith))
        if not isinstance(outs, tuple) or not outs:
            raise ModelError(f"kernel for node '{node.name}' ({node.op_type}) returned {type(outs).__name__}, not a tuple")
        for name, value in zip(node.outputs, outs):
            if not name:
                continue
            values[name] = value
        for name in frees.get(idx, ()):
            values.pop(name, None)
    missing = wanted - values.keys()
    if missing:
        raise ModelError(f"tensors {sorted(missing)[:5]} were requested but never computed")
    return {k: values[k] for k in wanted}
