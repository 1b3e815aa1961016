"""Partner sign-in by magic link: request, e-mail job, confirmation, redemption, sign-out, language."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from contentflow.models import MagicLinkToken, Partner
from contentflow.models.base import utcnow
from contentflow.queueing import get_queue
from contentflow.services import magic_links
from tests.conftest import csrf_token_of, message_of, sign_in

LINK = re.compile(r"https://cf\.example\.org/partner/login\?token=([A-Za-z0-9_-]+)")
LANG = re.compile(r'<html lang="([a-z_A-Z-]+)">')
SESSION_COOKIE = "contentflow_session"


@pytest.fixture
def issue(db) -> Callable[[Partner], str]:
    """A committed sign-in token for ``partner``; returns the plaintext token (what the e-mail carries)."""

    def build(partner: Partner) -> str:
        token = magic_links.issue_token(partner)
        db.session.commit()
        return token

    return build


def token_row(db, token: str) -> MagicLinkToken:
    row = db.session.scalar(
        select(MagicLinkToken).where(MagicLinkToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
    )
    assert row is not None
    db.session.refresh(row)
    return row


def request_link(client: FlaskClient, email: str, **headers: str):
    return client.post(
        "/partner/magic", data={"email": email, "csrf_token": csrf_token_of(client)}, headers=headers
    )


def redeem(client: FlaskClient, token: str):
    return client.post("/partner/login", data={"token": token, "csrf_token": csrf_token_of(client)})


def queued_email_jobs(app: Flask) -> list:
    return get_queue("email", app).get_jobs()


def sent_token(app: Flask) -> str:
    jobs = queued_email_jobs(app)
    assert len(jobs) == 1
    match = LINK.search(message_of(jobs[0])["text"])
    assert match, "the e-mail carries no link built from PUBLIC_BASE_URL"
    return match.group(1)


def without_csrf_tokens(response) -> str:
    """The body with CSRF tokens blanked: flask-wtf signs them with a timestamp, so they differ by second."""
    return re.sub(r'("X-CSRFToken": "|name="csrf_token" type="hidden" value=")[^"]+', r"\1", response.text)


def lang_of(response) -> str:
    match = LANG.search(response.get_data(as_text=True))
    assert match, "no <html lang> on the page"
    return match.group(1)


# --- the landing and the request form ------------------------------------------------------------------


def test_landing_shows_email_form_with_csrf_token(client, db):
    response = client.get("/partners")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'action="/partner/magic"' in page
    assert 'name="email"' in page
    assert re.search(r'name="csrf_token" type="hidden" value="[^"]+"', page)


def test_known_and_unknown_email_get_the_same_answer(client, make_partner):
    make_partner("known@example.com")
    known = request_link(client, "known@example.com")
    unknown = request_link(client, "stranger@example.com")
    assert known.status_code == unknown.status_code == 200
    assert "Check your inbox" in known.get_data(as_text=True)
    assert without_csrf_tokens(known).replace("known@example.com", "@") == without_csrf_tokens(
        unknown
    ).replace("stranger@example.com", "@")


def test_unknown_email_creates_partner_with_lowercased_email(client, db):
    response = request_link(client, "  New.Person@Example.COM ")
    assert response.status_code == 200
    emails = db.session.scalars(select(Partner.email)).all()
    assert emails == ["new.person@example.com"]


def test_known_email_creates_no_second_partner(client, make_partner, db):
    make_partner("known@example.com")
    request_link(client, "KNOWN@example.com")
    assert db.session.scalars(select(Partner.email)).all() == ["known@example.com"]


@pytest.mark.parametrize("email", ["not-an-email", "a@b@c.example", ""])
def test_malformed_email_answers_400_with_the_form_and_its_error(client, db, email):
    response = request_link(client, email)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<html" in page
    assert 'id="auth-magic-form"' in page
    assert 'class="field-error"' in page
    assert "HX-Request" in response.headers.get("Vary", "")
    assert db.session.scalars(select(Partner)).all() == []
    assert queued_email_jobs(client.application) == []


def test_malformed_email_over_htmx_answers_400_with_only_the_form_partial(client, db):
    response = request_link(client, "not-an-email", **{"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert page.lstrip().startswith('<form id="auth-magic-form"')
    assert "<html" not in page
    assert "This e-mail address is not valid." in page
    assert "HX-Request" in response.headers["Vary"]


def test_malformed_email_over_boosted_htmx_answers_the_full_page(client, db):
    response = request_link(client, "not-an-email", **{"HX-Request": "true", "HX-Boosted": "true"})
    assert response.status_code == 400
    assert "<html" in response.get_data(as_text=True)


def test_link_request_over_htmx_answers_the_link_sent_partial(client, db):
    response = request_link(client, "pat@example.com", **{"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="auth-magic-form"')
    assert "<html" not in page
    assert "HX-Request" in response.headers["Vary"]


def test_link_request_without_csrf_token_answers_400_and_sends_nothing(client, db):
    response = client.post("/partner/magic", data={"email": "pat@example.com"})
    assert response.status_code == 400
    assert db.session.scalars(select(Partner)).all() == []
    assert queued_email_jobs(client.application) == []


# --- the token and the e-mail job ----------------------------------------------------------------------


def test_token_is_stored_only_as_its_sha256(client, app, db):
    request_link(client, "pat@example.com")
    token = sent_token(app)
    row = db.session.scalars(select(MagicLinkToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    for column in MagicLinkToken.__table__.columns:
        assert token not in str(getattr(row, column.key))


def test_email_job_is_enqueued_only_after_the_commit(client, app, db):
    queued_at_commit: list[int] = []

    def count_queued(session) -> None:
        queued_at_commit.append(get_queue("email", app).count)

    session = db.session()
    event.listen(session, "before_commit", count_queued)
    try:
        request_link(client, "pat@example.com")
    finally:
        event.remove(session, "before_commit", count_queued)
    assert queued_at_commit and set(queued_at_commit) == {0}
    assert get_queue("email", app).count == 1


def test_email_job_description_does_not_carry_the_token(client, app, db):
    request_link(client, "pat@example.com")
    token = sent_token(app)
    job = queued_email_jobs(app)[0]
    assert job.func_name == "contentflow.jobs.accounts.deliver_mail"
    assert job.origin == "email"
    assert token not in job.description
    assert all(token not in str(arg) for arg in job.args)  # the job carries the outbox row's id only
    assert message_of(job)["to"] == "pat@example.com"


def test_email_link_uses_public_base_url_despite_forged_host(client, app, db):
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    page = client.get("/partners", headers=headers).get_data(as_text=True)
    csrf_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/partner/magic", data={"email": "pat@example.com", "csrf_token": csrf_token}, headers=headers
    )
    assert response.status_code == 200
    message = message_of(queued_email_jobs(app)[0])
    assert "evil.example" not in message["text"] + message["html"]
    assert LINK.search(message["text"])
    assert LINK.search(message["html"])


def test_failed_commit_enqueues_no_email(client, app, db, monkeypatch):
    session = db.session()

    def fail_commit() -> None:
        raise RuntimeError("the database went away")

    csrf_token = csrf_token_of(client)
    monkeypatch.setattr(session, "commit", fail_commit)
    response = client.post("/partner/magic", data={"email": "pat@example.com", "csrf_token": csrf_token})
    monkeypatch.undo()
    session.commit()  # a later commit must not send the job of the rolled-back request
    assert response.status_code == 500
    assert queued_email_jobs(app) == []


# --- confirmation and redemption -----------------------------------------------------------------------


def test_confirmation_page_does_not_burn_the_token(client, partner, issue, db):
    token = issue(partner)
    response = client.get(f"/partner/login?token={token}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'action="/partner/login"' in page
    assert f'value="{token}"' in page
    assert token_row(db, token).used_at is None


def test_confirmation_page_sends_no_referrer(client, partner, issue):
    response = client.get(f"/partner/login?token={issue(partner)}")
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_confirmation_page_may_not_be_cached(client, partner, issue):
    response = client.get(f"/partner/login?token={issue(partner)}")
    assert response.headers["Cache-Control"] == "no-store"


def test_full_sign_in_flow_signs_in_and_shows_the_portal(client, app, db):
    request_link(client, "pat@example.com")
    token = sent_token(app)
    client.get(f"/partner/login?token={token}")
    response = redeem(client, token)
    assert response.status_code == 303
    assert response.headers["Location"] == "/partner/portal"
    portal = client.get("/partner/portal")
    assert portal.status_code == 200
    assert "pat@example.com" in portal.get_data(as_text=True)


def test_redeemed_token_is_burnt(client, partner, issue, db):
    token = issue(partner)
    redeem(client, token)
    assert token_row(db, token).used_at is not None


def test_reused_token_answers_410_and_signs_in_no_one(app, partner, issue):
    token = issue(partner)
    assert redeem(app.test_client(), token).status_code == 303
    second = app.test_client()
    response = redeem(second, token)
    assert response.status_code == 410
    assert "already used" in response.get_data(as_text=True)
    assert second.get("/partner/portal").status_code == 302


def test_used_token_confirmation_page_answers_410(app, partner, issue):
    token = issue(partner)
    assert redeem(app.test_client(), token).status_code == 303
    assert app.test_client().get(f"/partner/login?token={token}").status_code == 410


def test_expired_token_answers_410_and_signs_in_no_one(client, partner, issue, db):
    token = issue(partner)
    token_row(db, token).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert client.get(f"/partner/login?token={token}").status_code == 410
    assert redeem(client, token).status_code == 410
    assert client.get("/partner/portal").status_code == 302


@pytest.mark.parametrize("token", ["unknown-token-0123456789", "x" * 300])
def test_unknown_token_answers_400(client, db, token):
    assert client.get(f"/partner/login?token={token}").status_code == 400
    assert redeem(client, token).status_code == 400
    assert client.get("/partner/portal").status_code == 302


def test_missing_token_answers_400(client, db):
    assert client.get("/partner/login").status_code == 400
    assert redeem(client, "").status_code == 400


def test_token_of_partner_who_changed_email_answers_410(client, partner, issue, db):
    token = issue(partner)
    partner.email = "pat.new@example.com"
    db.session.commit()
    assert redeem(client, token).status_code == 410
    assert client.get("/partner/portal").status_code == 302


def test_token_of_suspended_partner_answers_410(client, partner, issue, db):
    token = issue(partner)
    partner.status = "suspended"
    db.session.commit()
    assert redeem(client, token).status_code == 410
    assert client.get("/partner/portal").status_code == 302


def test_session_of_partner_suspended_since_signs_in_no_one(partner_client, partner, db):
    partner.status = "suspended"
    db.session.commit()
    assert partner_client.get("/partner/portal").status_code == 302


def test_link_pages_state_the_configured_lifetime(make_app, db):
    client = make_app(MAGIC_LINK_TTL_MINUTES=30).test_client()
    assert "valid 30 minutes" in client.get("/partners").text
    assert "for 30 minutes" in request_link(client, "pat@example.com").text


def test_login_without_csrf_token_answers_400_and_keeps_the_token(client, partner, issue, db):
    token = issue(partner)
    assert client.post("/partner/login", data={"token": token}).status_code == 400
    assert token_row(db, token).used_at is None


# --- rate limits ---------------------------------------------------------------------------------------


def test_sixth_link_request_for_one_email_answers_429(client, db):
    statuses = [request_link(client, "pat@example.com").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_email_rate_limit_ignores_case_and_spaces(client, db):
    for _ in range(5):
        request_link(client, "pat@example.com")
    assert request_link(client, " PAT@Example.com").status_code == 429


def test_email_rate_limit_leaves_other_emails_alone(client, db):
    for _ in range(5):
        request_link(client, "pat@example.com")
    assert request_link(client, "other@example.com").status_code == 200


def test_link_requests_over_the_ip_limit_answer_429(make_app, db):
    client = make_app(MAGIC_LINK_LIMIT_PER_IP="2 per hour").test_client()
    statuses = [request_link(client, f"p{n}@example.com").status_code for n in range(3)]
    assert statuses == [200, 200, 429]


# --- what a session is and is not ----------------------------------------------------------------------


def test_forged_partner_id_cookie_signs_in_no_one(client, partner):
    client.set_cookie("partner_id", partner.id)
    response = client.get("/partner/portal")
    assert response.status_code == 302
    assert response.headers["Location"] == "/partners"


def test_session_cookie_signed_with_another_key_signs_in_no_one(client, make_app, partner):
    other = make_app(SECRET_KEY="another-secret-key-fedcba9876543210").test_client()
    sign_in(other, partner)
    assert other.get("/partner/portal").status_code == 200
    client.set_cookie(SESSION_COOKIE, other.get_cookie(SESSION_COOKIE).value)
    assert client.get("/partner/portal").status_code == 302


def test_old_session_cookie_stops_working_after_logout(client, partner, issue):
    redeem(client, issue(partner))
    old_cookie = client.get_cookie(SESSION_COOKIE).value
    response = client.post("/partner/logout", data={"csrf_token": csrf_token_of(client, "/partner/portal")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/partners"
    assert client.get("/partner/portal").status_code == 302
    client.set_cookie(SESSION_COOKIE, old_cookie)
    assert client.get("/partner/portal").status_code == 302


def test_logout_without_csrf_token_answers_400_and_keeps_the_session(partner_client):
    assert partner_client.post("/partner/logout").status_code == 400
    assert partner_client.get("/partner/portal").status_code == 200


# --- language ------------------------------------------------------------------------------------------


def test_portal_is_french_without_accept_language(partner_client):
    assert lang_of(partner_client.get("/partner/portal")) == "fr"


def test_landing_is_french_without_accept_language(client, db):
    assert lang_of(client.browser_language(None).get("/partners")) == "fr"


def test_landing_follows_accept_language_english(client, db):
    response = client.get("/partners", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert lang_of(response) == "en"


def test_saved_locale_beats_accept_language(partner_client):
    response = partner_client.post(
        "/partner/locale",
        data={"locale": "en", "csrf_token": csrf_token_of(partner_client, "/partner/portal")},
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 303
    portal = partner_client.get("/partner/portal", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert lang_of(portal) == "en"


def test_locale_change_over_htmx_answers_hx_redirect(partner_client):
    response = partner_client.post(
        "/partner/locale",
        data={"locale": "en", "csrf_token": csrf_token_of(partner_client, "/partner/portal")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/partner/portal"


def test_saved_french_beats_english_browser(partner_client):
    portal = partner_client.get("/partner/portal", headers={"Accept-Language": "en"})
    assert lang_of(portal) == "fr"


@pytest.mark.parametrize("locale", ["de", "", "fr'><script>"])
def test_invalid_locale_answers_400_and_changes_nothing(partner_client, locale):
    response = partner_client.post(
        "/partner/locale",
        data={"locale": locale, "csrf_token": csrf_token_of(partner_client, "/partner/portal")},
    )
    assert response.status_code == 400
    assert lang_of(partner_client.get("/partner/portal", headers={"Accept-Language": "en"})) == "fr"


def test_partner_signing_up_from_an_english_browser_keeps_english(client, app, db):
    request_link(client, "pat@example.com", **{"Accept-Language": "en"})
    redeem(client, sent_token(app))
    assert lang_of(client.get("/partner/portal")) == "en"
