"""Postbacks: a network reports a sale server to server; it becomes one conversion, and money once.

One transaction per postback (the view commits): the conversion row, written with INSERT ... ON CONFLICT
DO NOTHING on its unique (network, txn_id); else the existing row locked (SELECT ... FOR UPDATE) for a
status transition; the ledger entry; the log line. Twenty identical replays at once therefore make one
row and one credit. On SQLite every transaction begins IMMEDIATE, so they simply take turns.

``receive`` runs the steps, each in its own module with the decisions a network integrator should know:

1. ``credentials``: who may speak for the network named (403 otherwise);
2. ``sales``: the fields validated into a ``Sale`` (status aliases, amount, currency, caps; 400 otherwise);
3. ``attribution``: the click the subid names, or why the conversion needs review (never a refusal);
4. ``recording``: the conversion inserted once, or moved along the status machine under a row lock;
5. ``log``: one line per attempt, refusals included.

What the steps pass along (``Attempt``, ``Outcome``, ``PostbackRefused``) lives in ``attempts``. The names
callers use are re-exported here, so ``postbacks`` stays the one entry point.

This package is the reference path, on the ORM, for every case. The common case (a new conversion of a
known click at a known rate, or its exact replay) is also written by one statement on the driver,
``services.postback_fast``, with the same validation code (``check_credentials``, ``parse_sale``,
``parse_subid``) and the same effects; ``tests/core/test_postback_fast.py`` holds them equal.
"""

from __future__ import annotations

from contentflow.services import conversions
from contentflow.services.postbacks.attempts import (
    BAD_TEXT,
    UNREADABLE,
    Attempt,
    NetworkFacts,
    Outcome,
    PostbackRefused,
    clean_text,
    has_bad_text,
    rate_limited,
)
from contentflow.services.postbacks.attribution import MAX_SUBID_LENGTH, attribute, parse_subid
from contentflow.services.postbacks.credentials import authenticate, check_credentials, signature_matches
from contentflow.services.postbacks.log import (
    LOGGED_FIELDS,
    log_attempt,
    log_refusal,
    log_values,
    recent_log,
    sanitized_params,
)
from contentflow.services.postbacks.recording import (
    TRANSITIONS,
    apply_status,
    insert_conversion,
    lock_existing,
)
from contentflow.services.postbacks.sales import (
    AMOUNT,
    MAX_AMOUNT_UNITS,
    MAX_TXN_ID_LENGTH,
    STATUS_ALIASES,
    Sale,
    normalize_status,
    parse_sale,
)

__all__ = [
    "AMOUNT",
    "BAD_TEXT",
    "LOGGED_FIELDS",
    "MAX_AMOUNT_UNITS",
    "MAX_SUBID_LENGTH",
    "MAX_TXN_ID_LENGTH",
    "STATUS_ALIASES",
    "TRANSITIONS",
    "UNREADABLE",
    "Attempt",
    "NetworkFacts",
    "Outcome",
    "PostbackRefused",
    "Sale",
    "attribute",
    "authenticate",
    "check_credentials",
    "clean_text",
    "has_bad_text",
    "log_refusal",
    "log_values",
    "normalize_status",
    "parse_sale",
    "parse_subid",
    "rate_limited",
    "receive",
    "recent_log",
    "sanitized_params",
    "signature_matches",
]


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
    conversion = insert_conversion(network, sale, click, asset, reason)
    if conversion is None:
        conversion = lock_existing(network.id, sale.txn_id)
        outcome, reason = apply_status(conversion, sale)
    elif conversion.needs_review:
        outcome, reason = "review", conversion.review_reason or ""
    else:
        conversions.apply_money_effect(conversion)
        outcome, reason = "accepted", "created"
    log_attempt(attempt, outcome, reason, 200, network.id, conversion.id)
    return Outcome(outcome, reason, conversion.id)
