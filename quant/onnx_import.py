"""ONNX -> Graph. Minimal first version: initializers, attributes as Python values, shape inference.

(To be extended: opset normalization, constant folding, Identity/Dropout removal, error reporting.)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from quant.errors import ModelError
from quant.ir import Graph, Node, TensorInfo, topological_order


def _attr_value(a: onnx.AttributeProto):
    v = helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, list):
        return tuple(x.decode("utf-8") if isinstance(x, bytes) else x for x in v)
    return v


def _tensor_info(vi: onnx.ValueInfoProto) -> TensorInfo:
    tt = vi.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else "float32"
    return TensorInfo(vi.name, dims, dtype)


def import_model(model: str | Path | onnx.ModelProto) -> Graph:
    if not isinstance(model, onnx.ModelProto):
        try:
            model = onnx.load(str(model))
        except Exception as e:  # onnx raises several types for unreadable files
            raise ModelError(f"{model}: cannot read as ONNX ({e}); check the file") from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    inferred = shape_inference.infer_shapes(model)
    g = inferred.graph
    initializers = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    tensors = {vi.name: _tensor_info(vi) for vi in (*g.input, *g.value_info, *g.output)}
    for name, arr in initializers.items():
        tensors[name] = TensorInfo(name, tuple(arr.shape), arr.dtype.name)
    inputs = tuple(_tensor_info(vi) for vi in g.input if vi.name not in initializers)
    outputs = tuple(_tensor_info(vi) for vi in g.output)
    nodes = []
    for i, n in enumerate(g.node):
        nodes.append(
            Node(
                name=n.name or f"{n.op_type}_{i}",
                op_type=n.op_type,
                inputs=tuple(n.input),
                outputs=tuple(n.output),
                attrs={a.name: _attr_value(a) for a in n.attribute},
                domain=n.domain,
            )
        )
    ordered = topological_order(nodes, [*initializers, *(t.name for t in inputs)])
    return Graph(ordered, inputs, outputs, initializers, tensors, opset, g.name or "graph")


def as_numpy_dtype(info: TensorInfo) -> np.dtype:
    return np.dtype(info.dtype)
