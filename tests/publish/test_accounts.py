"""Connected accounts: the authorization-code flow against a fake Reddit and YouTube over real HTTP (state,
PKCE where the platform takes it, the code exchange, the handle), settings, disconnection, and who may
see what."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from contentflow.models import PartnerAccount
from plugins.publish.models import AccountSettings
from plugins.publish.services import queue
from tests.conftest import csrf_token_of, sign_in
from tests.publish.conftest import REDDIT_TOKEN_PATH


def start(client, platform: str = "reddit") -> dict[str, list[str]]:
    response = client.get(f"/publish/connect/{platform}")
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["Location"]).query)


def expect_reddit_token(httpserver, **token) -> None:
    token = {
        "access_token": "at-1",
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": "rt-1",
        **token,
    }
    httpserver.expect_request(REDDIT_TOKEN_PATH, method="POST").respond_with_json(token)


def expect_reddit_me(httpserver, name: str = "pat_r") -> None:
    httpserver.expect_request("/api/v1/me", method="GET").respond_with_json({"id": "u42", "name": name})


def test_accounts_page_shows_unconfigured_platforms_as_such(partner_client_on_fake):
    page = partner_client_on_fake.get("/publish/accounts").get_data(as_text=True)
    assert 'href="/publish/connect/reddit"' in page
    assert 'href="/publish/connect/pinterest"' not in page
    assert page.count("Not configured on this server yet.") == 2  # pinterest, instagram


def test_connecting_an_unconfigured_platform_says_so_and_goes_back(partner_client_on_fake):
    response = partner_client_on_fake.get("/publish/connect/pinterest")
    assert response.status_code == 303
    assert response.headers["Location"] == "/publish/accounts"


def test_unknown_platform_answers_404(partner_client_on_fake):
    assert partner_client_on_fake.get("/publish/connect/tiktok").status_code == 404
    assert partner_client_on_fake.get("/publish/callback/tiktok?state=x&code=y").status_code == 404


def test_connect_redirects_to_reddit_with_state_and_a_permanent_grant(partner_client_on_fake, httpserver):
    response = partner_client_on_fake.get("/publish/connect/reddit")
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == httpserver.url_for("/api/v1/authorize")
    assert query["client_id"] == ["reddit-app"]
    assert query["response_type"] == ["code"]
    assert query["duration"] == ["permanent"]
    assert query["redirect_uri"] == ["https://cf.example.org/publish/callback/reddit"]
    assert set(query["scope"][0].split()) == {"identity", "submit", "read", "history"}
    assert len(query["state"][0]) >= 20
    assert "code_challenge" not in query  # Reddit does not take PKCE


def test_connect_to_youtube_asks_for_offline_access_with_pkce(partner_client_on_fake):
    query = start(partner_client_on_fake, "youtube")
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["access_type"] == ["offline"]


def test_callback_exchanges_the_code_stores_the_account_and_goes_back(
    partner_client_on_fake, httpserver, db, partner
):
    expect_reddit_token(httpserver)
    expect_reddit_me(httpserver)
    state = start(partner_client_on_fake)["state"][0]
    response = partner_client_on_fake.get(f"/publish/callback/reddit?state={state}&code=the-code")
    assert response.status_code == 303
    assert response.headers["Location"] == "/publish/accounts"
    token_request, _ = httpserver.log[0]
    assert (
        token_request.headers["Authorization"]
        == "Basic " + base64.b64encode(b"reddit-app:reddit-secret").decode()
    )
    assert token_request.form["grant_type"] == "authorization_code"
    assert token_request.form["code"] == "the-code"
    assert token_request.form["redirect_uri"] == "https://cf.example.org/publish/callback/reddit"
    assert token_request.headers["User-Agent"].startswith("web:contentflow")
    me_request, _ = httpserver.log[1]
    assert me_request.headers["Authorization"] == "Bearer at-1"
    account = db.session.scalars(select(PartnerAccount)).one()
    assert (account.partner_id, account.platform, account.handle, account.external_id) == (
        partner.id,
        "reddit",
        "pat_r",
        "u42",
    )
    assert (account.access_token, account.refresh_token) == ("at-1", "rt-1")
    assert account.daily_cap == 3 and account.min_interval_minutes == 120
    stored = db.session.execute(sa.text("SELECT access_token, refresh_token FROM partner_accounts")).one()
    assert "at-1" not in stored[0] and "rt-1" not in stored[1]  # encrypted at rest


def test_callback_with_a_wrong_state_stores_nothing_and_asks_for_nothing(
    partner_client_on_fake, httpserver, db
):
    start(partner_client_on_fake)
    response = partner_client_on_fake.get("/publish/callback/reddit?state=forged&code=the-code")
    assert response.status_code == 400
    assert "start again" in response.get_data(as_text=True)
    assert httpserver.log == []
    assert db.session.scalars(select(PartnerAccount)).all() == []


def test_callback_without_a_flow_started_is_refused(partner_client_on_fake):
    assert partner_client_on_fake.get("/publish/callback/reddit?state=x&code=y").status_code == 400


def test_a_callback_replayed_is_refused(partner_client_on_fake, httpserver):
    expect_reddit_token(httpserver)
    expect_reddit_me(httpserver)
    state = start(partner_client_on_fake)["state"][0]
    assert partner_client_on_fake.get(f"/publish/callback/reddit?state={state}&code=c").status_code == 303
    assert partner_client_on_fake.get(f"/publish/callback/reddit?state={state}&code=c").status_code == 400


def test_a_refused_consent_is_a_clear_400(partner_client_on_fake, httpserver):
    state = start(partner_client_on_fake)["state"][0]
    response = partner_client_on_fake.get(f"/publish/callback/reddit?state={state}&error=access_denied")
    assert response.status_code == 400
    assert "did not allow the connection: access_denied" in response.get_data(as_text=True)
    assert httpserver.log == []


@pytest.mark.parametrize(
    "answer",
    [("busy", 503), ({"error": "invalid_grant"}, 400), ("not json", 200)],
    ids=["down", "refused", "nonsense"],
)
def test_a_failed_code_exchange_is_a_clear_400_and_stores_nothing(
    partner_client_on_fake, httpserver, db, answer
):
    body, status = answer
    if isinstance(body, dict):
        httpserver.expect_request(REDDIT_TOKEN_PATH, method="POST").respond_with_json(body, status=status)
    else:
        httpserver.expect_request(REDDIT_TOKEN_PATH, method="POST").respond_with_data(body, status=status)
    state = start(partner_client_on_fake)["state"][0]
    response = partner_client_on_fake.get(f"/publish/callback/reddit?state={state}&code=c")
    assert response.status_code == 400
    assert db.session.scalars(select(PartnerAccount)).all() == []


def test_reconnecting_the_same_account_updates_it_and_clears_reconnect_needed(
    partner_client_on_fake, httpserver, db, partner, make_account
):
    account = make_account(partner, external_id="u42", access_token="old", refresh_token="old-r")
    db.session.add(AccountSettings(account_id=account.id, needs_reconnect=True, reconnect_reason="expired"))
    db.session.commit()
    expect_reddit_token(httpserver, refresh_token=None)
    expect_reddit_me(httpserver)
    state = start(partner_client_on_fake)["state"][0]
    partner_client_on_fake.get(f"/publish/callback/reddit?state={state}&code=c")
    db.session.expire_all()
    [again] = db.session.scalars(select(PartnerAccount)).all()
    assert again.id == account.id
    assert (again.access_token, again.refresh_token) == ("at-1", "old-r")
    assert db.session.get(AccountSettings, account.id).needs_reconnect is False


def test_partner_saves_an_accounts_settings(partner_client_on_fake, db, partner, make_account):
    account = make_account(partner)
    token = csrf_token_of(partner_client_on_fake, "/publish/accounts")
    response = partner_client_on_fake.post(
        f"/publish/accounts/{account.id}/settings",
        data={
            "daily_cap": "5",
            "min_interval_minutes": "30",
            "autopublish": "y",
            "target": "r/sidehustle",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert (account.daily_cap, account.min_interval_minutes) == (5, 30)
    settings = db.session.get(AccountSettings, account.id)
    assert (settings.autopublish, settings.target) == (True, "sidehustle")


@pytest.mark.parametrize(
    "data",
    [{"daily_cap": "-1"}, {"daily_cap": "500"}, {"min_interval_minutes": "x"}, {"target": "no spaces"}],
)
def test_bad_settings_answer_400_and_change_nothing(partner_client_on_fake, db, partner, make_account, data):
    account = make_account(partner)
    token = csrf_token_of(partner_client_on_fake, "/publish/accounts")
    form = {"daily_cap": "3", "min_interval_minutes": "0", "target": "", "csrf_token": token, **data}
    response = partner_client_on_fake.post(
        f"/publish/accounts/{account.id}/settings", data=form, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert 'id="publish-accounts"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert account.daily_cap == 3


@pytest.mark.parametrize("path", ["settings", "pause", "disconnect"])
def test_another_partners_account_answers_404(app_on_fake, db, partner, make_partner, make_account, path):
    account = make_account(partner)
    intruder = app_on_fake.test_client()
    sign_in(intruder, make_partner("mallory@example.com"))
    token = csrf_token_of(intruder, "/publish/accounts")
    response = intruder.post(
        f"/publish/accounts/{account.id}/{path}", data={"csrf_token": token, "daily_cap": "9"}
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(PartnerAccount, account.id).daily_cap == 3


def test_accounts_page_lists_only_the_partners_own(app_on_fake, db, partner, make_partner, make_account):
    make_account(partner, handle="mine")
    make_account(make_partner("other@example.com"), handle="theirs")
    client = app_on_fake.test_client()
    sign_in(client, partner)
    page = client.get("/publish/accounts").get_data(as_text=True)
    assert "mine" in page and "theirs" not in page


def test_disconnect_revokes_at_reddit_and_removes_the_account(
    partner_client_on_fake, httpserver, db, partner, make_account
):
    account = make_account(partner)
    httpserver.expect_request("/api/v1/revoke_token", method="POST").respond_with_data("", status=204)
    token = csrf_token_of(partner_client_on_fake, "/publish/accounts")
    response = partner_client_on_fake.post(
        f"/publish/accounts/{account.id}/disconnect", data={"csrf_token": token}
    )
    assert response.status_code == 303
    [(revoke, _)] = httpserver.log
    assert revoke.form["token"] == "refresh-1"
    assert db.session.scalars(select(PartnerAccount)).all() == []


def test_disconnect_without_csrf_is_refused(partner_client_on_fake, db, partner, make_account):
    account = make_account(partner)
    assert partner_client_on_fake.post(f"/publish/accounts/{account.id}/disconnect").status_code == 400
    assert db.session.get(PartnerAccount, account.id) is not None


@pytest.mark.parametrize("path", ["/publish/accounts", "/publish/queue", "/publish/connect/reddit"])
def test_anonymous_visitors_are_sent_to_sign_in(app_on_fake, path):
    response = app_on_fake.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/partners"


# --- every platform's flow, against a stand-in of its endpoints --------------------------------------


def all_platforms_settings(httpserver) -> dict[str, str]:
    """Pinterest and Instagram too, each under its own path prefix of the fake."""
    base = httpserver.url_for("").rstrip("/")
    return {
        "PINTEREST_CLIENT_ID": "pin-app",
        "PINTEREST_CLIENT_SECRET": "pin-secret",
        "PINTEREST_AUTHORIZE_URL": f"{base}/pin-www/oauth/",
        "PINTEREST_TOKEN_URL": f"{base}/pin/v5/oauth/token",
        "PINTEREST_API_BASE_URL": f"{base}/pin",
        "INSTAGRAM_CLIENT_ID": "ig-app",
        "INSTAGRAM_CLIENT_SECRET": "ig-secret",
        "INSTAGRAM_AUTHORIZE_URL": f"{base}/ig-www/oauth/authorize",
        "INSTAGRAM_TOKEN_URL": f"{base}/ig-api/oauth/access_token",
        "INSTAGRAM_API_BASE_URL": f"{base}/ig",
    }


@pytest.fixture
def client_on_every_fake(publish_app, httpserver, partner):
    client = publish_app(**all_platforms_settings(httpserver)).test_client()
    sign_in(client, partner)
    return client


@pytest.mark.parametrize(
    ("platform", "authorize_path", "scopes", "separator", "has_pkce"),
    [
        ("reddit", "/api/v1/authorize", "identity submit read history", " ", False),
        (
            "youtube",
            "/o/oauth2/v2/auth",
            "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly",
            " ",
            True,
        ),
        ("pinterest", "/pin-www/oauth/", "boards:read,pins:read,pins:write,user_accounts:read", ",", False),
        (
            "instagram",
            "/ig-www/oauth/authorize",
            "instagram_business_basic,instagram_business_content_publish",
            ",",
            False,
        ),
    ],
)
def test_connect_sends_the_partner_to_each_platforms_authorize_url_with_state(
    client_on_every_fake, httpserver, platform, authorize_path, scopes, separator, has_pkce
):
    response = client_on_every_fake.get(f"/publish/connect/{platform}")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == httpserver.url_for(authorize_path)
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"https://cf.example.org/publish/callback/{platform}"]
    assert query["scope"] == [scopes.replace(" ", separator)]
    assert len(query["state"][0]) >= 20
    assert ("code_challenge" in query) is has_pkce


def test_youtube_callback_sends_the_pkce_verifier_and_reads_the_channel(
    client_on_every_fake, httpserver, db, partner
):
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "ya29", "expires_in": 3599, "refresh_token": "1//r", "token_type": "Bearer"}
    )
    httpserver.expect_request(
        "/youtube/v3/channels", method="GET", query_string={"part": "snippet", "mine": "true"}
    ).respond_with_json({"items": [{"id": "UC1", "snippet": {"title": "Pat", "customUrl": "@pat"}}]})
    query = start(client_on_every_fake, "youtube")
    response = client_on_every_fake.get(f"/publish/callback/youtube?state={query['state'][0]}&code=4/c")
    assert (response.status_code, response.headers["Location"]) == (303, "/publish/accounts")
    (token_request, _), (channels_request, _) = httpserver.log
    form = token_request.form
    assert (form["grant_type"], form["code"], form["client_id"], form["client_secret"]) == (
        "authorization_code",
        "4/c",
        "youtube-app",
        "youtube-secret",
    )
    digest = hashlib.sha256(form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"][0]
    assert channels_request.headers["Authorization"] == "Bearer ya29"
    account = db.session.scalars(select(PartnerAccount)).one()
    assert (account.platform, account.external_id, account.handle, account.refresh_token) == (
        "youtube",
        "UC1",
        "@pat",
        "1//r",
    )


def test_pinterest_callback_authenticates_with_basic_auth_and_reads_the_username(
    client_on_every_fake, httpserver, db
):
    httpserver.expect_request("/pin/v5/oauth/token", method="POST").respond_with_json(
        {"access_token": "pina_1", "refresh_token": "pinr_1", "expires_in": 2592000, "token_type": "bearer"}
    )
    httpserver.expect_request("/pin/v5/user_account", method="GET").respond_with_json(
        {"id": "549755885175", "username": "pat_pins"}
    )
    state = start(client_on_every_fake, "pinterest")["state"][0]
    response = client_on_every_fake.get(f"/publish/callback/pinterest?state={state}&code=pc")
    assert response.status_code == 303
    (token_request, _), (user_request, _) = httpserver.log
    assert (
        token_request.headers["Authorization"] == "Basic " + base64.b64encode(b"pin-app:pin-secret").decode()
    )
    assert user_request.headers["Authorization"] == "Bearer pina_1"
    account = db.session.scalars(select(PartnerAccount)).one()
    assert (account.platform, account.external_id, account.handle) == (
        "pinterest",
        "549755885175",
        "pat_pins",
    )


def test_instagram_callback_trades_the_short_token_for_a_long_lived_one(client_on_every_fake, httpserver, db):
    httpserver.expect_request("/ig-api/oauth/access_token", method="POST").respond_with_json(
        {"data": [{"access_token": "IGshort", "user_id": "178", "permissions": "instagram_business_basic"}]}
    )
    httpserver.expect_request(
        "/ig/access_token",
        method="GET",
        query_string={
            "grant_type": "ig_exchange_token",
            "client_secret": "ig-secret",
            "access_token": "IGshort",
        },
    ).respond_with_json({"access_token": "IGlong", "token_type": "bearer", "expires_in": 5183944})
    httpserver.expect_request("/ig/v21.0/me", method="GET").respond_with_json(
        {"user_id": "1784", "username": "pat.ig"}
    )
    state = start(client_on_every_fake, "instagram")["state"][0]
    response = client_on_every_fake.get(f"/publish/callback/instagram?state={state}&code=ic")
    assert response.status_code == 303
    token_request = httpserver.log[0][0]
    assert (token_request.form["client_id"], token_request.form["client_secret"]) == ("ig-app", "ig-secret")
    assert httpserver.log[2][0].headers["Authorization"] == "Bearer IGlong"
    account = db.session.scalars(select(PartnerAccount)).one()
    assert (account.external_id, account.handle, account.access_token) == ("1784", "pat.ig", "IGlong")
    assert account.token_expires_at > datetime.now(UTC) + timedelta(days=59)


@pytest.mark.parametrize(
    ("body", "status", "why"),
    [
        ("busy", 500, "the platform answered 500"),
        ("<html>", 200, "not readable"),
        ('{"message": "Unauthorized", "error": 401}', 401, "refused the account"),
        ('{"id": "u42"}', 200, "did not say which account"),
    ],
    ids=["down", "not-json", "refused", "no-name"],
)
def test_a_handle_that_cannot_be_read_is_a_clear_400_and_stores_nothing(
    partner_client_on_fake, httpserver, db, body, status, why
):
    expect_reddit_token(httpserver)
    httpserver.expect_request("/api/v1/me").respond_with_data(
        body, status=status, content_type="application/json"
    )
    state = start(partner_client_on_fake)["state"][0]
    response = partner_client_on_fake.get(f"/publish/callback/reddit?state={state}&code=c")
    assert response.status_code == 400
    assert why in response.get_data(as_text=True)
    assert db.session.scalars(select(PartnerAccount)).all() == []


@pytest.mark.parametrize("expires_in", [10**12, -5], ids=["absurd", "negative"])
def test_an_odd_token_lifetime_still_connects_the_account(partner_client_on_fake, httpserver, db, expires_in):
    expect_reddit_token(httpserver, expires_in=expires_in)
    expect_reddit_me(httpserver)
    state = start(partner_client_on_fake)["state"][0]
    assert partner_client_on_fake.get(f"/publish/callback/reddit?state={state}&code=c").status_code == 303
    expires_at = db.session.scalars(select(PartnerAccount)).one().token_expires_at
    assert datetime.now(UTC) - timedelta(minutes=1) < expires_at < datetime.now(UTC) + timedelta(days=367)


def test_an_account_needing_reconnection_says_so_with_a_reconnect_link(
    partner_client_on_fake, db, partner, make_account
):
    account = make_account(partner)
    db.session.add(
        AccountSettings(account_id=account.id, needs_reconnect=True, reconnect_reason="token revoked")
    )
    db.session.commit()
    page = partner_client_on_fake.get("/publish/accounts").get_data(as_text=True)
    assert "reconnect needed" in page
    assert "token revoked" in page
    assert 'href="/publish/connect/reddit">Reconnect</a>' in page


def test_disconnect_skips_the_accounts_unposted_assignments_so_they_can_be_made_again(
    partner_client_on_fake, httpserver, db, partner, make_account, make_assignment, ready_asset, make_asset
):
    account = make_account(partner)
    waiting = make_assignment(account, ready_asset, status="approved")
    posted = make_assignment(account, make_asset("Posted before", offer=ready_asset.offer), status="posted")
    httpserver.expect_request("/api/v1/revoke_token", method="POST").respond_with_data("", status=204)
    token = csrf_token_of(partner_client_on_fake, "/publish/accounts")
    partner_client_on_fake.post(f"/publish/accounts/{account.id}/disconnect", data={"csrf_token": token})
    db.session.expire_all()
    assert (waiting.status, waiting.last_error) == ("skipped", "the account was disconnected")
    assert posted.status == "posted"
    again = make_account(partner, handle="pat_again")
    assert queue.create(partner.id, ready_asset.id, "reddit").assignment_id is not None
    assert again.id != account.id
