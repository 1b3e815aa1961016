"""Money: integer EUR cents in storage, Decimal at the edges, one rounding rule, one parser of what people
type, one display filter."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import format_currency, format_decimal
from flask_babel import gettext as _

from contentflow.errors import ValidationError

CENT = Decimal("0.01")
#: Beyond a billion euros an amount typed by a person is a typo (and past Decimal's exact range the
#: rounding itself would fail).
MAX_TYPED_EUROS = Decimal(1_000_000_000)
#: An amount as people type it once spaces are gone and the comma is a point: ``-12.50``, ``.5``, ``12.``.
TYPED_AMOUNT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")


def round_half_up(value: Decimal) -> int:
    """The one rounding rule of the ledger: to the nearest whole unit, halves away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_cents(amount: Decimal) -> int:
    """Decimal euros -> integer cents, rounding half-up."""
    return round_half_up(amount / CENT)


def share_cents(amount_cents: int, bps: int | Decimal) -> int:
    """``bps`` basis points of ``amount_cents``, rounded half-up to the cent."""
    return round_half_up(Decimal(amount_cents) * Decimal(bps) / 10000)


def fraction_to_bps(fraction: Decimal) -> int:
    """A setting's fraction (``0.40``, as in the environment) -> basis points (4000), rounded half-up."""
    return round_half_up(Decimal(fraction) * 10000)


def format_percent(fraction: Decimal) -> str:
    """A fraction as the percent people read, in their language (0.40 -> ``40``, 0.125 -> ``12,5`` in
    French), exact to the basis point: never a float."""
    return format_decimal(Decimal(fraction_to_bps(fraction)) / 100)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) * CENT).quantize(CENT)


def parse_euros(raw: str | None, *, allow_negative: bool = False, allow_zero: bool = False) -> int:
    """What a person types as euros -> cents: ``12.5``, ``12,50``, ``1 000``, at most two decimals.

    Raises ValidationError (code ``invalid_amount``): not a finite amount, more than two decimals, a
    billion euros or more, zero unless ``allow_zero``, negative unless ``allow_negative``.
    """
    shown = (raw or "").strip()[:40]
    text = shown.replace(" ", "").replace("\u00a0", "").replace("\u202f", "").replace(",", ".")
    # Plain ASCII digits only: Decimal alone would also take 1e3, 1_000 or other scripts' digits.
    amount = Decimal(text) if TYPED_AMOUNT.fullmatch(text) else Decimal("NaN")
    if not amount.is_finite() or amount.as_tuple().exponent < -2 or abs(amount) >= MAX_TYPED_EUROS:
        raise ValidationError(
            _("Not an amount: %(raw)s. Enter an amount in euros, like 12.50.", raw=shown),
            code="invalid_amount",
        )
    if (amount == 0 and not allow_zero) or (amount < 0 and not allow_negative):
        raise ValidationError(_("The amount must be more than zero."), code="invalid_amount")
    return to_cents(amount)


def format_money(cents: int | None, currency: str = "EUR") -> str:
    """The ``money`` template filter: cents shown in the current locale (``1 234,50 €`` in French)."""
    if cents is None:
        return "—"
    return format_currency(from_cents(cents), currency)
