"""Tiny inline-SVG charts, so report.html is one self-contained file with no scripts from the network."""
from __future__ import annotations

from html import escape
from typing import Mapping, Sequence

PALETTE = ("#3b6fb6", "#e07b39", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2")


def _fmt(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:.3g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def bar_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    unit: str = "",
    stacked: bool = True,
    width: int = 900,
    bar_height: int = 14,
) -> str:
    """Horizontal bars, one row per label; several series stack (or sit side by side)."""
    left, right, top = 180, 70, 40
    rows = len(labels)
    per_row = bar_height * (1 if stacked else max(1, len(series)))
    height = top + 12 + rows * (per_row + 6) + 30
    totals = [sum(s[i] for s in series.values()) if stacked else max((s[i] for s in series.values()), default=0) for i in range(rows)]
    vmax = max([t for t in totals if t == t] + [1e-12])
    plot_w = width - left - right
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    for k, name in enumerate(series):
        x = width - right - (len(series) - k) * 120  # legend top right, clear of the title
        out.append(f'<rect x="{x}" y="9" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
                   f'<text x="{x + 14}" y="18" font-size="11">{escape(name)}</text>')
    for i, label in enumerate(labels):
        y = top + 12 + i * (per_row + 6)
        out.append(f'<text x="{left - 6}" y="{y + per_row - 3}" font-size="11" text-anchor="end">{escape(label[:28])}</text>')
        x = float(left)
        for k, (name, values) in enumerate(series.items()):
            v = max(0.0, float(values[i])) if values[i] == values[i] else 0.0
            w = plot_w * v / vmax
            yy = y if stacked else y + k * bar_height
            out.append(f'<rect x="{x:.1f}" y="{yy}" width="{w:.1f}" height="{bar_height}" fill="{PALETTE[k % len(PALETTE)]}">'
                       f'<title>{escape(label)} {escape(name)}: {_fmt(v)}{escape(unit)}</title></rect>')
            if stacked:
                x += w
        out.append(f'<text x="{left + plot_w * totals[i] / vmax + 4:.1f}" y="{y + per_row - 3}" font-size="10">{_fmt(totals[i])}{escape(unit)}</text>')
    out.append("</svg>")
    return "".join(out)


def step_chart(xs: Sequence[float], ys: Sequence[float], *, title: str, x_unit: str, y_unit: str, width: int = 900, height: int = 220) -> str:
    """A step line of y over x (e.g. SRAM bytes in use over cycles)."""
    left, right, top, bottom = 70, 20, 30, 30
    if not xs:
        return ""
    xmax, ymax = max(max(xs), 1e-12), max(max(ys), 1e-12)
    pw, ph = width - left - right, height - top - bottom

    def px(x: float, y: float) -> str:
        return f"{left + pw * x / xmax:.1f},{top + ph * (1 - y / ymax):.1f}"

    pts = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i:
            pts.append(px(x, ys[i - 1]))
        pts.append(px(x, y))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
            f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>'
            f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#888"/>'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#888"/>'
            f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{_fmt(ymax)}{escape(y_unit)}</text>'
            f'<text x="{left + pw}" y="{top + ph + 16}" font-size="10" text-anchor="end">{_fmt(xmax)} {escape(x_unit)}</text>'
            f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="1.5" points="{" ".join(pts)}"/></svg>')
