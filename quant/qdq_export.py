"""QDQ Graph -> ONNX ModelProto / file, loadable by onnxruntime and clean under onnx.checker.

Node attributes whose names start with ``_`` (``_fused_group``, ``_keep_float``) are hwsim's
markers, unknown to ONNX op schemas: they are dropped from the attributes and kept readable in the
node's ``doc_string`` (``hwsim: _fused_group=conv1``). A fused group needs no marker to be read
back: it is a chain of ops with no QuantizeLinear between them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from quant.errors import ModelError
from quant.ir import Graph, TensorInfo

def _value_info(info: TensorInfo) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(info.dtype))
    dims = [d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) else None) for d in info.shape]
    return helper.make_tensor_value_info(info.name, elem, dims)


def _attr(node_name: str, key: str, v):
    if isinstance(v, np.ndarray):
        return numpy_helper.from_array(v)
    if isinstance(v, Graph):
        raise ModelError(f"node '{node_name}': attribute '{key}' holds a subgraph, which QDQ export does not support")
    if isinstance(v, tuple):
        return list(v)
    return v


def to_onnx(graph: Graph, *, check: bool = True) -> onnx.ModelProto:
    """The QDQ (or float) graph as an ONNX model; ``check`` runs onnx.checker (full check)."""
    nodes = []
    for n in graph.nodes:
        attrs = {k: _attr(n.name, k, v) for k, v in n.attrs.items() if not k.startswith("_")}
        markers = [f"{k}={v}" for k, v in n.attrs.items() if k.startswith("_")]
        node = helper.make_node(n.op_type, list(n.inputs), list(n.outputs), name=n.name, domain=n.domain or None, **attrs)
        if markers:
            node.doc_string = "hwsim: " + " ".join(markers)
        nodes.append(node)
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in graph.initializers.items()]
    outputs = [_value_info(graph.tensors.get(o.name, o)) for o in graph.outputs]
    g = helper.make_graph(nodes, graph.name, [_value_info(i) for i in graph.inputs], outputs, inits)
    domains = sorted({n.domain for n in graph.nodes if n.domain and n.domain not in ("", "ai.onnx")})
    opsets = [helper.make_opsetid("", graph.opset)] + [helper.make_opsetid(d, 1) for d in domains]
    ir = max(8, helper.find_min_ir_version_for(opsets))  # the oldest IR that holds the opset
    model = helper.make_model(g, opset_imports=opsets, producer_name="hwsim.quant", ir_version=ir)
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def save(graph: Graph, path: str | Path) -> Path:
    path = Path(path)
    onnx.save(to_onnx(graph), str(path))
    return path


__all__ = ["save", "to_onnx"]
