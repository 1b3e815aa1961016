"""The same postback from many threads at once, each request on its own connection, on committed data:
one conversion, one status change, one ledger credit. PostgreSQL runs them concurrently (the unique key
and the row lock decide); SQLite takes them one at a time (every transaction begins IMMEDIATE)."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import func, select

from contentflow.models import Click, Conversion, LedgerEntry, PostbackLog
from contentflow.services import assets, offers, partners

pytestmark = pytest.mark.integration

SECRET = "s3cret-s3cret-s3cret"
THREADS = 20


def make_sale(db) -> str:
    """A committed click on an asset of a 40 % revenue-share offer; returns its subid."""
    offers.create_network("acme", SECRET)
    offer = offers.create_offer("Acme", "acme", "https://acme.example.net/go?sub={subid}", revshare_pct="40")
    partner = partners.get_or_create_partner("pat@example.com")
    asset = assets.create_asset("A video", offer=offer)
    db.session.flush()
    click = Click(
        partner_id=partner.id, asset_id=asset.id, offer_id=offer.id, ip_hash="0" * 32, visitor_hash="1" * 32
    )
    db.session.add(click)
    db.session.commit()
    subid = f"{partner.id}:{asset.id}:{click.id}"
    db.session.close()  # on SQLite an open transaction would hold the write lock the requests need
    return subid


def send_at_once(app: Flask, url: str, count: int = THREADS) -> list[int]:
    """GET ``url`` from ``count`` threads released together; each uses its own client and connection."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=30)
            statuses.append(client.get(url).status_code)
        except BaseException as error:  # reported by the test thread below
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return statuses


def postback_url(subid: str, status: str) -> str:
    fields = {"network": "acme", "token": SECRET, "subid": subid, "amount": "12.34", "status": status}
    return "/aff/postback?" + urlencode({**fields, "txn_id": "T-1"})


def totals(db) -> tuple[int, int, int]:
    """(conversions, ledger entries, ledger sum) as committed by now."""
    db.session.close()
    conversions = db.session.scalar(select(func.count()).select_from(Conversion))
    entry_count = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)))
    db.session.close()
    return conversions, entry_count, total


def outcomes(db) -> dict[str, int]:
    rows = db.session.execute(select(PostbackLog.outcome, func.count()).group_by(PostbackLog.outcome)).all()
    db.session.close()
    return dict(rows)


def test_same_confirmed_postback_from_20_threads_credits_once(app, committed):
    subid = make_sale(committed)
    statuses = send_at_once(app, postback_url(subid, "confirmed"))
    assert statuses == [200] * THREADS
    assert totals(committed) == (1, 1, 494)  # 40 % of 12.34 EUR = 493.6 cents, half-up
    assert outcomes(committed) == {"accepted": 1, "duplicate": THREADS - 1}


def test_same_confirmation_of_a_pending_sale_from_20_threads_is_applied_once(app, committed):
    subid = make_sale(committed)
    assert app.test_client().get(postback_url(subid, "pending")).status_code == 200
    statuses = send_at_once(app, postback_url(subid, "confirmed"))
    assert statuses == [200] * THREADS
    assert totals(committed) == (1, 1, 494)
    assert outcomes(committed) == {"accepted": 2, "duplicate": THREADS - 1}


def test_same_reversal_from_20_threads_takes_the_credit_back_once(app, committed):
    subid = make_sale(committed)
    assert app.test_client().get(postback_url(subid, "confirmed")).status_code == 200
    statuses = send_at_once(app, postback_url(subid, "reversed"))
    assert statuses == [200] * THREADS
    assert totals(committed) == (1, 2, 0)
