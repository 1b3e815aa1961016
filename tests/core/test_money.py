"""Money: one rounding rule, one parser of what people type as euros."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask_babel import force_locale

from contentflow.errors import ValidationError
from contentflow.money import format_percent, fraction_to_bps, parse_euros, round_half_up


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.5", 1),
        ("0.49", 0),
        ("1.5", 2),
        ("-0.5", -1),
        ("-0.49", 0),
        ("2", 2),
        ("123456789012.5", 123456789013),
    ],
)
def test_round_half_up_rounds_halves_away_from_zero(value, rounded):
    assert round_half_up(Decimal(value)) == rounded


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("12.5", 1250),
        ("12,50", 1250),
        (" 0.01 ", 1),
        ("-3", -300),
        ("1 000", 100000),
        ("+5", 500),
        (",5", 50),
    ],
)
def test_parse_euros_reads_what_an_admin_types(raw, cents):
    assert parse_euros(raw, allow_negative=True) == cents


@pytest.mark.parametrize("raw", ["", "abc", "1.005", "0", "0.00", "NaN", "Infinity", "-1"])
def test_parse_euros_refuses_what_is_not_a_positive_cent_amount(raw):
    with pytest.raises(ValidationError):
        parse_euros(raw)


@pytest.mark.parametrize(
    "raw",
    ["1e99", "1e2", "1_000", "0x10", "\u0661\u0662", "1000000000", "-1000000000", "12.5.3", "1,2,3", "."],
)
def test_parse_euros_refuses_what_no_person_means(raw):
    with pytest.raises(ValidationError) as refused:
        parse_euros(raw, allow_negative=True)
    assert refused.value.code == "invalid_amount"


def test_parse_euros_takes_zero_only_when_allowed():
    assert parse_euros("0", allow_zero=True) == 0
    assert parse_euros("0,00", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("fraction", "bps"),
    [("0.40", 4000), ("0.12345", 1235), ("0.12344", 1234), ("0", 0), ("1", 10000)],
)
def test_a_settings_fraction_becomes_basis_points_rounded_half_up(fraction, bps):
    assert fraction_to_bps(Decimal(fraction)) == bps


@pytest.mark.parametrize(("locale", "shown"), [("en", "12.5"), ("fr", "12,5")])
def test_a_fraction_is_shown_as_a_percent_in_the_readers_language(app, locale, shown):
    with app.test_request_context(), force_locale(locale):
        assert format_percent(Decimal("0.125")) == shown
