"""The summary service: every card equals the figure computed directly from the seeded rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contentflow.errors import ValidationError
from contentflow.extension_points import REGISTRY_KEY, Card
from contentflow.models import Assignment, Hold, LedgerEntry, PostbackLog
from contentflow.services import balances
from plugins.monitoring.services import summary as summaries
from tests.monitoring.conftest import NOW, TODAY, days_ago, epc


def summarize(days: int = 7):
    return summaries.summarize(days=days, now=NOW)


@pytest.fixture
def seeded(db, partner, make_partner, asset, other_asset, add_clicks, add_conversion):
    other = make_partner("sam@example.com", display_name="Sam")
    add_clicks(partner, asset, days_ago(0), 30)
    add_clicks(partner, asset, days_ago(0), 4, billable=False)
    add_clicks(other, other_asset, days_ago(3), 20)
    add_clicks(other, asset, days_ago(6, hour=0), 10)
    add_clicks(partner, other_asset, days_ago(7, hour=23), 50)  # a day before the 7-day range
    add_clicks(other, asset, days_ago(20), 15)
    add_conversion(partner, asset, days_ago(0), 1200)
    add_conversion(partner, asset, days_ago(1), 800, status="pending")
    add_conversion(other, other_asset, days_ago(3), 2500)
    add_conversion(other, asset, days_ago(5), 700, status="rejected")
    add_conversion(None, None, days_ago(2), 300)
    add_conversion(partner, other_asset, days_ago(8), 9000)
    return other


def figures(summary_figures) -> dict:
    return {name: getattr(summary_figures, name) for name in summaries.Figures.__dataclass_fields__}


def test_traffic_of_7_days_equals_the_seeded_rows(seeded, traffic, refresh):
    refresh()

    result = summarize(7)

    assert result.first_day == TODAY - timedelta(days=6)
    assert figures(result.traffic) == traffic.expected(TODAY - timedelta(days=6))
    assert result.traffic.revenue_cents == 1200 + 2500 + 300


def test_epc_is_revenue_per_billable_click_rounded_half_up(seeded, traffic, refresh):
    refresh()

    result = summarize(7)

    expected = traffic.expected(TODAY - timedelta(days=6))
    assert result.traffic.epc_cents == epc(expected["revenue_cents"], expected["billable_click_count"])


def test_traffic_of_30_days_includes_the_older_rows(seeded, traffic, refresh):
    refresh()

    result = summarize(30)

    assert figures(result.traffic) == traffic.expected(TODAY - timedelta(days=29))


def test_daily_series_covers_30_days_even_for_a_7_day_range(seeded, traffic, refresh):
    refresh()

    daily = summarize(7).daily

    assert len(daily) == 30
    assert daily[0].day == TODAY - timedelta(days=29) and daily[-1].day == TODAY
    for each in daily:
        assert figures(each.figures) == traffic.expected(each.day, each.day), each.day


def test_daily_series_covers_90_days_for_the_90_day_range(seeded, refresh):
    refresh()

    assert len(summarize(90).daily) == 90


def test_top_partners_are_ranked_by_epc(seeded, partner, traffic, refresh):
    refresh()

    top = summarize(7).top_partners

    # Sam: 2500 over 30 billable clicks (83 cents); Pat: 1200 over 30 (40 cents).
    assert [(r.id, r.label, r.figures.epc_cents) for r in top] == [
        (seeded.id, "Sam", epc(2500, 30)),
        (partner.id, "Pat", epc(1200, 30)),
    ]


def test_top_assets_are_ranked_by_epc(seeded, asset, other_asset, refresh):
    refresh()

    top = summarize(7).top_assets

    assert [(r.id, r.label) for r in top] == [
        (other_asset.id, "A second video"),
        (asset.id, "Three AI tools"),
    ]
    assert top[0].figures.epc_cents == epc(2500, 20)


def test_partner_with_too_few_billable_clicks_is_not_ranked(
    seeded, make_partner, asset, add_clicks, add_conversion, refresh
):
    lucky = make_partner("lucky@example.com")
    add_clicks(lucky, asset, days_ago(1), summaries.TOP_MIN_BILLABLE_CLICKS - 1)
    add_conversion(lucky, asset, days_ago(1), 100_000)
    refresh()

    assert lucky.id not in [r.id for r in summarize(7).top_partners]


def test_active_partners_are_those_with_clicks_in_the_range(seeded, make_partner, refresh):
    make_partner("idle@example.com")
    refresh()

    result = summarize(7)

    assert result.active_partner_count == 2
    assert result.partner_count == 3


def test_money_before_the_first_refresh_is_unknown(seeded):
    assert summarize(7).snapshot is None


def test_money_equals_the_core_balances_of_the_network(db, seeded, partner, refresh):
    for key, cents in (("a", 5000), ("b", -700)):
        db.session.add(
            LedgerEntry(
                partner_id=partner.id,
                kind="adjustment",
                amount_cents=cents,
                idempotency_key=key,
                created_at=days_ago(40),
            )
        )
    db.session.commit()
    refresh()

    money = summarize(7).snapshot
    expected = balances.get_balances(None, now=NOW)

    assert (money.available_cents, money.reserved_cents, money.paid_cents) == (
        expected.available_cents,
        expected.reserved_cents,
        expected.paid_cents,
    )
    assert money.confirmed_cents == 4300
    assert money.computed_at == NOW


def test_current_offer_is_the_core_headline(seeded, asset, refresh):
    refresh()

    money = summarize(7).snapshot
    headline = balances.current_offer(None, now=NOW)

    assert (money.offer_name, money.cpc_cents, money.epc_cents) == (asset.offer.name, 12, headline.epc_cents)


def add_assignments(db, partner, asset, *statuses: str) -> None:
    for status, platform in zip(statuses, ("youtube", "reddit", "pinterest", "instagram"), strict=False):
        db.session.add(Assignment(asset_id=asset.id, partner_id=partner.id, platform=platform, status=status))
    db.session.commit()


def test_assignments_are_counted_by_status(db, partner, asset, refresh):
    add_assignments(db, partner, asset, "pending", "failed", "posted", "pending")
    refresh()

    counts = dict(summarize(7).assignments)

    assert counts == {
        "pending": 2,
        "approved": 0,
        "posting": 0,
        "posted": 1,
        "failed": 1,
        "skipped": 0,
        "needs_review": 0,
    }


def test_assignments_on_their_way_are_counted_at_once_and_done_ones_at_the_refresh(
    db, partner, asset, refresh
):
    refresh()

    add_assignments(db, partner, asset, "approved", "posted")
    counts = dict(summarize(7).assignments)

    assert (counts["approved"], counts["posted"]) == (1, 0)


def test_open_holds_leave_out_lifted_and_expired_ones(db, partner, make_partner):
    other, third = make_partner(), make_partner()
    db.session.add_all(
        [
            Hold(partner_id=partner.id, reason="manual", created_at=days_ago(2)),
            Hold(
                partner_id=other.id,
                reason="velocity",
                source="risk",
                created_at=days_ago(2),
                expires_at=NOW + timedelta(days=1),
            ),
            Hold(partner_id=third.id, reason="manual", created_at=days_ago(9), lifted_at=days_ago(1)),
            Hold(
                partner_id=third.id,
                reason="velocity",
                source="risk",
                created_at=days_ago(40),
                expires_at=days_ago(10),
            ),
        ]
    )
    db.session.commit()

    assert summarize(7).open_hold_count == 2


def test_postbacks_of_the_last_24_hours_are_counted_by_outcome(db):
    for outcome, hours in (
        ("accepted", 1),
        ("accepted", 23),
        ("duplicate", 2),
        ("rejected", 5),
        ("review", 3),
        ("accepted", 25),
    ):
        db.session.add(PostbackLog(outcome=outcome, http_status=200, created_at=NOW - timedelta(hours=hours)))
    db.session.commit()

    counts = dict(summarize(7).postbacks)

    assert counts == {"accepted": 2, "duplicate": 1, "ignored": 0, "review": 1, "rejected": 1}


def test_cards_of_other_plugins_come_through_the_hook(app, db, monkeypatch):
    registry = app.extensions[REGISTRY_KEY]

    def answer(*, days: int) -> list[Card]:
        return [Card("Tickets open", "4", order=2), Card(f"Shares in {days} days", "12", order=1)]

    monkeypatch.setitem(registry.hooks, "monitoring.cards", [answer])

    cards = summarize(30).extra_cards

    assert [card.title for card in cards] == ["Shares in 30 days", "Tickets open"]


def test_a_range_the_dashboard_does_not_offer_is_refused(db):
    with pytest.raises(ValidationError):
        summaries.summarize(days=14, now=NOW)
