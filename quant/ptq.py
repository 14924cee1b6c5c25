"""Post-training quantization: float Graph + constraints + calibration data -> QDQ Graph + table.

Steps: ``prepare`` (fold BN, mark float nodes, mark fused groups) -> ``quant_sites`` (which tensors
get quantizers) -> ``calibrate`` (one observer per activation) -> ``qparams`` (shared scales for
``shared_scale_ops`` from the union range; power-of-two repairs) -> ``insert_qdq`` -> optional
bias correction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from quant.calibrate import Batch, calibrate
from quant.constraints import QuantConstraints, TensorRule
from quant.errors import ConfigError
from quant.ir import Graph, Node, verify
from quant.observers import Histogram, MinMax
from quant.opset import MATMUL_LIKE
from quant.passes import FUSED_GROUP, Site, groups, insert_qdq, is_float, prepare, quant_sites
from quant.qconfig import QConfig, observer_factory, rule_for
from quant.qparams import Distribution, QParams, align_add, qparams, repair_shift
from quant.rounding import Rounding


@dataclass(frozen=True)
class TensorQuant:
    """One row of the quantization table."""

    name: str
    kind: str  # activation | weight | bias | constant
    node: str
    params: QParams

    def row(self) -> dict:
        p = self.params
        as_list = lambda a: [float(v) for v in np.ravel(a)] if p.per_channel else float(a)  # noqa: E731
        zp = [int(v) for v in np.ravel(p.zero_point)] if p.per_channel else int(p.zero_point)
        return {
            "name": self.name, "kind": self.kind, "node": self.node, "bits": p.bits, "dtype": p.dtype,
            "scale": as_list(p.scale), "zero_point": zp, "pow2": p.pow2, "per_channel": p.per_channel,
        }


@dataclass(frozen=True)
class QuantResult:
    graph: Graph  # the QDQ graph
    table: Mapping[str, TensorQuant]
    prepared: Graph  # the float graph after prepare (BN folded, groups and float nodes marked)
    float_nodes: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)  # things that cost accuracy, e.g. clipped biases

    def rows(self) -> list[dict]:
        return [t.row() for t in self.table.values()]


@dataclass
class _Group:
    """Activations that share one scale (a shared_scale_ops component) and their statistics."""

    members: list[str]
    rule: TensorRule
    lo: float
    hi: float
    dist: Distribution | None
    params: QParams | None = None

    def solve(self, frac: int | None = None) -> QParams:
        self.params = qparams(self.lo, self.hi, self.rule, dist=self.dist, frac_bits=frac)
        return self.params


def _group_of(graph: Graph) -> dict[str, tuple[Node, ...]]:
    """Node name -> the nodes of its fused group (itself alone when not fused)."""
    gmap = groups(graph)
    return {n.name: gmap.get(n.attrs.get(FUSED_GROUP, ""), (n,)) for n in graph.nodes}


def _opset_check(graph: Graph, site: Site, rule: TensorRule) -> None:
    need = 21 if rule.bits > 8 else 13 if rule.granularity == "per_channel" and site.axis is not None else 0
    if graph.opset < need:
        what = "16-bit QuantizeLinear" if rule.bits > 8 else "per-channel DequantizeLinear"
        raise ConfigError(
            f"node '{site.node}': {what} needs opset >= {need}, the model has {graph.opset}; "
            f"convert it with onnx.version_converter.convert_version(model, {need})"
        )


def _rules(graph: Graph, sites: list[Site], c: QuantConstraints, qc: QConfig) -> dict[str, tuple[TensorRule, object]]:
    out = {}
    group_of = _group_of(graph)
    for s in sites:
        if s.kind == "bias":
            continue
        kind = "weights" if s.kind == "weight" else "activations"
        settings = qc.settings(group_of[s.node], kind)
        rule = rule_for(settings, c.weights if kind == "weights" else c.activations, kind, s.node)
        if s.kind != "weight" or s.axis is None:
            rule = rule.model_copy(update={"granularity": "per_tensor"})
        _opset_check(graph, s, rule)
        out[s.tensor] = (rule, observer_factory(settings, rule, s.axis if s.kind == "weight" else None))
    return out


def _shared_components(graph: Graph, acts: list[str], c: QuantConstraints) -> list[list[str]]:
    parent = {a: a for a in acts}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    shared = frozenset(c.shared_scale_ops)
    for n in graph.nodes:
        if n.op_type in shared and not is_float(n):
            ends = [t for t in (*n.inputs, *n.outputs) if t in parent]
            for t in ends[1:]:
                parent[find(t)] = find(ends[0])
    comps: dict[str, list[str]] = {}
    for a in acts:
        comps.setdefault(find(a), []).append(a)
    return list(comps.values())


def _merge_dists(dists: list[Distribution | None]) -> Distribution | None:
    if not dists or any(d is None for d in dists):
        return None
    return Distribution(np.concatenate([d.values for d in dists]), np.concatenate([d.counts for d in dists]))


def _weight_params(w: np.ndarray, rule: TensorRule, factory, axis: int | None, frac=None) -> QParams:
    if rule.granularity == "per_channel" and axis is not None:
        rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1).astype(np.float64)
        obs = factory()
        if isinstance(obs, MinMax):
            obs.update(w)
            lo, hi = obs.range()
        else:
            ranges = []
            for r in rows:
                o = factory()
                o.update(r)
                ranges.append(o.range())
            lo, hi = np.array([r[0] for r in ranges]), np.array([r[1] for r in ranges])
        return qparams(lo, hi, rule, axis=axis, dist=Distribution(rows), frac_bits=frac)
    obs = factory()
    obs.update(w)
    lo, hi = obs.range()
    return qparams(lo, hi, rule, dist=Distribution(np.ravel(w).astype(np.float64)), frac_bits=frac)


def _repair_pow2(graph: Graph, c: QuantConstraints, comp_of: dict[str, _Group], wparams: dict[str, QParams],
                 weights: Mapping[str, np.ndarray], rules) -> None:
    """Shift-range and Add-alignment repairs, iterated to a fixpoint."""
    req = c.requantization
    # node -> its quantized output (the group's last output when fused)
    out_of = {name: members[-1].outputs[0] for name, members in _group_of(graph).items()}
    for _ in range(20):
        changed = False
        for n in graph.nodes:
            if is_float(n):
                continue
            if req.mode == "shift" and n.op_type in MATMUL_LIKE and n.inputs[0] in comp_of:
                out = comp_of.get(out_of[n.name])
                wname = n.inputs[1]
                if out is None or (wname not in wparams and wname not in comp_of):
                    continue
                fi = int(comp_of[n.inputs[0]].params.frac_bits)
                fw = wparams[wname].frac_bits if wname in wparams else comp_of[wname].params.frac_bits
                fo = int(out.params.frac_bits)
                new_fw, new_fo = repair_shift(fi, fw, fo, req.shift_min, req.shift_max)
                if new_fo != fo:
                    out.solve(new_fo)
                    changed = True
                if wname in wparams and np.any(new_fw != fw):
                    rule, factory = rules[wname]
                    wparams[wname] = _weight_params(weights[wname], rule, factory, wparams[wname].axis, new_fw)
                    changed = True
            if c.add_max_shift_diff_bits is not None and n.op_type == "Add":
                a, b = (comp_of.get(t) for t in n.inputs[:2])
                if a is None or b is None or a is b:
                    continue
                fa, fb = int(a.params.frac_bits), int(b.params.frac_bits)
                na, nb = align_add(fa, fb, c.add_max_shift_diff_bits)
                for g, old, new in ((a, fa, na), (b, fb, nb)):
                    if new != old:
                        g.solve(new)
                        changed = True
        if not changed:
            return
    raise ConfigError("power-of-two scale repairs (shift range, Add alignment) do not converge; "
                      "widen requantization.shift_min/shift_max or add_max_shift_diff_bits in the target")


def _bias_params(act: QParams, w: QParams, bits: int) -> QParams:
    """int32 bias: scale S_in * S_w (float32, per channel when the weight is), zero point 0."""
    scale = (act.scale.astype(np.float32) * w.scale.astype(np.float32)).astype(np.float32)
    lim = min(bits, 32) - 1
    axis = 0 if scale.ndim == 1 else None
    return QParams(scale, np.zeros(scale.shape, np.int64), -(1 << lim), (1 << lim) - 1, "int32", axis, min(bits, 32))


def compute_table(graph: Graph, sites: list[Site], c: QuantConstraints, qc: QConfig,
                  batches: Iterable[Batch]) -> dict[str, TensorQuant]:
    """Calibrate ``graph`` (already prepared) and compute every site's QParams."""
    rules = _rules(graph, sites, c, qc)
    acts = [s.tensor for s in sites if s.kind == "activation"]
    observers = {}
    for t in acts:
        rule, factory = rules[t]
        obs = factory()
        observers[t] = (obs,) if rule.scale != "power_of_two" or hasattr(obs, "distribution") else (obs, Histogram())
    cal = calibrate(graph, batches, observers)
    comp_of: dict[str, _Group] = {}
    for members in _shared_components(graph, acts, c):
        ranges = [cal.observers[m][0].range() for m in members]
        dists = [Distribution(*cal.observers[m][-1].distribution()) if hasattr(cal.observers[m][-1], "distribution")
                 else None for m in members]
        g = _Group(members, rules[members[0]][0], min(float(r[0]) for r in ranges), max(float(r[1]) for r in ranges),
                   _merge_dists(dists))
        g.solve()
        comp_of.update({m: g for m in members})
    consts = [s for s in sites if s.kind in ("weight", "constant")]
    weights = {s.tensor: graph.initializers[s.tensor] for s in consts}
    wparams = {s.tensor: _weight_params(weights[s.tensor], *rules[s.tensor], s.axis) for s in consts}
    if c.requantization.mode == "shift" or c.add_max_shift_diff_bits is not None:
        _repair_pow2(graph, c, comp_of, wparams, weights, rules)
    table: dict[str, TensorQuant] = {}
    for s in sites:
        if s.kind == "activation":
            p = comp_of[s.tensor].params
        elif s.kind == "bias":
            x, w = s.operands
            p = _bias_params(comp_of[x].params, wparams[w], c.bias_bits)
        else:
            p = wparams[s.tensor]
        table[s.tensor] = TensorQuant(s.tensor, s.kind, s.node, p)
    return table


def _reiterable(data):
    return data if iter(data) is not data else list(data)


def quantize(
    graph: Graph,
    constraints: QuantConstraints,
    calib_data: Iterable[Batch],
    qconfig: QConfig | None = None,
    *,
    bias_correction: bool = False,
) -> QuantResult:
    """Quantize a float graph for ``constraints``; returns the QDQ graph and the per-tensor table.

    ``calib_data`` is an iterable of dicts (input name -> batch array), read once; with
    ``bias_correction`` it is read twice (a one-shot iterator is then kept in memory).
    """
    qc = qconfig or QConfig()
    qc.check_selectors(graph)
    if bias_correction:
        calib_data = _reiterable(calib_data)
    prepared = prepare(graph, constraints, qc)
    sites = quant_sites(prepared)
    table = compute_table(prepared, sites, constraints, qc, calib_data)
    rounding = Rounding(constraints.quantize_rounding)
    notes = []
    if bias_correction:
        from quant.fake_quant import correct_biases

        prepared, n = correct_biases(prepared, {k: v.params for k, v in table.items()}, sites, calib_data, rounding)
        notes.append(f"bias correction: {n} biases adjusted")
    qdq = insert_qdq(prepared, {k: v.params for k, v in table.items()}, rounding)
    verify(qdq)
    warnings = tuple(_clipped_biases(prepared, table))
    float_nodes = tuple(n.name for n in prepared.nodes if is_float(n))
    notes.extend(f"node '{n}' stays float (runs on the host)" for n in float_nodes)
    return QuantResult(qdq, table, prepared, float_nodes, tuple(notes), warnings)


def _clipped_biases(graph: Graph, table: Mapping[str, TensorQuant]):
    """Biases whose quantized values do not fit the bias width (they are saturated)."""
    for t in table.values():
        if t.kind != "bias" or t.name not in graph.initializers:
            continue
        p = t.params
        scale = p.scale.reshape(-1) if p.per_channel else p.scale
        q = np.rint(graph.initializers[t.name].astype(np.float64) / scale)
        over = int(np.count_nonzero((q < p.qmin) | (q > p.qmax)))
        if over:
            yield (f"bias '{t.name}' of node '{t.node}': {over} of {q.size} values exceed {p.bits}-bit bias and are "
                   f"saturated; widen quantization.bias_bits or raise that layer's weight/input scales")


__all__ = ["QuantResult", "TensorQuant", "compute_table", "quantize"]
