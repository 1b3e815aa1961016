"""The ledger: one rounding rule, entries written once, click earnings accrued once per partner, offer and
day at the CPC of each click, admin adjustments with a reason."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from contentflow.errors import ValidationError
from contentflow.jobs import money as money_jobs
from contentflow.models import AuditLog, Conversion, LedgerEntry
from contentflow.models.base import utcnow
from contentflow.money import share_cents, to_cents
from contentflow.services import ledger
from tests.conftest import add_click

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)
DAY = date(2026, 3, 17)


def entries(db) -> list[tuple[str, str, int]]:
    rows = db.session.execute(
        select(LedgerEntry.partner_id, LedgerEntry.idempotency_key, LedgerEntry.amount_cents).order_by(
            LedgerEntry.idempotency_key
        )
    )
    return [tuple(row) for row in rows]


def entry_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry))


# --- one rounding rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("euros", "cents"),
    [
        ("0.005", 1),
        ("0.0049", 0),
        ("0.015", 2),
        ("0.01", 1),
        ("12.345", 1235),
        ("-0.005", -1),
        ("-0.0049", 0),
        ("0", 0),
    ],
)
def test_to_cents_rounds_half_up_away_from_zero(euros, cents):
    assert to_cents(Decimal(euros)) == cents


@pytest.mark.parametrize(
    ("amount_cents", "bps", "expected"),
    [
        (1, 5000, 1),  # half a cent rounds up
        (1, 4999, 0),
        (-1, 5000, -1),  # a negative half rounds away from zero too
        (1, 10000, 1),  # a 1-cent amount at 100 %
        (1, 1, 0),
        (10000, 1, 1),  # 0.01 % of 100 € is exactly a cent
        (4999, 1, 0),  # 0.4999 cent
        (5000, 1, 1),  # 0.5 cent
        (3, 3333, 1),
    ],
)
def test_share_cents_rounds_half_up_at_the_edges(amount_cents, bps, expected):
    assert share_cents(amount_cents, bps) == expected


# --- entries are written once -----------------------------------------------------------------------


def test_record_entry_twice_with_the_same_key_writes_once(db, partner):
    first = ledger.record_entry(partner.id, "adjustment", 500, "test:once", memo="first")
    second = ledger.record_entry(partner.id, "adjustment", 900, "test:once", memo="second")
    assert first is not None and second is None
    assert entries(db) == [(partner.id, "test:once", 500)]


def test_record_entry_of_zero_writes_nothing(db, partner):
    assert ledger.record_entry(partner.id, "adjustment", 0, "test:zero") is None
    assert entry_count(db) == 0


# --- conversions --------------------------------------------------------------------------------------


def confirmed_conversion(db, partner, asset, amount_eur_cents: int) -> Conversion:
    conversion = Conversion(
        network_id=asset.offer.network_id,
        txn_id=uuid.uuid4().hex,
        partner_id=partner.id,
        asset_id=asset.id,
        offer_id=asset.offer_id,
        status="confirmed",
        amount_minor=amount_eur_cents,
        amount_eur_cents=amount_eur_cents,
    )
    db.session.add(conversion)
    db.session.flush()
    return conversion


def test_confirmed_conversion_credits_the_assets_own_percent_over_the_offers(
    db, partner, make_offer, make_asset
):
    asset = make_asset(offer=make_offer(revshare_pct="30"))
    asset.revshare_bps = 4000
    entry = ledger.credit_conversion(confirmed_conversion(db, partner, asset, 1001))
    assert entry.amount_cents == 400  # 40 % of 10.01 € = 4.004 €


def test_confirmed_conversion_without_an_asset_percent_credits_the_offers(
    db, partner, make_offer, make_asset
):
    asset = make_asset(offer=make_offer(revshare_pct="30"))
    entry = ledger.credit_conversion(confirmed_conversion(db, partner, asset, 1005))
    assert entry.amount_cents == 302  # 3.015 € rounds half-up


# --- click earnings -----------------------------------------------------------------------------------


@pytest.fixture
def clicks_setup(db, make_partner, make_offer, make_asset):
    first, second = make_partner(), make_partner()
    offer_x, offer_y = make_offer("X", cpc_cents=12), make_offer("Y", cpc_cents=7)
    return first, second, offer_x, make_asset("on X", offer=offer_x), make_asset("on Y", offer=offer_y)


def test_accrual_writes_one_entry_per_partner_offer_and_day_at_each_clicks_cpc(db, clicks_setup):
    first, second, offer_x, asset_x, asset_y = clicks_setup
    noon = datetime(2026, 3, 17, 12, tzinfo=UTC)
    for _ in range(3):
        add_click(db, first, asset_x, at=noon, cpc_cents=12)
    offer_x.cpc_cents = 50  # a CPC raised after the clicks does not change what they earned
    add_click(db, first, asset_y, at=noon, cpc_cents=7)
    add_click(db, second, asset_x, at=noon, cpc_cents=12)

    assert ledger.accrue_click_earnings(DAY, now=NOW, batch="b1") == 3
    assert sorted(entries(db)) == sorted(
        [
            (first.id, f"cpc:{first.id}:{offer_x.id}:2026-03-17:b1", 36),
            (first.id, f"cpc:{first.id}:{asset_y.offer_id}:2026-03-17:b1", 7),
            (second.id, f"cpc:{second.id}:{offer_x.id}:2026-03-17:b1", 12),
        ]
    )


def test_accrual_ignores_non_billable_clicks(db, clicks_setup):
    first, _second, _offer, asset_x, _asset_y = clicks_setup
    add_click(db, first, asset_x, at=datetime(2026, 3, 17, 9, tzinfo=UTC), billable=False)
    assert ledger.accrue_click_earnings(DAY, now=NOW) == 0
    assert entry_count(db) == 0


def test_accrual_takes_only_the_clicks_of_that_utc_day(db, clicks_setup):
    first, _second, _offer, asset_x, _asset_y = clicks_setup
    add_click(db, first, asset_x, at=datetime(2026, 3, 16, 23, 59, 59, tzinfo=UTC), cpc_cents=1)
    add_click(db, first, asset_x, at=datetime(2026, 3, 17, 0, 0, tzinfo=UTC), cpc_cents=10)
    add_click(db, first, asset_x, at=datetime(2026, 3, 17, 23, 59, 59, tzinfo=UTC), cpc_cents=20)
    add_click(db, first, asset_x, at=datetime(2026, 3, 18, 0, 0, tzinfo=UTC), cpc_cents=100)
    ledger.accrue_click_earnings(DAY, now=NOW)
    assert [amount for _p, _k, amount in entries(db)] == [30]


@pytest.mark.parametrize("day", [date(2026, 3, 18), date(2026, 3, 19)])
def test_accrual_of_today_or_a_later_day_is_refused(db, clicks_setup, day):
    first, _second, _offer, asset_x, _asset_y = clicks_setup
    add_click(db, first, asset_x, at=datetime(2026, 3, 18, 1, tzinfo=UTC))
    with pytest.raises(ValidationError) as refused:
        ledger.accrue_click_earnings(day, now=NOW)
    assert refused.value.code == "day_not_closed"
    assert entry_count(db) == 0


def test_accrual_run_again_adds_nothing(db, clicks_setup):
    first, _second, _offer, asset_x, _asset_y = clicks_setup
    add_click(db, first, asset_x, at=datetime(2026, 3, 17, 8, tzinfo=UTC))
    assert ledger.accrue_click_earnings(DAY, now=NOW) == 1
    assert ledger.accrue_click_earnings(DAY, now=NOW + timedelta(days=2)) == 0
    assert entry_count(db) == 1


def test_accrual_job_for_a_past_day_commits_and_a_rerun_adds_nothing(db, clicks_setup):
    first, _second, _offer, asset_x, _asset_y = clicks_setup
    day = utcnow().date() - timedelta(days=5)
    add_click(
        db, first, asset_x, at=datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=3)
    )
    assert money_jobs.accrue_click_earnings(day.isoformat()).startswith("credited 1 ")
    assert money_jobs.accrue_click_earnings(day.isoformat()).startswith("credited 0 ")
    assert entry_count(db) == 1


def test_accrual_job_without_a_day_credits_yesterday_and_leaves_today(db, clicks_setup):
    first, _second, _offer, asset_x, _asset_y = clicks_setup
    today = datetime.combine(utcnow().date(), datetime.min.time(), tzinfo=UTC)
    add_click(db, first, asset_x, at=today - timedelta(hours=1), cpc_cents=5)
    add_click(db, first, asset_x, at=today, cpc_cents=9)
    money_jobs.accrue_click_earnings()
    assert [amount for _p, _k, amount in entries(db)] == [5]


def test_a_click_stored_after_its_day_was_credited_is_credited_by_the_next_run_once(db, clicks_setup):
    first, _second, _offer, asset_x, _asset_y = clicks_setup
    add_click(db, first, asset_x, at=datetime(2026, 3, 17, 8, tzinfo=UTC), cpc_cents=12)
    assert ledger.accrue_click_earnings(DAY, now=NOW) == 1
    db.session.commit()
    add_click(
        db, first, asset_x, at=datetime(2026, 3, 17, 23, 59, tzinfo=UTC), cpc_cents=5
    )  # late: flushed now
    assert ledger.days_to_accrue(now=NOW + timedelta(days=1)) == [DAY]
    assert ledger.accrue_click_earnings(DAY, now=NOW + timedelta(days=1)) == 1
    assert ledger.accrue_click_earnings(DAY, now=NOW + timedelta(days=2)) == 0
    assert sorted(amount for _p, _k, amount in entries(db)) == [5, 12]
    assert ledger.days_to_accrue(now=NOW + timedelta(days=2)) == []


def test_accrual_job_without_a_day_picks_up_late_clicks_of_any_closed_day(db, clicks_setup):
    first, _second, _offer, asset_x, _asset_y = clicks_setup
    long_ago = datetime.combine(utcnow().date() - timedelta(days=20), datetime.min.time(), tzinfo=UTC)
    add_click(db, first, asset_x, at=long_ago + timedelta(hours=5), cpc_cents=9)
    assert money_jobs.accrue_click_earnings().startswith("credited 1 ")
    assert (
        money_jobs.accrue_click_earnings()
        == "credited 0 click-earnings entries for no day (nothing to credit)"
    )
    assert [amount for _p, _k, amount in entries(db)] == [9]


# --- admin adjustments --------------------------------------------------------------------------------


def test_adjustment_records_the_admin_and_the_reason_and_is_audited(db, partner, admin):
    entry = ledger.adjust_balance(partner.id, -250, "Duplicate sale", admin, uuid.uuid4().hex)
    assert (entry.kind, entry.amount_cents, entry.memo, entry.admin_user_id) == (
        "adjustment",
        -250,
        "Duplicate sale",
        admin.id,
    )
    audit = db.session.scalars(select(AuditLog)).one()
    assert (audit.action, audit.target_id, audit.details["amount_cents"]) == (
        "ledger.adjust",
        partner.id,
        -250,
    )


@pytest.mark.parametrize(
    ("amount_cents", "reason", "key", "code"),
    [
        (100, "  ", uuid.uuid4().hex, "reason_required"),
        (0, "why", uuid.uuid4().hex, "invalid_amount"),
        (10_000_001, "why", uuid.uuid4().hex, "invalid_amount"),
        (100, "why", "not-a-key", "bad_form_key"),
    ],
)
def test_bad_adjustment_is_refused_and_writes_nothing(db, partner, admin, amount_cents, reason, key, code):
    with pytest.raises(ValidationError) as refused:
        ledger.adjust_balance(partner.id, amount_cents, reason, admin, key)
    assert refused.value.code == code
    assert entry_count(db) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_adjustment_form_submitted_twice_adjusts_once(db, partner, admin):
    key = uuid.uuid4().hex
    assert ledger.adjust_balance(partner.id, 100, "Bonus", admin, key) is not None
    assert ledger.adjust_balance(partner.id, 100, "Bonus", admin, key) is None
    assert entry_count(db) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 1
