"""The fraud rules on stored clicks and sales: who each catches, the hold it places through the core
(one open hold per partner and rule, with the figure), and idempotent sweeps. Time is passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from contentflow.models import AuditLog, Hold
from contentflow.services import holds
from plugins.risk.jobs import sweep_fast_conversions, sweep_shared_ips, sweep_velocity
from plugins.risk.models import RiskFinding
from plugins.risk.services import rules

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)


def held(db) -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [(h.partner_id, h.reason, h.source) for h in db.session.scalars(select(Hold).order_by(Hold.id))]


def findings(db) -> list[tuple[str, str, int, int]]:
    return [
        (f.partner_id, f.rule, f.figure, f.threshold)
        for f in db.session.scalars(select(RiskFinding).order_by(RiskFinding.hold_id))
    ]


# --- velocity --------------------------------------------------------------------------------------


def test_velocity_holds_a_partner_with_the_threshold_of_clicks_in_ten_minutes(db, partner, add_clicks, app):
    add_clicks(partner, 40, NOW, spread=timedelta(minutes=9))
    assert sweep_velocity(now=NOW.isoformat()) == "sweep_velocity: 1 partner(s) caught, 1 newly held"
    assert held(db) == [(partner.id, "velocity", "risk")]
    assert findings(db) == [(partner.id, "velocity", 40, 40)]
    hold = holds.active_hold(partner.id, now=NOW)
    assert hold.expires_at == NOW + timedelta(days=app.config["RISK_HOLD_DAYS"])
    assert hold.detail == "40 clicks in 10 minutes (threshold 40)"


def test_velocity_leaves_a_partner_below_the_threshold(db, partner, add_clicks):
    add_clicks(partner, 39, NOW)
    sweep_velocity(now=NOW.isoformat())
    assert held(db) == []


def test_velocity_counts_clicks_billable_or_not(db, partner, add_clicks):
    add_clicks(partner, 20, NOW)
    add_clicks(partner, 10, NOW, billable=False)
    add_clicks(partner, 10, NOW, bot=True)
    sweep_velocity(now=NOW.isoformat())
    assert findings(db) == [(partner.id, "velocity", 40, 40)]


def test_velocity_ignores_clicks_older_than_ten_minutes_and_later_ones(db, partner, add_clicks):
    add_clicks(partner, 30, NOW - timedelta(minutes=10))
    add_clicks(partner, 30, NOW + timedelta(seconds=1))
    add_clicks(partner, 39, NOW)
    sweep_velocity(now=NOW.isoformat())
    assert held(db) == []


def test_velocity_holds_only_the_fast_partner(db, partner, make_partner, add_clicks):
    calm = make_partner()
    add_clicks(partner, 45, NOW)
    add_clicks(calm, 5, NOW)
    sweep_velocity(now=NOW.isoformat())
    assert held(db) == [(partner.id, "velocity", "risk")]


def test_sweeping_twice_places_one_hold(db, partner, add_clicks):
    add_clicks(partner, 50, NOW)
    sweep_velocity(now=NOW.isoformat())
    again = sweep_velocity(now=(NOW + timedelta(minutes=1)).isoformat())
    assert again == "sweep_velocity: 1 partner(s) caught, 0 newly held"
    assert held(db) == [(partner.id, "velocity", "risk")]
    assert len(findings(db)) == 1
    assert db.session.scalars(select(AuditLog.action)).all() == ["hold.place"]


def test_hold_placement_is_audited_as_risk(db, partner, add_clicks):
    add_clicks(partner, 50, NOW)
    sweep_velocity(now=NOW.isoformat())
    entry = db.session.scalars(select(AuditLog)).one()
    assert (entry.actor, entry.action, entry.target_id) == ("risk", "hold.place", partner.id)


def test_an_admin_hold_does_not_stop_the_rules_own_hold(db, partner, add_clicks):
    holds.place_hold(partner.id, "manual", now=NOW - timedelta(days=1))
    add_clicks(partner, 50, NOW)
    sweep_velocity(now=NOW.isoformat())
    assert held(db) == [(partner.id, "manual", "admin"), (partner.id, "velocity", "risk")]


def test_a_hold_lifted_during_the_window_is_not_placed_again_for_it(db, partner, admin, add_clicks):
    add_clicks(partner, 50, NOW)
    sweep_velocity(now=NOW.isoformat())
    holds.lift_hold(holds.active_hold(partner.id, now=NOW), admin, now=NOW + timedelta(minutes=1))
    sweep_velocity(now=(NOW + timedelta(minutes=2)).isoformat())
    assert not holds.is_on_hold(partner.id, now=NOW + timedelta(minutes=2))


def test_a_new_burst_after_the_window_of_a_lifted_hold_holds_again(db, partner, admin, add_clicks):
    add_clicks(partner, 50, NOW)
    sweep_velocity(now=NOW.isoformat())
    holds.lift_hold(holds.active_hold(partner.id, now=NOW), admin, now=NOW + timedelta(minutes=1))
    later = NOW + timedelta(hours=1)
    add_clicks(partner, 50, later)
    sweep_velocity(now=later.isoformat())
    assert holds.is_on_hold(partner.id, now=later)
    assert len(held(db)) == 2


def test_velocity_threshold_zero_switches_the_rule_off(make_app, db, partner, add_clicks):
    add_clicks(partner, 50, NOW)
    with make_app(RISK_VELOCITY_MAX_CLICKS_10M=0).app_context():
        assert rules.velocity_findings(now=NOW) == []


# --- one IP, many partners ------------------------------------------------------------------------


def test_one_ip_clicking_many_partners_holds_each_of_them(db, make_partner, add_clicks):
    caught = [make_partner() for _ in range(5)]
    for each in caught:
        add_clicks(each, 1, NOW - timedelta(minutes=30), ip_hash="f" * 32)
    bystander = make_partner()
    add_clicks(bystander, 3, NOW)
    assert sweep_shared_ips(now=NOW.isoformat()) == "sweep_shared_ips: 5 partner(s) caught, 5 newly held"
    assert sorted(partner_id for partner_id, _rule, _src in held(db)) == sorted(p.id for p in caught)
    assert {(rule, figure, threshold) for _p, rule, figure, threshold in findings(db)} == {
        ("shared_ip", 5, 5)
    }


def test_one_ip_clicking_fewer_partners_than_the_threshold_holds_nobody(db, make_partner, add_clicks):
    for _ in range(4):
        add_clicks(make_partner(), 3, NOW, ip_hash="f" * 32)
    sweep_shared_ips(now=NOW.isoformat())
    assert held(db) == []


def test_bot_clicks_do_not_count_for_the_shared_ip_rule(db, make_partner, add_clicks):
    for _ in range(5):
        add_clicks(make_partner(), 1, NOW, ip_hash="b" * 32, bot=True)
    sweep_shared_ips(now=NOW.isoformat())
    assert held(db) == []


def test_shared_ip_clicks_outside_the_window_do_not_count(db, make_partner, add_clicks):
    for _ in range(5):
        add_clicks(make_partner(), 1, NOW - timedelta(minutes=61), ip_hash="f" * 32)
    sweep_shared_ips(now=NOW.isoformat())
    assert held(db) == []


# --- sales too fast after the click ---------------------------------------------------------------


def test_sales_too_fast_after_their_click_hold_the_partner(db, partner, add_clicks, add_sale):
    for click in add_clicks(partner, 3, NOW - timedelta(hours=1)):
        add_sale(click, timedelta(seconds=2))
    assert sweep_fast_conversions(now=NOW.isoformat()) == (
        "sweep_fast_conversions: 1 partner(s) caught, 1 newly held"
    )
    assert findings(db) == [(partner.id, "fast_conversions", 3, 3)]


def test_human_paced_sales_do_not_count(db, partner, add_clicks, add_sale):
    clicks = add_clicks(partner, 4, NOW - timedelta(hours=1))
    for click in clicks[:2]:
        add_sale(click, timedelta(seconds=2))
    for click in clicks[2:]:
        add_sale(click, timedelta(minutes=3))
    sweep_fast_conversions(now=NOW.isoformat())
    assert held(db) == []


def test_rejected_or_old_fast_sales_do_not_count(db, partner, add_clicks, add_sale):
    recent = add_clicks(partner, 2, NOW - timedelta(hours=1))
    for click in recent:
        add_sale(click, timedelta(seconds=1))
    add_sale(add_clicks(partner, 1, NOW - timedelta(hours=1))[0], timedelta(seconds=1), status="rejected")
    add_sale(add_clicks(partner, 1, NOW - timedelta(hours=25))[0], timedelta(seconds=1))
    sweep_fast_conversions(now=NOW.isoformat())
    assert held(db) == []


@pytest.mark.parametrize("job", [sweep_velocity, sweep_shared_ips, sweep_fast_conversions])
def test_each_sweep_with_nothing_to_find_holds_nobody(db, job):
    assert job(now=NOW.isoformat()).endswith("0 partner(s) caught, 0 newly held")


def test_hold_days_zero_holds_until_an_admin_lifts_it(make_app, db, partner, add_clicks):
    add_clicks(partner, 50, NOW)
    with make_app(RISK_HOLD_DAYS=0).app_context():
        assert sweep_velocity(now=NOW.isoformat()).endswith("1 newly held")
    hold = holds.active_hold(partner.id, now=NOW + timedelta(days=3650))
    assert (hold.reason, hold.expires_at) == ("velocity", None)
