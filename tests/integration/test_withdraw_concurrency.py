"""Parallel withdrawals cannot overdraw, and racing admins cannot decide a payout twice: each thread has
its own app context, session and connection, on committed rows (PostgreSQL locks the partner row; SQLite
serialises writers at BEGIN IMMEDIATE)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from contentflow.errors import DomainError
from contentflow.models import AdminUser, LedgerEntry, Partner, Payout
from contentflow.services import balances, ledger, payouts
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.integration

THREADS = 10


def run_at_once(app, action) -> Counter:
    """Run ``action()`` in THREADS threads released together; count the outcomes (``ok`` or error code)."""
    barrier = threading.Barrier(THREADS)

    def attempt() -> str:
        with app.app_context():
            from contentflow.extensions import db

            barrier.wait(timeout=30)  # nothing read before: on SQLite a reader would hold the write lock
            try:
                action()
                db.session.commit()
                return "ok"
            except DomainError as error:
                db.session.rollback()
                return error.code

    with ThreadPoolExecutor(THREADS) as pool:
        return Counter(future.result() for future in [pool.submit(attempt) for _ in range(THREADS)])


@pytest.fixture
def funded(committed):
    """A partner with PayPal details and 100.00 € available, committed."""
    partner = Partner(
        email="rich@example.com", payout_method="paypal", payout_paypal_email="rich@example.com"
    )
    committed.session.add(partner)
    committed.session.flush()
    ledger.record_entry(
        partner.id,
        "conversion_share",
        10_000,
        "test:funding",
        created_at=datetime.now(UTC) - timedelta(days=60),
    )
    partner_id = partner.id
    committed.session.commit()
    committed.session.remove()  # hold no transaction (on SQLite: no lock) while the threads run
    return partner_id


def test_parallel_withdrawals_of_sixty_percent_let_exactly_one_through(app, committed, funded):
    def withdraw() -> None:
        from contentflow.extensions import db

        payouts.request_withdrawal(db.session.get(Partner, funded), 6_000, "paypal")

    outcomes = run_at_once(app, withdraw)

    assert outcomes == Counter({"ok": 1, "insufficient_balance": THREADS - 1})
    committed.session.expire_all()
    assert committed.session.scalar(select(func.count()).select_from(Payout)) == 1
    total = committed.session.scalar(
        select(func.sum(LedgerEntry.amount_cents)).where(LedgerEntry.partner_id == funded)
    )
    assert total == 4_000
    assert balances.get_balances(funded).raw_available_cents == 4_000


def test_racing_admins_reject_a_payout_once_and_credit_it_back_once(app, committed, funded):
    admin = AdminUser(email="boss@example.com", password_hash=ADMIN_PASSWORD)
    committed.session.add(admin)
    committed.session.flush()
    payout = payouts.request_withdrawal(committed.session.get(Partner, funded), 5_000, "paypal")
    payout_id, admin_id = payout.id, admin.id
    committed.session.commit()
    committed.session.remove()

    def reject() -> None:
        from contentflow.extensions import db

        payouts.reject_payout(payout_id, db.session.get(AdminUser, admin_id), "Duplicate request")

    outcomes = run_at_once(app, reject)

    assert outcomes == Counter({"ok": 1, "payout_state": THREADS - 1})
    committed.session.expire_all()
    returned = committed.session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "withdrawal_returned")
    )
    assert returned == 1
    assert balances.get_balances(funded).raw_available_cents == 10_000
