"""The admin area: the guard, password sign-in (audited, rate-limited), sign-out."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from contentflow.models import AuditLog
from tests.conftest import ADMIN_PASSWORD, csrf_token_of, sign_in

SESSION_COOKIE = "contentflow_session"


def log_in(client: FlaskClient, email: str, password: str, query: str = ""):
    return client.post(
        f"/admin/login{query}",
        data={"email": email, "password": password, "csrf_token": csrf_token_of(client, "/admin/login")},
    )


def audit_actions(db) -> list[str]:
    return db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()


def without_csrf_tokens(response) -> str:
    """The body with CSRF tokens blanked: flask-wtf signs them with a timestamp, so they differ by second."""
    return re.sub(r'("X-CSRFToken": "|name="csrf_token" type="hidden" value=")[^"]+', r"\1", response.text)


def stat(page: str, label: str) -> int:
    match = re.search(rf"{label}</span><b>(\d+)</b>", page)
    assert match, f"no {label} count on the page"
    return int(match.group(1))


# --- the guard -----------------------------------------------------------------------------------------


def test_anonymous_admin_home_redirects_to_admin_login(client, db):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


def test_signed_in_partner_gets_403_on_admin_home(client, partner):
    sign_in(client, partner)
    assert client.get("/admin/").status_code == 403


def test_signed_in_admin_gets_403_on_partner_portal(client, admin):
    sign_in(client, admin)
    assert client.get("/partner/portal").status_code == 403


def test_admin_home_shows_counts(client, admin, make_partner):
    make_partner()
    make_partner()
    sign_in(client, admin)
    response = client.get("/admin/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert stat(page, "Partners") == 2
    assert stat(page, "Assets") == 0


def test_admin_login_page_has_csrf_token(client, db):
    response = client.get("/admin/login")
    assert response.status_code == 200
    assert re.search(r'name="csrf_token" type="hidden" value="[^"]+"', response.get_data(as_text=True))


# --- sign-in -------------------------------------------------------------------------------------------


def test_right_password_signs_in_and_is_audited(client, admin, db):
    response = log_in(client, "boss@example.com", ADMIN_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    entry = db.session.scalars(select(AuditLog)).one()
    assert (entry.action, entry.admin_user_id, entry.ip_hash is not None) == ("admin.login", admin.id, True)


def test_email_is_matched_whatever_its_case(client, admin):
    assert log_in(client, " Boss@Example.COM ", ADMIN_PASSWORD).status_code == 303


def test_wrong_password_answers_401_is_audited_and_signs_in_no_one(client, admin, db):
    response = log_in(client, "boss@example.com", "not the password at all")
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.get_data(as_text=True)
    assert audit_actions(db) == ["admin.login_failed"]
    assert client.get("/admin/").status_code == 302


def test_failed_login_audit_keeps_no_password(client, admin, db):
    log_in(client, "boss@example.com", "hunter2-hunter2-hunter2")
    entry = db.session.scalars(select(AuditLog)).one()
    assert "hunter2" not in repr(entry.details)
    assert entry.details == {"email": "boss@example.com"}


def test_unknown_email_answers_the_same_401(client, admin, db):
    wrong_password = log_in(client, "boss@example.com", "not the password at all")
    unknown = log_in(client, "nobody@example.com", "not the password at all")
    assert unknown.status_code == wrong_password.status_code == 401
    assert without_csrf_tokens(unknown).replace("nobody@", "X@") == without_csrf_tokens(
        wrong_password
    ).replace("boss@", "X@")
    assert audit_actions(db) == ["admin.login_failed", "admin.login_failed"]
    assert client.get("/admin/").status_code == 302


def test_admin_login_without_csrf_token_answers_400_and_signs_in_no_one(client, admin, db):
    response = client.post("/admin/login", data={"email": "boss@example.com", "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302
    assert audit_actions(db) == []


def test_admin_login_with_missing_fields_answers_400(client, db):
    response = client.post("/admin/login", data={"csrf_token": csrf_token_of(client, "/admin/login")})
    assert response.status_code == 400
    assert 'class="field-error"' in response.get_data(as_text=True)


def test_admin_login_over_the_limit_answers_429(make_app, admin):
    client = make_app(ADMIN_LOGIN_LIMIT="2 per hour").test_client()
    statuses = [log_in(client, "boss@example.com", "wrong password here").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_admin_login_limit_also_stops_the_right_password(make_app, admin):
    client = make_app(ADMIN_LOGIN_LIMIT="2 per hour").test_client()
    log_in(client, "boss@example.com", "wrong password here")
    log_in(client, "boss@example.com", "wrong password here")
    assert log_in(client, "boss@example.com", ADMIN_PASSWORD).status_code == 429
    assert client.get("/admin/").status_code == 302


def test_admin_login_limit_counts_per_email_across_addresses(make_app, admin):
    app = make_app(ADMIN_LOGIN_LIMIT="2 per hour")
    for n in range(2):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{n + 1}"
        log_in(client, "boss@example.com", "wrong password here")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.99"
    assert log_in(client, "boss@example.com", "wrong password here").status_code == 429


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/admin/",
        "/\\evil.example",
        "///evil.example",
        "/partner/portal",
    ],
)
def test_next_off_the_admin_area_goes_to_admin_home(client, admin, target):
    response = log_in(client, "boss@example.com", ADMIN_PASSWORD, query=f"?next={target}")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"


def test_next_inside_the_admin_area_is_followed(client, admin):
    response = log_in(client, "boss@example.com", ADMIN_PASSWORD, query="?next=/admin/?page=2")
    assert response.headers["Location"] == "/admin/?page=2"


# --- sign-out ------------------------------------------------------------------------------------------


def test_logout_is_audited_and_old_cookie_stops_working(client, admin, db):
    log_in(client, "boss@example.com", ADMIN_PASSWORD)
    old_cookie = client.get_cookie(SESSION_COOKIE).value
    response = client.post("/admin/logout", data={"csrf_token": csrf_token_of(client, "/admin/")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/login"
    assert audit_actions(db) == ["admin.login", "admin.logout"]
    assert client.get("/admin/").status_code == 302
    client.set_cookie(SESSION_COOKIE, old_cookie)
    assert client.get("/admin/").status_code == 302


def test_logout_without_csrf_token_answers_400_and_keeps_the_session(client, admin, db):
    sign_in(client, admin)
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/").status_code == 200
    assert audit_actions(db) == []
