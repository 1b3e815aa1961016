"""``refresh_monitoring`` on committed data: in a real worker, against transactions of other connections
that commit out of order, through the CLI, and doing nothing once the flag is off."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from contentflow.models import Asset, Click, Partner
from contentflow.queueing import get_queue, job_catalog
from contentflow.queueing.worker import make_worker
from plugins.monitoring.jobs import refresh_monitoring
from plugins.monitoring.models import DailyTotal, StaleDay
from plugins.monitoring.services import machinery

pytestmark = pytest.mark.integration


@pytest.fixture
def rollups_up_to_date(committed) -> None:
    """Committed rows here: the migration's marks are deleted for real (``committed`` empties every table
    after the test anyway)."""
    committed.session.execute(StaleDay.__table__.delete())
    committed.session.commit()


@pytest.fixture
def link(committed) -> tuple[str, str]:
    partner, asset = Partner(email="pat@example.com"), Asset(title="A video", status="ready")
    committed.session.add_all([partner, asset])
    committed.session.commit()
    return partner.id, asset.id


def click_row(partner_id: str, asset_id: str, at: datetime) -> dict:
    return {
        "id": uuid.uuid4().hex[:14],
        "partner_id": partner_id,
        "asset_id": asset_id,
        "cpc_cents": 12,
        "created_at": at,
        "ip_hash": "0" * 32,
        "visitor_hash": uuid.uuid4().hex,
        "user_agent": "",
        "referrer": "",
        "is_bot": False,
        "is_billable": True,
    }


def connections_on_two_slots(engine) -> tuple[sa.Connection, sa.Connection]:
    """Two connections whose marks land on different rows (``pg_backend_pid() % 16``): on one row the
    second writer would simply wait for the first to commit, and no commit could overtake another."""
    opened = []
    while True:
        connection = engine.connect()
        slot = connection.execute(sa.text("SELECT pg_backend_pid() % 16")).scalar()
        connection.rollback()  # end the transaction the query began
        for other, other_slot in opened:
            if other_slot != slot:
                for spare, _ in opened:
                    if spare is not other:
                        spare.close()
                return other, connection
        opened.append((connection, slot))


def clicks_of(committed, day) -> int:
    committed.session.rollback()  # a fresh snapshot
    return committed.session.scalar(select(DailyTotal.click_count).where(DailyTotal.day == day)) or 0


def test_click_of_a_transaction_that_commits_after_a_later_one_is_counted(app, committed, link):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: no transaction overtakes another")
    now = datetime.now(UTC)
    day = (now - timedelta(days=2)).date()
    noon = datetime.combine(day, time(12), tzinfo=UTC)  # both clicks on one day, whatever the hour now
    insert = Click.__table__.insert()
    slow, fast = connections_on_two_slots(committed.engine)
    try:
        with slow.begin() as slow_transaction:
            slow.execute(insert, click_row(*link, noon))  # begun first...
            with fast.begin():
                fast.execute(insert, click_row(*link, noon - timedelta(hours=1)))  # ...committed first
            refresh_monitoring(now=now.isoformat())
            assert clicks_of(committed, day) == 1
            slow_transaction.commit()
        refresh_monitoring(now=now.isoformat())
    finally:
        slow.close()
        fast.close()

    assert clicks_of(committed, day) == 2
    assert committed.session.scalars(select(StaleDay.day)).all() == []


def test_scheduled_refresh_run_by_a_worker_rolls_up_and_shows_its_run(app, committed, link):
    now = datetime.now(UTC)
    committed.session.execute(Click.__table__.insert(), [click_row(*link, now) for _ in range(3)])
    committed.session.commit()
    schedule = next(s for s in job_catalog(app).schedules if s.job is refresh_monitoring)

    get_queue("periodic", app).enqueue(refresh_monitoring, job_id=schedule.schedule_id, result_ttl=180)
    make_worker(app, ("periodic",), simple=True).work(burst=True)

    assert clicks_of(committed, now.date()) == 3
    schedules = machinery.read_health(now=datetime.now(UTC)).schedules
    run = next(s for s in schedules if s.job_name == "refresh_monitoring").last_run
    assert run.outcome == "succeeded"
    assert run.detail.startswith("refresh_monitoring: rolled up 1 day(s)")


def test_cli_refresh_rebuild_recomputes_the_whole_window(app, committed, link):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("switching the triggers off is PostgreSQL's")
    now = datetime.now(UTC)
    committed.session.execute(Click.__table__.insert(), [click_row(*link, now - timedelta(days=60))])
    committed.session.execute(
        sa.text("ALTER TABLE clicks DISABLE TRIGGER USER")
    )  # a click the triggers missed
    committed.session.execute(Click.__table__.insert(), [click_row(*link, now - timedelta(days=61))])
    committed.session.execute(sa.text("ALTER TABLE clicks ENABLE TRIGGER USER"))
    committed.session.commit()

    result = app.test_cli_runner().invoke(args=["monitoring", "refresh", "--rebuild"])

    assert result.exit_code == 0, result.output
    assert "rolled up 90 day(s)" in result.output
    assert clicks_of(committed, (now - timedelta(days=61)).date()) == 1


def test_refresh_queued_while_on_does_nothing_once_the_flag_is_off(make_app, committed, link):
    off = make_app(FEATURE_MONITORING=False)
    committed.session.execute(Click.__table__.insert(), [click_row(*link, datetime.now(UTC))])
    committed.session.commit()

    with off.app_context():
        assert refresh_monitoring() is None

    assert committed.session.scalars(select(DailyTotal)).all() == []


def test_clicks_made_while_the_flag_is_off_are_counted_once_it_is_back_on(app, make_app, committed, link):
    """The triggers keep marking days while the plugin is off (flags gate behaviour, not schema), so the
    first refresh after it comes back recomputes exactly those days, without a rebuild."""
    now = datetime.now(UTC)
    off = make_app(FEATURE_MONITORING=False)
    with off.app_context():
        committed.session.execute(Click.__table__.insert(), [click_row(*link, now - timedelta(days=3))])
        committed.session.commit()
        assert refresh_monitoring() is None

    assert committed.session.scalars(select(StaleDay.day)).all() == [(now - timedelta(days=3)).date()]
    refresh_monitoring(now=now.isoformat())

    assert clicks_of(committed, (now - timedelta(days=3)).date()) == 1
