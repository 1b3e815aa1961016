"""Payouts: the withdraw rules, the approval threshold, admin transitions (each once), payout details
encrypted and masked, the weekly proposals, and the partner's payout page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from contentflow.errors import DomainError, ValidationError
from contentflow.jobs import money as money_jobs
from contentflow.models import AuditLog, LedgerEntry, Partner, Payout
from contentflow.queueing import get_queue
from contentflow.services import holds, ledger, payout_details, payouts
from tests.conftest import csrf_token_of, message_of, sign_in

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=40)
VALID_IBAN = "FR7630006000011234567890189"


def credit(partner, cents: int, at: datetime = LONG_AGO) -> None:
    ledger.record_entry(partner.id, "conversion_share", cents, f"test:{uuid.uuid4().hex}", created_at=at)


def counts(db) -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Payout)),
        db.session.scalar(select(func.count()).select_from(LedgerEntry)),
    )


def email_jobs(app) -> list:
    return get_queue("email", app).get_jobs()


@pytest.fixture
def payee(db, make_partner):
    """A partner with PayPal details and 500 € available (credited long ago: nothing reserved)."""
    partner = make_partner(
        "payee@example.com", locale="en", payout_method="paypal", payout_paypal_email="paul@example.com"
    )
    credit(partner, 50_000)
    db.session.commit()  # requests end with a rollback to the last savepoint
    return partner


# --- withdraw rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_cents", "method", "error", "status"),
    [
        (0, "paypal", payouts.InvalidAmount, 400),
        (-500, "paypal", payouts.InvalidAmount, 400),
        (999, "paypal", payouts.BelowMinimum, 400),
        (50_001, "paypal", payouts.InsufficientBalance, 409),
        (1_000, "cheque", payout_details.UnknownMethod, 400),
        (1_000, "bank", payouts.MissingPayoutDetails, 400),
    ],
)
def test_bad_withdrawal_is_refused_with_its_reason_and_writes_nothing(
    db, payee, amount_cents, method, error, status
):
    before = counts(db)
    with pytest.raises(error) as refused:
        payouts.request_withdrawal(payee, amount_cents, method, now=NOW)
    assert refused.value.status == status
    assert refused.value.message
    assert counts(db) == before


def test_withdrawal_while_on_hold_is_forbidden_and_writes_nothing(db, payee):
    holds.place_hold(payee.id, "velocity", source="risk", now=NOW - timedelta(hours=1))
    before = counts(db)
    with pytest.raises(payouts.PartnerOnHold) as refused:
        payouts.request_withdrawal(payee, 1_000, "paypal", now=NOW)
    assert (refused.value.status, refused.value.code) == (403, "on_hold")
    assert counts(db) == before


def test_withdrawal_after_the_hold_expired_is_allowed(db, payee):
    holds.place_hold(payee.id, "velocity", source="risk", days=1, now=NOW - timedelta(days=2))
    assert payouts.request_withdrawal(payee, 1_000, "paypal", now=NOW).status == "approved"


def test_withdrawal_of_exactly_the_minimum_is_accepted(db, payee):
    assert payouts.request_withdrawal(payee, 1_000, "paypal", now=NOW).amount_cents == 1_000


def test_withdrawal_cannot_spend_the_reserve(db, payee):
    credit(payee, 10_000, at=NOW - timedelta(days=1))  # 3,000 of it reserved
    with pytest.raises(payouts.InsufficientBalance):
        payouts.request_withdrawal(payee, 57_001, "paypal", now=NOW)
    assert payouts.request_withdrawal(payee, 57_000, "paypal", now=NOW).amount_cents == 57_000


def test_withdrawal_below_the_threshold_is_approved_and_debits_the_ledger_at_once(db, payee):
    payout = payouts.request_withdrawal(payee, 19_999, "paypal", now=NOW)
    assert (payout.status, payout.decided_at, payout.details_masked) == (
        "approved",
        NOW,
        "PayPal p***@example.com",
    )
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.payout_id == payout.id)).one()
    assert (entry.kind, entry.amount_cents, entry.idempotency_key) == (
        "withdrawal",
        -19_999,
        f"payout:{payout.id}:request",
    )


def test_withdrawal_at_the_threshold_waits_for_an_admin(db, payee):
    payout = payouts.request_withdrawal(payee, 20_000, "paypal", now=NOW)
    assert (payout.status, payout.decided_at) == ("requested", None)


# --- admin transitions ------------------------------------------------------------------------------


@pytest.fixture
def requested(db, payee):
    return payouts.request_withdrawal(payee, 30_000, "paypal", now=NOW)


def test_approve_then_pay_settles_without_moving_money(db, requested, admin):
    before = counts(db)
    payouts.approve_payout(requested.id, admin, now=NOW)
    paid = payouts.mark_paid(requested.id, admin, "PP-123", now=NOW)
    assert (paid.status, paid.reference, paid.paid_at, paid.decided_by_admin_id) == (
        "paid",
        "PP-123",
        NOW,
        admin.id,
    )
    assert counts(db) == before


def test_rejection_credits_the_amount_back_once(db, requested, admin, payee):
    payouts.reject_payout(requested.id, admin, "Account closed", now=NOW)
    returned = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "withdrawal_returned")).one()
    assert (returned.amount_cents, returned.idempotency_key) == (30_000, f"payout:{requested.id}:returned")
    assert requested.note == "Account closed"
    total = db.session.scalar(
        select(func.sum(LedgerEntry.amount_cents)).where(LedgerEntry.partner_id == payee.id)
    )
    assert total == 50_000


@pytest.mark.parametrize("approved_first", [False, True], ids=["requested", "approved"])
def test_each_transition_is_audited_with_the_status_before_and_after(db, requested, admin, approved_first):
    if approved_first:
        payouts.approve_payout(requested.id, admin, now=NOW)
    payouts.reject_payout(requested.id, admin, "Account closed", now=NOW)
    changes = [
        (entry.action, entry.details["before"], entry.details["after"])
        for entry in db.session.scalars(select(AuditLog).order_by(AuditLog.id))
    ]
    before = "approved" if approved_first else "requested"
    assert changes[-1] == ("payout.reject", {"status": before}, {"status": "rejected"})
    if approved_first:
        assert changes[0] == ("payout.approve", {"status": "requested"}, {"status": "approved"})


def test_marking_paid_is_audited_with_the_status_before_and_after(db, requested, admin):
    payouts.approve_payout(requested.id, admin, now=NOW)
    payouts.mark_paid(requested.id, admin, "PP-123", now=NOW)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "payout.pay")).one()
    assert entry.details == {
        "reference": "PP-123",
        "before": {"status": "approved"},
        "after": {"status": "paid"},
    }


@pytest.mark.parametrize(
    ("steps", "then"),
    [
        (["approve"], "approve"),
        (["approve", "pay"], "pay"),
        (["approve", "pay"], "reject"),
        (["reject"], "reject"),
        (["reject"], "approve"),
        ([], "pay"),  # a requested payout must be approved first
    ],
)
def test_transition_from_the_wrong_status_is_a_409_and_changes_nothing(db, requested, admin, steps, then):
    actions = {
        "approve": lambda: payouts.approve_payout(requested.id, admin, now=NOW),
        "pay": lambda: payouts.mark_paid(requested.id, admin, "REF-1", now=NOW),
        "reject": lambda: payouts.reject_payout(requested.id, admin, "No", now=NOW),
    }
    for step in steps:
        actions[step]()
    status, before = requested.status, counts(db)
    with pytest.raises(payouts.PayoutStateConflict) as refused:
        actions[then]()
    assert refused.value.status == 409
    assert (requested.status, counts(db)) == (status, before)


def test_pay_without_a_reference_and_reject_without_a_note_are_refused(db, requested, admin):
    payouts.approve_payout(requested.id, admin, now=NOW)
    with pytest.raises(ValidationError):
        payouts.mark_paid(requested.id, admin, "  ", now=NOW)
    with pytest.raises(ValidationError):
        payouts.reject_payout(requested.id, admin, "", now=NOW)
    assert requested.status == "approved"


def test_transition_of_an_unknown_payout_is_a_404(db, admin):
    with pytest.raises(DomainError) as refused:
        payouts.approve_payout(987_654, admin)
    assert refused.value.status == 404


# --- payout details ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["FR76 3000 6000 0112 3456 7890 189", "fr7630006000011234567890189", "DE89370400440532013000"]
)
def test_valid_ibans_are_accepted_and_normalized(raw):
    assert payout_details.normalize_iban(raw) == raw.replace(" ", "").upper()


@pytest.mark.parametrize(
    "raw",
    ["FR7630006000011234567890188", "FR76", "XX00ABCDEFGHIJKLMNOP", "FR76 3000 6000 0112 3456 7890 18!", ""],
)
def test_invalid_ibans_are_refused(raw):
    with pytest.raises(payout_details.InvalidPayoutDetails) as refused:
        payout_details.normalize_iban(raw)
    assert refused.value.field == "iban"


def test_details_are_masked_when_shown():
    assert payout_details.mask_email("paul@example.com") == "p***@example.com"
    assert payout_details.mask_iban(VALID_IBAN) == "FR76 **** **** 0189"


def test_details_are_encrypted_at_rest(db, partner):
    payout_details.set_payout_details(partner, "bank", iban=VALID_IBAN, account_holder="Pat Doe")
    stored = db.session.execute(
        sa.text("SELECT payout_iban, payout_account_holder FROM partners WHERE id = :id"), {"id": partner.id}
    ).one()
    assert VALID_IBAN not in stored[0] and "Pat Doe" not in stored[1]
    assert partner.payout_iban == VALID_IBAN


def test_changing_details_emails_the_partner_after_the_commit_only(db, app, partner):
    assert payout_details.set_payout_details(partner, "paypal", paypal_email="Pat.Doe@Example.com")
    assert email_jobs(app) == []
    db.session.commit()
    [job] = email_jobs(app)
    message = message_of(job)
    assert (message["to"], message["tag"]) == ("pat@example.com", "payout_details")
    assert "p***@example.com" in message["text"] and "Pat.Doe" not in message["text"]
    assert partner.payout_paypal_email == "pat.doe@example.com"


def test_saving_the_same_details_again_changes_nothing_and_sends_nothing(db, app, partner):
    payout_details.set_payout_details(partner, "paypal", paypal_email="pat@example.com")
    db.session.commit()
    assert not payout_details.set_payout_details(partner, "paypal", paypal_email="pat@example.com")
    db.session.commit()
    assert len(email_jobs(app)) == 1


# --- weekly proposals -------------------------------------------------------------------------------


def test_weekly_job_proposes_once_per_week(db, payee, make_partner):
    small = make_partner("small@example.com", payout_method="paypal", payout_paypal_email="s@example.com")
    credit(small, 1_500)
    assert money_jobs.propose_payouts() == "proposed 2 payouts"
    assert money_jobs.propose_payouts() == "proposed 0 payouts"
    proposals = {p.partner_id: p for p in db.session.scalars(select(Payout))}
    assert (proposals[payee.id].status, proposals[payee.id].amount_cents) == ("requested", 50_000)
    assert (proposals[small.id].status, proposals[small.id].amount_cents) == ("approved", 1_500)
    assert proposals[small.id].proposal_key.startswith("weekly:") and proposals[
        small.id
    ].proposal_key.endswith(small.id)


def test_weekly_proposal_is_not_made_twice_in_a_week_even_after_a_rejection(db, payee, admin):
    payout = payouts.propose_payout(payee.id, now=NOW)
    payouts.reject_payout(payout.id, admin, "Check your account", now=NOW)
    assert payouts.propose_payout(payee.id, now=NOW + timedelta(days=1)) is None
    assert payouts.propose_payout(payee.id, now=NOW + timedelta(days=7)) is not None


@pytest.mark.parametrize("case", ["no details", "below minimum", "open payout", "on hold"])
def test_weekly_proposal_skips_partners_who_cannot_be_paid(db, make_partner, case):
    partner = make_partner(payout_method="paypal", payout_paypal_email="x@example.com")
    credit(partner, 999 if case == "below minimum" else 5_000)
    if case == "no details":
        partner.payout_paypal_email = None
    if case == "open payout":
        payouts.request_withdrawal(partner, 1_000, "paypal", now=NOW)
    if case == "on hold":
        holds.place_hold(partner.id, "manual", now=NOW - timedelta(hours=1))
    before = counts(db)
    assert payouts.propose_payout(partner.id, now=NOW) is None
    assert counts(db) == before


# --- the partner's payout page ----------------------------------------------------------------------


def post_details(client, data: dict, htmx: bool = False):
    headers = {"HX-Request": "true"} if htmx else {}
    token = csrf_token_of(client, "/partner/payout")
    return client.post("/partner/payout", data={**data, "csrf_token": token}, headers=headers)


def test_payout_page_shows_balances_and_masked_details_only(client, payee):
    sign_in(client, payee)
    response = client.get("/partner/payout")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "PayPal p***@example.com" in page
    assert "paul@example.com" not in page
    assert 'data-figure="available">€500.00<' in page


def test_payout_page_shows_what_a_hold_keeps_back(client, db, payee):
    holds.place_hold(payee.id, "manual")
    ledger.record_entry(payee.id, "conversion_share", 1_234, "test:during-hold")
    db.session.commit()
    sign_in(client, payee)
    page = client.get("/partner/payout").get_data(as_text=True)
    assert '<p class="flash error" data-figure="held">Your account is on hold: €12.34 credited' in page
    assert 'data-figure="available">€500.00<' in page


def test_payout_page_never_shows_another_partners_details(client, payee, make_partner):
    sign_in(client, make_partner("other@example.com"))
    page = client.get("/partner/payout").get_data(as_text=True)
    assert "p***@example.com" not in page and "€500.00" not in page


@pytest.mark.parametrize(("who", "status"), [("anonymous", 302), ("admin", 403)])
def test_payout_page_is_for_partners_only(client, admin, who, status):
    if who == "admin":
        sign_in(client, admin)
    assert client.get("/partner/payout").status_code == status


def test_saving_details_by_plain_post_redirects_and_emails_the_partner(client, app, partner, db):
    sign_in(client, partner)
    response = post_details(
        client, {"method": "bank", "iban": "FR76 3000 6000 0112 3456 7890 189", "account_holder": "Pat Doe"}
    )
    assert (response.status_code, response.headers["Location"]) == (303, "/partner/payout")
    assert [message_of(job)["to"] for job in email_jobs(app)] == ["pat@example.com"]
    page = client.get("/partner/payout").get_data(as_text=True)
    assert "FR76 **** **** 0189" in page and VALID_IBAN not in page
    stored = db.session.get(Partner, partner.id)
    db.session.refresh(stored)
    assert (stored.payout_method, stored.payout_iban) == ("bank", VALID_IBAN)


def test_saving_details_by_htmx_answers_the_partial(client, partner):
    sign_in(client, partner)
    response = post_details(client, {"method": "paypal", "paypal_email": "pat@example.com"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="partner-payout-details"')
    assert "HX-Request" in response.headers["Vary"]
    assert "p***@example.com" in body


@pytest.mark.parametrize("htmx", [False, True])
def test_invalid_iban_re_renders_the_form_with_400_and_sends_nothing(client, app, make_partner, htmx):
    sign_in(client, make_partner(locale="en"))
    response = post_details(
        client, {"method": "bank", "iban": "FR7630006000011234567890188", "account_holder": "Pat"}, htmx=htmx
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This IBAN is not valid" in body
    assert body.lstrip().startswith('<section id="partner-payout-details"') == htmx
    assert email_jobs(app) == []


def test_details_post_without_csrf_token_is_refused(client, partner):
    sign_in(client, partner)
    response = client.post("/partner/payout", data={"method": "paypal", "paypal_email": "x@example.com"})
    assert response.status_code == 400
