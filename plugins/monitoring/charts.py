"""Geometry of the dashboard's server-rendered SVG charts: plain numbers for the templates to draw (no
script, so the strict CSP holds). Each chart is shown with a table of the same figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: The drawing's own coordinate system; the SVG scales to its container.
WIDTH = 640
HEIGHT = 180
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 10, 22
ROW_HEIGHT = 26


@dataclass(frozen=True)
class Bar:
    """A bar in the drawing's units, with the value and label it stands for."""

    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass(frozen=True)
class Tick:
    """A value-axis line at height ``y``."""

    y: float
    value: int


@dataclass(frozen=True)
class ColumnChart:
    """Vertical bars over time: one per point, value axis ticks, a few dated labels along the bottom."""

    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    x_labels: tuple[tuple[float, str], ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: float = HEIGHT - BOTTOM


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one row each (rankings, the funnel)."""

    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (1 for nothing)."""
    if value <= 1:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # unreachable: step 10 always fits


def column_chart(points: Sequence[tuple[str, int]], *, label_every: int = 7) -> ColumnChart:
    """Columns for ``points`` (label, value), oldest first; a bottom label every ``label_every`` points
    and on the last one."""
    top_value = nice_ceiling(max((value for _, value in points), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        height = plot_height * value / top_value
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.1, 1),
                y=round(TOP + plot_height - height, 1),
                width=round(slot * 0.8, 1),
                height=round(height, 1),
                value=value,
                label=label,
            )
        )
    # Zero, the middle when it is a whole value (not for a maximum of 1 or 5), and the maximum: each
    # line drawn at the height of the value it is labelled with.
    values = sorted({0, top_value // 2 if top_value % 2 == 0 else 0, top_value})
    ticks = tuple(Tick(round(TOP + plot_height * (1 - value / top_value), 1), value) for value in values)
    shown = [i for i in range(len(points)) if i % label_every == 0]
    if points and len(points) - 1 - shown[-1] >= label_every // 2:
        shown.append(len(points) - 1)  # the last day too, unless its label would run into the one before
    x_labels = tuple((round(LEFT + i * slot + slot / 2, 1), points[i][0]) for i in shown)
    return ColumnChart(tuple(bars), ticks, x_labels)


def bar_chart(rows: Sequence[tuple[str, int]], *, width: int = 480, label_width: int = 150) -> BarChart:
    """One horizontal bar per row (label, value), longest for the largest value; a value above zero is
    never drawn thinner than 2 units, so a small step of a funnel stays visible."""
    top_value = max((value for _, value in rows), default=0) or 1
    plot_width = width - label_width - 170  # room on the right for the value and its note
    bars = []
    for index, (label, value) in enumerate(rows):
        length = plot_width * value / top_value
        bars.append(
            Bar(
                x=label_width,
                y=index * ROW_HEIGHT + 4,
                width=round(max(length, 2) if value > 0 else 0, 1),
                height=ROW_HEIGHT - 8,
                value=value,
                label=label,
            )
        )
    return BarChart(tuple(bars), width, max(len(rows), 1) * ROW_HEIGHT, label_width)
