"""Opening a ticket: signed in or with an e-mail, answered at once by the bot (with the partner's real
balances for payout questions), seen by its owner only; the owner's replies; rate limits."""

from __future__ import annotations

import pytest

from contentflow.services import holds
from plugins.support.models import SupportTicket
from tests.conftest import csrf_token_of, sign_in
from tests.support.conftest import messages, post_ticket


def test_partner_ticket_redirects_to_its_thanks_page(partner_client, db, partner):
    response = post_ticket(partner_client, subject="Payout", body="When is my payout?")
    assert response.status_code == 303
    ticket = db.session.scalars(db.select(SupportTicket)).one()
    assert response.headers["Location"] == f"/support/thanks?id={ticket.id}"
    assert (ticket.partner_id, ticket.email) == (partner.id, "pat@example.com")


def test_payout_question_gets_a_bot_reply_with_the_partners_real_balance(
    partner_client, db, funded, open_ticket
):
    ticket = open_ticket(partner_client, subject="Payout", body="When is my payout?")
    page = partner_client.get(f"/support/thanks?id={ticket.id}").get_data(as_text=True)
    [question, reply] = messages(db, ticket)
    assert (question.author, reply.author, ticket.status) == ("partner", "bot", "bot_answered")
    assert "Your balance now: €107.00 available, €3.00 reserved." in reply.body
    assert "Next release of the reserve: €3.00 on" in reply.body
    assert "at least €10.00, by PayPal, Bank transfer (IBAN)" in reply.body
    assert "A reserve of 30% of what you earned in the last 30 days" in reply.body
    assert "€107.00 available" in page


def test_french_ticket_is_answered_in_french(partner_client, db, funded, open_ticket):
    ticket = open_ticket(partner_client, subject="Paiement", body="Bonjour, où en est mon paiement ?")
    reply = messages(db, ticket)[1]
    assert ticket.locale == "fr"
    assert "107,00\u00a0€" in reply.body


def test_payout_reply_says_when_the_partner_is_on_hold(partner_client, db, funded, open_ticket):
    holds.place_hold(funded.id, "manual")
    db.session.commit()
    ticket = open_ticket(partner_client, subject="Payout", body="Where is my money?")
    assert "Your account is on hold" in messages(db, ticket)[1].body


def test_visitor_payout_question_shows_no_balance_even_with_a_partners_email(client, db, funded, open_ticket):
    ticket = open_ticket(client, subject="Payout", body="When is my payout?", email="PAT@example.com")
    reply = messages(db, ticket)[1].body
    assert (ticket.partner_id, ticket.email) == (None, "pat@example.com")
    assert "107" not in reply
    assert "Sign in to see your own balances: https://cf.example.org/partners" in reply


def test_sign_in_question_gets_the_magic_link_path(client, db, open_ticket):
    ticket = open_ticket(client, subject="Login", body="I cannot sign in", email="v@example.com")
    assert "enter your e-mail at https://cf.example.org/partners" in messages(db, ticket)[1].body
    assert ticket.status == "bot_answered"


def test_dmca_question_gets_the_takedown_procedure(client, db, open_ticket):
    ticket = open_ticket(client, subject="DMCA", body="This is my video", email="v@example.com")
    assert "quarantines the video" in messages(db, ticket)[1].body
    assert ticket.topic == "dmca"


def test_other_question_waits_for_a_person(client, db, open_ticket):
    ticket = open_ticket(client, subject="Idea", body="I have an idea for a video", email="v@example.com")
    assert (ticket.topic, ticket.status) == ("other", "open")
    assert "A person will answer" in messages(db, ticket)[1].body


def test_visitor_without_an_email_gets_the_form_back_with_400(client, db):
    response = post_ticket(client, subject="Hi", body="Hello")
    assert response.status_code == 400
    assert "Give your e-mail" in response.get_data(as_text=True)
    assert db.session.scalars(db.select(SupportTicket)).all() == []


def test_invalid_email_is_refused_with_400(client, db):
    response = post_ticket(client, subject="Hi", body="Hello", email="not an address")
    assert response.status_code == 400
    assert db.session.scalars(db.select(SupportTicket)).all() == []


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_missing_subject_rerenders_the_form_with_400(partner_client, is_htmx):
    headers = {"HX-Request": "true"} if is_htmx else {}
    response = post_ticket(partner_client, headers=headers, subject="", body="Hello")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="support-form"' in page
    assert ("<html" in page) is not is_htmx


def test_htmx_ticket_answers_an_hx_redirect_to_the_thanks_page(partner_client, db):
    response = post_ticket(partner_client, headers={"HX-Request": "true"}, subject="Payout", body="payout?")
    ticket = db.session.scalars(db.select(SupportTicket)).one()
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/support/thanks?id={ticket.id}"


def test_new_ticket_without_csrf_token_writes_nothing(partner_client, db):
    response = partner_client.post("/support/new", data={"subject": "Hi", "body": "Hello"})
    assert response.status_code == 400
    assert db.session.scalars(db.select(SupportTicket)).all() == []


def test_visitor_sees_the_thanks_page_of_the_ticket_they_opened(client, open_ticket):
    ticket = open_ticket(client, subject="Login", body="I cannot sign in", email="v@example.com")
    response = client.get(f"/support/thanks?id={ticket.id}")
    assert response.status_code == 200
    assert f"Ticket #{ticket.id} is created" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/support/thanks?id={id}", "/support/tickets/{id}"])
@pytest.mark.parametrize("who", ["anonymous", "other partner", "admin"])
def test_ticket_is_404_for_anyone_but_its_owner(
    app, db, partner_client, open_ticket, make_partner, admin, path, who
):
    ticket = open_ticket(partner_client, subject="Payout", body="payout?")
    stranger = app.test_client()
    if who != "anonymous":
        sign_in(stranger, make_partner() if who == "other partner" else admin)
    assert stranger.get(path.format(id=ticket.id)).status_code == 404


def test_visitors_ticket_is_404_for_another_visitor(app, client, open_ticket):
    ticket = open_ticket(client, subject="Login", body="sign in", email="v@example.com")
    assert app.test_client().get(f"/support/tickets/{ticket.id}").status_code == 404


def test_unknown_ticket_is_404(partner_client):
    assert partner_client.get("/support/thanks?id=nosuchticket").status_code == 404


def test_answer_key_opens_the_thread_and_leaves_the_address_bar(app, client, open_ticket):
    from plugins.support.services import access

    ticket = open_ticket(client, subject="Login", body="sign in", email="v@example.com")
    reader = app.test_client()
    response = reader.get(f"/support/tickets/{ticket.id}?key={access.ticket_key(ticket.id)}")
    assert (response.status_code, response.headers["Location"]) == (303, f"/support/tickets/{ticket.id}")
    assert reader.get(f"/support/tickets/{ticket.id}").status_code == 200


def test_forged_key_opens_nothing(app, client, open_ticket):
    ticket = open_ticket(client, subject="Login", body="sign in", email="v@example.com")
    reader = app.test_client()
    reader.get(f"/support/tickets/{ticket.id}?key=forged.key")
    assert reader.get(f"/support/tickets/{ticket.id}").status_code == 404


def test_key_of_another_ticket_opens_nothing(app, client, open_ticket):
    from plugins.support.services import access

    mine = open_ticket(client, subject="Login", body="sign in", email="v@example.com")
    theirs = open_ticket(client, subject="Other", body="sign in", email="w@example.com")
    reader = app.test_client()
    reader.get(f"/support/tickets/{theirs.id}?key={access.ticket_key(mine.id)}")
    assert reader.get(f"/support/tickets/{theirs.id}").status_code == 404


# --- the thread and replies -----------------------------------------------------------------------


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_thread_page_or_partial_shows_the_messages_escaped(partner_client, open_ticket, is_htmx):
    ticket = open_ticket(partner_client, subject="Payout", body="<script>x()</script> payout?")
    headers = {"HX-Request": "true"} if is_htmx else {}
    response = partner_client.get(f"/support/tickets/{ticket.id}", headers=headers)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="support-thread"' in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page and "<script>x()" not in page
    assert ("<html" in page) is not is_htmx
    assert "HX-Request" in response.headers["Vary"]


def reply(client, ticket, body: str = "Thanks, and one more thing", headers: dict | None = None):
    token = csrf_token_of(client, f"/support/tickets/{ticket.id}")
    return client.post(
        f"/support/tickets/{ticket.id}/reply", data={"body": body, "csrf_token": token}, headers=headers or {}
    )


def test_owners_reply_sends_the_ticket_back_to_the_team(partner_client, db, open_ticket):
    ticket = open_ticket(partner_client, subject="Payout", body="payout?")
    response = reply(partner_client, ticket)
    assert (response.status_code, response.headers["Location"]) == (303, f"/support/tickets/{ticket.id}")
    db.session.refresh(ticket)
    assert ticket.status == "open"
    assert [m.author for m in messages(db, ticket)] == ["partner", "bot", "partner"]


def test_owners_htmx_reply_answers_the_thread_partial(partner_client, db, open_ticket):
    ticket = open_ticket(partner_client, subject="Payout", body="payout?")
    response = reply(partner_client, ticket, headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<section id="support-thread"')
    assert "Thanks, and one more thing" in page


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_empty_reply_rerenders_the_thread_with_400(partner_client, db, open_ticket, is_htmx):
    ticket = open_ticket(partner_client, subject="Payout", body="payout?")
    response = reply(partner_client, ticket, body="", headers={"HX-Request": "true"} if is_htmx else {})
    assert response.status_code == 400
    assert "Write your message." in response.get_data(as_text=True)
    assert len(messages(db, ticket)) == 2


def test_reply_to_a_closed_ticket_is_a_conflict(partner_client, db, open_ticket):
    ticket = open_ticket(partner_client, subject="Payout", body="payout?")
    db.session.execute(db.update(SupportTicket).values(status="closed"))
    db.session.commit()
    response = reply(partner_client, ticket)
    assert response.status_code == 409
    assert len(messages(db, ticket)) == 2


def test_reply_to_someone_elses_ticket_is_404(app, partner_client, db, open_ticket, make_partner):
    ticket = open_ticket(partner_client, subject="Payout", body="payout?")
    stranger = app.test_client()
    sign_in(stranger, make_partner())
    token = csrf_token_of(stranger, "/support/new")
    response = stranger.post(f"/support/tickets/{ticket.id}/reply", data={"body": "x", "csrf_token": token})
    assert response.status_code == 404
    assert len(messages(db, ticket)) == 2


# --- the partner's list -----------------------------------------------------------------------------


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_partner_lists_only_their_own_tickets(app, partner_client, db, open_ticket, make_partner, is_htmx):
    mine = open_ticket(partner_client, subject="Mine", body="payout?")
    other = app.test_client()
    sign_in(other, make_partner())
    open_ticket(other, subject="Theirs", body="payout?")
    response = partner_client.get("/support/tickets", headers={"HX-Request": "true"} if is_htmx else {})
    page = response.get_data(as_text=True)
    assert 'id="support-tickets"' in page
    assert f"/support/tickets/{mine.id}" in page and "Theirs" not in page
    assert ("<html" in page) is not is_htmx


def test_ticket_list_sends_visitors_to_sign_in(client):
    assert client.get("/support/tickets").status_code == 302


def test_support_is_in_the_partner_menu(partner_client):
    assert 'href="/support/tickets"' in partner_client.get("/partner/portal").get_data(as_text=True)


def test_landing_links_visitors_to_the_support_form(client):
    assert 'href="/support/new"' in client.get("/partners").get_data(as_text=True)


# --- rate limits ----------------------------------------------------------------------------------


def test_new_tickets_are_limited_per_email(make_app, db):
    client = make_app(TICKET_LIMIT_PER_EMAIL="2 per hour").test_client()
    for _ in range(2):
        assert post_ticket(client, subject="Hi", body="Hello", email="v@example.com").status_code == 303
    assert post_ticket(client, subject="Hi", body="Hello", email="V@example.com").status_code == 429
    assert post_ticket(client, subject="Hi", body="Hello", email="w@example.com").status_code == 303


def test_new_tickets_are_limited_per_ip(make_app, db):
    client = make_app(TICKET_LIMIT_PER_IP="2 per hour").test_client()
    for n in range(2):
        assert post_ticket(client, subject="Hi", body="Hello", email=f"v{n}@example.com").status_code == 303
    assert post_ticket(client, subject="Hi", body="Hello", email="w@example.com").status_code == 429


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        (
            "CONNEXION",
            "Je n'arrive pas à me CONNECTER, le lien a expiré",
            "Pour te connecter, saisis ton e-mail",
        ),
        ("Vidéo", "Violation de mes DROITS D'AUTEUR sur ma vidéo", "met la vidéo en quarantaine"),
    ],
    ids=["sign-in", "dmca"],
)
def test_french_questions_are_answered_in_french_whatever_the_accents_and_case(
    client, db, open_ticket, subject, body, expected
):
    ticket = open_ticket(client, subject=subject, body=body, email="v@example.com")
    assert (ticket.locale, ticket.status) == ("fr", "bot_answered")
    assert expected in messages(db, ticket)[1].body
