"""report.html: one self-contained page (inline SVG, a few lines of inline JS), rendered from the report."""
from __future__ import annotations

from html import escape
from typing import Iterable, Sequence

from hwsim.report import markdown
from hwsim.report.model import DeployReport
from hwsim.report.svg import bar_chart, step_chart

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0;cursor:pointer}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:1em}
h2{border-bottom:1px solid #ddd;margin-top:2em}"""

# click a header to sort its column (numbers numerically)
_SORT_JS = """document.querySelectorAll('table.sortable th').forEach((th,i)=>th.addEventListener('click',()=>{
const tb=th.closest('table').tBodies[0];const rows=[...tb.rows];const dir=th.dataset.dir=th.dataset.dir==='a'?'d':'a';
const key=r=>{const t=r.cells[i].dataset.v??r.cells[i].textContent;const n=parseFloat(t);return isNaN(n)?t:n};
rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(dir==='a'?1:-1)});rows.forEach(r=>tb.appendChild(r))}));"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], cls: str = "sortable") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render(r: DeployReport) -> str:
    lat = r.latency
    layers = lat.layers
    parts = [f"<h1>{escape(r.model.path)} on {escape(r.target.name)}</h1>", f"<pre>{escape(markdown.summary(r))}</pre>"]
    a = r.accuracy
    acc_rows = [("SQNR vs float (dB)", "", a.fake_quant_sqnr_db if a.fake_quant_sqnr_db is not None else "exact",
                 a.integer_sqnr_db if a.integer_sqnr_db is not None else "exact")]
    if a.metric == "top1":
        acc_rows.insert(0, ("top-1 %", f"{100 * a.float_top1:.2f}", f"{100 * a.fake_quant_top1:.2f}", f"{100 * a.integer_top1:.2f}"))
        acc_chart = bar_chart(["float", "fake-quant", "integer"], {"top-1 %": [100 * a.float_top1, 100 * a.fake_quant_top1, 100 * a.integer_top1]},
                              title="Accuracy", unit="%")
    else:
        acc_chart = ""
    parts += ["<h2>Accuracy</h2>", _table(["", "float", "fake-quant", "integer"], acc_rows, "plain"), acc_chart]
    parts += ["<h2>Latency per layer</h2>",
              bar_chart([x.name for x in layers], {"compute": [x.compute_cycles for x in layers], "stall": [x.stall_cycles for x in layers]},
                        title=f"Cycles per layer ({lat.total_cycles} total, {lat.latency_ms:.4g} ms)", unit=" cyc")]
    sq = [s for s in r.layer_sqnr if s.sqnr_db is not None]
    exact = [s.tensor for s in r.layer_sqnr if s.sqnr_db is None]
    parts += ["<h2>Per-layer SQNR</h2>",
              bar_chart([s.tensor for s in sq], {"SQNR dB": [s.sqnr_db for s in sq]},
                        title="Float vs integer activations (higher is better)", unit=" dB"),
              f"<p>Identical to float (no error): {escape(', '.join(exact))}</p>" if exact else ""]
    if r.sensitivity:
        parts += ["<h2>Which layer hurts?</h2>",
                  _table(["layer", "only this quantized: output SQNR dB", "all but this quantized: output SQNR dB"],
                         [(s.layer, s.only_this_quantized_sqnr_db, s.only_this_float_sqnr_db) for s in r.sensitivity])]
    # SRAM in use over the run, as the simulation recorded it: a step at every change
    xs, ys, level = [0], [0], 0
    for t, now in r.latency.sram_timeline:
        xs += [t, t]
        ys += [level, now]
        level = now
    xs.append(r.latency.total_cycles)
    ys.append(level)
    parts += ["<h2>Memory</h2>",
              step_chart(xs, ys, title=f"SRAM in use over the run (simulated; peak {r.memory.peak_sram_bytes} B of "
                                       f"{r.memory.sram_size_bytes} B)", x_unit="cycles", y_unit=" B"),
              _table(["weights B", "peak SRAM B", "SRAM size B", "DRAM read B", "DRAM written B"],
                     [(r.memory.weight_bytes, r.memory.peak_sram_bytes, r.memory.sram_size_bytes, r.memory.dram_bytes_read, r.memory.dram_bytes_written)], "plain")]
    parts += ["<h2>Unit utilization</h2>",
              bar_chart([u.unit for u in lat.units], {"utilization %": [100 * u.utilization for u in lat.units]}, title="Busy fraction of the run", unit="%")]
    parts += ["<h2>Layers</h2><p>Click a column header to sort.</p>",
              _table(["layer", "op", "unit", "cycles", "compute", "stall", "MAC util %", "DRAM read B", "DRAM written B", "fused nodes", "output on chip"],
                     [(x.name, x.op_type, x.unit, x.cycles, x.compute_cycles, x.stall_cycles, f"{100 * x.mac_utilization:.1f}",
                       x.dram_bytes_read, x.dram_bytes_written, "+".join(x.nodes) if x.fused else "", "yes" if x.output_on_chip else "")
                      for x in layers])]
    q = r.quantization
    parts += ["<h2>Quantization</h2>",
              _table(["tensor", "kind", "node", "bits", "dtype", "scale", "zero point", "pow2"],
                     [(t.name, t.kind, t.node, t.bits, t.dtype, t.scale if isinstance(t.scale, float) else f"{len(t.scale)} per-channel",
                       t.zero_point if isinstance(t.zero_point, int) else "per-channel", t.pow2) for t in q.tensors])]
    if q.violations or r.warnings or r.host_fallbacks:
        items = [f"host: {h}" for h in r.host_fallbacks] + [f"warning: {w}" for w in r.warnings]
        parts += ["<h2>Host fallbacks and warnings</h2><ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"]
    title = escape(f"hwsim: {r.model.path} on {r.target.name}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{_CSS}</style></head>'
            f"<body>{''.join(parts)}<script>{_SORT_JS}</script></body></html>\n")
