"""The fields of an authenticated postback, validated into a ``Sale``.

Decisions a network integrator should know:
- ``status`` is normalised through ``STATUS_ALIASES``; an empty status means ``confirmed`` (a network
  without a status macro fires on approved sales, as the seed's wiring did); an unknown one is a 400.
- ``amount`` is required: missing or not a plain decimal number is a 400, so are negative amounts and
  amounts over the network's cap (in EUR). It is kept in the currency's minor units and converted from
  them, at the admin-maintained rate, with the ledger's half-up rule. A currency without a rate is no
  refusal: the conversion waits for review (``no_rate``).
- An amount of ``MAX_AMOUNT_UNITS`` (a trillion units of its currency) or more is a 400
  ``absurd_amount`` even when no rate allows the network's cap to be checked: past any cap at any real
  rate, and it keeps the minor units within the database's BIGINT in every currency.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import get_currency_precision

from contentflow.errors import DomainError
from contentflow.money import round_half_up
from contentflow.services import fx
from contentflow.services.postbacks.attempts import NetworkFacts, PostbackRefused

STATUS_ALIASES: dict[str, str] = {
    **dict.fromkeys(("pending", "pend", "new", "open", "hold", "on_hold", "held", "waiting"), "pending"),
    **dict.fromkeys(("processing", "created", "initiated", "extended"), "pending"),
    **dict.fromkeys(("confirmed", "confirm", "approved", "approve", "accepted", "valid"), "confirmed"),
    **dict.fromkeys(("validated", "paid", "complete", "completed", "success", "sale"), "confirmed"),
    **dict.fromkeys(("reversed", "reverse", "reversal", "refunded", "refund", "chargeback"), "reversed"),
    **dict.fromkeys(("charged_back", "cancelled", "canceled", "cancel", "void", "voided"), "reversed"),
    **dict.fromkeys(("rejected", "reject", "declined", "decline", "denied", "refused"), "rejected"),
    **dict.fromkeys(("invalid", "fraud"), "rejected"),
}
MAX_TXN_ID_LENGTH = 128
#: A plain decimal number, optionally signed (no NaN, infinity, exponent, underscores or other digits).
AMOUNT = re.compile(r"^[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})$")
#: No commission reaches a trillion units of any currency (10^16 minor units at most: a BIGINT holds them).
MAX_AMOUNT_UNITS = Decimal(10**12)


@dataclass(frozen=True)
class Sale:
    """The validated fields of a postback."""

    txn_id: str
    subid: str
    status: str
    currency: str
    amount_minor: int
    fx_rate: str | None
    amount_eur_cents: int | None


def normalize_status(raw: str) -> str:
    """A reported status -> pending, confirmed, reversed or rejected (empty: confirmed).

    Raises PostbackRefused (400 unknown_status). Pure."""
    word = raw.strip().lower().replace("-", "_").replace(" ", "_")
    if not word:
        return "confirmed"
    status = STATUS_ALIASES.get(word)
    if status is None:
        raise PostbackRefused(
            400, "unknown_status", "Unknown status: use pending, confirmed, reversed or rejected."
        )
    return status


def parse_sale(
    fields: Mapping[str, str],
    network: NetworkFacts,
    rate_of: Callable[[str], Decimal | None] | None = None,
) -> Sale:
    """Validate the fields of an authenticated postback and convert its amount to EUR when a rate is known
    (``rate_of``, by default ``fx.get_rate``, gives EUR per unit of a currency, or None).

    Raises PostbackRefused (400: missing txn_id, bad amount or currency, unknown status, amount over the
    network's cap or beyond what a conversion can hold). Writes nothing."""
    txn_id = fields.get("txn_id", "").strip()
    if not txn_id:
        raise PostbackRefused(400, "missing_txn_id", "txn_id is required.", network.id)
    if len(txn_id) > MAX_TXN_ID_LENGTH:
        raise PostbackRefused(400, "bad_txn_id", "txn_id is longer than 128 characters.", network.id)
    raw_amount = fields.get("amount", "").strip()
    if not AMOUNT.match(raw_amount):
        raise PostbackRefused(400, "bad_amount", "amount is not a decimal number.", network.id)
    amount = Decimal(raw_amount)
    if amount < 0:
        raise PostbackRefused(400, "negative_amount", "amount cannot be negative.", network.id)
    try:
        currency = fx.normalize_currency(fields.get("currency", "") or fx.BASE_CURRENCY)
    except DomainError:
        raise PostbackRefused(400, "bad_currency", "currency is a three-letter code.", network.id) from None
    status = normalize_status(fields.get("status", ""))
    amount_minor, fx_rate, eur_cents = _convert_amount(amount, currency, network, rate_of or fx.get_rate)
    return Sale(
        txn_id=txn_id,
        subid=fields.get("subid", "").strip(),
        status=status,
        currency=currency,
        amount_minor=amount_minor,
        fx_rate=fx_rate,
        amount_eur_cents=eur_cents,
    )


def _convert_amount(
    amount: Decimal, currency: str, network: NetworkFacts, rate_of: Callable[[str], Decimal | None]
) -> tuple[int, str | None, int | None]:
    """``amount`` in minor units of ``currency``, the rate's text and the EUR cents (both None without a
    rate). Raises PostbackRefused (400 absurd_amount: too large, or over the network's cap)."""
    precision = get_currency_precision(currency)
    if amount >= MAX_AMOUNT_UNITS:
        raise PostbackRefused(400, "absurd_amount", "amount is too large to be a commission.", network.id)
    amount_minor = round_half_up(amount.scaleb(precision))
    rate = rate_of(currency)
    if rate is None:
        return amount_minor, None, None
    eur_cents = fx.to_eur_cents(Decimal(amount_minor).scaleb(-precision), rate)
    if eur_cents > network.max_amount_cents:
        raise PostbackRefused(400, "absurd_amount", "amount is over this network's cap.", network.id)
    return amount_minor, fx.rate_text(rate), eur_cents
