"""Where quantizers go (``quant_sites``) and the pass that puts them there (``insert_qdq``).

The QDQ layout is onnxruntime ``quantize_static``'s (QDQ format):

- activation ``X``: ``X -> QuantizeLinear -> DequantizeLinear -> readers``; one pair per tensor,
  nodes ``X_QuantizeLinear`` / ``X_DequantizeLinear``, tensors ``X_QuantizeLinear_Output`` /
  ``X_DequantizeLinear_Output``, parameters ``X_scale`` / ``X_zero_point`` (scalars). A graph output
  keeps its name: the producer writes ``X_QuantizeLinear_Input`` and the DequantizeLinear writes ``X``.
- weight ``W``: int initializer ``W_quantized`` -> ``DequantizeLinear`` (``axis`` set when per-channel);
- bias ``B``: int32 initializer ``B_quantized`` (scale ``S_in * S_w``, zero point 0) -> DequantizeLinear.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import numpy as np

from quant.ir import Graph, Node, TensorInfo, topological_order
from quant.opset import MATMUL_LIKE
from quant.passes.fuse import interior_tensors, is_float
from quant.passes.rewrite import all_names, fresh_name, prune_initializers
from quant.qparams import QParams
from quant.rounding import Rounding, quantize

FLOAT_DTYPES = frozenset({"float32", "float16", "float64", "bfloat16"})

# Inputs that carry data (the rest are shapes, indices, clip bounds...): op type -> input indices.
DATA_INPUTS: dict[str, tuple[int, ...]] = {
    op: (0,)
    for op in (
        "Clip", "Pad", "Resize", "Upsample", "Reshape", "Slice", "Split", "Squeeze", "Unsqueeze", "Gather",
        "Expand", "Tile", "BatchNormalization", "LayerNormalization", "ReduceMean", "ReduceSum",
    )
}

SiteKind = Literal["activation", "weight", "bias", "constant"]


@dataclass(frozen=True)
class Site:
    """One tensor that needs a quantizer.

    ``node`` is the node it belongs to: the producer of an activation (the consumer for a graph
    input), the reader of a weight, bias or constant. ``axis`` is the channel axis of a weight or
    bias; ``operands`` names a bias's (activation, weight) whose scales multiply into its scale.
    """

    tensor: str
    kind: SiteKind
    node: str
    axis: int | None = None
    operands: tuple[str, str] | None = None


def weight_axis(node: Node, weight: np.ndarray) -> int | None:
    """The output-channel axis of a MatMul-like node's weight (None when it has none)."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        return 1 if int(node.attrs.get("group", 1)) == 1 else None
    if node.op_type == "Gemm":
        return 0 if int(node.attrs.get("transB", 0)) else 1
    if node.op_type == "MatMul" and weight.ndim >= 2:
        return weight.ndim - 1
    return None


def _is_float_tensor(graph: Graph, name: str) -> bool:
    if name in graph.initializers:
        return graph.initializers[name].dtype.name in FLOAT_DTYPES
    info = graph.tensors.get(name)
    return info is None or info.dtype in FLOAT_DTYPES


def _data_inputs(node: Node) -> list[tuple[int, str]]:
    idx = DATA_INPUTS.get(node.op_type)
    return [(i, t) for i, t in enumerate(node.inputs) if t and (idx is None or i in idx)]


def quant_sites(graph: Graph) -> list[Site]:
    """Every tensor that gets a quantizer, in graph order (activations first, then constants).

    An activation is quantized when its producer is a quantized node or a quantized node reads it
    as data, unless it flows inside a fused group. MatMul-like nodes' constant weights and biases
    are quantized as weights and int32 biases; other float constants read by quantized nodes as
    data (an Add's constant operand) are quantized per tensor with the activation rule.
    """
    inner = interior_tensors(graph)
    consumers = graph.consumers()
    sites: list[Site] = []
    seen: set[str] = set()

    def reads_as_data(n: Node, t: str) -> bool:
        return not is_float(n) and any(name == t for _, name in _data_inputs(n))

    candidates = [(t, None) for t in graph.input_names] + [(o, n) for n in graph.nodes for o in n.outputs if o]
    for t, prod in candidates:
        if t in inner or t in seen or not _is_float_tensor(graph, t):
            continue
        readers = [c for c in consumers.get(t, []) if reads_as_data(c, t)]
        if (prod is not None and not is_float(prod)) or readers:
            owner = prod.name if prod is not None and not is_float(prod) else readers[0].name
            sites.append(Site(t, "activation", owner))
            seen.add(t)
    for n in graph.nodes:
        if is_float(n):
            continue
        if n.op_type in MATMUL_LIKE and len(n.inputs) > 1 and n.inputs[1] in graph.initializers:
            w = n.inputs[1]
            if w not in seen:
                sites.append(Site(w, "weight", n.name, weight_axis(n, graph.initializers[w])))
                seen.add(w)
            b = n.inputs[2] if len(n.inputs) > 2 else ""
            if b and b in graph.initializers and b not in seen and n.inputs[0] in seen:
                axis = 0 if weight_axis(n, graph.initializers[w]) is not None else None
                sites.append(Site(b, "bias", n.name, axis, (n.inputs[0], w)))
                seen.add(b)
        for _, t in _data_inputs(n):
            if t in graph.initializers and t not in seen and _is_float_tensor(graph, t):
                sites.append(Site(t, "constant", n.name))
                seen.add(t)
    return sites


def _params(name: str, qp: QParams, taken: set[str]) -> tuple[str, str, dict[str, np.ndarray]]:
    s, z = fresh_name(f"{name}_scale", taken), fresh_name(f"{name}_zero_point", taken)
    return s, z, {s: qp.scale.astype(np.float32), z: qp.zero_point.astype(qp.dtype)}


def _axis_attrs(qp: QParams) -> dict[str, int]:
    return {"axis": int(qp.axis)} if qp.per_channel and qp.axis is not None else {}


def insert_qdq(graph: Graph, table: Mapping[str, QParams], rounding: Rounding = Rounding.HALF_EVEN) -> Graph:
    """Insert QuantizeLinear/DequantizeLinear pairs for activations and DequantizeLinear for
    quantized constants, for every tensor named in ``table`` (see the module doc for the layout)."""
    inner = interior_tensors(graph) & set(table)
    if inner:
        raise ValueError(f"tensors {sorted(inner)[:3]} flow inside a fused group and cannot be quantized")
    taken = all_names(graph)
    inits = dict(graph.initializers)
    tensors = dict(graph.tensors)
    rename: dict[str, str] = {}  # what readers of a tensor read instead
    out_rename: dict[str, str] = {}  # graph outputs: what their producer writes instead
    new_nodes: list[Node] = []
    outputs = set(graph.output_names)
    for name, qp in table.items():
        info = tensors.get(name)
        shape = info.shape if info is not None else ()
        dq_name = fresh_name(f"{name}_DequantizeLinear", taken)
        s, z, params = _params(name, qp, taken)
        inits.update(params)
        if name in graph.initializers:
            value = graph.initializers[name]
            q = quantize(value, qp.scale, qp.zero_point, qp.qmin, qp.qmax, rounding, axis=qp.axis if qp.per_channel else None)
            qname = fresh_name(f"{name}_quantized", taken)
            inits[qname] = q.astype(qp.dtype).reshape(value.shape)
            dq_out = fresh_name(f"{name}_DequantizeLinear_Output", taken)
            new_nodes.append(Node(dq_name, "DequantizeLinear", (qname, s, z), (dq_out,), _axis_attrs(qp)))
            tensors[qname] = TensorInfo(qname, tuple(value.shape), qp.dtype)
            tensors[dq_out] = TensorInfo(dq_out, tuple(value.shape), "float32")
            rename[name] = dq_out
            continue
        q_out = fresh_name(f"{name}_QuantizeLinear_Output", taken)
        if name in outputs:
            src = fresh_name(f"{name}_QuantizeLinear_Input", taken)
            out_rename[name], dq_out = src, name
            tensors[src] = TensorInfo(src, shape, "float32")
        else:
            src, dq_out = name, fresh_name(f"{name}_DequantizeLinear_Output", taken)
            rename[name] = dq_out
            tensors[dq_out] = TensorInfo(dq_out, shape, "float32")
        attrs = _axis_attrs(qp)
        new_nodes.append(Node(fresh_name(f"{name}_QuantizeLinear", taken), "QuantizeLinear", (src, s, z), (q_out,), attrs))
        new_nodes.append(Node(dq_name, "DequantizeLinear", (q_out, s, z), (dq_out,), attrs))
        tensors[q_out] = TensorInfo(q_out, shape, qp.dtype)
    nodes = [
        Node(n.name, n.op_type, tuple(rename.get(i, i) for i in n.inputs), tuple(out_rename.get(o, o) for o in n.outputs), n.attrs, n.domain)
        for n in graph.nodes
    ]
    available = [*inits, *graph.input_names]
    out = graph.replace(nodes=_place(new_nodes, nodes, available), initializers=inits, tensors=tensors)
    return prune_initializers(out)


def _place(new_nodes: list[Node], nodes: list[Node], available: list[str]) -> tuple[Node, ...]:
    """Original order, each inserted node placed as soon as its inputs exist (readable dumps)."""
    ready = set(available) | {""}
    pending_new = list(new_nodes)
    out: list[Node] = []

    def flush() -> None:
        progress = True
        while progress:
            progress = False
            for m in list(pending_new):
                if all(i in ready for i in m.inputs):
                    out.append(m)
                    ready.update(m.outputs)
                    pending_new.remove(m)
                    progress = True

    flush()
    for n in nodes:
        flush()
        out.append(n)
        ready.update(n.outputs)
    flush()
    return topological_order(out, available)
