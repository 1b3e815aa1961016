"""BYOP and the share kit in a real browser: a partner brings a post, lands on its kit, copies the share
text, and sees the share in the log without a page load."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_partner_flows import is_same_document, mark_document, sign_in_partner


@pytest.mark.browser
def test_partner_brings_a_post_copies_its_text_and_sees_the_share_logged(
    cf_page: Page, cf_site: LiveSite, committed: Any
) -> None:
    from contentflow.services import offers

    offers.create_network("acme", "s3cret-s3cret-s3cret")
    offers.create_offer("Acme", "acme", "https://acme.example.net/go?sub={subid}", cpc_cents=12)
    committed.session.commit()
    page = cf_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in_partner(page, cf_site, committed)

    page.goto(cf_site.url("/byop/new"))
    page.fill("input[name=title]", "Trois outils <IA>")
    page.fill("input[name=cta]", "Essaie :")
    page.click("#byop-form button[type=submit]")

    expect(page).to_have_url(re.compile(r"/byop/kit\?id=\w+$"))
    text = page.locator("#sharekit-text")
    expect(text).to_contain_text("Trois outils <IA>")
    expect(text).to_contain_text("#ad")
    whatsapp = re.compile(r"^https://wa\.me/\?text=")
    expect(page.locator("a[data-channel=whatsapp]")).to_have_attribute("href", whatsapp)
    expect(page.locator("#sharekit-log li[data-channel]")).to_have_count(0)

    mark_document(page)
    page.click("button[data-copy-target='#sharekit-text']")
    expect(page.locator("#sharekit-log li[data-channel=copy]")).to_have_count(1)
    assert is_same_document(page), "the copy reloaded the page"
    assert "Trois outils <IA>" in page.evaluate("navigator.clipboard.readText()")

    # An intent opens the platform's own share page in a new tab (a stand-in here) and logs the share.
    page.context.route(
        re.compile(r"^https://wa\.me/"), lambda route: route.fulfill(body="wa", content_type="text/html")
    )
    with page.expect_popup() as popup:
        page.click("a[data-channel=whatsapp]")
    popup.value.wait_for_load_state()
    assert popup.value.url.startswith("https://wa.me/?text=Trois%20outils%20%3CIA%3E")
    expect(page.locator("#sharekit-log li[data-channel=whatsapp]")).to_have_count(1)
    assert is_same_document(page), "the intent reloaded the kit"
