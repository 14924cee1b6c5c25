"""Declarative local rewrites: a ``Chain`` pattern plus a rewrite function, applied to a fixpoint.

A ``Chain(("Conv", "BatchNormalization"))`` matches nodes n0 -> n1 -> ... where each node reads the
previous node's first output, and every output inside the chain has that single reader and is not a
graph output (so rewriting it cannot change anything outside the match).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from quant.ir import Graph, Node, TensorInfo, topological_order

FUSED_GROUP = "_fused_group"  # node attribute: the name of the fused group the node belongs to
KEEP_FLOAT = "_keep_float"  # node attribute: 1 when the node stays float (no quantizers around it)


@dataclass(frozen=True)
class Chain:
    ops: tuple[str, ...]

    def match(self, start: Node, graph: Graph, consumers: Mapping[str, list[Node]]) -> tuple[Node, ...] | None:
        if start.op_type != self.ops[0]:
            return None
        chain = [start]
        outputs = set(graph.output_names)
        for op in self.ops[1:]:
            prev = chain[-1]
            out = prev.outputs[0] if prev.outputs else ""
            if not out or out in outputs or any(o and consumers.get(o) for o in prev.outputs[1:]):
                return None
            readers = consumers.get(out, [])
            if len(readers) != 1 or readers[0].op_type != op:
                return None
            chain.append(readers[0])
        return tuple(chain)


@dataclass(frozen=True)
class Rewrite:
    """Replace the matched nodes by ``nodes`` and set (or, with ``None``, drop) initializers."""

    nodes: tuple[Node, ...]
    initializers: Mapping[str, np.ndarray | None] = field(default_factory=dict)
    tensors: Mapping[str, TensorInfo] = field(default_factory=dict)


Rule = tuple[Chain, Callable[[Graph, tuple[Node, ...]], Rewrite | None]]


def apply_rules(graph: Graph, rules: Sequence[Rule], max_sweeps: int = 100) -> Graph:
    """Apply ``rules`` (earlier rules first at each node) until no rule rewrites anything."""
    for _ in range(max_sweeps):
        consumers = graph.consumers()
        taken: set[str] = set()
        replaced: dict[str, tuple[Node, ...]] = {}  # first matched node name -> replacement nodes
        inits = dict(graph.initializers)
        tensors = dict(graph.tensors)
        for node in graph.nodes:
            if node.name in taken:
                continue
            for pattern, fn in rules:
                match = pattern.match(node, graph, consumers)
                if match is None or any(n.name in taken for n in match):
                    continue
                rw = fn(graph, match)
                if rw is None:
                    continue
                taken.update(n.name for n in match)
                replaced[match[0].name] = rw.nodes
                for n in match[1:]:
                    replaced[n.name] = ()
                for k, v in rw.initializers.items():
                    if v is None:
                        inits.pop(k, None)
                    else:
                        inits[k] = v
                tensors.update(rw.tensors)
                break
        if not replaced:
            return graph
        nodes = [m for n in graph.nodes for m in replaced.get(n.name, (n,))]
        ordered = topological_order(nodes, [*inits, *graph.input_names])
        graph = graph.replace(nodes=ordered, initializers=inits, tensors=tensors)
    raise RuntimeError(f"rewrite rules did not converge after {max_sweeps} sweeps")


def prune_initializers(graph: Graph) -> Graph:
    """Drop initializers no node reads (and that are not graph outputs)."""
    used = {i for n in graph.nodes for i in n.inputs} | set(graph.output_names)
    if all(k in used for k in graph.initializers):
        return graph
    return graph.replace(initializers={k: v for k, v in graph.initializers.items() if k in used})


def fresh_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``... whichever is not in ``taken`` (which is then updated)."""
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def all_names(graph: Graph) -> set[str]:
    names = set(graph.initializers) | set(graph.input_names) | set(graph.tensors)
    for n in graph.nodes:
        names.add(n.name)
        names.update(n.outputs)
    return names


def sync_tensors(graph: Graph) -> Graph:
    """Drop tensor infos of names no longer in the graph; add infos for new initializers."""
    used = set(graph.initializers) | set(graph.input_names) | set(graph.output_names)
    for n in graph.nodes:
        used.update(n.inputs)
        used.update(n.outputs)
    tensors = {k: v for k, v in graph.tensors.items() if k in used}
    for k, v in graph.initializers.items():
        tensors[k] = TensorInfo(k, tuple(v.shape), v.dtype.name)
    return graph.replace(tensors=tensors)
