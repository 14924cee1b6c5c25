"""``prepare``: the float-graph passes before calibration, as one plain list, verified after each."""
from __future__ import annotations

import functools
from typing import Callable

from quant.constraints import QuantConstraints
from quant.ir import Graph, Node, verify
from quant.passes.fold_batchnorm import fold_batchnorm
from quant.passes.fuse import fuse_patterns, mark_float

Pass = Callable[[Graph], Graph]


def float_selector(constraints: QuantConstraints, qconfig=None) -> Callable[[Node], bool]:
    """Nodes that stay float: the target's ``float_ops`` and the config's ``float: true`` overrides."""
    ops = frozenset(constraints.float_ops)
    return lambda n: n.op_type in ops or (qconfig is not None and qconfig.keeps_float(n))


def passes(constraints: QuantConstraints, qconfig=None) -> list[tuple[str, Pass]]:
    """The pipeline: fold BN, mark float nodes, then mark fused groups (never across a float node)."""
    return [
        ("fold_batchnorm", fold_batchnorm),
        ("mark_float", functools.partial(mark_float, keep_float=float_selector(constraints, qconfig))),
        ("fuse_patterns", functools.partial(fuse_patterns, rules=constraints.fused_patterns)),
    ]


def prepare(
    graph: Graph,
    constraints: QuantConstraints,
    qconfig=None,
    *,
    dump: Callable[[str, Graph], None] | None = None,
) -> Graph:
    """Run the pipeline; ``verify`` after each pass; ``dump(pass_name, graph)`` sees each result."""
    verify(graph)
    for name, p in passes(constraints, qconfig):
        graph = p(graph)
        verify(graph)
        if dump is not None:
            dump(name, graph)
    return graph
