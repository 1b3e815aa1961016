"""Balances come from the ledger alone: confirmed, reserved with its release dates, paid, pending
withdrawals and available (never shown below zero); today's clicks and pending sales shown apart; the
headline CPC and 7-day EPC. "Now" is passed to the service, never monkeypatched."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from contentflow.models import Conversion
from contentflow.services import balances, ledger, payouts
from contentflow.services.balances import Release
from tests.conftest import add_click

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=40)  # out of the 30-day reserve window


def credit(partner, cents: int, at: datetime, kind: str = "conversion_share"):
    return ledger.record_entry(partner.id, kind, cents, f"test:{uuid.uuid4().hex}", created_at=at)


@pytest.fixture
def payee(make_partner):
    return make_partner("payee@example.com", payout_method="paypal", payout_paypal_email="payee@example.com")


def test_balances_split_confirmed_reserved_paid_pending_and_available(db, payee, admin):
    credit(payee, 10_000, LONG_AGO)
    credit(payee, 2_000, NOW - timedelta(days=2))
    credit(payee, 1_000, NOW - timedelta(hours=1))
    paid = payouts.request_withdrawal(payee, 3_000, "paypal", now=NOW)
    payouts.mark_paid(paid.id, admin, "PP-1", now=NOW)
    payouts.request_withdrawal(payee, 1_000, "paypal", now=NOW)

    figures = balances.get_balances(payee.id, now=NOW)

    assert figures.confirmed_cents == 13_000
    assert figures.reserved_cents == 900  # 30 % of the 3,000 credited in the last 30 days
    assert figures.releases == (Release(date(2026, 4, 15), 600), Release(date(2026, 4, 17), 300))
    assert (figures.paid_cents, figures.pending_withdrawals_cents) == (3_000, 1_000)
    assert figures.available_cents == figures.raw_available_cents == 8_100


def test_rejected_withdrawal_counts_neither_as_paid_nor_pending(db, payee, admin):
    credit(payee, 5_000, LONG_AGO)
    payout = payouts.request_withdrawal(payee, 2_000, "paypal", now=NOW)
    payouts.reject_payout(payout.id, admin, "Wrong account", now=NOW)
    figures = balances.get_balances(payee.id, now=NOW)
    assert (figures.paid_cents, figures.pending_withdrawals_cents, figures.available_cents) == (0, 0, 5_000)


def test_reserve_is_rounded_half_up_per_credit_day_not_per_entry(db, payee):
    credit(payee, 1, NOW - timedelta(hours=2))
    credit(payee, 4, NOW - timedelta(hours=1))
    # per entry: 0.3 -> 0 and 1.2 -> 1; per day: 30 % of 5 = 1.5 -> 2
    assert balances.get_balances(payee.id, now=NOW).reserved_cents == 2


def test_credit_is_reserved_until_its_release_day_then_released(db, payee):
    credit(payee, 1_000, datetime(2026, 3, 1, 10, tzinfo=UTC))
    last_reserved_moment = datetime(2026, 3, 30, 23, 59, 59, tzinfo=UTC)
    released_moment = datetime(2026, 3, 31, 0, 0, tzinfo=UTC)
    before = balances.get_balances(payee.id, now=last_reserved_moment)
    after = balances.get_balances(payee.id, now=released_moment)
    assert (before.reserved_cents, before.releases) == (300, (Release(date(2026, 3, 31), 300),))
    assert (after.reserved_cents, after.releases, after.available_cents) == (0, (), 1_000)


def test_debits_are_not_reserved(db, payee):
    credit(payee, 10_000, LONG_AGO)
    credit(payee, -1_000, NOW - timedelta(hours=1), kind="adjustment")
    figures = balances.get_balances(payee.id, now=NOW)
    assert (figures.reserved_cents, figures.available_cents) == (0, 9_000)


def test_reversal_after_payout_leaves_a_debt_that_later_earnings_absorb(
    db, payee, admin, make_offer, make_asset
):
    asset = make_asset(offer=make_offer(revshare_pct="50"))
    sale = Conversion(
        network_id=asset.offer.network_id,
        txn_id="T-1",
        partner_id=payee.id,
        asset_id=asset.id,
        offer_id=asset.offer_id,
        status="confirmed",
        amount_minor=10_000,
        amount_eur_cents=10_000,
    )
    db.session.add(sale)
    db.session.flush()
    ledger.credit_conversion(sale).created_at = LONG_AGO
    db.session.flush()
    payout = payouts.request_withdrawal(payee, 5_000, "paypal", now=NOW)
    payouts.mark_paid(payout.id, admin, "PP-2", now=NOW)

    sale.status = "reversed"
    ledger.reverse_conversion(sale)
    in_debt = balances.get_balances(payee.id, now=NOW + timedelta(minutes=1))
    assert (in_debt.raw_available_cents, in_debt.available_cents, in_debt.debt_cents) == (-5_000, 0, 5_000)

    credit(payee, 10_000, NOW + timedelta(minutes=2), kind="click_earnings")
    later = balances.get_balances(payee.id, now=NOW + timedelta(minutes=3))
    # 10,000 earned, 3,000 of it reserved, 5,000 of debt absorbed
    assert (later.raw_available_cents, later.available_cents, later.debt_cents) == (2_000, 2_000, 0)


def test_network_balances_are_the_sum_of_the_partners(db, payee, make_partner):
    other = make_partner("other@example.com")
    credit(payee, 5, NOW - timedelta(hours=1))
    credit(other, 5, NOW - timedelta(hours=1))
    credit(other, 7_000, LONG_AGO)
    network = balances.get_balances(None, now=NOW)
    mine, theirs = balances.get_balances(payee.id, now=NOW), balances.get_balances(other.id, now=NOW)
    assert network.confirmed_cents == mine.confirmed_cents + theirs.confirmed_cents == 7_010
    assert network.reserved_cents == mine.reserved_cents + theirs.reserved_cents == 4  # 1.5 -> 2, twice
    assert network.raw_available_cents == mine.raw_available_cents + theirs.raw_available_cents


def test_todays_clicks_are_shown_apart_and_not_confirmed(db, payee, make_offer, make_asset):
    asset = make_asset(offer=make_offer(cpc_cents=12))
    add_click(db, payee, asset, NOW - timedelta(hours=2))
    add_click(db, payee, asset, NOW - timedelta(hours=1), billable=False)
    add_click(db, payee, asset, NOW - timedelta(days=1))  # yesterday: credited by the accrual
    figures = balances.get_balances(payee.id, now=NOW)
    assert (figures.today_cents, figures.confirmed_cents) == (12, 0)


def test_pending_conversions_are_shown_apart_and_not_confirmed(db, payee, make_offer, make_asset):
    asset = make_asset(offer=make_offer(revshare_pct="40"))
    for status in ("pending", "pending", "confirmed"):
        db.session.add(
            Conversion(
                network_id=asset.offer.network_id,
                txn_id=uuid.uuid4().hex,
                partner_id=payee.id,
                asset_id=asset.id,
                offer_id=asset.offer_id,
                status=status,
                amount_minor=1_001,
                amount_eur_cents=1_001,
            )
        )
    db.session.flush()
    figures = balances.get_balances(payee.id, now=NOW)
    assert (figures.pending_conversion_count, figures.pending_conversions_cents) == (2, 800)
    assert figures.confirmed_cents == 0


def test_current_offer_headline_is_the_best_active_cpc(db, make_offer):
    make_offer("Low", cpc_cents=8)
    best = make_offer("Best", cpc_cents=15)
    make_offer("Off", cpc_cents=40).is_active = False
    make_offer("Share only", cpc_cents=None, revshare_pct="30")
    headline = balances.current_offer(now=NOW)
    assert (headline.offer.id, headline.cpc_cents) == (best.id, 15)


def test_epc_is_seven_day_earnings_per_billable_click_rounded_half_up(db, payee, make_offer, make_asset):
    asset = make_asset(offer=make_offer(cpc_cents=12))
    add_click(db, payee, asset, NOW - timedelta(days=1))
    add_click(db, payee, asset, NOW - timedelta(days=6))
    add_click(db, payee, asset, NOW - timedelta(days=8))  # out of the window
    add_click(db, payee, asset, NOW - timedelta(hours=1), billable=False)
    credit(payee, 25, NOW - timedelta(days=2), kind="click_earnings")
    credit(payee, 1_000, NOW - timedelta(days=9))  # out of the window
    headline = balances.current_offer(payee.id, now=NOW)
    assert (headline.click_count, headline.earnings_cents, headline.epc_cents) == (2, 25, 13)


def test_epc_is_none_without_clicks(db, payee):
    credit(payee, 100, NOW - timedelta(days=1))
    assert balances.current_offer(now=NOW).epc_cents is None


# --- holds: what is credited while a partner is held stays out of available --------------------------


def test_credits_made_during_an_active_hold_are_held_in_full(db, payee):
    from contentflow.services import holds

    credit(payee, 10_000, LONG_AGO)
    holds.place_hold(payee.id, "velocity", source="risk", now=NOW - timedelta(days=2))
    credit(payee, 2_000, NOW - timedelta(days=1))
    figures = balances.get_balances(payee.id, now=NOW)
    assert (figures.held_cents, figures.reserved_cents, figures.releases) == (2_000, 2_000, ())
    assert figures.available_cents == 10_000


def test_credits_before_the_hold_keep_the_ordinary_reserve(db, payee):
    from contentflow.services import holds

    credit(payee, 1_000, NOW - timedelta(days=3))
    holds.place_hold(payee.id, "velocity", source="risk", now=NOW - timedelta(days=2))
    figures = balances.get_balances(payee.id, now=NOW)
    assert (figures.held_cents, figures.reserved_cents, figures.available_cents) == (0, 300, 700)


def test_held_credits_return_to_the_ordinary_reserve_once_the_hold_is_lifted(db, payee, admin):
    from contentflow.services import holds

    hold = holds.place_hold(payee.id, "velocity", source="risk", now=NOW - timedelta(days=2))
    credit(payee, 2_000, NOW - timedelta(days=1))
    holds.lift_hold(hold, admin, now=NOW - timedelta(hours=1))
    figures = balances.get_balances(payee.id, now=NOW)
    assert (figures.held_cents, figures.reserved_cents, figures.available_cents) == (0, 600, 1_400)


def test_held_credits_are_released_when_the_hold_expires(db, payee):
    from contentflow.services import holds

    holds.place_hold(payee.id, "velocity", source="risk", days=1, now=NOW - timedelta(days=2))
    credit(payee, 2_000, NOW - timedelta(days=1, hours=12))
    assert balances.get_balances(payee.id, now=NOW).held_cents == 0


def test_debits_during_a_hold_are_not_held(db, payee):
    from contentflow.services import holds

    credit(payee, 10_000, LONG_AGO)
    holds.place_hold(payee.id, "manual", now=NOW - timedelta(days=2))
    credit(payee, -1_000, NOW - timedelta(days=1), kind="adjustment")
    figures = balances.get_balances(payee.id, now=NOW)
    assert (figures.held_cents, figures.available_cents) == (0, 9_000)


def test_network_held_figure_is_the_sum_of_the_held_partners(db, payee, make_partner):
    from contentflow.services import holds

    other = make_partner()
    holds.place_hold(payee.id, "manual", now=NOW - timedelta(days=2))
    credit(payee, 2_000, NOW - timedelta(days=1))
    credit(other, 1_000, NOW - timedelta(days=1))
    network = balances.get_balances(None, now=NOW)
    assert (network.held_cents, network.reserved_cents) == (2_000, 2_300)
