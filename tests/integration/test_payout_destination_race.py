"""A change of payout details racing an approval never leaves an approved payout to a destination its
admin did not see: both take the partner's row lock, so one waits for the other's commit. Each side runs
on its own connection; the second starts only once PostgreSQL shows it waiting on a lock, so the
interleaving is the dangerous one every time, without a sleep deciding it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from contentflow.errors import DomainError
from contentflow.models import AdminUser, Partner, Payout
from contentflow.services import ledger, payout_details, payouts
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.integration

WAIT_SECONDS = 30


@pytest.fixture
def open_payout(committed):
    """A partner with PayPal details, a payout of 300 € waiting for approval, and an admin: committed."""
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("the waiting side is seen in PostgreSQL's pg_stat_activity")
    partner = Partner(
        email="racer@example.com", payout_method="paypal", payout_paypal_email="old@example.com"
    )
    admin = AdminUser(email="boss@example.com", password_hash=ADMIN_PASSWORD)
    committed.session.add_all([partner, admin])
    committed.session.flush()
    ledger.record_entry(
        partner.id,
        "conversion_share",
        50_000,
        "test:funding",
        created_at=datetime.now(UTC) - timedelta(days=60),
    )
    payout = payouts.request_withdrawal(partner, 30_000, "paypal")
    ids = (partner.id, payout.id, admin.id)
    committed.session.commit()
    committed.session.remove()
    return ids


def lock_waiters(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


def run_while_holding(app, first, second) -> str:
    """Run ``first`` in this thread without committing, start ``second`` on its own connection, wait
    until it waits on a lock, then commit ``first``. Returns ``second``'s outcome (``ok`` or its code)."""
    from contentflow.extensions import db

    first()
    db.session.flush()
    started = threading.Event()

    def attempt() -> str:
        with app.app_context():
            started.set()
            try:
                second()
                db.session.commit()
                return "ok"
            except DomainError as error:
                db.session.rollback()
                return error.code

    with ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(attempt)
        started.wait(WAIT_SECONDS)
        deadline = datetime.now(UTC) + timedelta(seconds=WAIT_SECONDS)
        while not lock_waiters(db.engine) and not outcome.done():
            assert datetime.now(UTC) < deadline, "the second side never waited for the first"
        db.session.commit()
        return outcome.result(timeout=WAIT_SECONDS)


def final_state(committed, payout_id: int) -> tuple[str, int]:
    committed.session.remove()
    payout = committed.session.get(Payout, payout_id)
    return payout.status, payout.details_change_count


def test_approval_waiting_on_a_change_of_details_is_refused(app, committed, open_payout):
    partner_id, payout_id, admin_id = open_payout
    from contentflow.extensions import db

    outcome = run_while_holding(
        app,
        lambda: payout_details.set_payout_details(
            db.session.get(Partner, partner_id), "paypal", paypal_email="new@example.com"
        ),
        lambda: payouts.approve_payout(payout_id, db.session.get(AdminUser, admin_id), seen_change_count=0),
    )

    assert outcome == "destination_changed"
    assert final_state(committed, payout_id) == ("requested", 1)


def test_change_of_details_waiting_on_an_approval_sends_it_back_to_approval(app, committed, open_payout):
    partner_id, payout_id, admin_id = open_payout
    from contentflow.extensions import db

    outcome = run_while_holding(
        app,
        lambda: payouts.approve_payout(payout_id, db.session.get(AdminUser, admin_id), seen_change_count=0),
        lambda: payout_details.set_payout_details(
            db.session.get(Partner, partner_id), "paypal", paypal_email="new@example.com"
        ),
    )

    assert outcome == "ok"
    assert final_state(committed, payout_id) == ("requested", 1)
    with pytest.raises(payouts.DestinationChanged):
        payouts.mark_paid(payout_id, committed.session.get(AdminUser, admin_id), "PP-1")
