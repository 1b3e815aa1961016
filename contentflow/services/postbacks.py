"""Postbacks: a network reports a sale server to server; it becomes one conversion, and money once.

One transaction per postback (the view commits): the conversion row, written with INSERT ... ON CONFLICT
DO NOTHING on its unique (network, txn_id); else the existing row locked (SELECT ... FOR UPDATE) for a
status transition; the ledger entry; the log line. Twenty identical replays at once therefore make one
row and one credit. On SQLite every transaction begins IMMEDIATE, so they simply take turns.

Decisions a network integrator should know:
- ``status`` is normalised through ``STATUS_ALIASES``; an empty status means ``confirmed`` (a network
  without a status macro fires on approved sales, as the seed's wiring did); an unknown one is a 400.
- ``amount`` is required: missing or not a plain decimal number is a 400, so are negative amounts and
  amounts over the network's cap (in EUR). It is kept in the currency's minor units and converted from
  them, at the admin-maintained rate, with the ledger's half-up rule.
- Authenticated postbacks are never thrown away: an unknown click, a subid naming another partner or
  asset, a subid over 64 characters (stored cut) or a currency without a rate make a conversion that
  needs review (200); an admin resolves it (``services.conversions``).
- An amount of ``MAX_AMOUNT_UNITS`` (a trillion units of its currency) or more is a 400
  ``absurd_amount`` even when no rate allows the network's cap to be checked: past any cap at any real
  rate, and it keeps the minor units within the database's BIGINT in every currency.
- Fields are text: the view refuses a NUL byte, invalid UTF-8 or a lone surrogate anywhere (400
  ``bad_encoding``) and logs the attempt with such characters replaced by U+FFFD.

This module is the reference path, on the ORM, for every case. The common case (a new conversion of a
known click at a known rate, or its exact replay) is also written by one statement on the driver,
``services.postback_fast``, with the same validation code (``check_credentials``, ``parse_sale``,
``parse_subid``) and the same effects; ``tests/core/test_postback_fast.py`` holds them equal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Protocol

from babel.numbers import get_currency_precision
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.models import Asset, Click, Conversion, Network, Offer, PostbackLog
from contentflow.models.base import insert_or_skip
from contentflow.money import round_half_up
from contentflow.security import hash_ip
from contentflow.services import conversions, fx, offers

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
#: (current, reported) -> new status. A network taking a sale back before confirming it rejects it
#: (nothing was credited); declining it after confirming reverses it (the credit is taken back).
TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "confirmed"): "confirmed",
    ("pending", "rejected"): "rejected",
    ("pending", "reversed"): "rejected",
    ("confirmed", "reversed"): "reversed",
    ("confirmed", "rejected"): "reversed",
}
#: The fields kept in the postback log; ``token`` and the signature never are.
LOGGED_FIELDS = ("network", "txn_id", "subid", "amount", "currency", "status")
MAX_SUBID_LENGTH = 64
MAX_TXN_ID_LENGTH = 128
#: A plain decimal number, optionally signed (no NaN, infinity, exponent, underscores or other digits).
AMOUNT = re.compile(r"^[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})$")
#: Why a request could not be read (``Attempt.body_error``).
UNREADABLE = {
    "bad_body": "The body is neither form data nor a JSON object of strings and numbers (16 KiB at most).",
    "bad_encoding": "A field holds a NUL byte, invalid UTF-8 or a lone surrogate.",
}
#: No commission reaches a trillion units of any currency (10^16 minor units at most: a BIGINT holds them).
MAX_AMOUNT_UNITS = Decimal(10**12)
#: What text cannot carry into the database or the log: NUL, and lone surrogates (from JSON escapes).
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class NetworkFacts(Protocol):
    """What authentication and validation read of a network: a ``Network`` row or a process's snapshot
    of one (``services.postback_cache``)."""

    id: int
    is_active: bool
    allowed_ips: str | None
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    max_amount_cents: int


@dataclass(frozen=True)
class Attempt:
    """What the view read from the request: the fields, the credentials and where it came from."""

    fields: Mapping[str, str]
    #: The ``X-Signature`` header ("" when absent).
    signature: str
    #: What the signature covers: the raw query string (GET) or the raw body (POST).
    signed_payload: bytes
    ip: str
    #: Set when the request could not be read: ``bad_body`` (too big, not JSON or form data, not an object
    #: of strings and numbers) or ``bad_encoding`` (NUL, invalid UTF-8, lone surrogate): a 400.
    body_error: str = ""

    @cached_property
    def ip_hash(self) -> str:
        """The keyed hash of ``ip`` (computed once: the log and the rate limit both need it)."""
        return hash_ip(self.ip)


@dataclass(frozen=True)
class Outcome:
    """What became of an authenticated postback: accepted, duplicate, ignored or review."""

    outcome: str
    reason: str
    conversion_id: int


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


class PostbackRefused(DomainError):
    """Refused before anything is written but the log line: 403 (who is asking) or 400 (what it says).

    ``code`` is the logged reason; the message is plain English, for the network's integrator."""

    def __init__(self, status: int, code: str, message: str, network_id: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.network_id = network_id


def rate_limited() -> PostbackRefused:
    """The refusal of every postback from a (network, IP) pair that was refused too often lately (429,
    ``services.postback_limits``)."""
    return PostbackRefused(429, "rate_limited", "Too many refused postbacks from this address: retry later.")


def receive(attempt: Attempt) -> Outcome:
    """Authenticate, validate and apply a postback, and log it, in the caller's transaction.

    Raises PostbackRefused (nothing written: the caller rolls back and calls ``log_refusal``).
    Idempotent on (network, txn_id), also under concurrency."""
    if attempt.body_error:
        raise PostbackRefused(
            400, attempt.body_error, UNREADABLE.get(attempt.body_error, UNREADABLE["bad_body"])
        )
    network = authenticate(attempt)
    sale = parse_sale(attempt.fields, network)
    # Kept referenced until the credit: the session's identity map is weak, and the share reads them.
    click, asset, reason = attribute(sale.subid)
    conversion = _insert_conversion(network, sale, click, asset, reason)
    if conversion is None:
        conversion = _lock_existing(network.id, sale.txn_id)
        outcome, reason = _apply_status(conversion, sale)
    elif conversion.needs_review:
        outcome, reason = "review", conversion.review_reason or ""
    else:
        conversions.apply_money_effect(conversion)
        outcome, reason = "accepted", "created"
    _log(attempt, outcome, reason, 200, network.id, conversion.id)
    return Outcome(outcome, reason, conversion.id)


def authenticate(attempt: Attempt) -> Network:
    """The active network named by ``network=``, if the request may speak for it: from an allowed IP, with
    its secret (or the previous one during a rotation) as ``token=`` or as the HMAC key of
    ``X-Signature``. Raises PostbackRefused (403)."""
    name = attempt.fields.get("network", "").strip()
    network = offers.get_network_by_name(name) if 0 < len(name) <= 64 else None
    if network is None:
        raise PostbackRefused(403, "unknown_network", "Unknown network.")
    check_credentials(attempt, network)
    return network


def check_credentials(attempt: Attempt, network: NetworkFacts) -> None:
    """Whether ``attempt`` may speak for ``network`` (a Network, or a process's snapshot of one).

    Raises PostbackRefused (403: switched off, IP not allowed, no or wrong secret)."""
    if not network.is_active:
        raise PostbackRefused(403, "network_inactive", "This network is switched off.", network.id)
    if not offers.is_ip_allowed(network, attempt.ip):
        raise PostbackRefused(403, "ip_not_allowed", "Not allowed from this address.", network.id)
    token = attempt.fields.get("token", "").encode()
    if not token and not attempt.signature:
        raise PostbackRefused(403, "missing_secret", "Give token= or an X-Signature header.", network.id)
    for secret in offers.accepted_secrets(network):
        if token and hmac.compare_digest(token, secret.encode()):
            return
        if attempt.signature and signature_matches(attempt.signature, attempt.signed_payload, secret):
            return
    raise PostbackRefused(403, "bad_secret", "Wrong token or signature.", network.id)


def signature_matches(header: str, payload: bytes, secret: str) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC-SHA256 of payload keyed by secret>`` (constant time)."""
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest.isascii():
        return False
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), digest.strip().lower().encode())


def normalize_status(raw: str) -> str:
    """A reported status -> pending, confirmed, reversed or rejected (empty: confirmed).

    Raises PostbackRefused (400 unknown_status)."""
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
    network's cap or beyond what a conversion can hold)."""
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
    precision = get_currency_precision(currency)
    if amount >= MAX_AMOUNT_UNITS:
        raise PostbackRefused(400, "absurd_amount", "amount is too large to be a commission.", network.id)
    amount_minor = round_half_up(amount.scaleb(precision))
    rate = (rate_of or fx.get_rate)(currency)
    eur_cents = fx.to_eur_cents(Decimal(amount_minor).scaleb(-precision), rate) if rate is not None else None
    if eur_cents is not None and eur_cents > network.max_amount_cents:
        raise PostbackRefused(400, "absurd_amount", "amount is over this network's cap.", network.id)
    return Sale(
        txn_id=txn_id,
        subid=fields.get("subid", "").strip(),
        status=status,
        currency=currency,
        amount_minor=amount_minor,
        fx_rate=fx.rate_text(rate) if rate is not None else None,
        amount_eur_cents=eur_cents,
    )


def parse_subid(subid: str) -> tuple[str, str, str] | str:
    """``partner:asset:click`` -> its three ids, or the review reason when it cannot name a click
    (``subid_too_long``, ``unknown_click``)."""
    if len(subid) > MAX_SUBID_LENGTH:
        return "subid_too_long"
    parts = subid.split(":")
    if len(parts) != 3 or not all(parts) or len(parts[2]) > 16:
        return "unknown_click"
    return parts[0], parts[1], parts[2]


def attribute(subid: str) -> tuple[Click | None, Asset | None, str]:
    """The click a ``partner:asset:click`` subid names, with its asset, or the review reason
    (``subid_too_long``, ``unknown_click``, ``click_mismatch``). One query."""
    parsed = parse_subid(subid)
    if isinstance(parsed, str):
        return None, None, parsed
    partner_id, asset_id, click_id = parsed
    # The asset's offer comes along (the share needs it), not the offer's network: its secrets would be
    # decrypted for nothing.
    query = (
        select(Click, Asset)
        .join(Asset, Asset.id == Click.asset_id)
        .where(Click.id == click_id)
        .options(joinedload(Asset.offer).lazyload(Offer.network))
    )
    row = db.session.execute(query).first()
    if row is None:
        return None, None, "unknown_click"
    click, asset = row
    if (click.partner_id, click.asset_id) != (partner_id, asset_id):
        return None, None, "click_mismatch"
    return click, asset, ""


def _insert_conversion(
    network: Network, sale: Sale, click: Click | None, asset: Asset | None, reason: str
) -> Conversion | None:
    """The new conversion (attributed to ``click``, or needing review for ``reason``), or None when
    (network, txn_id) exists already: no error, no lock wait beyond a concurrent insert of the same key."""
    reasons = [reason] if reason else []
    if sale.amount_eur_cents is None:
        reasons.append("no_rate")
    now = datetime.now(UTC)
    statement = (
        insert_or_skip(Conversion, "network_id", "txn_id")
        .values(
            network_id=network.id,
            txn_id=sale.txn_id,
            subid=sale.subid[:MAX_SUBID_LENGTH],
            click_id=click.id if click else None,
            partner_id=click.partner_id if click else None,
            asset_id=click.asset_id if click else None,
            offer_id=(click.offer_id or asset.offer_id) if click and asset else None,
            status=sale.status,
            amount_minor=sale.amount_minor,
            currency=sale.currency,
            amount_eur_cents=sale.amount_eur_cents,
            fx_rate=sale.fx_rate,
            needs_review=bool(reasons),
            review_reason=",".join(reasons) or None,
            created_at=now,
            updated_at=now,
        )
        .returning(Conversion)
    )
    return db.session.scalars(statement).one_or_none()


def _lock_existing(network_id: int, txn_id: str) -> Conversion:
    """The existing conversion, locked until the commit so its status changes once."""
    query = (
        select(Conversion)
        .where(Conversion.network_id == network_id, Conversion.txn_id == txn_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(query).one()


def _apply_status(conversion: Conversion, sale: Sale) -> tuple[str, str]:
    """Move ``conversion`` to the reported status when the machine allows it, with its money effect.

    Returns (outcome, reason): duplicate/replay, ignored/stale_status, or accepted (review when the
    conversion still awaits an admin) with ``<from>_to_<to>``."""
    current = conversion.status
    if sale.status == current:
        return "duplicate", "replay"
    target = TRANSITIONS.get((current, sale.status))
    if target is None:
        return "ignored", "stale_status"
    if target == "confirmed":
        _take_confirmed_amount(conversion, sale)
    conversion.status = target
    db.session.flush()
    conversions.apply_money_effect(conversion)
    return ("review" if conversion.needs_review else "accepted"), f"{current}_to_{target}"


def _take_confirmed_amount(conversion: Conversion, sale: Sale) -> None:
    """The confirmed commission is what the network pays: it replaces the pending one."""
    conversion.amount_minor = sale.amount_minor
    conversion.currency = sale.currency
    conversion.amount_eur_cents = sale.amount_eur_cents
    conversion.fx_rate = sale.fx_rate
    reasons = [r for r in (conversion.review_reason or "").split(",") if r and r != "no_rate"]
    if sale.amount_eur_cents is None:
        reasons.append("no_rate")
    conversion.needs_review = bool(reasons)
    conversion.review_reason = ",".join(reasons) or None


def _log(
    attempt: Attempt,
    outcome: str,
    reason: str,
    status: int,
    network_id: int | None,
    conversion_id: int | None,
) -> None:
    db.session.add(PostbackLog(**log_values(attempt, outcome, reason, status, network_id, conversion_id)))


def log_values(
    attempt: Attempt,
    outcome: str,
    reason: str,
    status: int,
    network_id: int | None,
    conversion_id: int | None,
) -> dict:
    """The columns of the log line of ``attempt`` (both paths write exactly these)."""
    return {
        "network_name": clean_text(attempt.fields.get("network", ""))[:64],
        "network_id": network_id,
        "txn_id": clean_text(attempt.fields.get("txn_id", ""))[:MAX_TXN_ID_LENGTH],
        "conversion_id": conversion_id,
        "outcome": outcome,
        "reason": reason[:64],
        "http_status": status,
        "params": sanitized_params(attempt),
        "ip_hash": attempt.ip_hash,
    }


def sanitized_params(attempt: Attempt) -> dict[str, str]:
    """The known fields, each cut to 128 characters, and how the request authenticated; never a secret."""
    fields = attempt.fields
    params = {key: clean_text(fields[key])[:128] for key in LOGGED_FIELDS if key in fields}
    params["auth"] = "signature" if attempt.signature else "token" if fields.get("token") else "none"
    return params


def has_bad_text(value: str) -> bool:
    """Whether ``value`` holds a NUL or a lone surrogate, which no text column can store."""
    return BAD_TEXT.search(value) is not None


def clean_text(value: str) -> str:
    """``value`` with every NUL and lone surrogate replaced by U+FFFD (for the log of a refusal)."""
    return BAD_TEXT.sub("\ufffd", value)


def log_refusal(attempt: Attempt, refusal: PostbackRefused) -> None:
    """The log line of a refused postback, in its own (small) transaction that the caller commits."""
    _log(attempt, "rejected", refusal.code, refusal.status, refusal.network_id, None)


def recent_log(outcome: str | None = None, limit: int = 100) -> list[PostbackLog]:
    """The latest log lines, newest first, optionally of one outcome."""
    query = select(PostbackLog).order_by(PostbackLog.id.desc()).limit(limit)
    if outcome:
        query = query.where(PostbackLog.outcome == outcome)
    return list(db.session.scalars(query))
