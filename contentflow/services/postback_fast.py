"""The common postback in one statement: a new conversion of a known click at a known rate, or the exact
replay of one, on PostgreSQL (the hot path, measured in ``bench/postback.py``).

``postbacks.receive`` (the ORM path) costs about eight round trips and milliseconds of Python per
postback. Here the same validation code runs on the process's snapshots of the network and the rate
(``services.postback_cache``), then ``WRITE`` does everything in one statement on the driver:

- checks that the network's and the rate's rows are still the versions the snapshots were read from;
- reads the click with its asset and offer, and only if it is the one the subid names;
- inserts the conversion (``ON CONFLICT (network_id, txn_id) DO NOTHING``, as the ORM path does);
- credits the partner's share when confirmed (the asset's own percent, else the offer's, half-up), keyed
  ``conv:<id>:credit`` like ``ledger.credit_conversion``;
- or finds the existing conversion with the same status: a replay;
- and writes the log line of what it decided.

When it decides nothing (stale snapshot, unknown or mismatched click, a status change, a replay racing
its original: its snapshot predates the original's commit), it has written nothing and the postback takes
the ORM path, which also answers every refusal and every conversion needing review. So the uncommon
cases keep one implementation, and the common case has the same effects (``tests/core/
test_postback_fast.py`` runs both paths on the same inputs). The monitoring plugin's triggers fire on the
rows whatever wrote them.

The statement goes through the process's group commit (``services.group_commit``), which commits it with
the other requests' statements of the moment: a batch goes as ``WRITE_MANY``, the same steps for a whole
batch in one statement (one transaction), whose rows are those ``WRITE`` would have returned run once per
postback, in the batch's order, in one transaction (``tests/core/test_postback_fast_many.py`` holds them
equal). Under ``TESTING``, or with ``POSTBACK_GROUP_COMMIT`` false, ``WRITE`` runs in the request's
session transaction instead (the test fixtures roll that back).
``POSTBACK_FAST_PATH`` false turns this path off. Both are app overrides (``create_app(overrides)``),
not settings read from the environment: production leaves them alone. On SQLite the ORM path serves
every postback.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

from flask import Flask, current_app

from contentflow.extensions import db
from contentflow.services import postbacks
from contentflow.services.group_commit import GroupCommit, GroupCommitFailed
from contentflow.services.postback_cache import NetworkSnapshot, RateSnapshot, snapshots_of

WRITER_KEY = "contentflow.postback_group_commit"

#: One postback, all of it (see the module's docstring). Every parameter is cast: pgbench sends them
#: untyped (``bench/postback.py`` runs this very text), and no colon follows a word in a literal, which
#: pgbench would take for a variable.
WRITE = """
WITH fresh AS (
    SELECT FROM networks
    WHERE id = %(network_id)s::bigint
      AND xmin = %(network_xmin)s::text::xid AND ctid = %(network_ctid)s::text::tid
      AND (%(currency)s::text = 'EUR' OR EXISTS (
          SELECT FROM fx_rates
          WHERE currency = %(currency)s::text
            AND xmin = %(rate_xmin)s::text::xid AND ctid = %(rate_ctid)s::text::tid))
),
click AS (
    SELECT c.partner_id, c.asset_id, coalesce(c.offer_id, a.offer_id) AS offer_id,
           coalesce(a.revshare_bps, o.revshare_bps, 0) AS share_bps
    FROM clicks AS c
    JOIN assets AS a ON a.id = c.asset_id
    LEFT JOIN offers AS o ON o.id = coalesce(c.offer_id, a.offer_id)
    WHERE c.id = %(click_id)s::text AND c.partner_id = %(partner_id)s::text
      AND c.asset_id = %(asset_id)s::text AND EXISTS (SELECT FROM fresh)
),
inserted AS (
    INSERT INTO conversions (network_id, txn_id, subid, click_id, partner_id, asset_id, offer_id, status,
        amount_minor, currency, amount_eur_cents, fx_rate, needs_review, created_at, updated_at)
    SELECT %(network_id)s::bigint, %(txn_id)s::text, %(subid)s::text, %(click_id)s::text, partner_id,
        asset_id, offer_id, %(status)s::text, %(amount_minor)s::bigint, %(currency)s::text,
        %(amount_eur_cents)s::bigint, %(fx_rate)s::text, false, statement_timestamp(), statement_timestamp()
    FROM click
    ON CONFLICT (network_id, txn_id) DO NOTHING
    RETURNING id
),
credited AS (
    INSERT INTO ledger_entries (partner_id, kind, amount_cents, idempotency_key, conversion_id, memo,
        created_at)
    SELECT click.partner_id, 'conversion_share', share.cents, concat('conv:', inserted.id, ':', 'credit'),
        inserted.id, 'sale ' || %(txn_id)s::text, statement_timestamp()
    FROM inserted, click,
        LATERAL (SELECT round(%(amount_eur_cents)s::numeric * click.share_bps / 10000)::bigint AS cents)
            AS share
    WHERE %(status)s::text = 'confirmed' AND share.cents <> 0
    ON CONFLICT (idempotency_key) DO NOTHING
),
existing AS (
    SELECT id FROM conversions
    WHERE network_id = %(network_id)s::bigint AND txn_id = %(txn_id)s::text
      AND status = %(status)s::text
      AND EXISTS (SELECT FROM fresh) AND NOT EXISTS (SELECT FROM inserted)
),
decided AS (
    SELECT id, 'accepted' AS outcome FROM inserted
    UNION ALL
    SELECT id, 'duplicate' FROM existing
),
logged AS (
    INSERT INTO postback_log (network_name, network_id, txn_id, conversion_id, outcome, reason,
        http_status, params, ip_hash, created_at)
    SELECT %(log_network_name)s::text, %(network_id)s::bigint, %(log_txn_id)s::text, id, outcome,
        CASE outcome WHEN 'accepted' THEN 'created' ELSE 'replay' END, 200, %(log_params)s::json,
        %(log_ip_hash)s::text, statement_timestamp()
    FROM decided
)
SELECT EXISTS (SELECT FROM fresh), (SELECT id FROM decided), (SELECT outcome FROM decided)
"""
#: ``WRITE`` for a batch, in one statement: ``%(batch)s`` is a JSON array of ``WRITE``'s parameters (one
#: object per postback, in the batch's order); one row per postback, in that order, as ``WRITE`` returns.
#: Run one by one in one transaction, a later ``WRITE`` sees what an earlier one inserted; here every part
#: reads the snapshot of the statement's start, so the order is kept by hand: of the postbacks naming one
#: ``(network, txn_id)``, the first whose click is found makes the conversion (``sale``); each postback
#: then finds the conversion that existed before the statement or that an earlier (or the same) postback
#: made (``decided``): made by itself, accepted; found with the same status, a duplicate; else nothing
#: (the ORM path decides, after the batch's commit, as after a ``WRITE`` that decided nothing). Freshness is
#: checked per postback (their snapshots may differ). The rows go in ``(network, txn_id)`` order, as the
#: group commit sorts its batches, so concurrent batches lock keys in the same order. One difference: a
#: sale another process commits while the statement runs is seen by none of its postbacks, where a later
#: ``WRITE`` (a new snapshot) would see it; they all take the ORM path then, which answers the same.
WRITE_MANY = """
WITH input AS (
    SELECT * FROM ROWS FROM (json_to_recordset(%(batch)s::json) AS (network_id bigint, network_xmin text,
        network_ctid text, currency text, rate_xmin text, rate_ctid text, click_id text, partner_id text,
        asset_id text, txn_id text, subid text, status text, amount_minor bigint, amount_eur_cents bigint,
        fx_rate text, log_network_name text, log_txn_id text, log_params text, log_ip_hash text))
        WITH ORDINALITY AS input (network_id, network_xmin, network_ctid, currency, rate_xmin, rate_ctid,
            click_id, partner_id, asset_id, txn_id, subid, status, amount_minor, amount_eur_cents, fx_rate,
            log_network_name, log_txn_id, log_params, log_ip_hash, ord)
),
fresh AS (
    SELECT input.ord FROM input
    WHERE EXISTS (
        SELECT FROM networks
        WHERE id = input.network_id
          AND xmin = input.network_xmin::xid AND ctid = input.network_ctid::tid)
      AND (input.currency = 'EUR' OR EXISTS (
        SELECT FROM fx_rates
        WHERE currency = input.currency
          AND xmin = input.rate_xmin::xid AND ctid = input.rate_ctid::tid))
),
click AS (
    SELECT input.*, coalesce(c.offer_id, a.offer_id) AS offer_id,
           coalesce(a.revshare_bps, o.revshare_bps, 0) AS share_bps
    FROM input
    JOIN fresh USING (ord)
    JOIN clicks AS c ON c.id = input.click_id AND c.partner_id = input.partner_id
        AND c.asset_id = input.asset_id
    JOIN assets AS a ON a.id = c.asset_id
    LEFT JOIN offers AS o ON o.id = coalesce(c.offer_id, a.offer_id)
),
sale AS (
    SELECT DISTINCT ON (network_id, txn_id) * FROM click ORDER BY network_id, txn_id, ord
),
inserted AS (
    INSERT INTO conversions (network_id, txn_id, subid, click_id, partner_id, asset_id, offer_id, status,
        amount_minor, currency, amount_eur_cents, fx_rate, needs_review, created_at, updated_at)
    SELECT network_id, txn_id, subid, click_id, partner_id, asset_id, offer_id, status, amount_minor,
        currency, amount_eur_cents, fx_rate, false, statement_timestamp(), statement_timestamp()
    FROM sale
    ON CONFLICT (network_id, txn_id) DO NOTHING
    RETURNING id, network_id, txn_id
),
made AS (
    SELECT inserted.id, sale.* FROM inserted JOIN sale USING (network_id, txn_id)
),
credited AS (
    INSERT INTO ledger_entries (partner_id, kind, amount_cents, idempotency_key, conversion_id, memo,
        created_at)
    SELECT made.partner_id, 'conversion_share', share.cents, concat('conv:', made.id, ':', 'credit'),
        made.id, 'sale ' || made.txn_id, statement_timestamp()
    FROM made,
        LATERAL (SELECT round(made.amount_eur_cents::numeric * made.share_bps / 10000)::bigint AS cents)
            AS share
    WHERE made.status = 'confirmed' AND share.cents <> 0
    ON CONFLICT (idempotency_key) DO NOTHING
),
decided AS (
    SELECT input.ord, coalesce(before.id, made.id) AS id,
        CASE WHEN made.ord = input.ord THEN 'accepted' ELSE 'duplicate' END AS outcome
    FROM input
    JOIN fresh USING (ord)
    LEFT JOIN conversions AS before
        ON before.network_id = input.network_id AND before.txn_id = input.txn_id
    LEFT JOIN made
        ON made.network_id = input.network_id AND made.txn_id = input.txn_id AND made.ord <= input.ord
    WHERE coalesce(before.status, made.status) = input.status
),
logged AS (
    INSERT INTO postback_log (network_name, network_id, txn_id, conversion_id, outcome, reason,
        http_status, params, ip_hash, created_at)
    SELECT input.log_network_name, input.network_id, input.log_txn_id, decided.id, decided.outcome,
        CASE decided.outcome WHEN 'accepted' THEN 'created' ELSE 'replay' END, 200,
        input.log_params::json, input.log_ip_hash, statement_timestamp()
    FROM decided JOIN input USING (ord)
    ORDER BY decided.ord
)
SELECT fresh.ord IS NOT NULL, decided.id, decided.outcome
FROM input LEFT JOIN fresh USING (ord) LEFT JOIN decided USING (ord)
ORDER BY input.ord
"""
REASONS = {"accepted": "created", "duplicate": "replay"}


def is_enabled(app: Flask) -> bool:
    """Whether postbacks try this path: on PostgreSQL, unless ``POSTBACK_FAST_PATH`` is false."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    return bool(app.config.get("POSTBACK_FAST_PATH", True)) and uri.startswith("postgresql")


def receive(attempt: postbacks.Attempt) -> postbacks.Outcome | None:
    """Apply ``attempt`` when it is the common case; None when the ORM path must (nothing written then).

    With the group commit the outcome is committed when this returns; otherwise the caller commits the
    session, as for the ORM path. Raises nothing of its own: a refusal is left to the ORM path. A snapshot
    that would refuse, or that the statement found stale (it wrote nothing), is read again and the
    postback tried once more."""
    if attempt.body_error:
        return None
    app = current_app._get_current_object()
    for _ in range(2):
        outcome = _try(app, attempt)
        if outcome != STALE:
            return outcome
    return None


STALE = "stale"


def _try(app: Flask, attempt: postbacks.Attempt) -> postbacks.Outcome | str | None:
    name = attempt.fields.get("network", "").strip()
    snapshots = snapshots_of(app)
    network = snapshots.network(name) if 0 < len(name) <= 64 else None
    if network is None:
        return None
    rates: dict[str, RateSnapshot | None] = {}

    def rate_of(currency: str) -> Decimal | None:
        rates[currency] = snapshots.rate(currency)
        return rates[currency].rate if rates[currency] is not None else None

    try:
        postbacks.check_credentials(attempt, network)
        sale = postbacks.parse_sale(attempt.fields, network, rate_of=rate_of)
    except postbacks.PostbackRefused:
        # Maybe refused by what changed since the snapshot (a new secret, an allowlist): read it again.
        snapshots.forget(name, attempt.fields.get("currency", "").strip().upper())
        return STALE
    ids = postbacks.parse_subid(sale.subid)
    rate = rates.get(sale.currency)
    if isinstance(ids, str) or rate is None or sale.amount_eur_cents is None:
        return None
    row = _write(app, write_params(attempt, network, sale, rate, ids), (network.id, sale.txn_id))
    if row is None:
        return None
    is_fresh, conversion_id, outcome = row
    if not is_fresh:
        snapshots.forget(name, sale.currency)
        return STALE
    if conversion_id is None:
        return None
    return postbacks.Outcome(outcome, REASONS[outcome], conversion_id)


def write_params(
    attempt: postbacks.Attempt,
    network: NetworkSnapshot,
    sale: postbacks.Sale,
    rate: RateSnapshot,
    ids: tuple[str, str, str],
) -> dict[str, Any]:
    """The parameters of ``WRITE`` for a validated sale of ``network`` at ``rate``."""
    partner_id, asset_id, click_id = ids
    log = postbacks.log_values(attempt, "", "", 200, network.id, None)
    return {
        "network_id": network.id,
        "network_xmin": network.version[0],
        "network_ctid": network.version[1],
        "currency": sale.currency,
        "rate_xmin": rate.version[0],
        "rate_ctid": rate.version[1],
        "click_id": click_id,
        "partner_id": partner_id,
        "asset_id": asset_id,
        "txn_id": sale.txn_id,
        "subid": sale.subid,
        "status": sale.status,
        "amount_minor": sale.amount_minor,
        "amount_eur_cents": sale.amount_eur_cents,
        "fx_rate": sale.fx_rate,
        "log_network_name": log["network_name"],
        "log_txn_id": log["txn_id"],
        "log_params": json.dumps(log["params"]),
        "log_ip_hash": log["ip_hash"],
    }


def _write(app: Flask, params: dict[str, Any], sort_key: tuple) -> tuple | None:
    if not app.config.get("POSTBACK_GROUP_COMMIT", not app.testing):
        connection = db.session.connection().connection.driver_connection
        return connection.execute(WRITE, params, prepare=True).fetchone()
    try:
        return group_commit_of(app).execute(WRITE, params, sort_key, many=WRITE_MANY)
    except GroupCommitFailed:
        return None  # the ORM path finds what was committed, if anything, and answers as for a replay


_creating = threading.Lock()


def group_commit_of(app: Flask) -> GroupCommit:
    """The app's group commit in this process (its thread and connection start on first use)."""
    writer = app.extensions.get(WRITER_KEY)
    if writer is None:
        with _creating:
            writer = app.extensions.get(WRITER_KEY)
            if writer is None:
                url = db.engine.url.set(drivername="postgresql")
                writer = GroupCommit(url.render_as_string(hide_password=False))
                app.extensions[WRITER_KEY] = writer
    return writer
