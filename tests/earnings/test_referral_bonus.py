"""The referral bonus: REFERRAL_BONUS_PCT of each click-earnings or sale-share entry credited to a referred
partner during their first REFERRAL_BONUS_DAYS days, one ledger entry per source entry (exactly once, also
when the job runs twice), taken back once when the sale is reversed; what the referrer sees of it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from contentflow.models import Conversion, LedgerEntry
from contentflow.services import ledger
from plugins.earnings.jobs import award_referral_bonuses
from plugins.earnings.models import EarningsReferralBonus
from plugins.earnings.services import referrals

JOINED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = JOINED + timedelta(days=20)


@pytest.fixture
def referrer(partner):
    return partner


@pytest.fixture
def referred(make_partner, referrer):
    return make_partner("newbie@example.com", referrer_id=referrer.id, created_at=JOINED)


@pytest.fixture
def sale(db, referred, make_network):
    """A confirmed 80.00 € sale of the referred partner, credited (25 %: 20.00 €) two days after joining."""
    network = make_network()
    conversion = Conversion(
        network_id=network.id,
        txn_id="T-1",
        amount_minor=8_000,
        amount_eur_cents=8_000,
        partner_id=referred.id,
        status="confirmed",
    )
    db.session.add(conversion)
    db.session.flush()
    ledger.record_entry(
        referred.id,
        "conversion_share",
        2_000,
        f"conv:{conversion.id}:credit",
        conversion_id=conversion.id,
        created_at=JOINED + timedelta(days=2),
    )
    db.session.commit()
    return conversion


def bonuses(db, partner) -> list[tuple[int, str]]:
    return [
        (entry.amount_cents, entry.idempotency_key)
        for entry in db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.partner_id == partner.id, LedgerEntry.kind == "referral_bonus")
            .order_by(LedgerEntry.id)
        )
    ]


def run_job(now: datetime = NOW) -> str:
    return award_referral_bonuses(now=now.isoformat())


def test_referrer_earns_the_bonus_share_of_each_earning_in_the_first_days(db, referrer, referred, make_entry):
    click_day = make_entry(referred, 1_234, kind="click_earnings", at=JOINED + timedelta(days=1))
    sale_share = make_entry(referred, 5_005, at=JOINED + timedelta(days=6, hours=23))

    run_job()

    assert bonuses(db, referrer) == [
        (123, f"referral:{click_day.id}:bonus"),  # 10 % of 12.34 €, half-up
        (501, f"referral:{sale_share.id}:bonus"),  # 10 % of 50.05 € = 5.005 -> 5.01 €
    ]


def test_running_the_job_twice_writes_each_bonus_once(db, referrer, referred, make_entry):
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=1))
    run_job()

    run_job(NOW + timedelta(hours=1))

    assert [amount for amount, _key in bonuses(db, referrer)] == [100]


def test_earnings_after_the_first_days_give_no_bonus(db, referrer, referred, make_entry):
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=7))
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=7, seconds=-1))

    run_job()

    assert [amount for amount, _key in bonuses(db, referrer)] == [100]


@pytest.mark.parametrize("kind", ["adjustment", "referral_bonus", "withdrawal_returned"])
def test_entries_that_are_not_traffic_earnings_give_no_bonus(db, referrer, referred, make_entry, kind):
    make_entry(referred, 1_000, kind=kind, at=JOINED + timedelta(days=1))

    run_job()

    assert bonuses(db, referrer) == []


def test_partner_nobody_referred_earns_nobody_a_bonus(db, referrer, make_partner, make_entry):
    loner = make_partner("loner@example.com", created_at=JOINED)
    make_entry(loner, 1_000, kind="click_earnings", at=JOINED + timedelta(days=1))

    run_job()

    assert db.session.scalar(select(func.count()).where(LedgerEntry.kind == "referral_bonus")) == 0


def test_bonus_days_and_percent_come_from_the_settings(app, db, referrer, referred, make_entry, monkeypatch):
    monkeypatch.setitem(app.config, "REFERRAL_BONUS_PCT", Decimal("0.25"))
    monkeypatch.setitem(app.config, "REFERRAL_BONUS_DAYS", 10)
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=9))

    run_job()

    assert [amount for amount, _key in bonuses(db, referrer)] == [250]


def test_zero_percent_pays_no_bonus(app, db, referrer, referred, make_entry, monkeypatch):
    monkeypatch.setitem(app.config, "REFERRAL_BONUS_PCT", Decimal("0"))
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=1))

    run_job()

    assert bonuses(db, referrer) == []


def test_a_share_rounding_to_nothing_is_settled_without_an_entry(db, referrer, referred, make_entry):
    make_entry(referred, 4, kind="click_earnings", at=JOINED + timedelta(days=1))  # 10 % of 4 cents: 0

    assert referrals.award_bonuses(now=NOW) == 1
    db.session.commit()

    assert bonuses(db, referrer) == []
    assert referrals.award_bonuses(now=NOW) == 0  # not looked at again
    assert db.session.scalar(select(EarningsReferralBonus.amount_cents)) == 0


def test_reversed_sale_takes_the_bonus_back_once(db, referrer, referred, sale):
    run_job()
    ledger.reverse_conversion(sale)
    db.session.commit()

    run_job(NOW + timedelta(hours=1))
    run_job(NOW + timedelta(hours=2))

    source = db.session.scalar(select(LedgerEntry.id).where(LedgerEntry.conversion_id == sale.id))
    assert bonuses(db, referrer) == [(200, f"referral:{source}:bonus"), (-200, f"referral:{source}:reversal")]


def test_sale_reversed_after_the_first_days_still_takes_the_bonus_back(db, referrer, referred, sale):
    run_job()
    ledger.reverse_conversion(sale)  # now: weeks after the bonus window closed
    db.session.commit()

    run_job(datetime.now(UTC))

    assert sum(amount for amount, _key in bonuses(db, referrer)) == 0


def test_sale_reversed_before_the_job_ran_nets_to_zero_in_one_run(db, referrer, referred, sale):
    ledger.reverse_conversion(sale)
    db.session.commit()

    run_job()

    assert [amount for amount, _key in bonuses(db, referrer)] == [200, -200]


def test_click_earnings_are_never_taken_back(db, referrer, referred, sale, make_entry):
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=1))
    run_job()
    ledger.reverse_conversion(sale)
    db.session.commit()

    run_job(NOW + timedelta(hours=1))

    assert sorted(amount for amount, _key in bonuses(db, referrer)) == [-200, 100, 200]


def test_job_reports_what_it_did(db, referrer, referred, make_entry):
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=1))
    assert run_job() == "award_referral_bonuses: 1 earnings looked at, 0 reversed sales"


# --- what the referrer sees ----------------------------------------------------------------------------


def test_summary_lists_referred_partners_masked_with_their_net_bonus(
    db, referrer, referred, sale, make_entry
):
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=1))
    run_job()
    ledger.reverse_conversion(sale)
    db.session.commit()
    run_job(NOW + timedelta(hours=1))

    summary = referrals.summary(referrer)

    assert summary.referral_count == 1
    assert [(each.label, each.bonus_cents) for each in summary.referrals] == [("ne…e@example.com", 100)]
    assert summary.referrals[0].bonus_until == JOINED + timedelta(days=7)
    assert summary.bonus_cents == sum(amount for amount, _key in bonuses(db, referrer)) == 100


def test_earnings_page_shows_the_referred_partner_masked_and_the_bonus(
    partner_client, db, referrer, referred, make_entry
):
    make_entry(referred, 2_500, kind="click_earnings", at=JOINED + timedelta(days=1))
    run_job()

    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    section = re.search(r'<section id="earnings-referrals".*?</section>', page, re.S).group(0)
    assert "ne…e@example.com" in section and "newbie@example.com" not in section
    assert re.search(r'data-figure="referral-bonus">€2.50<', section)
    assert re.search(r'data-figure="referral-count">1<', section)
    assert referred.id not in page and referred.referral_code not in page


def test_bonus_memo_names_the_referred_partner_masked_only(db, referrer, referred, make_entry):
    make_entry(referred, 1_000, kind="click_earnings", at=JOINED + timedelta(days=1))
    run_job()

    memo = db.session.scalar(select(LedgerEntry.memo).where(LedgerEntry.kind == "referral_bonus"))
    assert memo == "referral bonus: 10 % of click_earnings of ne…e@example.com"
