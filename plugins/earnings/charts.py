"""Bar charts as plain geometry for server-rendered SVG: no script, no style attribute (the CSP allows
neither), only SVG presentation attributes. Each chart in a page sits beside a table of its numbers.

The maths is integer-in, float-out: values are cents or counts, positions are SVG user units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: The drawing area of every chart, in SVG user units (the SVG scales to its container's width).
WIDTH = 720
HEIGHT = 180
PADDING = 4


@dataclass(frozen=True)
class Bar:
    """One bar's rectangle, in SVG user units; ``is_negative`` bars are drawn in the error colour."""

    x: float
    y: float
    width: float
    height: float
    is_negative: bool = False


@dataclass(frozen=True)
class Chart:
    """Bars in input order, the y (or x, for horizontal charts) of the zero line, and the chart size."""

    bars: tuple[Bar, ...]
    zero: float
    width: int = WIDTH
    height: int = HEIGHT


def _span(values: Sequence[int]) -> tuple[int, int]:
    """The value range drawn: always includes zero, never empty (an all-zero series draws flat)."""
    low, high = min(0, *values), max(0, *values)
    return low, high if high > low else low + 1


def column_chart(values: Sequence[int], *, width: int = WIDTH, height: int = HEIGHT) -> Chart:
    """Vertical bars, one per value, left to right; negative values hang below the zero line."""
    if not values:
        return Chart((), float(height - PADDING), width, height)
    low, high = _span(values)
    drawable = height - 2 * PADDING
    scale = drawable / (high - low)
    zero = PADDING + high * scale
    slot = (width - 2 * PADDING) / len(values)
    gap = min(2.0, slot * 0.2)
    bars = tuple(
        Bar(
            x=round(PADDING + index * slot + gap / 2, 2),
            y=round(zero - max(value, 0) * scale, 2),
            width=round(slot - gap, 2),
            height=round(abs(value) * scale, 2),
            is_negative=value < 0,
        )
        for index, value in enumerate(values)
    )
    return Chart(bars, round(zero, 2), width, height)


def row_chart(values: Sequence[int], *, width: int = WIDTH, row_height: int = 22) -> Chart:
    """Horizontal bars, one row per value, top to bottom; negative values grow left of the zero line."""
    height = max(1, len(values)) * row_height + 2 * PADDING
    if not values:
        return Chart((), float(PADDING), width, height)
    low, high = _span(values)
    scale = (width - 2 * PADDING) / (high - low)
    zero = PADDING - low * scale
    bars = tuple(
        Bar(
            x=round(zero + min(value, 0) * scale, 2),
            y=round(PADDING + index * row_height + 3, 2),
            width=round(abs(value) * scale, 2),
            height=row_height - 6,
            is_negative=value < 0,
        )
        for index, value in enumerate(values)
    )
    return Chart(bars, round(zero, 2), width, height)
