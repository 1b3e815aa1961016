"""The main partner flows in a real browser: sign-up by e-mail link, sign-out, language, admin access.

Selectors are ids, roles and form actions rather than wording, so the tests hold in every language.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, Response, expect
from sqlalchemy import func, select

from contentflow.models import Partner
from tests.browser.conftest import LiveSite

SIGN_IN_LINK = re.compile(r"https?://\S+/partner/login\?token=[\w-]+")
NEWCOMER = "newcomer@example.com"
#: Set to a path (e.g. /tmp/cf-portal.png) to keep a screenshot of the portal reached by the sign-up.
PORTAL_SCREENSHOT = os.environ.get("CF_PORTAL_SCREENSHOT", "")


def run_worker(app: Flask) -> bool:
    """Run every queued job once in this process, as the real worker would. True if any job ran."""
    from contentflow.queueing.worker import make_worker

    return make_worker(app, simple=True).work(burst=True)


def mark_document(page: Page) -> None:
    """Tag the current document: the tag survives an htmx swap and disappears with a page load."""
    page.evaluate("window.cfSameDocument = true")


def is_same_document(page: Page) -> bool:
    return page.evaluate("window.cfSameDocument === true")


def submit_magic_form(page: Page, email: str) -> Response:
    """Type ``email`` in the landing form and submit it; the answer of POST /partner/magic."""
    page.fill("form#auth-magic-form input[name=email]", email)
    with page.expect_response(lambda answer: answer.url.endswith("/partner/magic")) as answer:
        page.click("form#auth-magic-form button[type=submit]")
    return answer.value


def read_sign_in_link(page: Page, site: LiveSite, email: str) -> str:
    """The newest sign-in link sent to ``email``, read in the dev outbox, rewritten onto the live server."""
    page.goto(site.url("/dev/outbox"))
    message = page.locator("article.outbox-message", has_text=email).first
    match = SIGN_IN_LINK.search(message.locator("pre").inner_text())
    assert match, "no sign-in link in the e-mail"
    return site.local(match.group(0))


def request_link_by_email(page: Page, site: LiveSite, email: str) -> str:
    """The whole e-mail leg: the landing form, the worker delivering, the link read in the outbox."""
    page.goto(site.url("/partners"))
    assert submit_magic_form(page, email).status == 200
    assert run_worker(site.app), "no e-mail job was queued"
    return read_sign_in_link(page, site, email)


def sign_in_with_link(page: Page, site: LiveSite, link: str) -> None:
    """Open a sign-in link and press the confirmation button (the GET alone signs no one in)."""
    page.goto(link)
    page.click("#confirm-login")
    expect(page).to_have_url(site.url("/partner/portal"))


def sign_in_partner(page: Page, site: LiveSite, committed: Any, email: str = "pat@example.com") -> None:
    """A partner signed in through a link issued directly (the e-mail leg has its own tests)."""
    from contentflow.services import magic_links, partners

    partner = partners.get_or_create_partner(email, locale="fr")
    token = magic_links.issue_token(partner)
    committed.session.commit()
    sign_in_with_link(page, site, site.local(magic_links.login_url(token)))


@pytest.mark.browser
@pytest.mark.parametrize("cf_locale", ["fr-FR"])
def test_newcomer_signs_in_by_emailed_link_and_lands_on_french_portal(
    cf_page: Page, cf_site: LiveSite
) -> None:
    page = cf_page
    landing = cf_site.url("/partners")
    page.goto(landing)
    mark_document(page)

    answer = submit_magic_form(page, NEWCOMER)

    assert answer.status == 200
    assert answer.request.headers.get("hx-request") == "true"
    panel = page.locator("#auth-magic-form[role=status]")
    expect(panel).to_contain_text(NEWCOMER)
    expect(panel.locator("h2")).not_to_be_empty()
    expect(page.locator("form#auth-magic-form")).to_have_count(0)
    assert page.url == landing
    assert is_same_document(page), "the form was not swapped in place: the page reloaded"

    assert run_worker(cf_site.app), "no e-mail job was queued"
    link = read_sign_in_link(page, cf_site, NEWCOMER)
    page.goto(link)
    expect(page.locator("#confirm-login")).to_be_visible()
    page.click("#confirm-login")

    expect(page).to_have_url(cf_site.url("/partner/portal"))
    expect(page.locator("h1")).to_contain_text(NEWCOMER)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    if PORTAL_SCREENSHOT:
        page.screenshot(path=PORTAL_SCREENSHOT, full_page=True)


@pytest.mark.browser
def test_sign_in_link_opened_again_after_use_shows_410(cf_page: Page, cf_site: LiveSite) -> None:
    link = request_link_by_email(cf_page, cf_site, NEWCOMER)
    sign_in_with_link(cf_page, cf_site, link)

    response = cf_page.goto(link)

    assert response is not None and response.status == 410
    expect(cf_page.locator(".error-page .code")).to_have_text("410")
    expect(cf_page.locator("#confirm-login")).to_have_count(0)


@pytest.mark.browser
def test_invalid_email_shows_inline_error_and_creates_no_partner(
    cf_page: Page, cf_site: LiveSite, committed: Any
) -> None:
    page = cf_page
    landing = cf_site.url("/partners")
    page.goto(landing)
    mark_document(page)

    answer = submit_magic_form(page, "not-an-email")

    assert answer.status == 400
    form = page.locator("form#auth-magic-form")
    expect(form.locator(".field-error[role=alert]")).to_be_visible()
    expect(form.locator("input[name=email]")).to_have_value("not-an-email")
    assert page.url == landing
    assert is_same_document(page), "the error did not swap in place: the page reloaded"
    assert committed.session.scalar(select(func.count()).select_from(Partner)) == 0
    assert not run_worker(cf_site.app), "an e-mail was queued for an invalid address"


@pytest.mark.browser
def test_sign_out_returns_to_landing_and_portal_then_redirects_there(
    cf_page: Page, cf_site: LiveSite, committed: Any
) -> None:
    page = cf_page
    sign_in_partner(page, cf_site, committed)

    page.click("header.topbar form[action$='/partner/logout'] button[type=submit]")

    expect(page).to_have_url(cf_site.url("/partners"))
    expect(page.locator("header.topbar form[action$='/partner/logout']")).to_have_count(0)
    response = page.goto(cf_site.url("/partner/portal"))
    assert response is not None and response.request.redirected_from is not None
    assert response.request.redirected_from.url == cf_site.url("/partner/portal")
    assert page.url == cf_site.url("/partners")


@pytest.mark.browser
def test_partner_choosing_english_gets_pages_in_english(
    cf_page: Page, cf_site: LiveSite, committed: Any
) -> None:
    page = cf_page
    sign_in_partner(page, cf_site, committed)
    expect(page.locator("html")).to_have_attribute("lang", "fr")

    page.select_option("form[action$='/partner/locale'] select[name=locale]", "en")
    page.click("form[action$='/partner/locale'] button[type=submit]")

    expect(page).to_have_url(cf_site.url("/partner/portal"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("select[name=locale]")).to_have_value("en")
    page.reload()  # the browser still asks for French: the choice is the partner's, stored
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.browser
def test_admin_signs_in_with_password_and_sees_admin_home(
    cf_page: Page, cf_site: LiveSite, committed: Any
) -> None:
    from contentflow.services import admins

    admins.create_admin("boss@example.com", "correct horse battery staple")
    committed.session.commit()
    page = cf_page
    page.goto(cf_site.url("/admin/login"))

    page.fill("main form input[name=email]", "boss@example.com")
    page.fill("main form input[name=password]", "correct horse battery staple")
    page.click("main form button[type=submit]")

    expect(page).to_have_url(cf_site.url("/admin/"))
    expect(page.locator("header.topbar form[action$='/admin/logout']")).to_have_count(1)
    expect(page.locator("main table")).to_contain_text("admin.login")


@pytest.mark.browser
def test_signed_in_partner_gets_403_on_admin_home(cf_page: Page, cf_site: LiveSite, committed: Any) -> None:
    sign_in_partner(cf_page, cf_site, committed)

    response = cf_page.goto(cf_site.url("/admin/"))

    assert response is not None and response.status == 403
    expect(cf_page.locator("main table")).to_have_count(0)
