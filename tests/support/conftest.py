"""Support plugin fixtures: an English-speaking partner, a funded one, and tickets opened through the
real form (CSRF and all), by a partner or by a visitor."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from contentflow.models import Partner
from contentflow.models.base import utcnow
from contentflow.services import ledger
from plugins.support.models import SupportMessage, SupportTicket
from tests.conftest import csrf_token_of


@pytest.fixture
def partner(make_partner) -> Partner:
    """Pat, who chose English: these tests read the pages' English wording (French is the default)."""
    return make_partner("pat@example.com", display_name="Pat", locale="en")


def credit(db, partner: Partner, cents: int, at: datetime) -> None:
    ledger.record_entry(partner.id, "conversion_share", cents, f"test:{uuid.uuid4().hex}", created_at=at)
    db.session.commit()


@pytest.fixture
def funded(db, partner) -> Partner:
    """Pat with 100.00 € credited long ago (available) and 10.00 € an hour ago (3.00 € of it reserved)."""
    credit(db, partner, 10_000, utcnow() - timedelta(days=40))
    credit(db, partner, 1_000, utcnow() - timedelta(hours=1))
    return partner


def post_ticket(client: FlaskClient, headers: dict | None = None, **fields: str):
    """Submit the new-ticket form as a browser would (its CSRF token read from the form)."""
    token = csrf_token_of(client, "/support/new")
    return client.post("/support/new", data={"csrf_token": token, **fields}, headers=headers or {})


@pytest.fixture
def open_ticket(db) -> Callable[..., SupportTicket]:
    """Open a ticket through ``client``'s form; returns it (the POST must succeed)."""

    def build(client: FlaskClient, subject: str = "Question", body: str = "Hello", **fields: str):
        response = post_ticket(client, subject=subject, body=body, **fields)
        assert response.status_code == 303, response.get_data(as_text=True)
        ticket_id = response.headers["Location"].rsplit("id=", 1)[1]
        return db.session.get(SupportTicket, ticket_id)

    return build


def messages(db, ticket: SupportTicket) -> list[SupportMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(SupportMessage).where(SupportMessage.ticket_id == ticket.id).order_by(SupportMessage.id)
        )
    )
