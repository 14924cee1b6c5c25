"""report.md and the stdout summary, rendered only from a ``DeployReport``."""
from __future__ import annotations

from hwsim.report.model import DeployReport


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _db(x: float | None) -> str:
    return "exact" if x is None else f"{x:.1f} dB"


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def accuracy_line(r: DeployReport) -> str:
    a = r.accuracy
    if a.metric == "top1":
        return (f"top-1 float {_pct(a.float_top1)} -> fake-quant {_pct(a.fake_quant_top1)} -> integer {_pct(a.integer_top1)}"
                f" ({a.samples} samples)")
    return f"fidelity vs float: integer SQNR {_db(a.integer_sqnr_db)}, top-1 agreement {_pct(a.integer_top1_agreement)} ({a.samples} samples)"


SUMMARY_FALLBACKS = 3  # a terminal summary lists this many; report.md lists them all


def _first_few(fallbacks: list[str]) -> str:
    if not fallbacks:
        return ""
    more = len(fallbacks) - SUMMARY_FALLBACKS
    return ": " + "; ".join(fallbacks[:SUMMARY_FALLBACKS]) + (f"; and {more} more (see report.md)" if more > 0 else "")


def summary(r: DeployReport) -> str:
    lat = r.latency
    lines = [
        f"{r.model.path} on {r.target.name} ({r.target.summary})",
        f"  accuracy: {accuracy_line(r)}",
        f"  latency:  {lat.latency_ms:.4g} ms ({lat.total_cycles} cycles at {lat.clock_mhz:g} MHz, MAC utilization {_pct(lat.mac_utilization)})",
        f"  memory:   weights {_kib(r.memory.weight_bytes)}, peak SRAM {_kib(r.memory.peak_sram_bytes)} of {_kib(r.memory.sram_size_bytes)},"
        f" DRAM {_kib(r.memory.dram_bytes_read)} read / {_kib(r.memory.dram_bytes_written)} written",
        f"  host:     {len(r.host_fallbacks)} fallback(s)" + _first_few(r.host_fallbacks),
    ]
    if r.warnings:
        lines.append(f"  warnings: {len(r.warnings)} (see report.md)")
    return "\n".join(lines)


def render(r: DeployReport) -> str:
    lat = r.latency
    out = [
        f"# Deployment report: {r.model.path} on {r.target.name}", "",
        f"{r.tool}; report version {r.report_version}. Target `{r.target.name}` ({r.target.summary}, {r.target.macs} MACs at "
        f"{r.target.clock_mhz:g} MHz), target file sha256 `{r.target.sha256[:12]}`; model sha256 `{r.model.sha256[:12]}`.", "",
        "## Summary", "", "```", summary(r), "```", "",
        "## Accuracy", "", "| | float | fake-quant | integer |", "|---|---|---|---|",
    ]
    a = r.accuracy
    if a.metric == "top1":
        out.append(f"| top-1 | {_pct(a.float_top1)} | {_pct(a.fake_quant_top1)} | {_pct(a.integer_top1)} |")
    out += [f"| SQNR vs float | | {_db(a.fake_quant_sqnr_db)} | {_db(a.integer_sqnr_db)} |",
            f"| top-1 agreement with float | | | {_pct(a.integer_top1_agreement)} |", "",
            f"Evaluated on {a.samples} samples of `{a.data}`.", "",
            "## Per-layer SQNR (float vs integer activations, every evaluation sample)", "", "| tensor | node | SQNR |", "|---|---|---|"]
    out += [f"| `{s.tensor}` | {s.node} | {_db(s.sqnr_db)} |" for s in r.layer_sqnr]
    if r.sensitivity:
        out += ["", "## Which layer hurts? (output SQNR vs float, fake-quant, first 64 evaluation samples)", "",
                "| layer | only this layer quantized | all but this layer quantized |", "|---|---|---|"]
        out += [f"| {s.layer} | {_db(s.only_this_quantized_sqnr_db)} | {_db(s.only_this_float_sqnr_db)} |" for s in r.sensitivity]
    out += ["", "## Latency", "", f"{lat.total_cycles} cycles = {lat.latency_ms:.4g} ms at {lat.clock_mhz:g} MHz.", "",
            "| layer | op | unit | cycles | compute | stall | MAC util. | DRAM read | DRAM written | fused | output on chip |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    out += [f"| {x.name} | {x.op_type} | {x.unit} | {x.cycles} | {x.compute_cycles} | {x.stall_cycles} | {_pct(x.mac_utilization)} | "
            f"{x.dram_bytes_read} | {x.dram_bytes_written} | {'+'.join(x.nodes) if x.fused else ''} | {'yes' if x.output_on_chip else ''} |"
            for x in lat.layers]
    out += ["", "| unit | busy cycles | utilization |", "|---|---|---|"]
    out += [f"| {u.unit} | {u.busy_cycles} | {_pct(u.utilization)} |" for u in lat.units]
    m = r.memory
    out += ["", "## Memory", "", f"- weights: {m.weight_bytes} bytes", f"- peak SRAM: {m.peak_sram_bytes} of {m.sram_size_bytes} bytes",
            f"- DRAM traffic: {m.dram_bytes_read} bytes read, {m.dram_bytes_written} bytes written", "",
            "## Quantization", "", f"{len(r.quantization.tensors)} tensors quantized; {len(r.quantization.violations)} constraint violations.", ""]
    out += [f"- violation: {v.node} / `{v.tensor}`: {v.message} ({v.rule})" for v in r.quantization.violations]
    out += [f"- float (host): {n}" for n in r.quantization.float_nodes]
    out += [f"- note: {n}" for n in r.quantization.notes]
    out += ["", "## Host fallbacks and warnings", ""]
    out += [f"- host: {h}" for h in r.host_fallbacks] or ["- no host fallbacks"]
    out += [f"- warning: {w}" for w in r.warnings]
    return "\n".join(out) + "\n"
