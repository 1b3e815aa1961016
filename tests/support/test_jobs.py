"""Auto-close: tickets idle TICKET_AUTO_CLOSE_DAYS while waiting for their owner close, with a note;
the job is scheduled and run by name. Time is passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contentflow.queueing.scheduling import declared_schedules
from plugins.support.jobs import close_idle_tickets
from plugins.support.models import SupportMessage, SupportTicket

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)


@pytest.fixture
def make_ticket(db):
    def build(status: str, idle: timedelta) -> SupportTicket:
        ticket = SupportTicket(
            email="v@example.com", subject="s", status=status, locale="en", last_activity_at=NOW - idle
        )
        db.session.add(ticket)
        db.session.commit()
        return ticket

    return build


@pytest.mark.parametrize("status", ["bot_answered", "awaiting_user"])
def test_ticket_waiting_for_its_owner_closes_after_the_idle_days(db, make_ticket, status):
    ticket = make_ticket(status, timedelta(days=5))
    assert close_idle_tickets(now=NOW.isoformat()) == "close_idle_tickets: 1 closed"
    db.session.refresh(ticket)
    assert (ticket.status, ticket.closed_at) == ("closed", NOW)
    note = db.session.scalars(db.select(SupportMessage)).one()
    assert (note.author, note.body) == (
        "bot",
        "Closed after 5 days without news. Open a new ticket if you still need help.",
    )


@pytest.mark.parametrize(
    ("status", "idle"),
    [
        ("bot_answered", timedelta(days=4, hours=23)),
        ("open", timedelta(days=30)),
        ("answered", timedelta(days=30)),
    ],
)
def test_ticket_is_left_open_when_recent_or_waiting_for_the_team(db, make_ticket, status, idle):
    ticket = make_ticket(status, idle)
    assert close_idle_tickets(now=NOW.isoformat()) == "close_idle_tickets: 0 closed"
    db.session.refresh(ticket)
    assert ticket.status == status


def test_closing_idle_tickets_twice_closes_them_once(db, make_ticket):
    make_ticket("bot_answered", timedelta(days=9))
    close_idle_tickets(now=NOW.isoformat())
    assert close_idle_tickets(now=NOW.isoformat()) == "close_idle_tickets: 0 closed"
    assert len(db.session.scalars(db.select(SupportMessage)).all()) == 1


def test_close_idle_tickets_is_scheduled_every_hour(app):
    [schedule] = [s for s in declared_schedules(app) if s.job_name == "close_idle_tickets"]
    assert (schedule.every, schedule.queue) == (timedelta(hours=1), "periodic")


def test_flask_jobs_run_closes_idle_tickets(app, db, make_ticket):
    ticket = make_ticket("awaiting_user", timedelta(days=400))
    result = app.test_cli_runner().invoke(args=["jobs", "run", "close_idle_tickets"])
    assert result.exit_code == 0, result.output
    assert "close_idle_tickets: 1 closed" in result.output
    db.session.refresh(ticket)
    assert ticket.status == "closed"


@pytest.mark.parametrize(("idle", "closed"), [(timedelta(days=2), 1), (timedelta(days=1, hours=23), 0)])
def test_auto_close_follows_the_ticket_auto_close_days_setting(make_app, db, make_ticket, idle, closed):
    ticket = make_ticket("bot_answered", idle)
    with make_app(TICKET_AUTO_CLOSE_DAYS=2).app_context():
        assert close_idle_tickets(now=NOW.isoformat()) == f"close_idle_tickets: {closed} closed"
    db.session.refresh(ticket)
    assert ticket.status == ("closed" if closed else "bot_answered")


def test_auto_close_days_zero_closes_nothing(make_app, db, make_ticket):
    ticket = make_ticket("bot_answered", timedelta(days=400))
    with make_app(TICKET_AUTO_CLOSE_DAYS=0).app_context():
        assert close_idle_tickets(now=NOW.isoformat()) == "close_idle_tickets: 0 closed"
    db.session.refresh(ticket)
    assert ticket.status == "bot_answered"
