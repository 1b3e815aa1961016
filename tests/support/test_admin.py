"""The admins' support inbox: tickets by status, reply (the owner is e-mailed through the core outbox),
ask the owner, close; behind the admin login, audit-logged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contentflow.models import AuditLog, OutboxMessage
from plugins.support.models import SupportTicket
from tests.conftest import csrf_token_of, sign_in
from tests.support.conftest import messages


@pytest.fixture
def ticket(partner_client, open_ticket) -> SupportTicket:
    return open_ticket(partner_client, subject="Idea", body="I have an idea for a video")


@pytest.fixture
def staff(app, admin):
    client = app.test_client()
    sign_in(client, admin)
    return client


def act(client, ticket, action: str, headers: dict | None = None, **fields):
    token = csrf_token_of(client, f"/admin/support/{ticket.id}")
    return client.post(
        f"/admin/support/{ticket.id}/{action}", data={"csrf_token": token, **fields}, headers=headers or {}
    )


@pytest.mark.parametrize(("who", "status"), [("anonymous", 302), ("partner", 403), ("admin", 200)])
def test_inbox_is_for_admins_only(app, db, partner, admin, who, status):
    client = app.test_client()
    if who != "anonymous":
        sign_in(client, partner if who == "partner" else admin)
    assert client.get("/admin/support/").status_code == status


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_inbox_filters_by_status(staff, ticket, open_ticket, client, is_htmx):
    answered = open_ticket(client, subject="Login", body="I cannot sign in", email="v@example.com")
    headers = {"HX-Request": "true"} if is_htmx else {}
    page = staff.get("/admin/support/?status=open", headers=headers).get_data(as_text=True)
    assert 'id="support-inbox"' in page
    assert f"/admin/support/{ticket.id}" in page and f"/admin/support/{answered.id}" not in page
    assert ("<html" in page) is not is_htmx


def test_inbox_without_a_status_shows_every_ticket_not_closed(staff, db, ticket):
    db.session.execute(db.update(SupportTicket).values(status="closed"))
    db.session.commit()
    assert f"/admin/support/{ticket.id}" not in staff.get("/admin/support/").get_data(as_text=True)


def test_admin_reply_answers_and_emails_the_owner(staff, db, ticket, admin):
    response = act(staff, ticket, "reply", body="Great idea, thanks!")
    assert (response.status_code, response.headers["Location"]) == (303, f"/admin/support/{ticket.id}")
    db.session.refresh(ticket)
    assert ticket.status == "answered"
    assert [m.author for m in messages(db, ticket)] == ["partner", "bot", "admin"]
    [email] = db.session.scalars(select(OutboxMessage)).all()
    assert email.to_email == "pat@example.com"
    assert "Great idea, thanks!" in email.text_body
    assert f"https://cf.example.org/support/tickets/{ticket.id}?key=" in email.text_body
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "support.reply")).one()
    assert (entry.admin_user_id, entry.target_id) == (admin.id, ticket.id)


def test_admin_question_waits_for_the_owner(staff, db, ticket):
    act(staff, ticket, "reply", body="Which video?", ask_owner="y")
    db.session.refresh(ticket)
    assert ticket.status == "awaiting_user"


def test_admin_htmx_reply_answers_the_thread_partial(staff, db, ticket):
    response = act(staff, ticket, "reply", headers={"HX-Request": "true"}, body="Noted")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<section id="support-admin-thread"')
    assert "Noted" in page


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_empty_admin_reply_is_refused_with_400_and_sends_nothing(staff, db, ticket, is_htmx):
    response = act(staff, ticket, "reply", headers={"HX-Request": "true"} if is_htmx else {}, body="")
    assert response.status_code == 400
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_admin_closes_a_ticket_once(staff, db, ticket, admin):
    assert act(staff, ticket, "close").status_code == 303
    db.session.refresh(ticket)
    assert (ticket.status, ticket.closed_at is not None) == ("closed", True)
    assert act(staff, ticket, "close").status_code == 409
    assert db.session.scalars(select(AuditLog.action).where(AuditLog.action == "support.close")).all() == [
        "support.close"
    ]


def test_reply_to_a_closed_ticket_is_a_conflict_and_sends_nothing(staff, db, ticket):
    act(staff, ticket, "close")
    assert act(staff, ticket, "reply", body="Late").status_code == 409
    assert db.session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_admin_ticket_page_or_partial_shows_the_thread(staff, ticket, is_htmx):
    response = staff.get(f"/admin/support/{ticket.id}", headers={"HX-Request": "true"} if is_htmx else {})
    page = response.get_data(as_text=True)
    assert 'id="support-admin-thread"' in page and "I have an idea for a video" in page
    assert ("<html" in page) is not is_htmx


def test_partner_cannot_reply_as_admin(partner_client, db, ticket):
    token = csrf_token_of(partner_client, "/support/new")
    response = partner_client.post(
        f"/admin/support/{ticket.id}/reply", data={"body": "x", "csrf_token": token}
    )
    assert response.status_code == 403
    assert len(messages(db, ticket)) == 2


def test_support_inbox_is_in_the_admin_menu(staff):
    assert 'href="/admin/support/"' in staff.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("action", "fields", "after"),
    [
        ("reply", {"body": "Noted"}, "answered"),
        ("reply", {"body": "Which?", "ask_owner": "y"}, "awaiting_user"),
        ("close", {}, "closed"),
    ],
    ids=["answer", "question", "close"],
)
def test_admin_change_is_audited_with_the_partner_and_the_status_before_and_after(
    staff, db, ticket, partner, action, fields, after
):
    act(staff, ticket, action, **fields)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == f"support.{action}")).one()
    assert entry.details["partner_id"] == partner.id
    assert (entry.details["before"], entry.details["after"]) == ({"status": "open"}, {"status": after})


def test_support_flag_off_leaves_no_link_on_the_landing(make_app):
    client = make_app(FEATURE_SUPPORTBOT=False).test_client()
    page = client.get("/partners").get_data(as_text=True)
    assert "/support/new" not in page
