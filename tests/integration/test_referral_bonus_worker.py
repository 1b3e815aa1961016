"""The referral bonus on committed data: the scheduled job runs in a real RQ worker, and runs racing each
other (threads, each with its own connection) still write one bonus per source entry and one reversal."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from contentflow.models import Conversion, LedgerEntry, Partner
from contentflow.money import share_cents
from contentflow.queueing.scheduling import make_scheduler, reconcile_schedules
from contentflow.queueing.worker import make_worker
from contentflow.services import ledger, offers

pytestmark = pytest.mark.integration

THREADS = 6
SOURCES = 40


@pytest.fixture
def referral(committed):
    """A referrer and the partner they brought (joined 3 days ago), with SOURCES credited earnings and one
    confirmed sale credited, committed. Returns (referrer id, referred id, conversion id)."""
    joined = datetime.now(UTC) - timedelta(days=3)
    referrer = Partner(email="ref@example.com")
    committed.session.add(referrer)
    committed.session.flush()
    referred = Partner(email="newbie@example.com", referrer_id=referrer.id, created_at=joined)
    network = offers.create_network("acme", "s3cret-s3cret-s3cret")
    committed.session.add(referred)
    committed.session.flush()
    for number in range(SOURCES):
        ledger.record_entry(
            referred.id,
            "click_earnings",
            100 + number,
            f"test:{number}",
            created_at=joined + timedelta(hours=number),
        )
    conversion = Conversion(
        network_id=network.id,
        txn_id="T-1",
        amount_minor=5_000,
        amount_eur_cents=5_000,
        partner_id=referred.id,
    )
    committed.session.add(conversion)
    committed.session.flush()
    ledger.record_entry(
        referred.id,
        "conversion_share",
        1_000,
        f"conv:{conversion.id}:credit",
        conversion_id=conversion.id,
        created_at=joined,
    )
    ids = (referrer.id, referred.id, conversion.id)
    committed.session.commit()
    committed.session.remove()
    return ids


def bonus_entries(db, referrer_id: str) -> list[tuple[int, str]]:
    db.session.close()
    found = [
        (entry.amount_cents, entry.idempotency_key)
        for entry in db.session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.partner_id == referrer_id, LedgerEntry.kind == "referral_bonus"
            )
        )
    ]
    db.session.close()
    return found


def race(app, job) -> None:
    """Run ``job()`` in THREADS threads at once, each in its own app context (session, connection)."""
    barrier = threading.Barrier(THREADS)

    def attempt() -> None:
        with app.app_context():
            barrier.wait(timeout=30)
            job()

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(attempt) for _ in range(THREADS)]:
            future.result()


def test_scheduled_bonus_job_runs_in_a_worker_and_credits_the_referrer(app, committed, referral, redis):
    referrer_id, _referred_id, _conversion_id = referral
    scheduler = make_scheduler(app)
    reconcile_schedules(app, scheduler)
    scheduler.enqueue_jobs()  # an "every" schedule is due at once

    make_worker(app, simple=True).work(burst=True)

    entries = bonus_entries(committed, referrer_id)
    assert len(entries) == SOURCES + 1
    assert (
        sum(amount for amount, _key in entries)
        == sum(share_cents(100 + n, 1000) for n in range(SOURCES)) + 100
    )


def test_racing_runs_write_one_bonus_per_source_and_one_reversal(app, committed, referral):
    from plugins.earnings.jobs import award_referral_bonuses

    referrer_id, _referred_id, conversion_id = referral
    race(app, award_referral_bonuses)
    awarded = bonus_entries(committed, referrer_id)
    conversion = committed.session.get(Conversion, conversion_id)
    ledger.reverse_conversion(conversion)
    committed.session.commit()
    committed.session.remove()

    race(app, award_referral_bonuses)

    entries = bonus_entries(committed, referrer_id)
    assert len(awarded) == SOURCES + 1
    assert len({key for _amount, key in entries}) == len(entries) == SOURCES + 2
    assert [amount for amount, key in entries if key.endswith(":reversal")] == [-100]
