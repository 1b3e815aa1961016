"""Sweeps racing each other on committed clicks place one hold and one finding per partner and rule:
each thread has its own app context, session and connection; the partner's row lock serialises them."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from contentflow.models import Asset, Click, Hold, Partner
from plugins.risk.jobs import sweep_velocity
from plugins.risk.models import RiskFinding

pytestmark = pytest.mark.integration

THREADS = 6
NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)


@pytest.fixture
def burst(committed):
    """A partner with 60 clicks in the last minute, committed."""
    partner = Partner(email="fast@example.com")
    asset = Asset(title="A video", status="ready")
    committed.session.add_all([partner, asset])
    committed.session.flush()
    committed.session.add_all(
        Click(
            partner_id=partner.id,
            asset_id=asset.id,
            created_at=NOW,
            ip_hash=uuid.uuid4().hex,
            visitor_hash=uuid.uuid4().hex,
        )
        for _ in range(60)
    )
    committed.session.commit()
    return partner


def test_racing_velocity_sweeps_place_one_hold(app, committed, burst):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers anyway")
    barrier = threading.Barrier(THREADS)

    def sweep() -> str:
        with app.app_context():
            barrier.wait(timeout=30)
            return sweep_velocity(now=NOW.isoformat())

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [future.result() for future in [pool.submit(sweep) for _ in range(THREADS)]]
    assert sorted(outcomes).count("sweep_velocity: 1 partner(s) caught, 1 newly held") == 1
    assert committed.session.scalar(select(func.count()).select_from(Hold)) == 1
    assert committed.session.scalar(select(func.count()).select_from(RiskFinding)) == 1
