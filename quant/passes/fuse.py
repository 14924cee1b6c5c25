"""Mark fused groups and float nodes with node attributes (no node is added or removed).

A fused group is a chain the target runs as one op (``QuantConstraints.fused_patterns``, e.g.
Conv+Relu, Conv+Add+Relu): every node of the group gets ``_fused_group = <first node's name>``, and
``insert_qdq`` places no quantizer on a tensor that flows between two nodes of one group; only the
last node's output is quantized, so a fused ReLU/Clip becomes a clamp through that output's range.
Only the part of a pattern that integer hardware applies to the accumulator
(``quant.opset.ACCUMULATOR_EPILOGUE``: BN, ReLU/Clip, a residual Add) joins a quantization group:
Conv+Sigmoid or Conv+Relu+MaxPool keep a quantizer before the Sigmoid / MaxPool, as the hardware
requantizes before its LUT or pooling stage. (The simulator fuses the whole pattern for timing.)
Nodes that stay float get ``_keep_float = 1``; they never join a group.
Both attributes start with ``_``: the QDQ exporter drops them (ONNX op schemas do not know them).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from quant.constraints import FusionRule
from quant.ir import Graph, Node
from quant.opset import ACCUMULATOR_EPILOGUE
from quant.passes.rewrite import FUSED_GROUP, KEEP_FLOAT, Chain, Rewrite, apply_rules

FOLDED_OPS = ("BatchNormalization",)  # folded into the op before them by fold_batchnorm


def _chains(rules: Sequence[FusionRule | Sequence[str]]) -> list[Chain]:
    """Each pattern as written and without the folded BN ops; longest first, so Conv+Add+Relu wins."""
    seen: set[tuple[str, ...]] = set()
    for r in rules:
        ops = tuple(r.pattern if isinstance(r, FusionRule) else r)
        cut = next((i for i, op in enumerate(ops) if i and op not in ACCUMULATOR_EPILOGUE), len(ops))
        ops = ops[:cut]
        seen.add(ops)
        seen.add(tuple(op for op in ops if op not in FOLDED_OPS) or ops[:1])
    return [Chain(ops) for ops in sorted(seen, key=lambda o: (-len(o), o)) if len(ops) > 1]


def _mark(graph: Graph, match: tuple[Node, ...]) -> Rewrite | None:
    if any(FUSED_GROUP in n.attrs or n.attrs.get(KEEP_FLOAT) for n in match):
        return None
    group = match[0].name
    return Rewrite(tuple(dataclasses.replace(n, attrs={**n.attrs, FUSED_GROUP: group}) for n in match))


def fuse_patterns(graph: Graph, rules: Sequence[FusionRule | Sequence[str]]) -> Graph:
    """Set ``_fused_group`` on every chain of nodes matching one of ``rules``."""
    return apply_rules(graph, [(chain, _mark) for chain in _chains(rules)])


def mark_float(graph: Graph, keep_float: Callable[[Node], bool]) -> Graph:
    """Set ``_keep_float = 1`` on every node for which ``keep_float(node)`` is true."""
    nodes = tuple(
        dataclasses.replace(n, attrs={**n.attrs, KEEP_FLOAT: 1}) if keep_float(n) and not n.attrs.get(KEEP_FLOAT) else n
        for n in graph.nodes
    )
    return graph if all(a is b for a, b in zip(nodes, graph.nodes)) else graph.replace(nodes=nodes)


def groups(graph: Graph) -> dict[str, tuple[Node, ...]]:
    """Fused group name -> its nodes in graph order."""
    out: dict[str, list[Node]] = {}
    for n in graph.nodes:
        if FUSED_GROUP in n.attrs:
            out.setdefault(n.attrs[FUSED_GROUP], []).append(n)
    return {k: tuple(v) for k, v in out.items()}


def interior_tensors(graph: Graph) -> set[str]:
    """Tensors that flow from one node of a fused group to another (never quantized)."""
    inner: set[str] = set()
    for nodes in groups(graph).values():
        produced = {o for n in nodes for o in n.outputs}
        inner.update(i for n in nodes for i in n.inputs if i in produced)
    return inner


def is_float(node: Node) -> bool:
    return bool(node.attrs.get(KEEP_FLOAT))
