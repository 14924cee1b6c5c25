"""QDQ Graph -> ONNX ModelProto / file, loadable by onnxruntime and clean under onnx.checker.

Every node is first written in the form its op has at the graph's opset
(``quant.onnx_export_forms``: canonical attributes become constant inputs where the opset wants
inputs, attributes the opset does not know are dropped when neutral). The constants this adds
are initializers named ``{node}.{input}`` (``up.scales``); initializers no exported node reads
(Clip bounds that became attributes before opset 11) are left out.

Node attributes whose names start with ``_`` (``_fused_group``, ``_keep_float``) are hwsim's
markers, unknown to ONNX op schemas: they are dropped from the attributes and kept readable in the
node's ``doc_string`` (``hwsim: _fused_group=conv1``). A fused group needs no marker to be read
back: it is a chain of ops with no QuantizeLinear between them.

Inputs, outputs and every intermediate tensor with a known ``TensorInfo`` are declared (graph
inputs/outputs and ``value_info``), so the full check also compares hwsim's shapes with ONNX's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from quant.ir import Graph, TensorInfo
from quant.onnx_export_forms import export_nodes


def _value_info(info: TensorInfo) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(info.dtype))
    dims = [d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) else None) for d in info.shape]
    return helper.make_tensor_value_info(info.name, elem, dims)


def to_onnx(graph: Graph, *, check: bool = True) -> onnx.ModelProto:
    """The QDQ (or float) graph as an ONNX model; ``check`` runs onnx.checker (full check)."""
    nodes, added = export_nodes(graph)
    read = {i for n in nodes for i in n.input} | set(graph.output_names)  # Clip bounds may have become attributes
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in {**graph.initializers, **added}.items() if k in read]
    outputs = [_value_info(graph.tensors.get(o.name, o)) for o in graph.outputs]
    declared = {*graph.input_names, *graph.output_names, *graph.initializers}
    inner = [graph.tensors[o] for n in graph.nodes for o in n.outputs if o in graph.tensors and o not in declared]
    g = helper.make_graph(nodes, graph.name, [_value_info(i) for i in graph.inputs], outputs, inits,
                          value_info=[_value_info(t) for t in inner])
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
