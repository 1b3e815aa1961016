"""Daily rollups: equal to the rows they summarize, never drifting (twice the same, late rows counted,
changes and deletions followed), pruned past the window, and the marks the triggers write."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from contentflow.models import Click, Conversion, Partner
from contentflow.services import clicks
from plugins.monitoring.models import DailyAsset, DailyPartner, DailyTotal, StaleDay
from plugins.monitoring.services import rollups
from tests.monitoring.conftest import NOW, TODAY, days_ago

FIGURES = rollups.FIGURES


def rows(db, model) -> dict:
    """Every row of a rollup table: key -> figures."""
    table = model.__table__
    keys = [c.name for c in table.primary_key.columns]
    return {
        tuple(row[k] for k in keys): {f: row[f] for f in FIGURES}
        for row in db.session.execute(select(table)).mappings()
    }


def all_rollups(db) -> dict:
    return {model.__tablename__: rows(db, model) for model in (DailyTotal, DailyPartner, DailyAsset)}


def marks(db) -> list:
    return sorted(db.session.execute(select(StaleDay.day)).scalars())


@pytest.fixture
def seeded(db, partner, make_partner, asset, other_asset, add_clicks, add_conversion, traffic):
    """Two partners, two assets, clicks on three days (some not billable), conversions of every status,
    one that no click explains (no partner, no asset)."""
    other = make_partner("sam@example.com")
    add_clicks(partner, asset, days_ago(0), 5)
    add_clicks(partner, asset, days_ago(0), 2, billable=False)
    add_clicks(partner, other_asset, days_ago(1), 3)
    add_clicks(other, asset, days_ago(1), 4)
    add_clicks(other, other_asset, days_ago(6, hour=23), 6)
    add_conversion(partner, asset, days_ago(0), 1250)
    add_conversion(partner, asset, days_ago(0), 700, status="pending")
    add_conversion(other, other_asset, days_ago(1), 333)
    add_conversion(other, asset, days_ago(6), 999, status="reversed")
    add_conversion(None, None, days_ago(1), 5000)
    return other


def test_refresh_rolls_up_each_day_as_its_rows_say(db, seeded, partner, asset, traffic, refresh):
    refresh()

    totals = rows(db, DailyTotal)
    for n in (0, 1, 6):
        day = TODAY - timedelta(days=n)
        assert totals[(day,)] == traffic.expected(day, day), day
    assert set(totals) == {(TODAY,), (TODAY - timedelta(days=1),), (TODAY - timedelta(days=6),)}


def test_refresh_rolls_up_each_partner_and_asset_per_day(db, seeded, partner, asset, traffic, refresh):
    refresh()

    yesterday = TODAY - timedelta(days=1)
    partners, assets = rows(db, DailyPartner), rows(db, DailyAsset)
    assert partners[(TODAY, partner.id)] == traffic.expected(TODAY, partner_id=partner.id)
    assert partners[(yesterday, seeded.id)]["revenue_cents"] == 333
    assert assets[(TODAY, asset.id)] == traffic.expected(TODAY, asset_id=asset.id)
    # The conversion no click explains counts for the network only.
    assert sum(r["revenue_cents"] for (day, _), r in partners.items() if day == yesterday) == 333
    assert rows(db, DailyTotal)[(yesterday,)]["revenue_cents"] == 5333


def test_refresh_twice_writes_the_same_rows(db, seeded, refresh):
    refresh()
    first = all_rollups(db)

    refresh()

    assert all_rollups(db) == first


def test_refresh_of_a_day_already_rolled_up_recomputes_the_same_figures(db, seeded, refresh):
    refresh()
    first = all_rollups(db)

    rollups.mark_window(now=NOW)
    refresh()

    assert all_rollups(db) == first


def test_late_click_for_a_day_already_rolled_up_is_counted(db, seeded, partner, asset, add_clicks, refresh):
    refresh()
    day = TODAY - timedelta(days=6)
    before = rows(db, DailyTotal)[(day,)]["click_count"]

    add_clicks(partner, asset, days_ago(6, hour=2), 2)  # flushed long after its day was rolled up
    refresh()

    assert rows(db, DailyTotal)[(day,)]["click_count"] == before + 2
    assert rows(db, DailyPartner)[(day, partner.id)]["click_count"] == 2


def test_late_click_older_than_a_week_is_counted_in_the_30_day_window(
    db, partner, asset, add_clicks, refresh
):
    refresh()

    add_clicks(partner, asset, days_ago(25), 3)
    refresh()

    assert rows(db, DailyTotal)[(TODAY - timedelta(days=25),)]["click_count"] == 3


def test_conversion_confirmed_later_adds_its_revenue_to_the_day_it_was_reported(
    db, seeded, partner, asset, add_conversion, refresh
):
    pending = add_conversion(partner, asset, days_ago(3), 400, status="pending")
    refresh()
    day = (TODAY - timedelta(days=3),)
    assert rows(db, DailyTotal)[day]["revenue_cents"] == 0

    pending.status = "confirmed"
    db.session.commit()
    refresh()

    assert rows(db, DailyTotal)[day]["revenue_cents"] == 400
    assert rows(db, DailyTotal)[day]["confirmed_count"] == 1


def test_conversion_reversed_later_takes_its_revenue_back(db, partner, asset, add_conversion, refresh):
    sale = add_conversion(partner, asset, days_ago(2), 900)
    refresh()

    db.session.execute(update(Conversion).where(Conversion.id == sale.id).values(status="reversed"))
    db.session.commit()
    refresh()

    assert rows(db, DailyTotal)[(TODAY - timedelta(days=2),)]["revenue_cents"] == 0


def test_partner_deleted_with_their_clicks_leaves_the_rollups(db, seeded, refresh):
    refresh()
    yesterday = TODAY - timedelta(days=1)

    db.session.delete(db.session.get(Partner, seeded.id))  # their clicks go with them (CASCADE)
    db.session.commit()
    refresh()

    assert not [key for key in rows(db, DailyPartner) if key[1] == seeded.id]
    assert rows(db, DailyTotal)[(yesterday,)]["click_count"] == 3


def test_day_left_without_rows_loses_its_rollup_rows(db, partner, asset, add_clicks, refresh):
    made = add_clicks(partner, asset, days_ago(4), 2)
    refresh()

    for click in made:
        db.session.delete(click)
    db.session.commit()
    refresh()

    assert all_rollups(db) == {
        "monitoring_daily_totals": {},
        "monitoring_daily_partners": {},
        "monitoring_daily_assets": {},
    }


def test_refresh_clears_the_marks_of_the_days_it_rolled_up(db, seeded, refresh):
    assert marks(db)  # the clicks just seeded marked their days

    refresh()

    assert marks(db) == []


def test_change_made_while_a_day_is_recomputed_keeps_its_mark(
    db, partner, asset, add_clicks, refresh, monkeypatch
):
    """The out-of-order case in one session: a click committed after the refresh read the day's marks
    (here, between its recompute and its clearing) bumps the mark, which is therefore kept."""
    add_clicks(partner, asset, days_ago(2), 1)
    recompute = rollups._recompute
    late: list = []

    def recompute_then_a_click_arrives(rollup, day, run_id):
        recompute(rollup, day, run_id)
        if rollup.model is DailyAsset and day == TODAY - timedelta(days=2) and not late:
            late.extend(add_clicks(partner, asset, days_ago(2, hour=11), 1))

    monkeypatch.setattr(rollups, "_recompute", recompute_then_a_click_arrives)
    refresh()
    assert marks(db) == [TODAY - timedelta(days=2)]
    monkeypatch.undo()

    refresh()

    assert rows(db, DailyTotal)[(TODAY - timedelta(days=2),)]["click_count"] == 2
    assert marks(db) == []


def test_days_older_than_the_window_are_pruned(db, partner, asset, add_clicks, refresh):
    add_clicks(partner, asset, days_ago(10), 1)
    refresh()

    refresh(now=NOW + timedelta(days=rollups.WINDOW_DAYS - 10))

    assert rows(db, DailyTotal) == {}


def test_clicks_of_days_older_than_the_window_are_not_rolled_up(db, partner, asset, add_clicks, refresh):
    add_clicks(partner, asset, days_ago(rollups.WINDOW_DAYS), 1)

    refresh()

    assert rows(db, DailyTotal) == {}
    assert marks(db) == []


def test_inserting_clicks_marks_their_days(db, partner, asset, add_clicks, refresh):
    refresh()

    add_clicks(partner, asset, days_ago(3), 2)
    add_clicks(partner, asset, days_ago(5), 1)

    assert marks(db) == [TODAY - timedelta(days=5), TODAY - timedelta(days=3)]


def test_a_flush_batch_copied_in_marks_its_days_and_is_rolled_up(db, partner, asset, refresh):
    """The flush's own path (``clicks.copy_clicks``: COPY, then INSERT ... SELECT), a late click included."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    refresh()
    at = {0: days_ago(0), 40: days_ago(40)}
    rows = [
        {
            "id": uuid.uuid4().hex[:14],
            "short_link_id": None,
            "partner_id": partner.id,
            "asset_id": asset.id,
            "offer_id": asset.offer_id,
            "cpc_cents": 12,
            "created_at": at[0 if n % 3 else 40],
            "ip_hash": "0" * 32,
            "visitor_hash": uuid.uuid4().hex,
            "user_agent": "",
            "referrer": "",
            "is_bot": False,
            "is_billable": True,
            "not_billable_reason": None,
        }
        for n in range(clicks.COPY_THRESHOLD + 10)
    ]

    clicks.insert_clicks(rows)
    db.session.commit()
    assert marks(db) == [TODAY - timedelta(days=40), TODAY]
    refresh()

    totals = rows_of_days(db)
    assert totals[TODAY - timedelta(days=40)] + totals[TODAY] == len(rows)
    assert totals[TODAY - timedelta(days=40)] == sum(1 for row in rows if row["created_at"] == at[40])


def rows_of_days(db) -> dict:
    return {key[0]: figures["click_count"] for key, figures in rows(db, DailyTotal).items()}


def test_the_accruals_claim_of_clicks_marks_no_day(db, partner, asset, add_clicks, refresh):
    made = add_clicks(partner, asset, days_ago(1), 3)
    refresh()

    db.session.execute(update(Click).where(Click.id.in_([c.id for c in made])).values(accrual_batch="b1"))
    db.session.commit()

    assert marks(db) == []


def test_changing_a_clicks_billing_marks_its_day(db, partner, asset, add_clicks, refresh):
    made = add_clicks(partner, asset, days_ago(1), 1)
    refresh()

    db.session.execute(update(Click).where(Click.id == made[0].id).values(is_billable=False, cpc_cents=None))
    db.session.commit()

    assert marks(db) == [TODAY - timedelta(days=1)]


# --- conversions: marked once per statement (PostgreSQL), however many rows it changes ------------------


def mark_counts(db) -> dict:
    """day -> how many times it was marked since its marks were cleared (one connection: one slot)."""
    query = select(StaleDay.day, func.sum(StaleDay.version)).group_by(StaleDay.day)
    return {day: int(count) for day, count in db.session.execute(query)}


def sales(network, partner, asset, at, cents: list[int], status: str = "confirmed") -> list[dict]:
    """Conversion rows for one multi-row INSERT (one statement), as a batch of postbacks writes them."""
    return [
        {
            "network_id": network.id,
            "txn_id": uuid.uuid4().hex,
            "subid": "",
            "partner_id": partner.id,
            "asset_id": asset.id,
            "status": status,
            "amount_minor": amount,
            "currency": "EUR",
            "amount_eur_cents": amount,
            "needs_review": False,
            "created_at": at,
            "updated_at": at,
        }
        for amount in cents
    ]


@pytest.fixture
def postgresql_only(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite marks per row")


def test_conversions_inserted_by_one_statement_mark_each_day_once(
    db, postgresql_only, network, partner, asset
):
    two, three = TODAY - timedelta(days=2), TODAY - timedelta(days=3)
    batch = sales(network, partner, asset, days_ago(2), [100] * 5) + sales(
        network, partner, asset, days_ago(3), [200] * 2
    )

    db.session.execute(insert(Conversion).values(batch))
    assert mark_counts(db) == {two: 1, three: 1}

    db.session.execute(insert(Conversion).values(sales(network, partner, asset, days_ago(2), [300] * 3)))
    assert mark_counts(db) == {two: 2, three: 1}


def test_conversions_changed_by_one_statement_mark_each_day_once(
    db, postgresql_only, network, partner, asset
):
    two, five = TODAY - timedelta(days=2), TODAY - timedelta(days=5)
    db.session.execute(insert(Conversion).values(sales(network, partner, asset, days_ago(2), [100] * 4)))
    db.session.execute(delete(StaleDay))

    db.session.execute(update(Conversion).values(status="reversed"))
    assert mark_counts(db) == {two: 1}

    db.session.execute(update(Conversion).values(created_at=days_ago(5)))  # leaves day 2 for day 5
    assert mark_counts(db) == {two: 2, five: 1}

    db.session.execute(delete(Conversion))
    assert mark_counts(db) == {two: 2, five: 2}


def test_a_statement_that_changes_no_conversion_marks_nothing(db, postgresql_only):
    db.session.execute(update(Conversion).where(Conversion.id == -1).values(status="reversed"))
    db.session.execute(delete(Conversion).where(Conversion.id == -1))

    assert mark_counts(db) == {}


def test_a_batch_of_conversions_in_one_statement_is_rolled_up_exactly(db, network, partner, asset, refresh):
    refresh()
    batch = (
        sales(network, partner, asset, days_ago(1), [1250, 333, 7])
        + sales(network, partner, asset, days_ago(1), [700], status="pending")
        + sales(network, partner, asset, days_ago(4), [999], status="reversed")
        + sales(network, partner, asset, days_ago(4), [5000])
    )

    db.session.execute(insert(Conversion).values(batch))
    db.session.commit()
    refresh()

    totals = rows(db, DailyTotal)
    assert totals[(TODAY - timedelta(days=1),)] == {
        "click_count": 0,
        "billable_click_count": 0,
        "conversion_count": 4,
        "confirmed_count": 3,
        "revenue_cents": 1590,
    }
    assert totals[(TODAY - timedelta(days=4),)]["conversion_count"] == 2
    assert totals[(TODAY - timedelta(days=4),)]["revenue_cents"] == 5000
    assert marks(db) == []


def test_batch_of_conversions_committed_while_its_day_is_recomputed_keeps_the_mark(
    db, network, partner, asset, add_conversion, refresh, monkeypatch
):
    """As for clicks: the batch's one mark, bumped after the refresh read the day's marks, keeps the day
    marked, and the next refresh counts the whole batch."""
    add_conversion(partner, asset, days_ago(2), 100)
    recompute = rollups._recompute
    late: list = []

    def recompute_then_a_batch_arrives(rollup, day, run_id):
        recompute(rollup, day, run_id)
        if rollup.model is DailyAsset and day == TODAY - timedelta(days=2) and not late:
            late.extend(sales(network, partner, asset, days_ago(2, hour=11), [10, 20, 30]))
            db.session.execute(insert(Conversion).values(late))
            db.session.commit()

    monkeypatch.setattr(rollups, "_recompute", recompute_then_a_batch_arrives)
    refresh()
    assert marks(db) == [TODAY - timedelta(days=2)]
    monkeypatch.undo()

    refresh()

    day = rows(db, DailyTotal)[(TODAY - timedelta(days=2),)]
    assert (day["conversion_count"], day["revenue_cents"]) == (4, 160)
    assert marks(db) == []


def test_capture_triggers_are_installed_by_the_migration(db):
    assert rollups.is_capture_installed()


def test_a_missing_trigger_is_noticed(db):
    db.session.execute(text("DROP TRIGGER monitoring_clicks_inserted ON clicks"))  # rolled back after

    assert not rollups.is_capture_installed()


def test_reinstalling_the_capture_puts_back_a_missing_trigger(db, partner, asset, add_clicks):
    db.session.execute(text("DROP TRIGGER monitoring_clicks_inserted ON clicks"))  # rolled back after

    rollups.reinstall_capture()
    add_clicks(partner, asset, days_ago(2), 1)

    assert rollups.is_capture_installed()
    assert marks(db) == [TODAY - timedelta(days=2)]
