"""Fold an inference BatchNormalization into the Conv or Gemm right before it.

BN(y) = f * (y - mean) + beta with f = gamma / sqrt(var + eps), so Conv weights scale by f per
output channel and the bias becomes f * (b - mean) + beta. A BN that does not follow a Conv/Gemm
(or whose parameters are not constants, or whose producer's output has other readers) stays.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from quant.ir import Graph, Node
from quant.passes.rewrite import Chain, Rewrite, all_names, apply_rules, fresh_name, prune_initializers, sync_tensors


def _bn_factors(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    inits = graph.initializers
    if len(bn.inputs) < 5 or not all(i in inits for i in bn.inputs[1:5]):
        return None
    if any(o for o in bn.outputs[1:]) or bn.attrs.get("training_mode", 0):
        return None
    gamma, beta, mean, var = (inits[i].astype(np.float64) for i in bn.inputs[1:5])
    f = gamma / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
    return f, beta - f * mean  # BN(y) = f * y + shift


def _weight_name(graph: Graph, node: Node, idx: int, taken: set[str]) -> str:
    """Reuse the initializer's name unless another node also reads it."""
    name = node.inputs[idx]
    readers = sum(name in n.inputs for n in graph.nodes)
    return name if readers == 1 else fresh_name(f"{name}_bnfold", taken)


def _fold_conv(graph: Graph, match: tuple[Node, ...]) -> Rewrite | None:
    conv, bn = match
    fs = _bn_factors(graph, bn)
    if fs is None or conv.inputs[1] not in graph.initializers:
        return None
    f, shift = fs
    w = graph.initializers[conv.inputs[1]]
    if w.shape[0] != f.size or (len(conv.inputs) > 2 and conv.inputs[2] and conv.inputs[2] not in graph.initializers):
        return None
    b = graph.initializers[conv.inputs[2]] if len(conv.inputs) > 2 and conv.inputs[2] else np.zeros(f.size)
    taken = all_names(graph)
    wname = _weight_name(graph, conv, 1, taken)
    bname = _weight_name(graph, conv, 2, taken) if len(conv.inputs) > 2 and conv.inputs[2] else fresh_name(f"{conv.name}_bias", taken)
    new_w = (w.astype(np.float64) * f.reshape(-1, *([1] * (w.ndim - 1)))).astype(w.dtype)
    new_b = (f * b.astype(np.float64) + shift).astype(w.dtype)
    node = dataclasses.replace(conv, inputs=(conv.inputs[0], wname, bname), outputs=(bn.outputs[0],))
    return Rewrite((node,), {wname: new_w, bname: new_b})


def _fold_gemm(graph: Graph, match: tuple[Node, ...]) -> Rewrite | None:
    gemm, bn = match
    fs = _bn_factors(graph, bn)
    if fs is None or gemm.inputs[1] not in graph.initializers:
        return None
    f, shift = fs
    w = graph.initializers[gemm.inputs[1]]
    trans_b = int(gemm.attrs.get("transB", 0))
    n_out = w.shape[0] if trans_b else w.shape[1]
    has_c = len(gemm.inputs) > 2 and gemm.inputs[2]
    if n_out != f.size or (has_c and gemm.inputs[2] not in graph.initializers):
        return None
    c = graph.initializers[gemm.inputs[2]].astype(np.float64) if has_c else np.zeros(1)
    if c.size not in (1, n_out):
        return None
    c = np.broadcast_to(c.reshape(-1), (n_out,)) * float(gemm.attrs.get("beta", 1.0))
    taken = all_names(graph)
    wname = _weight_name(graph, gemm, 1, taken)
    cname = _weight_name(graph, gemm, 2, taken) if has_c else fresh_name(f"{gemm.name}_bias", taken)
    new_w = (w.astype(np.float64) * (f[:, None] if trans_b else f[None, :])).astype(w.dtype)
    attrs = {**gemm.attrs, "beta": 1.0}
    node = dataclasses.replace(gemm, inputs=(gemm.inputs[0], wname, cname), outputs=(bn.outputs[0],), attrs=attrs)
    return Rewrite((node,), {wname: new_w, cname: (f * c + shift).astype(w.dtype)})


RULES = [
    (Chain(("Conv", "BatchNormalization")), _fold_conv),
    (Chain(("Gemm", "BatchNormalization")), _fold_gemm),
]


def fold_batchnorm(graph: Graph) -> Graph:
    """Conv/Gemm -> BatchNormalization becomes one Conv/Gemm with folded weights and bias."""
    out = apply_rules(graph, RULES)
    return graph if out is graph else sync_tensors(prune_initializers(out))
