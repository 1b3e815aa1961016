"""Money written once under races, on committed rows with a connection per thread: racing clicks of one
visitor during a Redis outage bill one click in the repeat window, and racing accrual runs credit each
click once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from contentflow.models import Click, LedgerEntry, ShortLink
from contentflow.services import ledger
from tests.integration.test_click_capture import BROWSER, make_link

pytestmark = pytest.mark.integration

THREADS = 8
DOWN_REDIS = "redis://127.0.0.1:1/0"


def at_once(action) -> list:
    """Run ``action()`` in THREADS threads released together; their results."""
    barrier = threading.Barrier(THREADS)

    def attempt():
        barrier.wait(timeout=30)
        return action()

    with ThreadPoolExecutor(THREADS) as pool:
        return [future.result() for future in [pool.submit(attempt) for _ in range(THREADS)]]


def test_racing_clicks_of_one_visitor_during_an_outage_bill_once(make_app, committed):
    code = make_link(committed.session)
    committed.session.remove()
    down_app = make_app(REDIS_URL=DOWN_REDIS)

    def follow() -> int:
        response = down_app.test_client().get(f"/l/{code}", headers={"User-Agent": BROWSER})
        return response.status_code

    assert at_once(follow) == [302] * THREADS
    rows = committed.session.execute(select(Click.is_billable, Click.cpc_cents)).all()
    assert len(rows) == THREADS
    assert sorted(rows, key=str) == [(False, None)] * (THREADS - 1) + [(True, 12)]


def test_racing_accrual_runs_credit_each_click_once(app, committed):
    code = make_link(committed.session)
    link = committed.session.scalar(select(ShortLink).where(ShortLink.code == code))
    day = date(2026, 3, 17)
    for n in range(20):  # billable clicks of a closed day, as the flush writes them
        committed.session.add(
            Click(
                id=f"race{n:04d}",
                short_link_id=link.id,
                partner_id=link.partner_id,
                asset_id=link.asset_id,
                cpc_cents=12,
                created_at=datetime(2026, 3, 17, 10, tzinfo=UTC) + timedelta(minutes=n),
                ip_hash="ip",
                visitor_hash=f"visitor-{n}",
                user_agent=BROWSER,
                referrer="",
                is_bot=False,
                is_billable=True,
            )
        )
    committed.session.commit()
    committed.session.remove()
    now = datetime(2026, 3, 18, 1, tzinfo=UTC)

    def accrue() -> int:
        with app.app_context():
            from contentflow.extensions import db

            written = ledger.accrue_click_earnings(day, now=now)
            db.session.commit()
            return written

    assert sum(at_once(accrue)) >= 1
    credited = committed.session.scalar(
        select(func.sum(LedgerEntry.amount_cents)).where(LedgerEntry.kind == "click_earnings")
    )
    assert credited == 20 * 12
    assert committed.session.scalar(select(func.count()).where(Click.accrual_batch.is_(None))) == 0
