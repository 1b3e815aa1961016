"""The first run's SQLite: the migration's row triggers mark days, and the rollup SQL runs there too."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import select

from contentflow.extensions import db as _db
from contentflow.models import Asset, Click, Conversion, Network, Partner
from plugins.monitoring.jobs import refresh_monitoring
from plugins.monitoring.models import DailyTotal, RangeFigures, StaleDay
from plugins.monitoring.services import rollups, summary
from tests.monitoring.conftest import NOW, TODAY, days_ago


@pytest.fixture
def rollups_up_to_date() -> None:
    """Not the PostgreSQL session of the other tests: these build their own database."""


@pytest.fixture
def sqlite_app(make_app, tmp_path):
    application = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'first-run.db'}")
    with application.app_context():
        upgrade(revision="heads")
        _db.session.execute(StaleDay.__table__.delete())  # the migration's marks (around the real date)
        _db.session.commit()
        yield application
        _db.session.remove()
        _db.engine.dispose()


def seed() -> tuple[Partner, Asset]:
    partner = Partner(email="pat@example.com", display_name="Pat")
    asset = Asset(title="A video", status="ready")
    network = Network(name="acme", secret="s3cret-s3cret-s3cret")
    _db.session.add_all([partner, asset, network])
    _db.session.flush()
    for n in range(12):
        _db.session.add(
            Click(
                id=uuid.uuid4().hex[:14],
                partner_id=partner.id,
                asset_id=asset.id,
                cpc_cents=12,
                created_at=days_ago(n % 3),
                ip_hash="0" * 32,
                visitor_hash=uuid.uuid4().hex,
            )
        )
    _db.session.add(
        Conversion(
            network_id=network.id,
            txn_id="T-1",
            partner_id=partner.id,
            asset_id=asset.id,
            status="confirmed",
            amount_minor=600,
            amount_eur_cents=600,
            created_at=days_ago(1),
            updated_at=days_ago(1),
        )
    )
    _db.session.commit()
    return partner, asset


def test_rows_inserted_on_sqlite_mark_their_days(sqlite_app):
    seed()

    days = sorted(_db.session.scalars(select(StaleDay.day)))

    assert days == [TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY]


def test_refresh_rolls_up_and_ranks_on_sqlite(sqlite_app):
    partner, _ = seed()

    refresh_monitoring(now=NOW.isoformat())

    totals = {
        row.day: (row.click_count, row.revenue_cents) for row in _db.session.scalars(select(DailyTotal))
    }
    assert totals == {TODAY: (4, 0), TODAY - timedelta(days=1): (4, 600), TODAY - timedelta(days=2): (4, 0)}
    ranked = _db.session.scalar(
        select(RangeFigures).where(RangeFigures.days == 7, RangeFigures.kind == "partner")
    )
    assert (ranked.key_id, ranked.epc_rank, ranked.billable_click_count) == (partner.id, 1, 12)
    assert summary.summarize(days=7, now=NOW).traffic.epc_cents == 50


def test_capture_lost_with_a_rebuilt_table_is_noticed_and_put_back_on_sqlite(sqlite_app):
    _db.session.execute(sa.text("DROP TRIGGER monitoring_conversions_updated"))  # as a table rebuild would
    assert not rollups.is_capture_installed()

    rollups.reinstall_capture()

    assert rollups.is_capture_installed()
