"""The landing's pitch (the core's /partners with the plugin's slot) and the FAQ: live numbers from the
settings, the headline offer and, signed in, the partner's own balances; French by default; flag off
leaves the core's plain landing and no route, menu entry or schedule."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contentflow.queueing.scheduling import declared_schedules
from tests.conftest import csrf_token_of, sign_in


def pitch_of(page: str) -> str:
    match = re.search(r'<section id="earnings-pitch".*?</section>', page, re.S)
    assert match, "no pitch on the landing"
    return match.group(0)


def test_landing_pitch_shows_the_headline_cpc_and_payout_terms(client, db, make_offer):
    make_offer("Small", cpc_cents=8)
    make_offer("Best", cpc_cents=15)

    pitch = pitch_of(client.get("/partners").get_data(as_text=True))

    assert "Earn up to €0.15 for every billable click" in pitch
    assert "Withdraw from €10.00, by PayPal, Bank transfer (IBAN)." in pitch
    assert "you earn 10 % of what they earn in their first 7 days" in pitch
    assert 'href="/partners/leaderboard"' in pitch and 'href="/partners/faq"' in pitch


def test_landing_pitch_follows_the_settings(make_app, db):
    app = make_app(PAYOUT_MIN_EUR=Decimal("25"), PAYOUT_METHODS=("bank",), REFERRAL_BONUS_PCT=Decimal("0.05"))

    pitch = pitch_of(
        app.test_client().get("/partners", headers={"Accept-Language": "en"}).get_data(as_text=True)
    )

    assert "Withdraw from €25.00, by Bank transfer (IBAN)." in pitch
    assert "you earn 5 % of what" in pitch


@pytest.mark.parametrize(("language", "shown"), [("en", "12.5"), ("fr", "12,5")])
def test_referral_percent_is_written_in_the_readers_language(make_app, db, language, shown):
    client = make_app(REFERRAL_BONUS_PCT=Decimal("0.125")).test_client()
    headers = {"Accept-Language": language}

    pitch = pitch_of(client.get("/partners", headers=headers).get_data(as_text=True))
    faq = client.get("/partners/faq", headers=headers).get_data(as_text=True)

    assert shown in re.search(r'data-figure="referral-terms">([^<]*)<', pitch).group(1)
    assert shown in re.search(r'data-figure="faq-referral">([^<]*)<', faq).group(1)


def test_no_referral_bonus_promised_when_it_lasts_no_day(make_app, db):
    client = make_app(REFERRAL_BONUS_DAYS=0).test_client()

    assert 'data-figure="referral-terms"' not in pitch_of(client.get("/partners").get_data(as_text=True))
    assert 'data-figure="faq-referral"' not in client.get("/partners/faq").get_data(as_text=True)


def test_landing_without_an_offer_makes_no_cpc_promise(client, db):
    assert 'data-figure="headline-cpc"' not in pitch_of(client.get("/partners").get_data(as_text=True))


def test_landing_keeps_the_magic_link_form_below_the_pitch(client, db):
    page = client.get("/partners").get_data(as_text=True)
    assert page.index('id="earnings-pitch"') < page.index('id="auth-magic-form"')


def test_landing_is_french_by_default(client, db):
    page = client.browser_language(None).get("/partners").get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "10,00" in pitch_of(page)  # French money format


def test_landing_is_english_when_the_browser_asks(client, db):
    assert '<html lang="en">' in client.get("/partners").get_data(as_text=True)


def test_landing_with_the_plugin_off_is_the_cores_plain_landing(make_app, db):
    page = make_app(FEATURE_EARNINGS=False).test_client().get("/partners").get_data(as_text=True)

    assert 'id="auth-magic-form"' in page
    assert "earnings-pitch" not in page and "/partners/leaderboard" not in page


# --- FAQ ------------------------------------------------------------------------------------------------


def test_faq_is_public_and_quotes_the_settings(client, db):
    response = client.get("/partners/faq")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "You can withdraw from €10.00, by PayPal, Bank transfer (IBAN)" in page
    assert "Withdrawals of €200.00 or more wait for an admin’s approval" in page
    assert "30 % of what you earned in the last 30 days is held in reserve" in page
    assert "you keep 40 % of the sales it brings" in page
    assert "(3 posts a day for a new account)" in page
    assert 'data-figure="faq-available"' not in page


def test_faq_follows_changed_settings(make_app, db):
    app = make_app(PAYOUT_MIN_EUR=Decimal("50"), PAYOUT_RESERVE_PCT=Decimal("0.20"), PAYOUT_RELEASE_DAYS=14)

    page = app.test_client().get("/partners/faq", headers={"Accept-Language": "en"}).get_data(as_text=True)

    assert "You can withdraw from €50.00" in page
    assert "20 % of what you earned in the last 14 days is held in reserve" in page


def test_faq_without_publishing_leaves_out_the_posting_questions(make_app, db):
    page = make_app(FEATURE_PUBLISH=False).test_client().get("/partners/faq").get_data(as_text=True)
    assert "publishing queue" not in page


def test_faq_for_a_signed_in_partner_quotes_their_own_balances(client, db, funded, make_entry):
    make_entry(funded, 1_000, at=datetime.now(UTC) - timedelta(days=2))  # 30 % of it reserved
    sign_in(client, funded)

    page = client.get("/partners/faq").get_data(as_text=True)

    answer = re.search(r'data-figure="faq-available">(.*?)</p>', page, re.S).group(1)
    assert "Right now you can withdraw €107.00." in answer
    assert "Next release from the reserve: €3.00 on" in answer
    assert f"?ref={funded.referral_code}" in page


def test_faq_says_how_much_more_is_needed_below_the_minimum(client, db, partner, make_entry):
    make_entry(partner, 400)
    sign_in(client, partner)

    assert "You need €6.00 more to withdraw." in client.get("/partners/faq").get_data(as_text=True)


# --- flag off --------------------------------------------------------------------------------------------


@pytest.fixture
def app_off(make_app):
    return make_app(FEATURE_EARNINGS=False)


@pytest.mark.parametrize(
    "path", ["/partners/leaderboard", "/partners/faq", "/partners/earnings", "/partners/earnings/ledger.csv"]
)
def test_flag_off_answers_404(app_off, db, partner, path):
    client = app_off.test_client()
    sign_in(client, partner)
    assert client.get(path).status_code == 404


def test_flag_off_answers_404_to_a_withdrawal(app_off, db, funded):
    client = app_off.test_client()
    sign_in(client, funded)
    data = {"amount": "20", "method": "paypal", "csrf_token": csrf_token_of(client, "/partner/portal")}

    assert client.post("/partners/withdraw", data=data).status_code == 404


def test_flag_off_leaves_no_menu_entry(app_off, db, partner):
    client = app_off.test_client()
    sign_in(client, partner)
    assert "/partners/earnings" not in client.get("/partner/portal").get_data(as_text=True)


def test_flag_off_leaves_no_schedule(app_off):
    assert "award_referral_bonuses" not in {schedule.job_name for schedule in declared_schedules(app_off)}


def test_flag_on_schedules_the_bonus_job(app):
    assert "award_referral_bonuses" in {schedule.job_name for schedule in declared_schedules(app)}


def test_landing_pitch_shows_the_networks_seven_day_epc(
    client, db, funded, make_entry, make_asset, make_offer
):
    from tests.conftest import add_click

    asset = make_asset(offer=make_offer())
    for _ in range(4):
        add_click(db, funded, asset, datetime.now(UTC) - timedelta(days=1))
    make_entry(funded, 100, kind="click_earnings", at=datetime.now(UTC) - timedelta(hours=20))

    pitch = pitch_of(client.get("/partners").get_data(as_text=True))

    assert "our partners earned €0.25 per click on average" in pitch
