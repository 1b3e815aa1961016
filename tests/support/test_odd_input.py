"""Odd input never reaches the database as a 500: ticket ids no ticket can have (too long, a space) are
404, a NUL byte anywhere is a 400 at the edge (``contentflow.views.edge``), other control characters in
a message are a 400 that writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contentflow.models import OutboxMessage
from plugins.support.models import SupportTicket
from tests.conftest import csrf_token_of, sign_in
from tests.support.conftest import messages, post_ticket

#: Ids no ticket can have, and the answer: a NUL byte is refused at the edge, the others are not found.
ODD_IDS = [("a%00b", 400), ("x" * 40, 404), ("ABC%20DEF", 404)]


@pytest.fixture
def staff(app, admin):
    client = app.test_client()
    sign_in(client, admin)
    return client


@pytest.mark.parametrize(("odd", "status"), ODD_IDS)
@pytest.mark.parametrize("path", ["/support/thanks?id={id}", "/support/tickets/{id}"])
def test_owner_pages_of_an_impossible_ticket_id_are_404(partner_client, path, odd, status):
    assert partner_client.get(path.format(id=odd)).status_code == status


@pytest.mark.parametrize(("odd", "status"), ODD_IDS)
def test_owner_reply_to_an_impossible_ticket_id_is_404(partner_client, odd, status):
    token = csrf_token_of(partner_client, "/support/new")
    response = partner_client.post(f"/support/tickets/{odd}/reply", data={"body": "x", "csrf_token": token})
    assert response.status_code == status


@pytest.mark.parametrize(("odd", "status"), ODD_IDS)
@pytest.mark.parametrize("action", ["", "/reply", "/close"])
def test_admin_pages_of_an_impossible_ticket_id_are_404(staff, db, odd, action, status):
    if action:
        token = csrf_token_of(staff, "/admin/support/")
        response = staff.post(f"/admin/support/{odd}{action}", data={"body": "x", "csrf_token": token})
    else:
        response = staff.get(f"/admin/support/{odd}")
    assert response.status_code == status
    assert db.session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "Pay\x00out", "body": "When is my payout?"},
        {"subject": "Payout", "body": "When is my\x00 payout?"},
        {"subject": "Payout", "body": "When is my\x1b payout?"},
        {"subject": "Payout", "body": "When is my payout?", "email": "v\x00@example.com"},
    ],
    ids=["nul-subject", "nul-body", "escape-body", "nul-email"],
)
def test_control_characters_in_a_new_ticket_are_refused_with_400(client, db, fields):
    response = post_ticket(client, **{"email": "v@example.com", **fields})
    assert response.status_code == 400
    has_nul = any("\x00" in value for value in fields.values())  # refused at the edge, not by the form
    assert ("NUL byte" if has_nul else 'id="support-form"') in response.get_data(as_text=True)
    assert db.session.scalars(select(SupportTicket)).all() == []


def test_line_breaks_and_tabs_are_kept(client, db, open_ticket):
    ticket = open_ticket(client, subject="Payout", body="Line one\r\n\tLine two", email="v@example.com")
    assert messages(db, ticket)[0].body == "Line one\r\n\tLine two"


def test_nul_byte_in_an_owners_reply_is_refused_with_400(partner_client, db, open_ticket):
    ticket = open_ticket(partner_client, subject="Payout", body="payout?")
    token = csrf_token_of(partner_client, f"/support/tickets/{ticket.id}")
    response = partner_client.post(
        f"/support/tickets/{ticket.id}/reply", data={"body": "a\x00b", "csrf_token": token}
    )
    assert response.status_code == 400
    assert len(messages(db, ticket)) == 2


def test_nul_byte_in_an_admin_reply_is_refused_with_400_and_sends_nothing(
    staff, partner_client, db, open_ticket
):
    ticket = open_ticket(partner_client, subject="Idea", body="I have an idea")
    token = csrf_token_of(staff, f"/admin/support/{ticket.id}")
    response = staff.post(f"/admin/support/{ticket.id}/reply", data={"body": "a\x00b", "csrf_token": token})
    assert response.status_code == 400
    assert db.session.scalars(select(OutboxMessage)).all() == []
    db.session.refresh(ticket)
    assert ticket.status == "open"
