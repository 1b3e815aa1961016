"""The earnings plugin in a real browser: a signed-in partner opens the earnings page, sees the charts
drawn from their ledger, withdraws without a page load and sees the balance and history change; a refused
amount shows its message in place."""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_partner_flows import is_same_document, mark_document, sign_in_partner

#: Set to a path (e.g. /tmp/cf-earnings.png) to keep a screenshot of the earnings page after the withdrawal.
EARNINGS_SCREENSHOT = os.environ.get("CF_EARNINGS_SCREENSHOT", "")


def fund(committed: Any, email: str = "pat@example.com") -> None:
    """Give the partner PayPal details, 120.00 € credited long ago and 8.00 € two days ago, committed."""
    from contentflow.services import ledger, partners

    partner = partners.find_partner_by_email(email)
    partner.payout_method = "paypal"
    partner.payout_paypal_email = "pat.paypal@example.com"
    now = datetime.now(UTC)
    for cents, at in ((12_000, now - timedelta(days=60)), (800, now - timedelta(days=2))):
        ledger.record_entry(partner.id, "conversion_share", cents, f"test:{uuid.uuid4().hex}", created_at=at)
    committed.session.commit()


@pytest.mark.browser
def test_partner_opens_earnings_sees_the_chart_and_withdraws(
    cf_page: Page, cf_site: LiveSite, committed: Any
) -> None:
    page = cf_page
    sign_in_partner(page, cf_site, committed)
    fund(committed)

    page.goto(cf_site.url("/partners/earnings"))

    expect(page.locator("html")).to_have_attribute("lang", "fr")
    chart = page.locator("svg#earnings-chart-earnings")
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).to_have_count(30)
    tallest = max(float(bar.get_attribute("height") or 0) for bar in chart.locator("rect").all())
    assert tallest > 0, "the day with earnings draws no bar"
    available = page.locator("#partner-balances [data-figure=available]")
    before = available.inner_text()
    mark_document(page)

    page.fill("#earnings-withdraw input[name=amount]", "25,50")
    page.select_option("#earnings-withdraw select[name=method]", "paypal")
    with page.expect_response(lambda answer: answer.url.endswith("/partners/withdraw")) as answer:
        page.click("#earnings-withdraw button[type=submit]")

    assert answer.value.status == 200
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(page.locator("#earnings-withdraw .flash.success")).to_be_visible()
    expect(available).not_to_have_text(before)
    expect(page.locator("#partner-payouts tbody tr").first).to_contain_text(re.compile(r"25,50"))
    expect(page.locator("#earnings-entries tbody tr").first).to_have_attribute("data-kind", "withdrawal")
    assert is_same_document(page), "the withdrawal reloaded the page"
    if EARNINGS_SCREENSHOT:
        page.screenshot(path=EARNINGS_SCREENSHOT, full_page=True)


@pytest.mark.browser
def test_refused_withdrawal_shows_the_reason_in_place(
    cf_page: Page, cf_site: LiveSite, committed: Any
) -> None:
    page = cf_page
    sign_in_partner(page, cf_site, committed)
    fund(committed)
    page.goto(cf_site.url("/partners/earnings"))
    mark_document(page)

    page.fill("#earnings-withdraw input[name=amount]", "5")
    with page.expect_response(lambda answer: answer.url.endswith("/partners/withdraw")) as answer:
        page.click("#earnings-withdraw button[type=submit]")

    assert answer.value.status == 400
    expect(page.locator("#earnings-withdraw .field-error[role=alert]")).to_be_visible()
    expect(page.locator("#earnings-withdraw input[name=amount]")).to_have_value("5")
    expect(page.locator("#partner-payouts tbody tr")).to_have_count(1)  # "no withdrawal yet"
    assert is_same_document(page)


@pytest.mark.browser
def test_leaderboard_switches_to_earnings_without_a_page_load(
    cf_page: Page, cf_site: LiveSite, committed: Any
) -> None:
    page = cf_page
    sign_in_partner(page, cf_site, committed)
    fund(committed)
    page.goto(cf_site.url("/partners/leaderboard"))
    mark_document(page)

    page.click("#earnings-leaderboard a[data-metric=earnings]")

    expect(page.locator("#earnings-leaderboard")).to_have_attribute("data-metric", "earnings")
    expect(page).to_have_url(re.compile(r"/partners/leaderboard\?by=earnings"))
    expect(page.locator("#earnings-leaderboard tr[aria-current=true] mark")).to_have_text("p…@example.com")
    assert is_same_document(page)
