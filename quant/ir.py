"""The graph IR every stage works on: frozen nodes in topological order, numpy initializers.

Edits return new objects (``dataclasses.replace``); nothing here mutates a graph in place.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from quant.errors import ModelError

Dim = int | str  # a str is a symbolic dimension (only the batch dimension may stay symbolic)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[Dim, ...]
    dtype: str  # numpy dtype name, e.g. "float32"

    def with_batch(self, batch: int) -> tuple[int, ...]:
        """The concrete shape for a given batch size (a symbolic leading dim becomes ``batch``)."""
        return tuple(batch if isinstance(d, str) else d for d in self.shape)


@dataclass(frozen=True)
class Node:
    name: str
    op_type: str
    inputs: tuple[str, ...]  # "" marks an omitted optional input, as in ONNX
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)  # plain Python values, never protobuf
    domain: str = ""


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    initializers: Mapping[str, np.ndarray]
    tensors: Mapping[str, TensorInfo] = field(default_factory=dict)  # shape/dtype of every value known
    opset: int = 17
    name: str = "graph"

    def replace(self, **changes: Any) -> Graph:
        return dataclasses.replace(self, **changes)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def fixed_batch(self) -> int | None:
        """The inputs' leading dimension when none is symbolic; None when the batch is free."""
        lead = [i.shape[0] for i in self.inputs if i.shape]
        if not lead or any(isinstance(d, str) for d in lead):
            return None
        return lead[0]

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        uses: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    uses.setdefault(i, []).append(n)
        return uses

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def op_types(self) -> set[str]:
        return {n.op_type for n in self.nodes}


def topological_order(nodes: Iterable[Node], available: Iterable[str]) -> tuple[Node, ...]:
    """Order nodes so every input is produced before use (stable for already-sorted input)."""
    ready = set(available) | {""}
    pending = list(nodes)
    ordered: list[Node] = []
    while pending:
        rest = []
        for n in pending:
            if all(i in ready for i in n.inputs):
                ordered.append(n)
                ready.update(n.outputs)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            missing = sorted({i for n in rest for i in n.inputs if i not in ready})
            raise ModelError(
                f"node '{rest[0].name}' ({rest[0].op_type}): inputs {missing[:5]} are never produced "
                "(a cycle or a dangling edge); check the model with onnx.checker"
            )
        pending = rest
    return tuple(ordered)


def verify(graph: Graph) -> None:
    """Check the invariants every pass must keep: unique names, one producer, topological order."""
    seen_nodes: set[str] = set()
    produced = set(graph.input_names) | set(graph.initializers) | {""}
    for n in graph.nodes:
        if n.name in seen_nodes:
            raise ModelError(f"node name '{n.name}' is used twice")
        seen_nodes.add(n.name)
        for i in n.inputs:
            if i not in produced:
                raise ModelError(f"node '{n.name}' ({n.op_type}) reads '{i}' before it is produced")
        for o in n.outputs:
            if o and o in produced:
                raise ModelError(f"tensor '{o}' has more than one producer (node '{n.name}')")
            produced.add(o)
        for k, v in n.attrs.items():
            if not isinstance(v, (int, float, str, bytes, tuple, list, np.ndarray, Graph)):
                raise ModelError(f"node '{n.name}' attribute '{k}' has unsupported type {type(v).__name__}")
    for o in graph.output_names:
        if o not in produced:
            raise ModelError(f"graph output '{o}' is never produced")
