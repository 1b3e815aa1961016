"""The charts' geometry: scaled to a round maximum, small values still visible, labels that fit."""

from __future__ import annotations

import pytest

from plugins.monitoring import charts


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (7, 10), (10, 10), (11, 20), (180, 200), (201, 500)]
)
def test_nice_ceiling_rounds_up_to_1_2_or_5_times_a_power_of_ten(value, ceiling):
    assert charts.nice_ceiling(value) == ceiling


def test_column_chart_scales_the_tallest_column_to_the_round_maximum():
    chart = charts.column_chart([("1 Mar", 50), ("2 Mar", 100), ("3 Mar", 0)])

    plot_height = charts.HEIGHT - charts.TOP - charts.BOTTOM
    assert [bar.height for bar in chart.bars] == [plot_height / 2, plot_height, 0]
    assert [tick.value for tick in chart.ticks] == [0, 50, 100]
    assert all(bar.y + bar.height == pytest.approx(chart.bottom) for bar in chart.bars)


def test_column_chart_labels_every_seventh_day_and_the_last_when_there_is_room():
    points = [(f"d{n}", n) for n in range(30)]

    labels = [text for _, text in charts.column_chart(points).x_labels]

    assert labels == ["d0", "d7", "d14", "d21", "d28"]
    assert [text for _, text in charts.column_chart(points[:26]).x_labels] == [
        "d0",
        "d7",
        "d14",
        "d21",
        "d25",
    ]


def test_column_chart_of_nothing_draws_empty_columns():
    chart = charts.column_chart([("1 Mar", 0), ("2 Mar", 0)])

    assert [bar.height for bar in chart.bars] == [0, 0]


def test_bar_chart_gives_the_largest_value_the_longest_bar_and_keeps_small_ones_visible():
    chart = charts.bar_chart([("Clicks", 100_000), ("Conversions", 10), ("Confirmed", 0)])

    longest, small, empty = chart.bars
    assert longest.width == chart.width - chart.label_width - 170
    assert small.width == 2
    assert empty.width == 0
    assert chart.height == 3 * charts.ROW_HEIGHT


@pytest.mark.parametrize(("top", "values"), [(5, [0, 5]), (1, [0, 1]), (0, [0, 1]), (20, [0, 10, 20])])
def test_column_chart_ticks_are_whole_values_drawn_at_their_own_height(top, values):
    chart = charts.column_chart([("1 Mar", top)])

    plot_height = charts.HEIGHT - charts.TOP - charts.BOTTOM
    scale = charts.nice_ceiling(top)
    assert [tick.value for tick in chart.ticks] == values
    for tick in chart.ticks:
        assert tick.y == pytest.approx(charts.TOP + plot_height * (1 - tick.value / scale), abs=0.05)
