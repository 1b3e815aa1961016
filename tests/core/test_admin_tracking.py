"""Admin tracking pages: networks (secret rotation), offers, FX rates, conversions to review, postback log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from contentflow.models import AuditLog, Conversion, FxRate, LedgerEntry, Network, Offer
from contentflow.services import fx, offers
from tests.conftest import csrf_token_of, sign_in
from tests.core.test_postbacks import SECRET, make_click

GET_PAGES = [
    "/admin/networks",
    "/admin/offers",
    "/admin/fx-rates",
    "/admin/conversions/review",
    "/admin/postbacks",
]
POSTS = [
    ("/admin/networks", {"name": "newnet"}),
    ("/admin/networks/{network}/rotate", {}),
    ("/admin/networks/{network}/settings", {"allowed_ips": "", "max_amount_eur": "50"}),
    ("/admin/networks/{network}/deactivate", {}),
    ("/admin/offers", {"name": "X", "network": "acme", "url_template": "https://x.example/?s={subid}"}),
    ("/admin/offers/{offer}/deactivate", {}),
    ("/admin/fx-rates", {"currency": "USD", "rate": "0.9"}),
    ("/admin/conversions/{conversion}/resolve", {"click_id": "nope"}),
    ("/admin/conversions/{conversion}/reject", {}),
]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def things(db, make_offer):
    """A network, an offer of it and a conversion waiting for review (unknown click)."""
    offer = make_offer(revshare_pct="40")
    conversion = Conversion(
        network_id=offer.network_id,
        txn_id="R1",
        subid="",
        status="confirmed",
        amount_minor=1000,
        currency="EUR",
    )
    conversion.amount_eur_cents, conversion.fx_rate = 1000, "1"
    conversion.needs_review, conversion.review_reason = True, "unknown_click"
    db.session.add(conversion)
    db.session.commit()
    return {"network": offer.network_id, "offer": offer.id, "conversion": conversion.id}


def fill(path: str, things: dict) -> str:
    return path.format(**things)


def admin_post(client, path: str, data: dict, headers=None):
    token = csrf_token_of(client, "/admin/networks")
    return client.post(path, data={**data, "csrf_token": token}, headers=headers or {})


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def postback(client, network="acme", token=SECRET, **fields):
    values = {"network": network, "token": token, "amount": "10", "txn_id": "T1", "subid": "", **fields}
    return client.get("/aff/postback?" + urlencode(values))


def partner_balance(db, partner_id: str) -> int:
    query = select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
        LedgerEntry.partner_id == partner_id
    )
    return db.session.scalar(query)


# --- access ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", GET_PAGES)
def test_anonymous_visitor_is_sent_to_admin_sign_in(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


@pytest.mark.parametrize("path", GET_PAGES)
def test_partner_gets_403_on_admin_tracking_pages(client, partner, path):
    sign_in(client, partner)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_partner_gets_403_on_admin_tracking_actions(client, partner, things, path, data):
    sign_in(client, partner)
    token = csrf_token_of(client, "/partner/portal")
    assert client.post(fill(path, things), data={**data, "csrf_token": token}).status_code == 403


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_admin_action_without_csrf_token_answers_400_and_changes_nothing(
    client, admin, things, db, path, data
):
    sign_in(client, admin)
    response = client.post(fill(path, things), data=data)
    assert response.status_code == 400
    assert audit_actions(db) == []
    assert db.session.scalar(select(func.count()).select_from(Network)) == 1
    assert db.session.get(Conversion, things["conversion"]).needs_review is True


@pytest.mark.parametrize("path", GET_PAGES)
def test_admin_sees_each_page_and_htmx_gets_its_partial(client, admin, things, path):
    sign_in(client, admin)
    page = client.get(path)
    partial = client.get(path, headers=HTMX)
    assert page.status_code == partial.status_code == 200
    assert "<html" in page.text and "<html" not in partial.text
    assert re.match(r'\s*<div id="admin-', partial.text)
    assert "HX-Request" in partial.headers["Vary"]


def test_admin_menu_lists_the_tracking_pages(client, admin):
    sign_in(client, admin)
    page = client.get("/admin/").text
    for path in GET_PAGES:
        assert f'href="{path}"' in page


# --- networks --------------------------------------------------------------------------------------------


def test_new_network_shows_its_secret_once_and_the_secret_works(client, admin, db):
    sign_in(client, admin)
    response = admin_post(client, "/admin/networks", {"name": "zeta"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="revealed-secret" value="([^"]+)"', response.text).group(1)
    assert secret not in client.get("/admin/networks").text
    assert postback(client, network="zeta", token=secret).status_code == 200
    entry = db.session.scalars(select(AuditLog)).one()
    assert entry.action == "network.create" and secret not in repr(entry.details)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"name": ""}, 400, "This field is required."),
        ({"name": "bad name!"}, 400, "A network name uses letters"),
        ({"name": "zeta", "secret": "short"}, 400, "Field must be between 16 and 200 characters long."),
        ({"name": "acme"}, 409, "A network with this name already exists."),
    ],
)
def test_bad_new_network_re_renders_the_form_with_4xx(client, admin, things, db, data, status, message):
    sign_in(client, admin)
    for headers in ({}, HTMX):
        response = admin_post(client, "/admin/networks", data, headers)
        assert response.status_code == status
        assert message in response.text
    assert db.session.scalar(select(func.count()).select_from(Network)) == 1
    assert audit_actions(db) == []


def test_rotation_shows_the_new_secret_and_keeps_the_old_one_for_the_overlap(client, admin, things, db, app):
    sign_in(client, admin)
    response = admin_post(client, f"/admin/networks/{things['network']}/rotate", {}, HTMX)
    assert response.status_code == 200
    new_secret = re.search(r'id="revealed-secret" value="([^"]+)"', response.text).group(1)
    network = db.session.get(Network, things["network"])
    expected_end = datetime.now(UTC) + timedelta(hours=app.config["NETWORK_SECRET_OVERLAP_HOURS"])
    assert abs(network.previous_secret_expires_at - expected_end) < timedelta(minutes=1)
    assert postback(client, token=SECRET, txn_id="old").status_code == 200
    assert postback(client, token=new_secret, txn_id="new").status_code == 200
    assert audit_actions(db) == ["network.rotate_secret"]


def test_rotating_an_unknown_network_answers_404(client, admin, db):
    sign_in(client, admin)
    assert admin_post(client, "/admin/networks/999/rotate", {}).status_code == 404


def test_allowlist_and_cap_are_saved(client, admin, things, db):
    sign_in(client, admin)
    data = {"allowed_ips": "203.0.113.0/24\n2001:db8::1", "max_amount_eur": "250.50"}
    response = admin_post(client, f"/admin/networks/{things['network']}/settings", data)
    assert response.status_code == 303
    network = db.session.get(Network, things["network"])
    assert (network.allowed_ips, network.max_amount_cents) == ("203.0.113.0/24,2001:db8::1/128", 25050)
    assert audit_actions(db) == ["network.configure"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"allowed_ips": "300.1.2.3", "max_amount_eur": "50"}, "Not an IP address or network: 300.1.2.3"),
        ({"allowed_ips": "", "max_amount_eur": "0"}, "The largest amount is an amount in euros above 0."),
        ({"allowed_ips": "", "max_amount_eur": "lots"}, "Not an amount"),
        ({"allowed_ips": "", "max_amount_eur": "1e99"}, "Not an amount"),
    ],
)
def test_bad_network_settings_answer_400_and_save_nothing(client, admin, things, db, data, message):
    sign_in(client, admin)
    response = admin_post(client, f"/admin/networks/{things['network']}/settings", data, HTMX)
    assert response.status_code == 400
    assert message in response.text
    network = db.session.get(Network, things["network"])
    assert (network.allowed_ips, network.max_amount_cents) == (None, 1_000_000)


def test_switched_off_network_has_its_postbacks_refused_until_switched_on(client, admin, things, db):
    sign_in(client, admin)
    assert admin_post(client, f"/admin/networks/{things['network']}/deactivate", {}).status_code == 303
    assert postback(client).status_code == 403
    response = admin_post(client, f"/admin/networks/{things['network']}/activate", {}, HTMX)
    assert response.status_code == 200 and 'id="admin-networks"' in response.text
    assert postback(client).status_code == 200
    assert audit_actions(db) == ["network.deactivate", "network.activate"]


# --- offers ----------------------------------------------------------------------------------------------


def test_offers_list_shows_network_cpc_and_revshare_in_percent(client, admin, make_offer):
    make_offer("Mixed", cpc_cents=15, revshare_pct="12.5")
    sign_in(client, admin)
    page = client.get("/admin/offers").text
    assert "Mixed" in page and "acme" in page and "12.5 %" in page and "0.15" in page


def test_admin_creates_an_offer(client, admin, things, db):
    sign_in(client, admin)
    data = {
        "name": "New",
        "network": "acme",
        "url_template": "https://x.example/?s={subid}",
        "revshare_pct": "35",
    }
    response = admin_post(client, "/admin/offers", data, HTMX)
    assert response.status_code == 200
    offer = db.session.scalars(select(Offer).where(Offer.name == "New")).one()
    assert (offer.revshare_bps, offer.cpc_cents) == (3500, None)
    assert audit_actions(db) == ["offer.create"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url_template": "https://x.example/"}, "The offer URL must hold the {subid} macro."),
        ({"network": "nobody"}, "No network named nobody."),
        ({"revshare_pct": "120"}, "The revenue share is a percent between 0 and 100."),
        ({"cpc_eur": "abc"}, "Not an amount: abc"),
        ({"revshare_pct": "", "cpc_eur": ""}, "An offer pays per click, by revenue share, or both"),
    ],
)
def test_bad_offer_re_renders_the_form_with_4xx(client, admin, things, db, data, message):
    sign_in(client, admin)
    base = {
        "name": "New",
        "network": "acme",
        "url_template": "https://x.example/?s={subid}",
        "revshare_pct": "35",
    }
    response = admin_post(client, "/admin/offers", {**base, **data})
    assert 400 <= response.status_code < 500
    assert message in response.text
    assert db.session.scalar(select(func.count()).where(Offer.name == "New")) == 0


def test_offer_is_switched_off_and_on(client, admin, things, db):
    sign_in(client, admin)
    admin_post(client, f"/admin/offers/{things['offer']}/deactivate", {})
    assert db.session.get(Offer, things["offer"]).is_active is False
    admin_post(client, f"/admin/offers/{things['offer']}/activate", {})
    assert db.session.get(Offer, things["offer"]).is_active is True
    assert audit_actions(db) == ["offer.deactivate", "offer.activate"]


# --- FX rates --------------------------------------------------------------------------------------------


def test_admin_sets_then_updates_a_rate(client, admin, db):
    sign_in(client, admin)
    assert admin_post(client, "/admin/fx-rates", {"currency": "usd", "rate": "0.9"}).status_code == 303
    response = admin_post(client, "/admin/fx-rates", {"currency": "USD", "rate": "0,925"}, HTMX)
    assert response.status_code == 200 and "0.925" in response.text
    rate = db.session.get(FxRate, "USD")
    assert (rate.eur_per_unit, rate.updated_by_admin_id) == ("0.925", admin.id)
    assert audit_actions(db) == ["fx_rate.set", "fx_rate.set"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"currency": "USD", "rate": "0"}, "A rate is a decimal number above 0"),
        ({"currency": "USD", "rate": "-1"}, "A rate is a decimal number above 0"),
        ({"currency": "USD", "rate": "abc"}, "A rate is a decimal number above 0"),
        ({"currency": "USD", "rate": "NaN"}, "A rate is a decimal number above 0"),
        ({"currency": "EUR", "rate": "2"}, "its rate is always 1"),
        ({"currency": "U$D", "rate": "2"}, "A currency is a three-letter ISO code"),
    ],
)
def test_bad_rate_answers_400_and_stores_nothing(client, admin, db, data, message):
    sign_in(client, admin)
    response = admin_post(client, "/admin/fx-rates", data, HTMX)
    assert response.status_code == 400
    assert message in response.text
    assert db.session.scalar(select(func.count()).select_from(FxRate)) == 0


# --- conversions to review -------------------------------------------------------------------------------


def test_resolving_by_click_credits_once(client, admin, db, make_partner, make_asset, make_offer):
    offer = make_offer(revshare_pct="40")
    partner, asset = make_partner(), make_asset(offer=offer)
    click = make_click(db, partner, asset, offer)
    postback(client, subid="lost")
    conversion = db.session.scalars(select(Conversion)).one()
    sign_in(client, admin)
    path = f"/admin/conversions/{conversion.id}/resolve"
    assert admin_post(client, path, {"click_id": click.id}).status_code == 303
    assert partner_balance(db, partner.id) == 400
    assert admin_post(client, path, {"click_id": click.id}, HTMX).status_code == 409
    postback(client, subid="lost")  # the network's replay
    assert partner_balance(db, partner.id) == 400
    assert (conversion.needs_review, conversion.partner_id, conversion.offer_id) == (
        False,
        partner.id,
        offer.id,
    )
    assert audit_actions(db) == ["conversion.resolve"]


def test_resolving_by_partner_and_asset_uses_the_asset_percent(
    client, admin, db, make_partner, make_asset, make_offer
):
    offer = make_offer(revshare_pct="40")
    partner, asset = make_partner(), make_asset(offer=offer)
    asset.revshare_bps = 5000
    db.session.commit()
    postback(client, subid="lost")
    conversion = db.session.scalars(select(Conversion)).one()
    sign_in(client, admin)
    data = {"partner_id": partner.id, "asset_id": asset.id}
    assert admin_post(client, f"/admin/conversions/{conversion.id}/resolve", data, HTMX).status_code == 200
    assert partner_balance(db, partner.id) == 500


def test_resolving_a_conversion_without_a_rate_waits_for_the_rate(
    client, admin, db, make_partner, make_asset, make_offer
):
    offer = make_offer(revshare_pct="40")
    partner, asset = make_partner(), make_asset(offer=offer)
    click = make_click(db, partner, asset, offer)
    postback(client, subid=f"{partner.id}:{asset.id}:{click.id}", currency="GBP", amount="10")
    conversion = db.session.scalars(select(Conversion)).one()
    sign_in(client, admin)
    path = f"/admin/conversions/{conversion.id}/resolve"
    response = admin_post(client, path, {}, HTMX)
    assert response.status_code == 400 and "No rate for GBP yet" in response.text
    assert partner_balance(db, partner.id) == 0
    fx.set_rate("GBP", "1.15")
    db.session.commit()
    assert admin_post(client, path, {}).status_code == 303
    assert (conversion.amount_eur_cents, conversion.fx_rate) == (1150, "1.15")
    assert partner_balance(db, partner.id) == 460


def test_resolving_with_an_unknown_click_answers_400_and_credits_nothing(client, admin, things, db):
    sign_in(client, admin)
    response = admin_post(
        client, f"/admin/conversions/{things['conversion']}/resolve", {"click_id": "nope"}, HTMX
    )
    assert response.status_code == 400 and "No click with this id." in response.text
    assert db.session.get(Conversion, things["conversion"]).needs_review is True
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_rejected_review_conversion_earns_nothing_and_later_postbacks_are_stale(client, admin, things, db):
    sign_in(client, admin)
    assert admin_post(client, f"/admin/conversions/{things['conversion']}/reject", {}).status_code == 303
    conversion = db.session.get(Conversion, things["conversion"])
    assert (conversion.status, conversion.needs_review) == ("rejected", False)
    assert postback(client, txn_id="R1", status="confirmed").get_json()["reason"] == "stale_status"
    assert "Nothing to review." in client.get("/admin/conversions/review").text
    assert audit_actions(db) == ["conversion.reject"]


# --- postback log ----------------------------------------------------------------------------------------


def test_postback_log_filters_by_outcome_and_escapes_what_networks_sent(client, admin, things, db):
    postback(client, txn_id="<script>alert(1)</script>")
    postback(client, token="wrong-wrong-wrong", txn_id="T9")
    sign_in(client, admin)
    page = client.get("/admin/postbacks").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    rejected = client.get("/admin/postbacks?outcome=rejected", headers=HTMX).text
    assert "T9" in rejected and "alert(1)" not in rejected
    assert SECRET not in page and "wrong-wrong-wrong" not in page


def test_postback_log_with_an_unknown_outcome_answers_400(client, admin, db):
    sign_in(client, admin)
    assert client.get("/admin/postbacks?outcome=bogus").status_code == 400


def test_rate_set_by_admin_is_used_by_the_next_postback(client, admin, things, db):
    sign_in(client, admin)
    admin_post(client, "/admin/fx-rates", {"currency": "USD", "rate": "0.5"})
    postback(client, currency="USD", amount="10", txn_id="U1")
    conversion = db.session.scalars(select(Conversion).where(Conversion.txn_id == "U1")).one()
    assert (conversion.fx_rate, conversion.amount_eur_cents) == ("0.5", 500)
    offers.get_network(things["network"])  # still there
