"""Monitoring fixtures: a fixed ``NOW``, traffic seeded as rows (clicks and conversions on chosen days),
the refresh job run in-process, and the figures the dashboard should show, computed here from the rows
themselves (independently of the rollups)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import delete

from contentflow.models import Asset, Click, Conversion, Network, Partner
from plugins.monitoring.jobs import refresh_monitoring
from plugins.monitoring.models import StaleDay
from tests.conftest import sign_in

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
TODAY = NOW.date()


def days_ago(n: int, hour: int = 10) -> datetime:
    """``hour`` o'clock UTC, ``n`` days before ``NOW``'s day."""
    return datetime.combine(TODAY - timedelta(days=n), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=hour
    )


@dataclass
class Traffic:
    """The rows a test seeded, to compute the expected figures from."""

    clicks: list[Click] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)

    def expected(
        self,
        first_day: date,
        last_day: date = TODAY,
        *,
        partner_id: str | None = None,
        asset_id: str | None = None,
    ) -> dict:
        """The figures from ``first_day`` to ``last_day``, for the network or one partner or asset."""

        def keep(row) -> bool:
            day = row.created_at.astimezone(UTC).date()
            return (
                first_day <= day <= last_day
                and (partner_id is None or row.partner_id == partner_id)
                and (asset_id is None or row.asset_id == asset_id)
            )

        clicks = [c for c in self.clicks if keep(c)]
        conversions = [c for c in self.conversions if keep(c)]
        confirmed = [c for c in conversions if c.status == "confirmed"]
        return {
            "click_count": len(clicks),
            "billable_click_count": sum(c.is_billable for c in clicks),
            "conversion_count": len(conversions),
            "confirmed_count": len(confirmed),
            "revenue_cents": sum(c.amount_eur_cents or 0 for c in confirmed),
        }


def epc(revenue_cents: int, billable: int) -> int:
    return int((Decimal(revenue_cents) / billable).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture(autouse=True)
def rollups_up_to_date(db) -> None:
    """Start from rollups that are up to date: without the marks migration 0009 left for the days around
    the real date the schema was built (the tests live on ``NOW``'s days)."""
    db.session.execute(delete(StaleDay))


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture
def add_clicks(db, traffic) -> Callable[..., list[Click]]:
    """``add_clicks(partner, asset, at, count=1, billable=True)``: stored clicks, committed."""

    def build(partner: Partner, asset: Asset, at: datetime, count: int = 1, *, billable: bool = True):
        made = [
            Click(
                id=uuid.uuid4().hex[:14],
                partner_id=partner.id,
                asset_id=asset.id,
                offer_id=asset.offer_id,
                cpc_cents=12 if billable else None,
                created_at=at,
                ip_hash="0" * 32,
                visitor_hash=uuid.uuid4().hex,
                is_billable=billable,
                not_billable_reason=None if billable else "repeat",
            )
            for _ in range(count)
        ]
        db.session.add_all(made)
        db.session.commit()
        traffic.clicks.extend(made)
        return made

    return build


@pytest.fixture
def network(make_network, asset) -> Network:
    """The network of ``asset``'s offer."""
    return asset.offer.network


@pytest.fixture
def add_conversion(db, traffic, network) -> Callable[..., Conversion]:
    """``add_conversion(partner, asset, at, amount_eur_cents, status="confirmed")``, committed."""

    def build(
        partner: Partner | None, asset: Asset | None, at: datetime, cents: int, status: str = "confirmed"
    ):
        conversion = Conversion(
            network_id=network.id,
            txn_id=uuid.uuid4().hex,
            partner_id=partner.id if partner else None,
            asset_id=asset.id if asset else None,
            status=status,
            amount_minor=cents,
            amount_eur_cents=cents,
            created_at=at,
            updated_at=at,
        )
        db.session.add(conversion)
        db.session.commit()
        traffic.conversions.append(conversion)
        return conversion

    return build


@pytest.fixture
def refresh(db) -> Callable[..., str]:
    """Run the refresh job in this process, as of ``now`` (default ``NOW``)."""
    return lambda now=NOW: refresh_monitoring(now=now.isoformat())


@pytest.fixture
def asset(make_asset, make_offer):
    return make_asset("Three AI tools", offer=make_offer())


@pytest.fixture
def other_asset(make_asset, asset):
    return make_asset("A second video", offer=asset.offer)


@pytest.fixture
def admin_client(client, admin, db):
    """An admin signed in; the pages read English (``IsolatedClient`` asks for it)."""
    sign_in(client, admin)
    return client
