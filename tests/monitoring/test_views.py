"""``/admin/monitoring``: admins only, the full page and its partials, the range switch, the charts with
their tables, the links of seed 004, and nothing at all when the flag is off."""

from __future__ import annotations

import re

import pytest

from contentflow.models.base import utcnow
from tests.conftest import sign_in

PAGE = "/admin/monitoring/"
CARDS = "/admin/monitoring/cards"
HTMX = {"HX-Request": "true"}


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def live_traffic(db, partner, asset, add_clicks, add_conversion, refresh):
    """Clicks and a sale of today (the real today: the views use the clock), rolled up."""
    now = utcnow()
    add_clicks(partner, asset, now, 12)
    add_conversion(partner, asset, now, 1500)
    refresh(now=now)


@pytest.mark.parametrize("path", [PAGE, CARDS])
@pytest.mark.parametrize(("who", "status"), [("anonymous", 302), ("partner", 403), ("admin", 200)], ids=str)
def test_dashboard_is_for_admins_only(client, db, partner, admin, path, who, status):
    if who != "anonymous":
        sign_in(client, partner if who == "partner" else admin)

    response = client.get(path)

    assert response.status_code == status
    if who == "anonymous":
        assert response.headers["Location"] == f"/admin/login?next={path}"


def test_page_shows_every_card_of_seed_004(admin_client, live_traffic):
    page = text_of(admin_client.get(PAGE))

    for card in (
        "revenue",
        "clicks",
        "conversions",
        "epc",
        "available",
        "reserved",
        "paid",
        "offer",
        "partners",
        "holds",
        "assignments",
        "postbacks",
    ):
        assert f'id="monitoring-card-{card}"' in page, card
    assert '<span class="muted">EPC</span>' in page
    assert re.search(r'id="monitoring-card-clicks">.*?<b>12</b>', page)
    assert "€15.00" in page


def test_page_shows_the_machinery(admin_client, live_traffic):
    page = text_of(admin_client.get(PAGE))

    assert 'id="monitoring-health"' in page
    assert 'id="monitoring-queues"' in page
    assert 'data-job="flush_clicks"' in page
    assert 'data-job="refresh_monitoring"' in page


def test_page_draws_the_charts_with_their_tables(admin_client, live_traffic):
    page = text_of(admin_client.get(PAGE))

    for chart in ("clicks", "revenue", "funnel", "assets", "partners"):
        figure = re.search(rf'<figure[^>]*id="monitoring-chart-{chart}".*?</figure>', page, re.S)
        assert figure, chart
        assert "<svg" in figure.group(0) and 'class="monitoring-sr-only"' in figure.group(0), chart
    assert "<script>" not in page  # the strict CSP: no inline script anywhere


def test_page_without_htmx_is_the_full_page(admin_client, live_traffic):
    response = admin_client.get(PAGE)

    assert response.status_code == 200
    assert "<html" in text_of(response)
    assert 'id="monitoring-dashboard"' in text_of(response)
    assert "HX-Request" in response.headers["Vary"]


def test_page_for_htmx_is_the_dashboard_partial(admin_client, live_traffic):
    response = admin_client.get(PAGE + "?days=30", headers=HTMX)

    body = text_of(response).strip()
    assert body.startswith('<div id="monitoring-dashboard">')
    assert "<html" not in body
    assert "Last 30 days" in body
    assert "HX-Request" in response.headers["Vary"]


def test_cards_for_htmx_are_the_cards_partial_that_polls_itself(admin_client, live_traffic):
    response = admin_client.get(CARDS + "?days=30", headers=HTMX)

    body = text_of(response).strip()
    assert body.startswith('<section id="monitoring-cards"')
    assert 'hx-get="/admin/monitoring/cards?days=30"' in body
    assert 'hx-trigger="every 30s"' in body
    assert "<html" not in body and 'id="monitoring-charts"' not in body


def test_cards_without_htmx_are_the_full_page(admin_client, live_traffic):
    response = admin_client.get(CARDS)

    assert "<html" in text_of(response)
    assert 'id="monitoring-charts"' in text_of(response)


def test_cards_do_not_poll_when_the_refresh_is_off(make_app, db, admin, live_traffic):
    db.session.commit()
    client = make_app(MONITORING_REFRESH_SECONDS=0).test_client()
    sign_in(client, admin)

    assert "hx-trigger" not in text_of(client.get(CARDS, headers=HTMX))


def test_range_switch_links_work_with_and_without_htmx(admin_client, live_traffic):
    page = text_of(admin_client.get(PAGE))

    for days in (7, 30, 90):
        assert f'href="/admin/monitoring/?days={days}" hx-get="/admin/monitoring/?days={days}"' in page
    assert 'aria-current="page">7 days' in page


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("days", ["14", "abc", "-7", "", "7.0", "²", "99999999999999999999"])
def test_a_range_not_offered_answers_400(admin_client, db, days, hx):
    response = admin_client.get(PAGE + f"?days={days}", headers=HTMX if hx else {})

    assert response.status_code == 400
    assert "The range is 7, 30 or 90 days." in text_of(response)


def test_money_cards_say_when_nothing_was_computed_yet(admin_client, db):
    page = text_of(admin_client.get(PAGE))

    assert "The figures have not been computed yet" in page


def test_partner_names_are_escaped(admin_client, make_partner, asset, add_clicks, add_conversion, refresh):
    now = utcnow()
    sly = make_partner("sly@example.com", display_name="<b>Sly</b>")
    add_clicks(sly, asset, now, 20)
    add_conversion(sly, asset, now, 900)
    refresh(now=now)

    page = text_of(admin_client.get(PAGE))

    assert "&lt;b&gt;Sly&lt;/b&gt;" in page
    assert "<b>Sly</b>" not in page


def test_payouts_links_point_to_the_core_pages_when_the_risk_pages_are_absent(make_app, db, admin):
    client = make_app(FEATURE_RISKBOT=False).test_client()
    sign_in(client, admin)

    links = re.search(r'id="monitoring-links">(.*?)</nav>', text_of(client.get(PAGE)), re.S).group(1)

    assert 'href="/admin/payouts?status=requested">Payouts to validate' in links
    assert 'href="/admin/payouts?status=paid">Payouts journal' in links
    assert "Holds" not in links


def test_links_point_to_the_risk_pages_while_the_risk_plugin_is_on(admin_client, db):
    page = text_of(admin_client.get(PAGE))

    links = re.search(r'id="monitoring-links">(.*?)</nav>', page, re.S).group(1)
    assert 'href="/ops/payouts/pending">Payouts to validate' in links
    assert 'href="/ops/holds">Holds' in links
    assert 'href="/admin/payouts?status=paid">Payouts journal' in links
    assert re.search(r'id="monitoring-card-holds">.*?href="/ops/holds"', page, re.S)


def test_links_keep_the_prefix_the_app_is_mounted_under(admin_client, db):
    page = text_of(admin_client.get(PAGE, environ_overrides={"SCRIPT_NAME": "/cf"}))

    links = re.search(r'id="monitoring-links">(.*?)</nav>', page, re.S).group(1)
    assert 'href="/cf/ops/payouts/pending"' in links
    assert 'href="/cf/ops/holds"' in links
    assert 'href="/cf/admin/payouts?status=paid"' in links


def test_admin_menu_links_to_the_dashboard(admin_client):
    assert 'href="/admin/monitoring/">Monitoring</a>' in text_of(admin_client.get("/admin/"))


def test_flag_off_removes_the_dashboard_and_its_menu_entry(make_app, db, admin):
    client = make_app(FEATURE_MONITORING=False).test_client()
    sign_in(client, admin)

    assert client.get(PAGE).status_code == 404
    assert client.get(CARDS, headers=HTMX).status_code == 404
    assert "/admin/monitoring" not in text_of(client.get("/admin/"))


def test_page_says_when_the_machinery_needs_a_look(admin_client, db):
    page = text_of(admin_client.get(PAGE))

    assert re.search(r'id="monitoring-health-verdict">Something needs a look', page)  # no worker runs here


def test_asset_titles_are_escaped_in_the_chart_and_its_table(
    admin_client, partner, make_asset, asset, add_clicks, add_conversion, refresh
):
    now = utcnow()
    sly = make_asset("<img src=x onerror=alert(1)>", offer=asset.offer)
    add_clicks(partner, sly, now, 20)
    add_conversion(partner, sly, now, 900)
    refresh(now=now)

    chart = re.search(
        r'<figure[^>]*id="monitoring-chart-assets".*?</figure>', text_of(admin_client.get(PAGE)), re.S
    ).group(0)

    assert "&lt;img src=x onerror=alert(1)&gt;" in chart  # the table and the bar's title
    assert "<img" not in chart


def test_a_failed_jobs_error_is_escaped(admin_client, db):
    from contentflow.queueing import job_catalog
    from plugins.monitoring.models import JobRun

    schedule = next(s for s in job_catalog().schedules if s.job_name == "flush_clicks")
    db.session.add(
        JobRun(
            schedule_id=schedule.schedule_id,
            job_name="flush_clicks",
            outcome="failed",
            ended_at=utcnow(),
            detail="ValueError: <script>alert(1)</script>",
            result_id="1-0",
        )
    )
    db.session.commit()

    page = text_of(admin_client.get(PAGE))

    assert "ValueError: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
