"""Line charts as inline SVG, drawn on the server: metric histories of a run, and the same metric of several runs
overlaid on the compare page. No JavaScript and no CDN, so the pages work offline and without scripts.

Written by hand because the need is small (polylines, two axes, a legend) and every charting library would bring
JavaScript or a heavy plotting stack into the web process. Accessibility: the SVG is `role="img"` labelled by its
`<title>` and a `<desc>` that states each series' range in words; series differ by colour (Okabe-Ito palette,
safe for colour-blind readers) *and* dash pattern."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
MARKERS_UP_TO = 40  # points per series drawn as dots too, so a one-point series is visible

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 12, 40
LEGEND_ROW, LEGEND_ITEM_WIDTH = 20, 180


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]  # (x, y), e.g. (step, value)


def _finite(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    # NaN and ±inf are legal metric values in MLflow; they cannot be plotted.
    return [(float(x), float(y)) for x, y in points if math.isfinite(x) and math.isfinite(y)]


def nice_ticks(low: float, high: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """About `count` round tick values covering [low, high] (1, 2 or 5 times a power of ten apart); whole numbers
    only when `integer` (steps are counted: a tick at step 0.5 would mean nothing)."""
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _style(index: int) -> tuple[str, str]:
    """Colour and dash pattern of the index-th series: both vary, so series differ without colour too."""
    return PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]


def fmt(value: float) -> str:
    return f"{value:.4g}"


def _chart_id(title: str, series: Sequence[Series]) -> str:
    seed = title + "\x00" + "\x00".join(s.label for s in series)
    return "chart-" + hashlib.sha1(seed.encode("utf-8", "backslashreplace")).hexdigest()[:10]


def _description(series: list[Series], x_label: str) -> str:
    parts = []
    for s in series:
        if not s.points:
            parts.append(f"{s.label}: no finite values")
            continue
        ys = [y for _x, y in s.points]
        xs = [x for x, _y in s.points]
        parts.append(
            f"{s.label}: {len(s.points)} points, {x_label} {fmt(min(xs))} to {fmt(max(xs))}, "
            f"values {fmt(min(ys))} to {fmt(max(ys))}, last {fmt(ys[-1])}"
        )
    return "; ".join(parts) + "."


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "step",
    y_label: str = "value",
    width: int = 640,
    height: int = 240,
) -> SafeString:
    """An SVG line chart: one polyline per series, x and y axes with round ticks, and a legend below."""
    cleaned = [Series(s.label, sorted(_finite(s.points))) for s in series]
    chart_id = _chart_id(title, cleaned)
    per_row = max(1, (width - MARGIN_LEFT) // LEGEND_ITEM_WIDTH)
    legend_rows = math.ceil(len(cleaned) / per_row) if cleaned else 0
    total_height = height + legend_rows * LEGEND_ROW + (8 if legend_rows else 0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {total_height}" '
        f'width="{width}" height="{total_height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(_description(cleaned, x_label))}</desc>',
    ]
    points = [p for s in cleaned for p in s.points]
    left, top = MARGIN_LEFT, MARGIN_TOP
    right, bottom = width - MARGIN_RIGHT, height - MARGIN_BOTTOM
    if not points:
        out.append(
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" class="chart-empty">'
            "No data to plot</text></svg>"
        )
        return mark_safe("".join(out))  # noqa: S308 — every text above went through escape()

    x_ticks = nice_ticks(
        min(x for x, _ in points), max(x for x, _ in points), integer=all(x.is_integer() for x, _ in points)
    )
    y_ticks = nice_ticks(min(y for _, y in points), max(y for _, y in points))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def sy(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    out.append('<g class="chart-axes" aria-hidden="true">')
    for y in y_ticks:
        out.append(
            f'<line class="chart-grid" x1="{left}" x2="{right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}"/>'
            f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{fmt(y)}</text>'
        )
    for x in x_ticks:
        out.append(
            f'<line class="chart-tick" x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{bottom}" y2="{bottom + 4}"/>'
            f'<text x="{sx(x):.1f}" y="{bottom + 16}" text-anchor="middle">{fmt(x)}</text>'
        )
    out.append(
        f'<line class="chart-axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        f'<line class="chart-axis" x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>'
        f'<text x="{(left + right) / 2:.0f}" y="{bottom + 32}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="14" y="{(top + bottom) / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + bottom) / 2:.0f})">{escape(y_label)}</text>'
        "</g>"
    )

    out.append('<g class="chart-series">')
    for index, s in enumerate(cleaned):
        colour, dash = _style(index)
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline data-series="{escape(s.label)}" points="{coords}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}><title>{escape(s.label)}</title></polyline>'
        )
        if len(s.points) <= MARKERS_UP_TO:
            out.extend(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}" aria-hidden="true"/>'
                for x, y in s.points
            )
    out.append("</g>")

    out.append('<g class="chart-legend">')
    for index, s in enumerate(cleaned):
        colour, dash = _style(index)
        lx = left + (index % per_row) * LEGEND_ITEM_WIDTH
        ly = height + 4 + (index // per_row) * LEGEND_ROW
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        label = s.label if len(s.label) <= 24 else s.label[:23] + "…"
        out.append(
            f'<line x1="{lx}" x2="{lx + 24}" y1="{ly + 6}" y2="{ly + 6}" stroke="{colour}" stroke-width="3"'
            f'{dash_attr}/><text x="{lx + 30}" y="{ly + 10}">{escape(label)}</text>'
        )
    out.append("</g></svg>")
    return mark_safe("".join(out))  # noqa: S308 — labels and titles are escaped above; numbers are ours
