"""Risk plugin fixtures: clicks and sales written straight to the database at given moments (the rules
count what is stored), an English-speaking partner, an admin's client; the publish tests' fake Reddit
and connected accounts, for the smoke test of a held partner's publishing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from contentflow.models import Asset, Click, Conversion, Partner
from contentflow.models.base import utcnow
from plugins.risk.jobs import sweep_velocity
from tests.conftest import sign_in
from tests.publish.conftest import (  # noqa: F401 - the publish tests' fixtures, for the smoke test
    app_on_fake,
    fake_reddit,
    make_account,
    make_assignment,
    publish_app,
    ready_asset,
)


@pytest.fixture
def partner(make_partner) -> Partner:
    """Pat, who chose English: these tests read the pages' English wording (French is the default)."""
    return make_partner("pat@example.com", display_name="Pat", locale="en")


@pytest.fixture
def asset(make_asset, make_offer) -> Asset:
    return make_asset(offer=make_offer())


@pytest.fixture
def add_clicks(db, asset) -> Callable[..., list[Click]]:
    """``add_clicks(partner, count, at, ip_hash=..., billable=..., bot=...)``: stored clicks, committed."""

    def build(
        partner: Partner,
        count: int,
        at: datetime,
        *,
        ip_hash: str | None = None,
        billable: bool = True,
        bot: bool = False,
        spread: timedelta = timedelta(0),
    ) -> list[Click]:
        made = [
            Click(
                partner_id=partner.id,
                asset_id=asset.id,
                offer_id=asset.offer_id,
                cpc_cents=12 if billable and not bot else None,
                created_at=at - spread * n / max(count, 1),
                ip_hash=ip_hash or uuid.uuid4().hex,
                visitor_hash=uuid.uuid4().hex,
                is_bot=bot,
                is_billable=billable and not bot,
                not_billable_reason=None if billable and not bot else ("bot" if bot else "repeat"),
            )
            for n in range(count)
        ]
        db.session.add_all(made)
        db.session.commit()
        return made

    return build


@pytest.fixture
def add_sale(db, make_network) -> Callable[..., Conversion]:
    """``add_sale(click, after)``: a sale reported ``after`` its click, committed."""
    network = make_network("acme-risk")

    def build(click: Click, after: timedelta, status: str = "pending") -> Conversion:
        sale = Conversion(
            network_id=network.id,
            txn_id=uuid.uuid4().hex,
            click_id=click.id,
            partner_id=click.partner_id,
            asset_id=click.asset_id,
            offer_id=click.offer_id,
            status=status,
            amount_minor=1000,
            amount_eur_cents=1000,
            created_at=click.created_at + after,
        )
        db.session.add(sale)
        db.session.commit()
        return sale

    return build


@pytest.fixture
def staff(app, db, admin):
    """An admin's client."""
    client = app.test_client()
    sign_in(client, admin)
    return client


@pytest.fixture
def held_partner(db, partner, add_clicks):
    """Pat, held by the velocity rule for 52 clicks."""
    add_clicks(partner, 52, utcnow())
    sweep_velocity()
    return partner
