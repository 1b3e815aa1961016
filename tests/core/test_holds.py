"""Holds: active while neither lifted nor expired; placed by risk or an admin, lifted by an admin once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from contentflow.errors import Conflict, ValidationError
from contentflow.models import AuditLog, Hold
from contentflow.services import holds

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)


def test_placed_hold_is_active_for_risk_hold_days(db, partner, app):
    hold = holds.place_hold(partner.id, "velocity", source="risk", now=NOW)
    assert hold.expires_at == NOW + timedelta(days=app.config["RISK_HOLD_DAYS"])
    assert holds.active_hold(partner.id, now=NOW) == hold
    assert holds.is_on_hold(partner.id, now=hold.expires_at - timedelta(seconds=1))


def test_hold_stops_counting_once_expired(db, partner):
    hold = holds.place_hold(partner.id, "velocity", source="risk", days=2, now=NOW)
    assert not holds.is_on_hold(partner.id, now=hold.expires_at)


def test_hold_without_days_lasts_until_lifted(db, partner):
    holds.place_hold(partner.id, "manual", days=None, now=NOW)
    assert holds.is_on_hold(partner.id, now=NOW + timedelta(days=3650))


def test_placing_the_same_hold_again_returns_the_active_one(db, partner):
    first = holds.place_hold(partner.id, "velocity", source="risk", now=NOW)
    again = holds.place_hold(partner.id, "velocity", source="risk", now=NOW + timedelta(minutes=10))
    assert again.id == first.id
    assert len(db.session.scalars(select(Hold)).all()) == 1


def test_other_partners_are_not_on_hold(db, partner, make_partner):
    holds.place_hold(partner.id, "manual", now=NOW)
    assert not holds.is_on_hold(make_partner().id, now=NOW)


def test_admin_hold_and_its_lifting_are_audited(db, partner, admin):
    hold = holds.place_hold(partner.id, "manual", admin=admin, now=NOW)
    holds.lift_hold(hold, admin, now=NOW + timedelta(hours=1))
    assert not holds.is_on_hold(partner.id, now=NOW + timedelta(hours=2))
    assert (hold.lifted_at, hold.lifted_by_admin_id) == (NOW + timedelta(hours=1), admin.id)
    actions = db.session.execute(select(AuditLog.action, AuditLog.actor).order_by(AuditLog.id)).all()
    assert actions == [("hold.place", "admin:boss@example.com"), ("hold.lift", "admin:boss@example.com")]


def test_risk_hold_is_audited_as_risk(db, partner):
    holds.place_hold(partner.id, "velocity", source="risk", now=NOW)
    assert db.session.scalars(select(AuditLog.actor)).one() == "risk"


def test_lifting_a_lifted_hold_is_a_conflict(db, partner, admin):
    hold = holds.place_hold(partner.id, "manual", now=NOW)
    holds.lift_hold(hold, admin, now=NOW)
    with pytest.raises(Conflict) as refused:
        holds.lift_hold(hold, admin, now=NOW)
    assert refused.value.status == 409


@pytest.mark.parametrize(
    ("reason", "source", "days"),
    [("", "admin", 3), ("x" * 65, "admin", 3), ("manual", "robot", 3), ("manual", "admin", 0)],
)
def test_bad_hold_is_refused_and_writes_nothing(db, partner, reason, source, days):
    with pytest.raises(ValidationError):
        holds.place_hold(partner.id, reason, source=source, days=days, now=NOW)
    assert db.session.scalars(select(Hold)).all() == []


# --- lifting with a note, extending -----------------------------------------------------------------


def test_lifting_with_a_note_records_it(db, partner, admin):
    hold = holds.place_hold(partner.id, "velocity", source="risk", now=NOW)
    holds.lift_hold(hold, admin, note="a real viral post", now=NOW)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "hold.lift")).one()
    assert entry.details == {
        "hold_id": hold.id,
        "reason": "velocity",
        "note": "a real viral post",
        "before": {"status": "active"},
        "after": {"status": "lifted"},
    }


def test_lifting_with_an_empty_note_is_refused(db, partner, admin):
    hold = holds.place_hold(partner.id, "velocity", source="risk", now=NOW)
    with pytest.raises(ValidationError):
        holds.lift_hold(hold, admin, note="  ", now=NOW)
    assert holds.is_on_hold(partner.id, now=NOW)


def test_extending_a_hold_pushes_its_end_and_records_before_and_after(db, partner, admin):
    hold = holds.place_hold(partner.id, "velocity", source="risk", days=30, now=NOW)
    holds.extend_hold(hold, admin, 10, "still checking", now=NOW + timedelta(days=1))
    assert hold.expires_at == NOW + timedelta(days=40)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "hold.extend")).one()
    assert (entry.admin_user_id, entry.details["note"]) == (admin.id, "still checking")
    assert entry.details["before"] == {"expires_at": (NOW + timedelta(days=30)).isoformat()}
    assert entry.details["after"] == {"expires_at": (NOW + timedelta(days=40)).isoformat()}


@pytest.mark.parametrize(("days", "note"), [(0, "x"), (3651, "x"), (True, "x"), (5, ""), (5, "x" * 501)])
def test_bad_extension_is_refused_and_changes_nothing(db, partner, admin, days, note):
    hold = holds.place_hold(partner.id, "velocity", source="risk", days=30, now=NOW)
    with pytest.raises(ValidationError):
        holds.extend_hold(hold, admin, days, note, now=NOW)
    assert hold.expires_at == NOW + timedelta(days=30)


@pytest.mark.parametrize("state", ["lifted", "expired", "open-ended"])
def test_extending_a_hold_that_cannot_end_later_is_a_conflict(db, partner, admin, state):
    hold = holds.place_hold(partner.id, "manual", days=None if state == "open-ended" else 2, now=NOW)
    if state == "lifted":
        holds.lift_hold(hold, admin, now=NOW)
    moment = NOW + timedelta(days=3) if state == "expired" else NOW
    with pytest.raises(Conflict):
        holds.extend_hold(hold, admin, 5, "more", now=moment)
