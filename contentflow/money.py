"""Money: integer EUR cents in storage, Decimal at the edges, one rounding rule, one display filter."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from flask_babel import format_currency

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    """Decimal euros -> integer cents, rounding half-up (the one rounding rule of the ledger)."""
    return int((amount / CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def share_cents(amount_cents: int, bps: int) -> int:
    """``bps`` basis points of ``amount_cents``, rounded half-up to the cent (same rule as ``to_cents``)."""
    return int((Decimal(amount_cents) * bps / 10000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) * CENT).quantize(CENT)


def format_money(cents: int | None, currency: str = "EUR") -> str:
    """The ``money`` template filter: cents shown in the current locale (``1 234,50 €`` in French)."""
    if cents is None:
        return "—"
    return format_currency(from_cents(cents), currency)
