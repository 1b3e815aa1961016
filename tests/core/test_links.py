"""``/l/<code>``: where a visit is sent (only ever the offer URL from the database), the seeds' fallback
form, the 404 cases, and ``flask links create``."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from contentflow.models import Partner, ShortLink
from contentflow.services import click_capture, links, offers
from contentflow.services.clicks import STREAM_KEY

OFFER = "https://acme.example.net/go?sub="
SUBID = re.compile(r"^([a-z0-9]{10}):([a-z0-9]{10}):([a-z0-9]{14})$")


@pytest.fixture
def offer(make_offer):
    return make_offer()


@pytest.fixture
def asset(make_asset, offer):
    return make_asset(offer=offer)


@pytest.fixture
def link(db, partner, asset) -> ShortLink:
    link = links.get_or_create_link(partner.id, asset.id)
    db.session.commit()
    return link


def subid_of(response) -> str:
    location = response.headers["Location"]
    assert location.startswith(OFFER), location
    return location.removeprefix(OFFER)


def captured_count(redis) -> int:
    return redis.xlen(STREAM_KEY)


def test_visit_redirects_to_the_offer_url_with_partner_asset_and_click_in_the_subid(client, link):
    response = client.get(f"/l/{link.code}")
    assert response.status_code == 302
    subid = subid_of(response)
    assert len(subid) <= 64
    partner_id, asset_id, _click_id = SUBID.match(subid).groups()
    assert (partner_id, asset_id) == (link.partner_id, link.asset_id)


def test_each_visit_gets_its_own_click_id(client, link):
    first, second = (subid_of(client.get(f"/l/{link.code}")) for _ in range(2))
    assert first != second


def test_subid_fills_the_macro_wherever_the_offer_url_holds_it(client, db, make_network, make_asset, partner):
    url = "https://shop.example.net/r/{subid}/x?aff=7"
    offer = offers.create_offer("Path offer", make_network().name, url, cpc_cents=5)
    link = links.get_or_create_link(partner.id, make_asset(offer=offer).id)
    db.session.commit()
    location = client.get(f"/l/{link.code}").headers["Location"]
    expected = rf"https://shop\.example\.net/r/{partner.id}:{link.asset_id}:[a-z0-9]{{14}}/x\?aff=7"
    assert re.fullmatch(expected, location)


def test_head_request_is_redirected_too(client, link):
    response = client.head(f"/l/{link.code}")
    assert response.status_code == 302
    assert SUBID.match(subid_of(response))


@pytest.mark.parametrize(
    "query",
    [
        "?url=https://evil.example.com",
        "?next=//evil.example.com",
        "?redirect=%2F%2Fevil.example.com",
        "?to=https%3A%2F%2Fevil.example.com&url=javascript:alert(1)",
        "?url=%0d%0aLocation:%20https://evil.example.com",
    ],
)
def test_redirect_goes_to_the_offer_whatever_the_query_says(client, link, query):
    response = client.get(f"/l/{link.code}{query}")
    assert response.status_code == 302
    assert SUBID.match(subid_of(response))


@pytest.mark.parametrize(
    "path",
    [
        "/l/https:%2F%2Fevil.example.com",
        "/l/%2F%2Fevil.example.com",
        "/l//evil.example.com",
        "/l/evil.example.com",
        "/l/%5C%5Cevil.example.com",
    ],
)
def test_url_shaped_codes_answer_404_and_never_redirect(client, link, redis, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert captured_count(redis) == 0


def test_unknown_code_answers_the_404_page_and_records_nothing(client, link, redis):
    response = client.get("/l/NoSuchCode12")
    assert response.status_code == 404
    assert "This page does not exist." in response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert captured_count(redis) == 0


@pytest.mark.parametrize(("status", "answer"), [("quarantined", 410), ("failed", 404)])
def test_link_of_an_unservable_asset_answers_410_or_404_and_records_nothing(
    client, db, link, asset, redis, status, answer
):
    asset.status = status
    db.session.commit()
    response = client.get(f"/l/{link.code}")
    assert response.status_code == answer
    assert "Location" not in response.headers
    assert captured_count(redis) == 0


def test_link_of_a_quarantined_asset_answers_the_gone_page(client, db, link, asset):
    asset.status = "quarantined"
    db.session.commit()
    response = client.get(f"/l/{link.code}")
    assert (response.status_code, response.mimetype) == (410, "text/html")
    assert "This content was taken down." in response.get_data(as_text=True)


def test_head_of_a_quarantined_assets_link_answers_410(client, db, link, asset, redis):
    asset.status = "quarantined"
    db.session.commit()
    assert client.head(f"/l/{link.code}").status_code == 410
    assert captured_count(redis) == 0


def test_quarantined_asset_with_an_inactive_offer_still_answers_410(client, db, link, asset, offer):
    asset.status, offer.is_active = "quarantined", False
    db.session.commit()
    assert client.get(f"/l/{link.code}").status_code == 410


def test_link_of_an_inactive_offer_answers_404(client, db, link, offer, redis):
    offer.is_active = False
    db.session.commit()
    assert client.get(f"/l/{link.code}").status_code == 404
    assert captured_count(redis) == 0


def test_link_of_an_asset_without_offer_answers_404(client, db, partner, make_asset, redis):
    link = links.get_or_create_link(partner.id, make_asset(title="No offer").id)
    db.session.commit()
    assert client.get(f"/l/{link.code}").status_code == 404
    assert captured_count(redis) == 0


def test_asset_still_processing_is_served(client, db, link, asset):
    asset.status = "processing"
    db.session.commit()
    assert client.get(f"/l/{link.code}").status_code == 302


# --- the seeds' /l/<asset_id>?pid=<partner_id> ----------------------------------------------------------


def test_asset_id_with_pid_creates_the_partners_link_and_redirects(client, db, partner, asset, redis):
    response = client.get(f"/l/{asset.id}?pid={partner.id}")
    assert response.status_code == 302
    assert SUBID.match(subid_of(response)).groups()[:2] == (partner.id, asset.id)
    [link] = db.session.scalars(select(ShortLink)).all()
    assert (link.partner_id, link.asset_id) == (partner.id, asset.id)
    assert captured_count(redis) == 1


def test_asset_id_with_pid_reuses_the_existing_link(client, db, link):
    assert client.get(f"/l/{link.asset_id}?pid={link.partner_id}").status_code == 302
    assert db.session.scalars(select(ShortLink.code)).all() == [link.code]


@pytest.mark.parametrize("pid", ["nosuchpid0", "", "../admin"])
def test_asset_id_with_unknown_pid_answers_404_and_creates_nobody(client, db, asset, redis, pid):
    assert client.get(f"/l/{asset.id}", query_string={"pid": pid}).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Partner)) == 0
    assert db.session.scalar(select(func.count()).select_from(ShortLink)) == 0
    assert captured_count(redis) == 0


def test_unknown_asset_id_with_pid_answers_404(client, db, partner, redis):
    assert client.get(f"/l/nosuchasst?pid={partner.id}").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(ShortLink)) == 0


def test_quarantined_asset_id_with_pid_answers_410(client, db, partner, asset, redis):
    asset.status = "quarantined"
    db.session.commit()
    assert client.get(f"/l/{asset.id}?pid={partner.id}").status_code == 410
    assert db.session.scalar(select(func.count()).select_from(ShortLink)) == 0
    assert captured_count(redis) == 0


def test_failed_asset_id_with_pid_answers_404(client, db, partner, asset, redis):
    asset.status = "failed"
    db.session.commit()
    assert client.get(f"/l/{asset.id}?pid={partner.id}").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(ShortLink)) == 0


def test_short_link_code_followed_by_pid_is_read_as_an_asset_id(client, db, link, make_partner):
    other = make_partner("other@example.com")
    assert client.get(f"/l/{link.code}?pid={other.id}").status_code == 404


# --- flask links create ---------------------------------------------------------------------------------


@pytest.fixture
def cli(app, db):
    """``flask <args>`` in the test's transaction, after committing what the test set up."""
    runner = app.test_cli_runner()

    def invoke(*args: str):
        db.session.commit()
        with force_locale("en"):
            return runner.invoke(args=list(args))

    return invoke


def test_links_create_prints_the_absolute_short_url_last(cli, db, partner, asset):
    result = cli("links", "create", "PAT@example.com", asset.id)
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[-1]
    [link] = db.session.scalars(select(ShortLink)).all()
    assert url == f"https://cf.example.org/l/{link.code}"
    assert (link.partner_id, link.asset_id) == (partner.id, asset.id)


def test_links_create_twice_prints_the_same_url(cli, partner, asset):
    first = cli("links", "create", partner.email, asset.id).stdout
    assert cli("links", "create", partner.email, asset.id).stdout == first


def test_links_create_url_redirects_to_the_offer(cli, client, partner, asset):
    url = cli("links", "create", partner.email, asset.id).stdout.strip()
    assert client.get(url.removeprefix("https://cf.example.org")).status_code == 302


def test_links_create_for_an_unknown_partner_exits_1(cli, db, asset):
    result = cli("links", "create", "nobody@example.com", asset.id)
    assert result.exit_code == 1
    assert "no partner with the e-mail nobody@example.com" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(ShortLink)) == 0


def test_links_create_for_an_unknown_asset_exits_1(cli, db, partner):
    result = cli("links", "create", partner.email, "nosuchasst")
    assert result.exit_code == 1
    assert "no asset with the id nosuchasst" in result.stderr


def test_links_create_with_a_malformed_email_exits_1(cli, asset):
    result = cli("links", "create", "not-an-email", asset.id)
    assert result.exit_code == 1
    assert "not valid" in result.stderr


def test_links_create_warns_when_the_asset_is_quarantined(cli, db, partner, asset):
    asset.status = "quarantined"
    result = cli("links", "create", partner.email, asset.id)
    assert result.exit_code == 0
    assert "quarantined: its link answers 410" in result.stderr


def test_links_create_warns_when_the_asset_failed(cli, db, partner, asset):
    asset.status, asset.error = "failed", "the source answered HTTP 404"
    result = cli("links", "create", partner.email, asset.id)
    assert result.exit_code == 0
    assert "failed: its link answers 404" in result.stderr


# --- the fast path (FastRedirect) -----------------------------------------------------------------------


def test_redirect_is_answered_below_flask_request_handling(client, db, make_partner, make_asset, make_offer):
    """No app-wide hook ran: no security headers, no session cookie, no request id."""
    partner, asset = make_partner(), make_asset(offer=make_offer())
    code = links.get_or_create_link(partner.id, asset.id).code
    db.session.commit()
    response = client.get(f"/l/{code}?utm_source=pinterest&fbclid=abc")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://acme.example.net/go?sub=")
    assert "Content-Security-Policy" not in response.headers
    assert "X-Request-ID" not in response.headers
    assert "Set-Cookie" not in response.headers


def test_unknown_code_falls_through_to_the_apps_404_page(client, db):
    response = client.get("/l/nosuchcode12")
    assert response.status_code == 404
    assert "Content-Security-Policy" in response.headers  # the Flask app rendered it


def test_fast_path_failure_lets_the_app_answer(client, db, make_partner, make_asset, make_offer, monkeypatch):
    partner, asset = make_partner(), make_asset(offer=make_offer())
    code = links.get_or_create_link(partner.id, asset.id).code
    db.session.commit()
    calls = []
    real = click_capture.capture_by_code

    def fail_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(click_capture, "capture_by_code", fail_once)
    response = client.get(f"/l/{code}")
    assert response.status_code == 302
    assert len(calls) == 2
    assert "Content-Security-Policy" in response.headers  # answered by the Flask view
