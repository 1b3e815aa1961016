"""Web basics: security headers, error pages, CSRF over htmx, request ids, health, proxies, cookies."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from contentflow.models import Partner
from tests.conftest import csrf_token_of, sign_in

DOWN_REDIS = "redis://127.0.0.1:1/0"
DOWN_DATABASE = "postgresql://postgres@127.0.0.1:1/none"
PRODUCTION = {"CONTENTFLOW_ENV": "production", "BREVO_API_KEY": "x"}


@pytest.fixture
def partner(make_partner, db) -> Partner:
    built = make_partner("pat@example.com", display_name="Pat")
    db.session.commit()
    return built


def failing_app(make_app: Callable[..., Flask], view: Callable[[], Any], **overrides: Any) -> Flask:
    app = make_app(**overrides)
    app.add_url_rule("/boom", "boom", view)
    return app


def raise_runtime_error():
    raise RuntimeError("kaboom")


def raise_database_error():
    from contentflow.extensions import db

    db.session.add(Partner(email="pat@example.com"))  # taken: the flush breaks the transaction
    db.session.flush()


def magic_post(client, email: str, **headers: str):
    return client.post(
        "/partner/magic", data={"email": email, "csrf_token": csrf_token_of(client)}, headers=headers
    )


def set_cookie_header(response, name: str = "contentflow_session") -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{name}=")]
    assert cookies, f"no {name} cookie set"
    return cookies[0]


# --- security headers ----------------------------------------------------------------------------------


def test_page_carries_content_security_policy(client, db):
    policy = client.get("/partners").headers["Content-Security-Policy"]
    directives = {part.strip().split(" ", 1)[0]: part.strip() for part in policy.split(";") if part.strip()}
    assert directives["default-src"] == "default-src 'self'"
    assert directives["script-src"] == "script-src 'self'"
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"


def test_page_carries_frame_referrer_and_content_type_headers(client, db):
    headers = client.get("/partners").headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_error_page_carries_security_headers_too(client, db):
    headers = client.get("/no-such-page").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


def test_pages_carry_no_inline_script(client, db):
    page = client.get("/partners").get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert not re.search(r"\son[a-z]+=", page)


# --- the site's root ------------------------------------------------------------------------------------


def test_root_leads_to_the_partners_landing(client, db):
    response = client.get("/")
    assert (response.status_code, response.headers["Location"]) == (302, "/partners")


def test_root_keeps_a_referral_code(client, db):
    assert client.get("/?ref=abc123").headers["Location"] == "/partners?ref=abc123"


# --- error pages ---------------------------------------------------------------------------------------


def test_404_page_uses_the_site_layout(client, db):
    response = client.get("/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<nav" in page
    assert 'class="card error-page"' in page
    assert response.mimetype == "text/html"


def test_404_answers_json_when_json_is_asked_for(client, db):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "http_404"
    assert response.get_json()["ok"] is False


def test_404_over_htmx_answers_the_alert_partial(client, db):
    response = client.get("/no-such-page", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert page.startswith('<div id="errors-alert"')
    assert "<nav" not in page


def test_405_uses_the_site_layout(client, db):
    response = client.delete("/partners")
    assert response.status_code == 405
    assert "<nav" in response.get_data(as_text=True)


def test_unexpected_error_renders_the_styled_500_page(make_app, db):
    client = failing_app(make_app, raise_runtime_error).test_client()
    response = client.get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<nav" in page
    assert "Something went wrong on our side." in page
    assert "kaboom" not in page


def test_unexpected_error_answers_json_when_json_is_asked_for(make_app, db):
    client = failing_app(make_app, raise_runtime_error).test_client()
    response = client.get("/boom", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.get_json() == {
        "ok": False,
        "error": "internal",
        "message": "Something went wrong on our side. Try again in a moment.",
    }


def test_database_error_renders_the_500_page_for_a_signed_in_partner(make_app, partner):
    client = failing_app(make_app, raise_database_error).test_client()
    sign_in(client, partner)
    response = client.get("/boom")
    assert response.status_code == 500
    # The signed-in partner's saved language (French) wins over the client's Accept-Language.
    assert "Un problème est survenu de notre côté." in response.get_data(as_text=True)


# --- htmx and redirects --------------------------------------------------------------------------------


def test_anonymous_htmx_request_to_partner_area_gets_hx_redirect(client, db):
    response = client.get("/partner/portal", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/partners"
    assert "HX-Request" in response.headers["Vary"]


def test_anonymous_htmx_request_to_admin_area_gets_hx_redirect(client, db):
    response = client.get("/admin/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith("/admin/login")


def test_anonymous_plain_request_to_partner_area_gets_302(client, db):
    response = client.get("/partner/portal")
    assert response.status_code == 302
    assert "HX-Redirect" not in response.headers


# --- CSRF over htmx ------------------------------------------------------------------------------------


def test_htmx_post_with_csrf_token_only_in_header_is_accepted(client, db):
    token = csrf_token_of(client)
    response = client.post(
        "/partner/magic",
        data={"email": "pat@example.com"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert response.status_code == 200
    assert 'id="auth-magic-form"' in response.get_data(as_text=True)


def test_htmx_post_without_csrf_token_answers_400_alert(client, db):
    response = client.post(
        "/partner/magic", data={"email": "pat@example.com"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith('<div id="errors-alert"')


def test_base_layout_sends_csrf_token_in_hx_headers(client, db):
    page = client.get("/partners").get_data(as_text=True)
    assert re.search(r"""hx-headers='\{"X-CSRFToken": "[^"]+"\}'""", page)


# --- request ids ---------------------------------------------------------------------------------------


def test_response_carries_a_request_id(client, db):
    request_id = client.get("/partners").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)


def test_well_formed_incoming_request_id_is_echoed(client, db):
    response = client.get("/partners", headers={"X-Request-ID": "lb-4f2a9c01-abc"})
    assert response.headers["X-Request-ID"] == "lb-4f2a9c01-abc"


@pytest.mark.parametrize("incoming", ["short", "bad id with spaces", "x" * 65, "evil\u00e9value1"])
def test_malformed_incoming_request_id_is_replaced(client, db, incoming):
    response = client.get("/partners", headers={"X-Request-ID": incoming})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_error_response_carries_a_request_id(client, db):
    assert client.get("/no-such-page").headers["X-Request-ID"]


# --- health --------------------------------------------------------------------------------------------


def test_healthz_reports_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_with_redis_down_answers_200_degraded(make_app):
    response = make_app(REDIS_URL=DOWN_REDIS).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "degraded", "database": "ok", "redis": "down"}


def test_healthz_with_database_down_answers_503(make_app):
    response = make_app(DATABASE_URL=DOWN_DATABASE).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "down", "database": "down", "redis": "ok"}


def test_app_starts_with_redis_down(make_app):
    app = make_app(REDIS_URL=DOWN_REDIS)
    assert app.test_client().get("/healthz").get_json()["redis"] == "down"


def test_signed_in_page_with_database_down_answers_503(make_app):
    client = make_app(DATABASE_URL=DOWN_DATABASE).test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "p:abcdefghij:0"
    response = client.get("/partner/portal")
    assert response.status_code == 503
    assert "briefly unavailable" in response.get_data(as_text=True)


def test_landing_renders_with_redis_down(make_app, db):
    assert make_app(REDIS_URL=DOWN_REDIS).test_client().get("/partners").status_code == 200


def test_link_request_with_redis_down_answers_503_and_writes_nothing(make_app, db):
    client = make_app(REDIS_URL=DOWN_REDIS).test_client()
    response = magic_post(client, "pat@example.com")
    assert response.status_code == 503
    assert "<nav" in response.get_data(as_text=True)
    assert db.session.scalars(select(Partner)).all() == []


# --- proxies and the rate-limit key --------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_trusted_proxy_hops(make_app, db):
    client = make_app(TRUSTED_PROXY_HOPS=0, MAGIC_LINK_LIMIT_PER_IP="2 per hour").test_client()
    statuses = [
        magic_post(client, f"p{n}@example.com", **{"X-Forwarded-For": f"198.51.100.{n}"}).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_forwarded_for_is_honoured_with_one_trusted_hop(make_app, db):
    client = make_app(TRUSTED_PROXY_HOPS=1, MAGIC_LINK_LIMIT_PER_IP="2 per hour").test_client()
    statuses = [
        magic_post(client, f"p{n}@example.com", **{"X-Forwarded-For": f"198.51.100.{n}"}).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 200]


def test_one_trusted_hop_still_limits_one_forwarded_client(make_app, db):
    client = make_app(TRUSTED_PROXY_HOPS=1, MAGIC_LINK_LIMIT_PER_IP="2 per hour").test_client()
    statuses = [
        magic_post(client, f"p{n}@example.com", **{"X-Forwarded-For": "198.51.100.7"}).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_one_trusted_hop_takes_the_last_forwarded_address(make_app, db):
    client = make_app(TRUSTED_PROXY_HOPS=1, MAGIC_LINK_LIMIT_PER_IP="2 per hour").test_client()
    statuses = [
        magic_post(
            client, f"p{n}@example.com", **{"X-Forwarded-For": f"10.9.9.{n}, 198.51.100.7"}
        ).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


# --- development pages ---------------------------------------------------------------------------------


def test_dev_outbox_answers_in_testing(client, db):
    assert client.get("/dev/outbox").status_code == 200


def test_dev_outbox_answers_in_development(make_app, db):
    assert make_app(CONTENTFLOW_ENV="development").test_client().get("/dev/outbox").status_code == 200


def test_dev_outbox_is_absent_in_production(make_app, db):
    assert make_app(**PRODUCTION).test_client().get("/dev/outbox").status_code == 404


def test_link_sent_page_does_not_mention_the_outbox_in_production(make_app, db):
    client = make_app(**PRODUCTION).test_client()
    page = magic_post(client, "pat@example.com").get_data(as_text=True)
    assert "Check your inbox" in page
    assert "/dev/outbox" not in page


# --- cookies -------------------------------------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite_lax(client, db):
    cookie = set_cookie_header(client.get("/partners"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_in_production(make_app, db):
    cookie = set_cookie_header(make_app(**PRODUCTION).test_client().get("/partners"))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


# --- static assets -------------------------------------------------------------------------------------


def test_vendored_htmx_is_served_from_static(client):
    response = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert "javascript" in response.mimetype
    assert b"htmx" in response.data[:2000]
    response.close()


def test_base_layout_loads_scripts_and_styles_only_from_this_site(client, db):
    page = client.get("/partners").get_data(as_text=True)
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert "/static/vendor/htmx-2.0.11.min.js" in sources
    assert all(source.startswith("/static/") for source in sources)
    assert not re.search(r"unpkg|jsdelivr|cdnjs|//cdn\.", page)
