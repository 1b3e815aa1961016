"""Admin money pages: payouts to approve, pay and reject (htmx and plain), the payment CSV, partners and
their ledger with adjustments and holds. Admins only, CSRF on every POST, every action audit-logged."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from contentflow.models import AuditLog, Conversion, Hold, LedgerEntry, Payout
from contentflow.services import holds, ledger, payouts
from tests.conftest import csrf_token_of, sign_in

LONG_AGO = datetime.now(UTC) - timedelta(days=40)
VALID_IBAN = "FR7630006000011234567890189"
HTMX = {"HX-Request": "true"}


def credit(partner, cents: int) -> None:
    ledger.record_entry(
        partner.id, "conversion_share", cents, f"test:{uuid.uuid4().hex}", created_at=LONG_AGO
    )


def audit_actions(db) -> list[str]:
    return db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()


@pytest.fixture
def payee(db, make_partner):
    partner = make_partner(
        "payee@example.com",
        display_name="Payee",
        payout_method="paypal",
        payout_paypal_email="paul@example.com",
    )
    credit(partner, 100_000)
    db.session.commit()
    return partner


@pytest.fixture
def requested(db, payee):
    payout = payouts.request_withdrawal(payee, 30_000, "paypal")
    db.session.commit()
    return payout


@pytest.fixture
def approved(db, payee):
    payout = payouts.request_withdrawal(payee, 5_000, "paypal")
    db.session.commit()
    return payout


@pytest.fixture
def admin_in(client, admin):
    sign_in(client, admin)
    return client


def post(client, path: str, data: dict | None = None, htmx: bool = False):
    token = csrf_token_of(client, "/admin/payouts")
    return client.post(path, data={**(data or {}), "csrf_token": token}, headers=HTMX if htmx else {})


# --- access --------------------------------------------------------------------------------------


PAGES = [
    "/admin/payouts",
    "/admin/payouts.csv?method=paypal",
    "/admin/partners",
    "/admin/partners/{pid}/ledger",
]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_the_admin_sign_in(client, payee, path):
    response = client.get(path.format(pid=payee.id))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


@pytest.mark.parametrize("path", PAGES)
def test_partners_get_403_on_admin_money_pages(client, payee, path):
    sign_in(client, payee)
    assert client.get(path.format(pid=payee.id)).status_code == 403


@pytest.mark.parametrize("action", ["approve", "pay", "reject"])
def test_payout_action_without_csrf_token_is_refused(admin_in, requested, action, db):
    response = admin_in.post(f"/admin/payouts/{requested.id}/{action}", data={"reference": "R", "note": "N"})
    assert response.status_code == 400
    db.session.refresh(requested)
    assert requested.status == "requested"


def test_admin_menu_lists_payouts_and_partners(admin_in):
    page = admin_in.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/payouts"' in page and 'href="/admin/partners"' in page


# --- payouts -------------------------------------------------------------------------------------


def test_payouts_page_lists_the_requested_ones_by_default(admin_in, requested, approved):
    page = admin_in.get("/admin/payouts").get_data(as_text=True)
    assert f'id="admin-payout-{requested.id}"' in page
    assert f'id="admin-payout-{approved.id}"' not in page
    assert "paul@example.com" not in page  # details stay masked
    assert f'id="admin-payout-{approved.id}"' in admin_in.get("/admin/payouts?status=approved").get_data(
        as_text=True
    )


def test_approve_by_htmx_answers_the_updated_row_and_is_audited(admin_in, requested, db):
    response = post(admin_in, f"/admin/payouts/{requested.id}/approve", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="admin-payout-{requested.id}"')
    assert "Mark paid" in body
    assert "HX-Request" in response.headers["Vary"]
    db.session.refresh(requested)
    assert requested.status == "approved"
    assert audit_actions(db) == ["payout.approve"]


def test_approve_by_plain_post_redirects_to_the_list(admin_in, requested):
    response = post(admin_in, f"/admin/payouts/{requested.id}/approve?status=requested")
    assert (response.status_code, response.headers["Location"]) == (303, "/admin/payouts?status=requested")


@pytest.mark.parametrize("htmx", [False, True])
def test_approving_twice_answers_409_with_the_reason(admin_in, requested, db, htmx):
    post(admin_in, f"/admin/payouts/{requested.id}/approve")
    response = post(admin_in, f"/admin/payouts/{requested.id}/approve", htmx=htmx)
    assert response.status_code == 409
    assert "This payout is already approved." in response.get_data(as_text=True)
    assert audit_actions(db) == ["payout.approve"]


def test_pay_with_a_reference_marks_the_payout_paid(admin_in, approved, db):
    response = post(admin_in, f"/admin/payouts/{approved.id}/pay", {"reference": "PP-77"}, htmx=True)
    assert response.status_code == 200
    db.session.refresh(approved)
    assert (approved.status, approved.reference) == ("paid", "PP-77")
    assert audit_actions(db) == ["payout.pay"]


@pytest.mark.parametrize("htmx", [False, True])
def test_pay_without_a_reference_re_renders_with_400(admin_in, approved, db, htmx):
    response = post(admin_in, f"/admin/payouts/{approved.id}/pay", {"reference": ""}, htmx=htmx)
    assert response.status_code == 400
    assert "Give the transfer&#39;s reference" in response.get_data(as_text=True)
    db.session.refresh(approved)
    assert approved.status == "approved"


def test_paid_payout_cannot_be_rejected(admin_in, approved, db):
    post(admin_in, f"/admin/payouts/{approved.id}/pay", {"reference": "PP-1"})
    response = post(admin_in, f"/admin/payouts/{approved.id}/reject", {"note": "Too late"}, htmx=True)
    assert response.status_code == 409
    db.session.refresh(approved)
    assert approved.status == "paid"


def test_reject_with_a_note_credits_the_partner_back(admin_in, requested, payee, db):
    response = post(admin_in, f"/admin/payouts/{requested.id}/reject", {"note": "IBAN closed"}, htmx=True)
    assert response.status_code == 200
    total = db.session.scalar(
        select(func.sum(LedgerEntry.amount_cents)).where(LedgerEntry.partner_id == payee.id)
    )
    assert total == 100_000
    assert audit_actions(db) == ["payout.reject"]


def test_unknown_payout_action_is_a_404(admin_in):
    assert post(admin_in, "/admin/payouts/987654/approve").status_code == 404


# --- the payment CSV -----------------------------------------------------------------------------


def test_paypal_csv_lists_approved_payouts_with_their_email_and_is_audited(admin_in, approved, requested, db):
    response = admin_in.get("/admin/payouts.csv?method=paypal")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        ["paul@example.com", "50.00", "EUR", f"CF-{approved.id}", f"ContentFlow payout CF-{approved.id}"]
    ]
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "payout.export")).one()
    assert entry.details == {"method": "paypal", "payout_ids": [approved.id]}


def test_bank_csv_has_a_header_and_neutralises_formulas_and_quotes(admin_in, make_partner, db):
    partner = make_partner(
        "bank@example.com",
        payout_method="bank",
        payout_iban=VALID_IBAN,
        payout_account_holder='=HYPERLINK("http://evil.example"), "Bob"',
    )
    credit(partner, 2_345)
    payout = payouts.request_withdrawal(partner, 1_234, "bank")
    db.session.commit()
    body = admin_in.get("/admin/payouts.csv?method=bank").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body)))
    assert rows == [
        ["name", "iban", "amount", "currency", "reference"],
        [
            '\'=HYPERLINK("http://evil.example"), "Bob"',
            VALID_IBAN,
            "12.34",
            "EUR",
            f"ContentFlow CF-{payout.id}",
        ],
    ]
    assert '"\'=HYPERLINK(""http://evil.example""), ""Bob"""' in body  # quoted, quotes doubled


def test_csv_of_an_unknown_method_is_a_404(admin_in):
    assert admin_in.get("/admin/payouts.csv?method=cheque").status_code == 404


# --- partners and their ledger -------------------------------------------------------------------


def test_partner_search_by_email_finds_only_matches(admin_in, payee, make_partner):
    make_partner("someone@else.org")
    response = admin_in.get("/admin/partners?q=PAYEE@", headers=HTMX)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="admin-partners"')
    assert "payee@example.com" in body and "someone@else.org" not in body


def test_partner_search_treats_wildcards_literally(admin_in, payee):
    assert "payee@example.com" not in admin_in.get("/admin/partners?q=%25").get_data(as_text=True)


def test_ledger_page_shows_entries_balances_and_pending_conversions(
    admin_in, payee, make_offer, make_asset, db
):
    asset = make_asset(offer=make_offer(revshare_pct="40"))
    db.session.add(
        Conversion(
            network_id=asset.offer.network_id,
            txn_id="TXN-PENDING-1",
            partner_id=payee.id,
            asset_id=asset.id,
            offer_id=asset.offer_id,
            status="pending",
            amount_minor=2_000,
            amount_eur_cents=2_000,
        )
    )
    db.session.commit()
    page = admin_in.get(f"/admin/partners/{payee.id}/ledger").get_data(as_text=True)
    assert "conversion_share" in page
    assert 'data-figure="available">€1,000.00<' in page
    assert "TXN-PENDING-1" in page and "€8.00" in page


def test_ledger_of_an_unknown_partner_is_a_404(admin_in):
    assert admin_in.get("/admin/partners/nobody/ledger").status_code == 404


def test_adjustment_by_plain_post_is_recorded_with_the_admin_and_redirects(admin_in, payee, admin, db):
    response = post(
        admin_in,
        f"/admin/partners/{payee.id}/adjustments",
        {"amount": "-12,50", "reason": "Duplicate sale", "request_key": uuid.uuid4().hex},
    )
    assert (response.status_code, response.headers["Location"]) == (303, f"/admin/partners/{payee.id}/ledger")
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "adjustment")).one()
    assert (entry.amount_cents, entry.memo, entry.admin_user_id) == (-1250, "Duplicate sale", admin.id)
    assert audit_actions(db) == ["ledger.adjust"]


def test_adjustment_by_htmx_answers_the_ledger_partial(admin_in, payee):
    response = post(
        admin_in,
        f"/admin/partners/{payee.id}/adjustments",
        {"amount": "5", "reason": "Goodwill", "request_key": uuid.uuid4().hex},
        htmx=True,
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="admin-ledger"')
    assert "Goodwill" in body and 'data-figure="confirmed">€1,005.00<' in body


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        ("5", "", "This field is required."),
        ("abc", "Why", "Enter an amount in euros"),
        ("0", "Why", "more than zero"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_adjustment_re_renders_with_400_and_writes_nothing(
    admin_in, payee, db, amount, reason, message, htmx
):
    response = post(
        admin_in,
        f"/admin/partners/{payee.id}/adjustments",
        {"amount": amount, "reason": reason, "request_key": uuid.uuid4().hex},
        htmx=htmx,
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert (
        db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "adjustment")
        )
        == 0
    )


def test_admin_places_and_lifts_a_hold_from_the_ledger_page(admin_in, payee, db):
    placed = post(admin_in, f"/admin/partners/{payee.id}/holds", {"reason": "manual", "days": ""}, htmx=True)
    assert placed.status_code == 200
    assert placed.get_data(as_text=True).lstrip().startswith('<section id="admin-ledger-holds"')
    hold = db.session.scalars(select(Hold)).one()
    assert (hold.source, hold.expires_at) == ("admin", None)
    assert holds.is_on_hold(payee.id)
    lifted = post(admin_in, f"/admin/holds/{hold.id}/lift")
    assert (lifted.status_code, lifted.headers["Location"]) == (303, f"/admin/partners/{payee.id}/ledger")
    assert not holds.is_on_hold(payee.id)
    assert audit_actions(db) == ["hold.place", "hold.lift"]


def test_lifting_a_lifted_hold_answers_409(admin_in, payee, admin, db):
    hold = holds.place_hold(payee.id, "manual", admin=admin)
    holds.lift_hold(hold, admin)
    db.session.commit()
    response = post(admin_in, f"/admin/holds/{hold.id}/lift", htmx=True)
    assert response.status_code == 409
    assert "This hold is no longer active." in response.get_data(as_text=True)


def test_hold_with_bad_days_re_renders_with_400(admin_in, payee, db):
    response = post(admin_in, f"/admin/partners/{payee.id}/holds", {"reason": "manual", "days": "0"})
    assert response.status_code == 400
    assert db.session.scalars(select(Hold)).all() == []


def test_payout_list_links_to_the_partner_ledger(admin_in, requested, payee):
    page = admin_in.get("/admin/payouts").get_data(as_text=True)
    assert f'href="/admin/partners/{payee.id}/ledger"' in page
    assert isinstance(requested, Payout)
