"""The numpy executor: one loop for every mode; it never branches on op type."""
from __future__ import annotations

from collections import Counter
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


def _root(value: object) -> int:
    """Identity of the object that owns a tensor's memory: every view or reshape of it shares the root."""
    while isinstance(value, np.ndarray) and value.base is not None:
        value = value.base
    return id(value)


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
    frees = _last_uses(graph, keep=wanted)
    # A tensor read for the last time may be donated to its reader (written over in place, which saves
    # allocating and page-faulting a fresh result) only if no other live tensor shares its memory
    # (views, Identity), and it is not the caller's memory (feeds, initializers).
    pinned = {_root(v) for v in values.values()}
    holders = Counter(_root(v) for v in values.values())
    for idx, node in enumerate(graph.nodes):
        fn = lookup(node.op_type, mode, graph.opset, node.name)
        args = [values[i] if i else None for i in node.inputs]
        dying = frees.get(idx, ())
        donated = frozenset(
            pos for pos, (name, a) in enumerate(zip(node.inputs, args))
            if name in dying and node.inputs.count(name) == 1 and isinstance(a, np.ndarray)
            and _root(a) not in pinned and holders[_root(a)] == 1
        )
        outs = fn(args, node.attrs, KernelContext(node.name, graph.opset, arith, donated))
        if not isinstance(outs, tuple) or not outs:
            raise ModelError(f"kernel for node '{node.name}' ({node.op_type}) returned {type(outs).__name__}, not a tuple")
        for name, value in zip(node.outputs, outs):
            if not name:
                continue
            values[name] = value
            holders[_root(value)] += 1
        for name in dying:
            if name in values:
                root = _root(values.pop(name))
                holders[root] -= 1
                if not holders[root]:
                    del holders[root]
    missing = wanted - values.keys()
    if missing:
        raise ModelError(f"tensors {sorted(missing)[:5]} were requested but never computed")
    return {k: values[k] for k in wanted}
