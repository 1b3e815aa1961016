"""POST /partners/withdraw: the core's withdraw service behind a form. Every refusal answers 400 with the
form and a clear message (plain and htmx) and writes nothing; a success answers 303 to the earnings page,
or to htmx the updated balances and history."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from contentflow.models import LedgerEntry, Payout
from contentflow.services import holds
from tests.conftest import csrf_token_of

HTMX = {"HX-Request": "true"}


def withdraw(client, amount: str | None = "25.00", method: str | None = "paypal", *, headers=None, csrf=True):
    data = {key: value for key, value in (("amount", amount), ("method", method)) if value is not None}
    if csrf:
        data["csrf_token"] = csrf_token_of(client, "/partners/earnings")
    return client.post("/partners/withdraw", data=data, headers=headers or {})


def written(db) -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Payout)),
        db.session.scalar(select(func.count()).select_from(LedgerEntry)),
    )


def available_shown(page: str) -> str:
    return re.search(r'data-figure="available">([^<]*)<', page).group(1)


REFUSALS = [
    pytest.param("9.99", "paypal", "The minimum withdrawal is €10.00.", id="below-minimum"),
    pytest.param("100.01", "paypal", "You can withdraw €100.00 at most.", id="above-available"),
    pytest.param(
        "douze", "paypal", "Not an amount: douze. Enter an amount in euros, like 12.50.", id="not-a-number"
    ),
    pytest.param("12.505", "paypal", "Not an amount: 12.505.", id="three-decimals"),
    pytest.param("-20", "paypal", "The amount must be more than zero.", id="negative"),
    pytest.param("", "paypal", "Enter an amount in euros.", id="empty"),
    pytest.param("20", "bitcoin", "This payout method is not offered.", id="unknown-method"),
    pytest.param("20", None, "This payout method is not offered.", id="no-method"),
    pytest.param("20", "bank", "Add your payout details for this method first.", id="no-payout-details"),
]


@pytest.mark.parametrize(("amount", "method", "message"), REFUSALS)
def test_refused_withdrawal_answers_400_with_the_form_and_the_reason(
    partner_client, db, funded, amount, method, message
):
    before = written(db)

    response = withdraw(partner_client, amount, method)

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<html" in page and 'action="/partners/withdraw"' in page
    assert message in page
    assert written(db) == before


@pytest.mark.parametrize(("amount", "method", "message"), REFUSALS)
def test_refused_htmx_withdrawal_answers_400_with_the_wallet_partial(
    partner_client, db, funded, amount, method, message
):
    before = written(db)

    response = withdraw(partner_client, amount, method, headers=HTMX)

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert page.startswith('<div id="earnings-wallet">') and "<html" not in page
    assert message in page
    assert written(db) == before


def test_withdrawal_while_on_hold_answers_400_not_403(partner_client, db, funded, admin):
    holds.place_hold(funded.id, "manual", admin=admin)
    db.session.commit()
    before = written(db)

    response = withdraw(partner_client, "20")

    assert response.status_code == 400
    assert "Your account is on hold: withdrawals are paused." in response.get_data(as_text=True)
    assert written(db) == before


def test_refused_amount_is_kept_in_the_form(partner_client, funded):
    page = withdraw(partner_client, "9,99", headers=HTMX).get_data(as_text=True)
    assert 'value="9,99"' in page


def test_withdrawal_without_csrf_token_is_refused_and_writes_nothing(partner_client, db, funded):
    before = written(db)

    response = withdraw(partner_client, csrf=False)

    assert response.status_code == 400
    assert written(db) == before


def test_anonymous_withdrawal_is_sent_to_sign_in(client, db):
    token = csrf_token_of(client)
    response = client.post(
        "/partners/withdraw", data={"amount": "20", "method": "paypal", "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/partners"


def test_plain_withdrawal_answers_303_to_the_earnings_page(partner_client, db, funded):
    response = withdraw(partner_client, "25.00")

    assert response.status_code == 303
    assert response.headers["Location"] == "/partners/earnings"
    payout = db.session.scalar(select(Payout))
    assert (payout.partner_id, payout.amount_cents, payout.method) == (funded.id, 2_500, "paypal")


def test_plain_withdrawal_shows_the_confirmation_on_the_page_it_leads_to(partner_client, db, funded):
    withdraw(partner_client, "25.00")

    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    assert "Your withdrawal of €25.00 is requested." in page
    assert available_shown(page) == "€75.00"


@pytest.mark.parametrize("amount", ["12,50", "12.50", " 12.5 "])
def test_amount_is_taken_with_a_comma_or_a_dot(partner_client, db, funded, amount):
    assert withdraw(partner_client, amount).status_code == 303
    assert db.session.scalar(select(Payout.amount_cents)) == 1_250


def test_withdrawal_debits_the_ledger_through_the_core_service(partner_client, db, funded):
    withdraw(partner_client, "40")

    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "withdrawal"))
    payout = db.session.scalar(select(Payout))
    assert (entry.amount_cents, entry.payout_id, entry.idempotency_key) == (
        -4_000,
        payout.id,
        f"payout:{payout.id}:request",
    )


def test_htmx_withdrawal_answers_the_updated_balances_and_history(partner_client, db, funded):
    response = withdraw(partner_client, "30", headers=HTMX)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.startswith('<div id="earnings-wallet">') and "<html" not in page
    assert available_shown(page) == "€70.00"
    history = re.search(r'<section id="partner-payouts".*?</section>', page, re.S).group(0)
    assert "€30.00" in history and "p***@example.com" in history
    assert "Your withdrawal of €30.00 is requested: approved." in page
    assert 'value="30"' not in page  # a fresh form for the next one
    assert response.headers["HX-Trigger"] == "earnings:withdrawn"


def test_large_withdrawal_waits_for_approval(partner_client, db, make_entry, funded):
    make_entry(funded, 50_000)

    page = withdraw(partner_client, "200", headers=HTMX).get_data(as_text=True)

    assert "Your withdrawal of €200.00 is requested: waiting for approval." in page
    assert db.session.scalar(select(Payout.status)) == "requested"


def test_form_offers_only_the_configured_methods_with_their_masked_details(partner_client, funded):
    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    form = re.search(r'<form method="post" action="/partners/withdraw".*?</form>', page, re.S).group(0)
    assert re.findall(r'<option[^>]*value="(\w+)"', form) == ["paypal", "bank"]
    assert "p***@example.com" in form
    assert 'href="/partner/payout"' in form  # no bank details yet: where to add them
