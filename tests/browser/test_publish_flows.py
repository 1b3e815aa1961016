"""The publish plugin in a real browser: a partner connects a Reddit account through the authorization
flow (a local stand-in for Reddit's authorize and token endpoints), approves an assignment in the queue
without a page load, and sees it posted as the queue refreshes itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from werkzeug import Request, Response

from tests.browser.conftest import LiveSite
from tests.browser.test_partner_flows import is_same_document, mark_document, sign_in_partner
from tests.publish.conftest import FakeReddit, reddit_settings


@pytest.fixture
def reddit_on_fake(app: Flask, httpserver) -> Iterator[None]:
    """The session app (which the live server forks) speaks to a stand-in Reddit for this test."""
    saved = {key: app.config[key] for key in reddit_settings(httpserver)}
    app.config.update(reddit_settings(httpserver))
    yield
    app.config.update(saved)


def fake_reddit_consent(httpserver, site: LiveSite) -> None:
    """Reddit's authorize page, consenting at once: back to the callback with a code and the state."""

    def consent(request: Request) -> Response:
        query = parse_qs(urlsplit(request.url).query)
        back = site.local(query["redirect_uri"][0])
        return Response(
            status=302,
            headers={"Location": f"{back}?{urlencode({'state': query['state'][0], 'code': 'c0de'})}"},
        )

    httpserver.expect_request("/api/v1/authorize").respond_with_handler(consent)
    httpserver.expect_request("/api/v1/access_token", method="POST").respond_with_json(
        {"access_token": "at-1", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt-1"}
    )
    httpserver.expect_request("/api/v1/me").respond_with_json({"id": "u42", "name": "pat_r"})


@pytest.mark.browser
def test_partner_connects_reddit_approves_and_sees_the_post(
    reddit_on_fake: None, cf_page: Page, cf_site: LiveSite, committed: Any, httpserver
) -> None:
    page = cf_page
    sign_in_partner(page, cf_site, committed)
    fake_reddit_consent(httpserver, cf_site)
    fake = FakeReddit(httpserver)

    page.goto(cf_site.url("/publish/accounts"))
    page.click("[data-platform=reddit] a.button")
    expect(page).to_have_url(cf_site.url("/publish/accounts"))
    expect(page.locator("#publish-accounts article")).to_contain_text("pat_r")

    from contentflow.models import Asset
    from contentflow.services import assets, offers, partners
    from plugins.publish.services import queue

    offers.create_network("acme", "s3cret-s3cret-s3cret")
    offer = offers.create_offer("Acme", "acme", "https://acme.example.net/go?sub={subid}", cpc_cents=12)
    asset: Asset = assets.create_asset("Trois outils IA", offer=offer)
    partner = partners.find_partner_by_email("pat@example.com")
    outcome = queue.create(partner.id, asset.id, "reddit")
    committed.session.commit()

    page.goto(cf_site.url("/publish/queue"))
    row = page.locator(f"#publish-assignment-{outcome.assignment_id}")
    expect(row).to_have_attribute("data-status", "pending")
    mark_document(page)
    row.locator("form[action$='/approve'] button").click()
    expect(page.locator(f"#publish-assignment-{outcome.assignment_id}")).to_have_attribute(
        "data-status", "approved"
    )
    assert is_same_document(page), "the approval reloaded the page"

    from plugins.publish.jobs import publish_due

    with cf_site.app.app_context():
        assert publish_due() == "publish_due: 1 posted"
    # The queue polls itself while something is on its way: the post shows up without a reload.
    posted = page.locator(f"#publish-assignment-{outcome.assignment_id}")
    expect(posted).to_have_attribute("data-status", "posted", timeout=15_000)
    expect(posted.locator("a[target=_blank]")).to_have_attribute(
        "href", "https://www.reddit.com/r/x/comments/p1/"
    )
    assert is_same_document(page)
    assert len(fake.submissions) == 1
