"""The Pareto plot as inline SVG (no plotting library): safety failure rate against false-positive
rate, one dot per model and split, lower-left is better."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from html import escape

from a3.align.measure.selection import pareto_front
from a3.formatting import percent
from a3.report.collect import Point

WIDTH, HEIGHT = 680, 440
LEFT, RIGHT, TOP, BOTTOM = 72, 190, 24, 52  # margins; the legend sits in the right one
PAD = 12  # inside the frame, so dots at 0% or 100% are not cut by it
METHOD_COLOURS = {
    "base": "#6b7280",
    "A3": "#2563eb",
    "fixed mixing": "#d97706",
    "ICL": "#059669",
    "DSPy": "#7c3aed",
    "evaluated": "#0891b2",
}
OTHER_COLOUR = "#be185d"


def colour(method: str) -> str:
    return METHOD_COLOURS.get(method, OTHER_COLOUR)


_Scale = Callable[[float], float]  # a rate (0 to 1) to an SVG coordinate


def pareto_svg(points: list[Point], title: str = "SFR against FPR (lower left is better)") -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    shown = [p for p in points if p.sfr is not None and p.fpr is not None]

    def x(fpr: float) -> float:
        return LEFT + PAD + fpr * (plot_w - 2 * PAD)

    def y(sfr: float) -> float:
        return TOP + PAD + (1 - sfr) * (plot_h - 2 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#d1d5db"/>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{x(tick):.1f}" y1="{TOP}" x2="{x(tick):.1f}" y2="{TOP + plot_h}" stroke="#e5e7eb"/>')
        parts.append(f'<line x1="{LEFT}" y1="{y(tick):.1f}" x2="{LEFT + plot_w}" y2="{y(tick):.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{percent(tick)}</text>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{percent(tick)}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 12}" text-anchor="middle" font-weight="600">'
        f"FPR (benign queries refused)</text>"
    )
    parts.append(
        f'<text transform="translate(16 {TOP + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" font-weight="600">'
        f"SFR (harmful queries answered)</text>"
    )
    parts += front_lines(shown, x, y)
    parts += _dots(shown, x, y)
    parts += _legend(shown, LEFT + plot_w + 16, TOP + 4)
    parts.append("</svg>")
    return "\n".join(parts)


def front_lines(points: list[Point], x: _Scale, y: _Scale) -> list[str]:
    """The validation Pareto front of the A3 iterations (as stage 4 computes it), a dashed line."""
    a3 = {
        i: (p.sfr, p.fpr)
        for i, p in enumerate(points)
        if p.method == "A3" and p.split == "validation" and p.sfr is not None and p.fpr is not None
    }  # pareto_svg passes measured points only: the None test narrows the type
    front = sorted({(a3[i][1], a3[i][0]) for i in pareto_front(a3)})  # distinct (FPR, SFR), left to right
    if len(front) < 2:
        return []
    path = " ".join(f"{x(f):.1f},{y(s):.1f}" for f, s in front)
    return [f'<polyline points="{path}" fill="none" stroke="{colour("A3")}" stroke-dasharray="4 3" opacity="0.6"/>']


def _dots(points: list[Point], x: _Scale, y: _Scale) -> list[str]:
    parts = []
    seen: Counter[tuple[int, int]] = Counter()
    for point in points:
        sfr, fpr = point.sfr, point.fpr
        if sfr is None or fpr is None:  # pareto_svg passes measured points only: this narrows the type
            continue
        px, py = x(fpr), y(sfr)
        spot = (round(px), round(py))
        nth = seen[spot]  # several models on one spot: side by side (0, +7, -7, +14 px...), not hidden
        px += 7 * ((nth + 1) // 2) * (1 if nth % 2 else -1)
        seen[spot] += 1
        tip = escape(f"{point.method}: {point.name}, {point.split}: SFR {percent(point.sfr)}, FPR {percent(point.fpr)}")
        fill = colour(point.method)
        shape = (
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{fill}"'
            if point.split == "validation"
            else f'<rect x="{px - 4.5:.1f}" y="{py - 4.5:.1f}" width="9" height="9" fill="white" '
            f'stroke="{fill}" stroke-width="2"'
        )
        parts.append(
            f'<g class="point" data-method="{escape(point.method)}" data-split="{point.split}">'
            f"{shape}><title>{tip}</title></{'circle' if point.split == 'validation' else 'rect'}></g>"
        )
        if point.highlight and point.split == "validation":
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="10" fill="none" stroke="{fill}" stroke-width="2"/>')
            parts.append(
                f'<text x="{px + 13:.1f}" y="{py - 9:.1f}" fill="{fill}" font-weight="600">'
                f"chosen: {escape(point.name)}</text>"
            )
        if point.method == "base" and point.split == "validation":  # below the dot, or above it near the axis
            below = sfr > 0.08
            parts.append(f'<text x="{px + 9:.1f}" y="{py + (18 if below else -9):.1f}" fill="{fill}">base model</text>')
    return parts


def _legend(points: list[Point], left: float, top: float) -> list[str]:
    methods = list(dict.fromkeys(p.method for p in points))
    parts = []
    row = top
    for method in methods:
        parts.append(
            f'<circle cx="{left + 6}" cy="{row + 6}" r="5" fill="{colour(method)}"/>'
            f'<text x="{left + 18}" y="{row + 10}">{escape(method)}</text>'
        )
        row += 20
    row += 8
    parts.append(
        f'<circle cx="{left + 6}" cy="{row + 6}" r="5" fill="#374151"/>'
        f'<text x="{left + 18}" y="{row + 10}">validation</text>'
    )
    row += 20
    parts.append(
        f'<rect x="{left + 1.5}" y="{row + 1.5}" width="9" height="9" fill="white" stroke="#374151" stroke-width="2"/>'
        f'<text x="{left + 18}" y="{row + 10}">OOD</text>'
    )
    return parts
