"""The partner's earnings page: signed-in partners only; every figure equals the core balances service's
on a seeded ledger; the daily charts (SVG) with their table; earnings per video adding up to the
confirmed earnings; each section also answered alone to htmx. The ledger's pages and CSV:
test_ledger_entries.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from contentflow.models import Conversion
from contentflow.services import balances, ledger
from tests.conftest import add_click, sign_in
from tests.earnings.conftest import NOW, english

HTMX = {"HX-Request": "true"}


def figure(page: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', page)
    assert match, f"no figure {name}"
    return match.group(1).strip()


# --- who may see it --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/partners/earnings",
        "/partners/earnings/activity",
        "/partners/earnings/entries",
        "/partners/earnings/ledger.csv",
    ],
)
def test_anonymous_visitor_is_sent_to_sign_in_and_sees_no_figure(client, db, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"] == "/partners"
    assert "data-figure" not in response.get_data(as_text=True)


def test_anonymous_htmx_request_gets_an_hx_redirect_to_sign_in(client, db):
    response = client.get("/partners/earnings/activity", headers=HTMX)
    assert response.headers["HX-Redirect"] == "/partners"


def test_admin_gets_403_on_the_earnings_page(admin_client):
    assert admin_client.get("/partners/earnings").status_code == 403


# --- figures ---------------------------------------------------------------------------------------


def test_page_figures_equal_the_balances_service(partner_client, seeded):
    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    expected = balances.get_balances(seeded.id)
    assert expected.paid_cents == 2_500 and expected.pending_withdrawals_cents == 1_500
    assert figure(page, "confirmed") == english(expected.confirmed_cents)
    assert figure(page, "reserved") == english(expected.reserved_cents)
    assert figure(page, "paid") == english(expected.paid_cents)
    assert figure(page, "pending") == english(expected.pending_withdrawals_cents)
    assert figure(page, "available") == english(expected.available_cents)
    assert figure(page, "epc") == english(balances.current_offer(seeded.id).epc_cents)


def test_page_shows_the_reserve_release_dates(partner_client, seeded):
    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    releases = balances.get_balances(seeded.id).releases
    assert releases
    for release in releases:
        assert f"<td>{release.on.isoformat()}</td><td>{english(release.amount_cents)}</td>" in page


def test_period_figures_count_billable_clicks_and_credited_earnings(partner_client, seeded):
    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    assert figure(page, "clicks") == "3"
    assert figure(page, "period-earnings") == english(1_234 + 2_000 - 300)


def test_page_shows_no_figure_of_another_partner(partner_client, seeded, make_partner, make_entry):
    stranger = make_partner("stranger@example.com")
    make_entry(stranger, 77_700, at=NOW - timedelta(days=2))

    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    assert english(77_700) not in page
    assert figure(page, "confirmed") == english(balances.get_balances(seeded.id).confirmed_cents)


# --- charts ------------------------------------------------------------------------------------------


def test_page_draws_a_bar_per_day_of_the_period_in_svg(partner_client, seeded):
    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    for chart in ("earnings-chart-earnings", "earnings-chart-clicks"):
        svg = re.search(rf'<svg id="{chart}".*?</svg>', page, re.S).group(0)
        assert svg.count("<rect ") == 30
        assert "style=" not in svg and "<script" not in svg


def test_chart_numbers_are_in_a_table_too(partner_client, seeded):
    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    table = re.search(r'<table id="earnings-activity-table">.*?</table>', page, re.S).group(0)
    day = (NOW - timedelta(days=3)).date().isoformat()
    assert f"<tr><td>{day}</td><td>{english(1_234)}</td><td>2</td></tr>" in table
    assert table.count("<tr>") == 31  # the header and 30 days


def test_a_reversal_day_draws_a_bar_below_the_zero_line(db, funded, make_entry):
    from plugins.earnings.charts import column_chart

    chart = column_chart([100, -50, 0])

    assert [bar.is_negative for bar in chart.bars] == [False, True, False]
    assert chart.bars[0].y + chart.bars[0].height == pytest.approx(chart.zero)
    assert chart.bars[1].y == pytest.approx(chart.zero)
    assert chart.bars[2].height == 0


@pytest.mark.parametrize(("raw", "days"), [("90", 90), ("30", 30), ("7", 30), ("x", 30)])
def test_period_is_thirty_or_ninety_days(partner_client, seeded, raw, days):
    page = partner_client.get(f"/partners/earnings?days={raw}").get_data(as_text=True)
    assert f'<section id="earnings-activity" class="card" data-days="{days}">' in page


def test_htmx_period_switch_answers_the_activity_partial_only(partner_client, seeded):
    response = partner_client.get("/partners/earnings/activity?days=90", headers=HTMX)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.startswith('<section id="earnings-activity" class="card" data-days="90">')
    assert "<html" not in page and "partner-balances" not in page
    assert re.search(r'<svg id="earnings-chart-clicks".*?</svg>', page, re.S).group(0).count("<rect ") == 90


def test_plain_period_switch_answers_the_whole_page(partner_client, seeded):
    page = partner_client.get("/partners/earnings/activity?days=90").get_data(as_text=True)
    assert "<html" in page and 'data-days="90"' in page and 'id="partner-balances"' in page


# --- earnings per video ----------------------------------------------------------------------------------


def test_earnings_per_video_add_up_to_the_confirmed_earnings(partner_client, db, funded, asset, make_entry):
    for _ in range(3):
        add_click(db, funded, asset, NOW - timedelta(days=2))
    ledger.accrue_click_earnings((NOW - timedelta(days=2)).date(), now=NOW)
    add_click(db, funded, asset, NOW - timedelta(minutes=1))  # today's: not credited yet, not counted
    conversion = Conversion(
        network_id=asset.offer.network_id,
        txn_id="T-1",
        amount_minor=5_000,
        partner_id=funded.id,
        asset_id=asset.id,
        offer_id=asset.offer_id,
        amount_eur_cents=5_000,
        status="confirmed",
    )
    db.session.add(conversion)
    db.session.flush()
    make_entry(funded, 2_000, conversion_id=conversion.id, at=NOW - timedelta(days=1))
    make_entry(funded, 150, kind="referral_bonus", at=NOW - timedelta(days=1))

    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    table = re.search(r'<table id="earnings-assets-table">.*?</table>', page, re.S).group(0)
    assert f"<td>Three AI tools</td>\n        <td>{english(3 * 12 + 2_000)}</td>" in table
    rows = re.findall(r'data-kind="(\w+)">.*?<td>([^<]*)</td>\s*</tr>', table, re.S)
    assert dict(rows)["no_asset"] == english(10_000 + 150)
    assert (
        len(re.search(r'<svg id="earnings-chart-assets".*?</svg>', page, re.S).group(0).split("<rect ")) == 3
    )


def test_earnings_per_video_lines_sum_to_confirmed(db, funded, asset, make_entry):
    from plugins.earnings.services import statement

    add_click(db, funded, asset, NOW - timedelta(days=2))
    ledger.accrue_click_earnings((NOW - timedelta(days=2)).date(), now=NOW)
    make_entry(funded, -40, kind="adjustment")

    confirmed = balances.get_balances(funded.id).confirmed_cents
    lines = statement.earnings_by_asset(funded.id, confirmed)

    assert sum(line.cents for line in lines) == confirmed
    assert [line.kind for line in lines] == ["asset", "no_asset"]


def test_referral_section_shows_the_code_and_share_link_never_the_id(partner_client, partner, db):
    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    assert f'value="https://cf.example.org/partners?ref={partner.referral_code}"' in page
    assert partner.id not in page


def test_nav_entry_leads_to_the_earnings_page(partner_client, db):
    assert 'href="/partners/earnings"' in partner_client.get("/partner/portal").get_data(as_text=True)


def test_signed_in_partner_reaches_the_page(client, partner):
    sign_in(client, partner)
    assert client.get("/partners/earnings").status_code == 200
