"""Exchange rates to EUR, maintained by admins, and the conversion of a postback's amount to EUR cents."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import select

from contentflow.errors import ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, FxRate
from contentflow.money import to_cents
from contentflow.services import audit

#: The ledger's currency: its rate is 1 by definition and never stored.
BASE_CURRENCY = "EUR"
#: The length of ``FxRate.eur_per_unit`` and ``Conversion.fx_rate``.
MAX_RATE_LENGTH = 32


def normalize_currency(raw: str) -> str:
    """``usd`` -> ``USD``. Raises ValidationError unless it is three ASCII letters."""
    currency = raw.strip().upper()
    if len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
        raise ValidationError(_("A currency is a three-letter ISO code, e.g. USD."), code="bad_currency")
    return currency


def parse_rate(raw: str) -> Decimal:
    """A rate as typed (``0.92``): a finite decimal above 0. Raises ValidationError."""
    try:
        rate = Decimal(raw.strip().replace(",", "."))
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or rate <= 0 or rate > 1_000_000:
        raise ValidationError(_("A rate is a decimal number above 0, e.g. 0.92."), code="bad_rate")
    rate = rate.normalize()
    # normalize() may write 100 as 1E+2: store the plain digits.
    text = f"{rate:f}"
    if len(text) > MAX_RATE_LENGTH:
        raise ValidationError(_("A rate has at most 30 digits."), code="bad_rate")
    return Decimal(text)


def get_rate(currency: str) -> Decimal | None:
    """EUR for one unit of ``currency`` (EUR itself: 1), or None when no admin set a rate."""
    if currency == BASE_CURRENCY:
        return Decimal(1)
    stored = db.session.scalar(select(FxRate.eur_per_unit).where(FxRate.currency == currency))
    return Decimal(stored) if stored is not None else None


def set_rate(
    currency: str, raw_rate: str, admin: AdminUser | None = None, *, actor: str | None = None
) -> FxRate:
    """Create or update the rate of ``currency``, audit-logged as ``admin`` or ``actor``. Idempotent.
    Raises ValidationError (bad code or rate, or EUR, whose rate is fixed)."""
    currency = normalize_currency(currency)
    if currency == BASE_CURRENCY:
        raise ValidationError(_("EUR is the ledger's currency: its rate is always 1."), code="bad_currency")
    rate = f"{parse_rate(raw_rate):f}"
    fx_rate = db.session.get(FxRate, currency)
    if fx_rate is None:
        fx_rate = FxRate(currency=currency, eur_per_unit=rate)
        db.session.add(fx_rate)
    fx_rate.eur_per_unit = rate
    fx_rate.updated_by_admin_id = admin.id if admin else None
    db.session.flush()
    audit.record_change(
        "fx_rate.set",
        admin=admin,
        actor=actor,
        target_type="fx_rate",
        target_id=currency,
        details={"eur_per_unit": rate},
    )
    return fx_rate


def list_rates() -> list[FxRate]:
    """Every stored rate, by currency."""
    return list(db.session.scalars(select(FxRate).order_by(FxRate.currency)))


def to_eur_cents(amount: Decimal, rate: Decimal) -> int:
    """``amount`` units of a currency at ``rate`` EUR per unit, in EUR cents (the ledger's half-up rule)."""
    return to_cents(amount * rate)


def rate_text(rate: Decimal) -> str:
    """How a conversion records the rate it used: plain digits, no exponent."""
    return f"{rate:f}"
