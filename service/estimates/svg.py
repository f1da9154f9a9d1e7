"""A picture of an estimate: one stacked bar per GPU configuration, GPU memory sizes as lines.

The SVG is self-contained (no script, no external references, no CSS), valid XML, and
accessible: a <title> and a <desc> that states every figure in words, `role="img"`, and a
<title> on each segment. Colours are the Okabe-Ito palette, distinguishable with the common
colour-vision deficiencies; every segment is also labelled in the legend.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import floor, log10

from service.estimates.choices import Component
from service.estimates.result import Estimate, Unit

COLOURS = {
    Component.WEIGHTS: "#0072B2",
    Component.GRADIENTS: "#E69F00",
    Component.OPTIMIZER_STATES: "#009E73",
    Component.ACTIVATIONS: "#CC79A7",
    Component.QUANTIZATION_CONSTANTS: "#56B4E9",
    Component.OTHER: "#999999",
}
NAMES = {
    Component.WEIGHTS: "weights",
    Component.GRADIENTS: "gradients",
    Component.OPTIMIZER_STATES: "optimizer states",
    Component.ACTIVATIONS: "activations",
    Component.QUANTIZATION_CONSTANTS: "quantization constants",
    Component.OTHER: "other (buffers, allowances)",
}
INK = dict.fromkeys(COLOURS, "#000000") | {Component.WEIGHTS: "#ffffff"}
"""Text colour on each segment colour (contrast of at least 4.5:1)."""
LINE = "#D55E00"
TOP, PLOT, LEFT, BAR, GAP, LEGEND = 50, 300, 90, 64, 56, 330
FONT = 'font-family="sans-serif" font-size="12"'
HEADING = 'font-family="sans-serif" font-size="15"'


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _step(top: float) -> float:
    """A round tick step giving four to eight ticks up to `top`."""
    raw = top / 5
    power = 10 ** floor(log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def _bars(bars: Estimate | Sequence[tuple[str, Estimate]]) -> list[tuple[str, Estimate]]:
    if isinstance(bars, Estimate):
        return [("per GPU", bars)]
    return list(bars)


def _lines(memory: Sequence[int | tuple[str, int]], unit: Unit) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for item in memory:
        if isinstance(item, tuple):
            out.append(item)
        else:
            out.append((f"{unit.format(item, 0)} GPU", item))
    return out


def _segments(est: Estimate) -> list[tuple[Component, int]]:
    gpu = est.per_gpu
    parts = [(c, gpu.component(c)) for c in Component if gpu.component(c)]
    if sum(n for _, n in parts) != gpu.total:
        # accelerate's total is its largest component, not a sum: draw that one alone.
        largest = max(parts, key=lambda part: part[1])
        return [(largest[0], gpu.total)]
    return parts


def _describe(bars: list[tuple[str, Estimate]], lines: list[tuple[str, int]], unit: Unit) -> str:
    sentences = []
    for name, est in bars:
        parts = ", ".join(f"{NAMES[c]} {unit.format(n, 1)}" for c, n in _segments(est))
        sentence = f"{name}: {unit.format(est.per_gpu.total, 1)} per GPU ({parts})"
        fitting = [label for label, size in lines if est.per_gpu.total <= size]
        if lines:
            sentence += "; fits in " + (", ".join(fitting) if fitting else "none of the GPUs")
        sentences.append(sentence + ".")
    if lines:
        sizes = ", ".join(f"{label} ({unit.format(size, 1)})" for label, size in lines)
        sentences.append(f"GPU memory sizes drawn as lines: {sizes}.")
    profile = bars[0][1].profile.value if bars else "none"
    sentences.append(f"Accounting profile: {profile}.")
    return " ".join(sentences)


def render_svg(
    bars: Estimate | Sequence[tuple[str, Estimate]],
    memory: Sequence[int | tuple[str, int]] = (),
    *,
    title: str = "Estimated GPU memory per GPU",
) -> str:
    """An SVG document: one stacked bar per (label, estimate) by component, in the first
    estimate's unit, and a dashed line for each GPU memory size (bytes, or (label, bytes))."""
    rows = _bars(bars)
    if not rows:
        raise ValueError("render_svg needs at least one estimate")
    unit = rows[0][1].unit
    lines = _lines(memory, unit)
    peak = max([est.per_gpu.total for _, est in rows] + [size for _, size in lines] + [1])
    step = _step(peak * 1.1 / unit.bytes)
    ticks = int(peak * 1.1 / unit.bytes / step) + 1
    top_value = ticks * step * unit.bytes
    width = LEFT + len(rows) * (BAR + GAP) + GAP + LEGEND
    height = TOP + PLOT + 60

    def y(n: float) -> float:
        return TOP + PLOT - PLOT * n / top_value

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="title desc">',
        f'<title id="title">{_escape(title)}</title>',
        f'<desc id="desc">{_escape(_describe(rows, lines, unit))}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="24" {HEADING} fill="#000000">{_escape(title)}</text>',
    ]
    for index in range(ticks + 1):
        value = index * step
        ty = y(value * unit.bytes)
        out.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{width - LEGEND}" y2="{ty:.1f}" '
            'stroke="#dddddd" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{LEFT - 8}" y="{ty + 4:.1f}" {FONT} text-anchor="end" '
            f'fill="#000000">{value:g} {unit.symbol}</text>'
        )
    for index, (name, est) in enumerate(rows):
        x = LEFT + GAP + index * (BAR + GAP)
        base = 0
        for component, n in _segments(est):
            y_top, y_bottom = y(base + n), y(base)
            label = f"{NAMES[component]}: {unit.format(n, 2)}"
            out.append(
                f'<rect x="{x}" y="{y_top:.1f}" width="{BAR}" height="{y_bottom - y_top:.1f}" '
                f'fill="{COLOURS[component]}" stroke="#ffffff" stroke-width="1">'
                f"<title>{_escape(label)}</title></rect>"
            )
            if y_bottom - y_top >= 16:
                out.append(
                    f'<text x="{x + BAR / 2}" y="{(y_top + y_bottom) / 2 + 4:.1f}" {FONT} '
                    f'text-anchor="middle" fill="{INK[component]}">{unit.format(n, 1)}</text>'
                )
            base += n
        total = unit.format(est.per_gpu.total, 1)
        out.append(
            f'<text x="{x + BAR / 2}" y="{y(base) - 6:.1f}" {FONT} text-anchor="middle" '
            f'fill="#000000">{_escape(total)}</text>'
        )
        out.append(
            f'<text x="{x + BAR / 2}" y="{TOP + PLOT + 20}" {FONT} text-anchor="middle" '
            f'fill="#000000">{_escape(name)}</text>'
        )
    for label, size in lines:
        ly = y(size)
        out.append(
            f'<line x1="{LEFT}" y1="{ly:.1f}" x2="{width - LEGEND}" y2="{ly:.1f}" '
            f'stroke="{LINE}" stroke-width="2" stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<text x="{width - LEGEND + 6}" y="{ly + 4:.1f}" {FONT} fill="{LINE}">'
            f"{_escape(label)}</text>"
        )
    out.extend(_legend(rows, width - LEGEND + 120, bool(lines)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _legend(rows: list[tuple[str, Estimate]], x: int, lines: bool) -> list[str]:
    present = [c for c in Component if any(c == seg for _, e in rows for seg, _n in _segments(e))]
    out = ['<g aria-label="legend">']
    for index, component in enumerate(present):
        ly = TOP + index * 22
        out.append(f'<rect x="{x}" y="{ly}" width="14" height="14" fill="{COLOURS[component]}"/>')
        out.append(
            f'<text x="{x + 20}" y="{ly + 11}" {FONT} fill="#000000">'
            f"{_escape(NAMES[component])}</text>"
        )
    if lines:
        ly = TOP + len(present) * 22 + 7
        out.append(
            f'<line x1="{x}" y1="{ly}" x2="{x + 14}" y2="{ly}" stroke="{LINE}" '
            'stroke-width="2" stroke-dasharray="4 2"/>'
        )
        out.append(f'<text x="{x + 20}" y="{ly + 4}" {FONT} fill="#000000">GPU memory</text>')
    out.append("</g>")
    return out
