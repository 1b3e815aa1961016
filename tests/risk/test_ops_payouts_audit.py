"""The operator pages at /ops: payouts waiting for approval at or above the threshold (with the admin
payouts' own actions), and the audit log with its filters (admin, action, partner)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from contentflow.models.base import utcnow
from contentflow.services import audit, holds, ledger, payouts
from tests.conftest import csrf_token_of

# --- /ops/payouts/pending ------------------------------------------------------------------------------


@pytest.fixture
def payee(make_partner):
    return make_partner("payee@example.com", payout_method="paypal", payout_paypal_email="payee@example.com")


def withdrawal(db, payee, cents: int):
    ledger.record_entry(
        payee.id, "adjustment", cents, f"test:{uuid.uuid4().hex}", created_at=utcnow() - timedelta(days=60)
    )
    payout = payouts.request_withdrawal(payee, cents, "paypal")
    db.session.commit()
    return payout


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_pending_payouts_lists_only_those_at_or_above_the_threshold(staff, db, payee, is_htmx):
    at_threshold = withdrawal(db, payee, 20_000)
    above = withdrawal(db, payee, 35_000)
    below = withdrawal(db, payee, 19_999)
    response = staff.get("/ops/payouts/pending", headers={"HX-Request": "true"} if is_htmx else {})
    page = response.get_data(as_text=True)
    assert 'id="risk-pending-payouts"' in page
    assert f'id="admin-payout-{at_threshold.id}"' in page and f'id="admin-payout-{above.id}"' in page
    assert f'id="admin-payout-{below.id}"' not in page
    assert ("<html" in page) is not is_htmx


def test_pending_payouts_offer_approve_and_reject_through_the_core_payout_actions(staff, db, payee):
    payout = withdrawal(db, payee, 25_000)
    page = staff.get("/ops/payouts/pending").get_data(as_text=True)
    assert f'action="/admin/payouts/{payout.id}/approve?status=requested"' in page
    assert f'action="/admin/payouts/{payout.id}/reject?status=requested"' in page


def test_approved_large_payout_waits_to_be_marked_paid(staff, db, payee, admin):
    payout = withdrawal(db, payee, 25_000)
    payouts.approve_payout(payout.id, admin)
    db.session.commit()
    page = staff.get("/ops/payouts/pending").get_data(as_text=True)
    assert "Approved, not paid yet (1)" in page
    assert f'action="/admin/payouts/{payout.id}/pay?status=approved"' in page


def test_approving_from_the_pending_page_swaps_the_row_in_place(staff, db, payee):
    payout = withdrawal(db, payee, 25_000)
    token = csrf_token_of(staff, "/ops/payouts/pending")
    response = staff.post(
        f"/admin/payouts/{payout.id}/approve?status=requested",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith(f'<tr id="admin-payout-{payout.id}"')
    db.session.refresh(payout)
    assert payout.status == "approved"


# --- /ops/audit -----------------------------------------------------------------------------------


@pytest.fixture
def history(db, partner, make_partner, make_admin, admin, payee):
    """An admin holds and lifts Pat, another holds someone else; a payout of the payee is approved."""
    other_admin = make_admin("second@example.com")
    hold = holds.place_hold(partner.id, "manual", admin=admin)
    holds.lift_hold(hold, admin, note="fine")
    holds.place_hold(make_partner("someone@example.com").id, "manual", admin=other_admin)
    payout = withdrawal(db, payee, 25_000)
    payouts.approve_payout(payout.id, other_admin)
    db.session.commit()
    return {"other_admin": other_admin, "payout": payout}


def audit_rows(staff, query: str = "", headers: dict | None = None) -> list[str]:
    page = staff.get(f"/ops/audit{query}", headers=headers or {}).get_data(as_text=True)
    return [line.split('"')[1] for line in page.splitlines() if 'data-action="' in line]


def test_audit_page_lists_who_what_and_details(staff, history):
    page = staff.get("/ops/audit").get_data(as_text=True)
    assert "admin:boss@example.com" in page and "hold.lift" in page and "note: fine" in page


def test_audit_page_filters_by_action(staff, history):
    assert audit_rows(staff, "?action=hold.place") == ["hold.place", "hold.place"]


def test_audit_page_filters_by_admin(staff, history):
    assert audit_rows(staff, f"?admin={history['other_admin'].id}") == ["payout.approve", "hold.place"]


@pytest.mark.parametrize("who", ["pat@example.com", "PAT@example.com"])
def test_audit_page_filters_by_partner_email(staff, history, who):
    assert audit_rows(staff, f"?partner={who}") == ["hold.lift", "hold.place"]


def test_audit_page_filters_by_partner_including_their_payouts(staff, history, payee):
    assert audit_rows(staff, f"?partner={payee.id}") == ["payout.approve"]


def test_audit_page_for_an_unknown_partner_shows_nothing(staff, history):
    assert audit_rows(staff, "?partner=nobody@example.com") == []


def test_audit_page_shows_before_and_after_of_an_extension(staff, db, held_partner, admin):
    hold = holds.active_hold(held_partner.id)
    before = hold.expires_at
    holds.extend_hold(hold, admin, 7, "more time")
    db.session.commit()
    page = staff.get("/ops/audit?action=hold.extend").get_data(as_text=True)
    assert f"expires_at: {before.isoformat()} → {hold.expires_at.isoformat()}" in page


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_audit_page_or_partial(staff, history, is_htmx):
    response = staff.get("/ops/audit?action=hold.lift", headers={"HX-Request": "true"} if is_htmx else {})
    page = response.get_data(as_text=True)
    assert 'id="risk-audit-log"' in page
    assert ("<html" in page) is not is_htmx
    assert "HX-Request" in response.headers["Vary"]


def test_audit_page_shows_a_payouts_status_before_and_after(staff, history):
    page = staff.get("/ops/audit?action=payout.approve").get_data(as_text=True)
    assert "status: requested → approved" in page


def test_audit_page_shows_a_lifted_holds_status_before_and_after(staff, history):
    page = staff.get("/ops/audit?action=hold.lift").get_data(as_text=True)
    assert "status: active → lifted" in page


def test_audit_page_filter_by_partner_finds_entries_naming_them_in_their_details(
    staff, db, history, partner, admin
):
    audit.record(
        "support.close",
        admin=admin,
        target_type="support_ticket",
        target_id="t1",
        details={"partner_id": partner.id},
    )
    audit.record("support.close", admin=admin, target_type="support_ticket", details={"partner_id": None})
    db.session.commit()
    assert audit_rows(staff, f"?partner={partner.email}") == ["support.close", "hold.lift", "hold.place"]


def test_pending_payouts_leave_out_paid_and_rejected_ones(staff, db, payee, admin):
    paid, rejected = withdrawal(db, payee, 25_000), withdrawal(db, payee, 30_000)
    payouts.approve_payout(paid.id, admin)
    payouts.mark_paid(paid.id, admin, "PP-1")
    payouts.reject_payout(rejected.id, admin, "no")
    db.session.commit()
    page = staff.get("/ops/payouts/pending").get_data(as_text=True)
    assert f'id="admin-payout-{paid.id}"' not in page and f'id="admin-payout-{rejected.id}"' not in page
