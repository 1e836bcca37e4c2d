"""The server-side SVG charts: one polyline per series, axes with round ticks, a legend, escaped text, and a
description for screen readers."""

from __future__ import annotations

import math
import re

from registry.web.charts import Series, line_chart, nice_ticks


def test_it_draws_one_polyline_per_series_with_a_legend_and_a_description():
    svg = str(
        line_chart(
            [Series("run a", [(0, 0.5), (1, 0.7), (2, 0.9)]), Series("run b", [(0, 0.4), (2, 0.6)])],
            title="auc",
        )
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'role="img"' in svg and re.search(r'aria-labelledby="(chart-\w+)-t \1-d"', svg)
    assert len(re.findall(r"<polyline ", svg)) == 2
    assert ">run a</text>" in svg and ">run b</text>" in svg  # the legend
    assert "run a: 3 points, step 0 to 2, values 0.5 to 0.9, last 0.9" in svg
    first, second = re.findall(r'points="([^"]+)"', svg)
    assert len(first.split()) == 3 and len(second.split()) == 2
    assert 'stroke-dasharray="6 3"' in svg  # the second series differs by dash pattern, not colour alone


def test_points_are_scaled_inside_the_plot_area_with_higher_values_higher_up():
    svg = str(line_chart([Series("s", [(0, 0.0), (10, 1.0)])], title="t", width=640, height=240))
    (coords,) = re.findall(r'points="([^"]+)"', svg)
    (x0, y0), (x1, y1) = [tuple(map(float, p.split(","))) for p in coords.split()]
    assert 64 <= x0 < x1 <= 640 - 16
    assert 12 <= y1 < y0 <= 240 - 40  # SVG y grows downwards


def test_labels_are_escaped():
    svg = str(line_chart([Series("<script>alert(1)</script>", [(0, 1)])], title='a"b<c'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "a&quot;b&lt;c" in svg


def test_non_finite_values_are_skipped_and_no_data_says_so():
    svg = str(line_chart([Series("s", [(0, math.nan), (1, math.inf), (2, 3.0)])], title="t"))
    (coords,) = re.findall(r'points="([^"]+)"', svg)
    assert len(coords.split()) == 1
    empty = str(line_chart([Series("s", [(0, math.nan)])], title="t"))
    assert "No data to plot" in empty and "<polyline" not in empty


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0.71, 0.93) == [0.7, 0.8, 0.9, 1.0]
    assert nice_ticks(0, 3, integer=True) == [0, 1, 2, 3]
    assert nice_ticks(5, 5) == [4.5, 5.0, 5.5]
    ticks = nice_ticks(-3, 120)
    assert ticks[0] <= -3 and ticks[-1] >= 120
