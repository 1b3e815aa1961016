"""A payout keeps the destination it was requested with: the snapshot is encrypted at rest, the payment
file pays it, a change of the partner's details sends an approved payout back to approval, and the admin
pages show the snapshot masked with the changed destination flagged."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from contentflow.models import AuditLog, Payout
from contentflow.services import ledger, payout_details, payouts
from tests.conftest import csrf_token_of, sign_in

LONG_AGO = datetime.now(UTC) - timedelta(days=40)
VALID_IBAN = "FR7630006000011234567890189"
OTHER_IBAN = "DE89370400440532013000"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def payee(db, make_partner):
    """A partner with PayPal details and 1,000 € available."""
    partner = make_partner(
        "payee@example.com", locale="en", payout_method="paypal", payout_paypal_email="paul@example.com"
    )
    ledger.record_entry(
        partner.id, "conversion_share", 100_000, f"test:{uuid.uuid4().hex}", created_at=LONG_AGO
    )
    db.session.commit()
    return partner


@pytest.fixture
def approved(db, payee):
    """Below the approval threshold: approved at once."""
    payout = payouts.request_withdrawal(payee, 5_000, "paypal")
    db.session.commit()
    return payout


@pytest.fixture
def requested(db, payee):
    payout = payouts.request_withdrawal(payee, 30_000, "paypal")
    db.session.commit()
    return payout


def change_email(db, partner, email: str = "new@example.org") -> None:
    payout_details.set_payout_details(partner, "paypal", paypal_email=email)
    db.session.commit()


def csv_rows(client, method: str = "paypal") -> list[list[str]]:
    body = client.get(f"/admin/payouts.csv?method={method}").get_data(as_text=True)
    return list(csv.reader(io.StringIO(body)))


# --- the snapshot ----------------------------------------------------------------------------------


def test_withdrawal_keeps_its_paypal_destination_encrypted_at_rest(db, approved):
    assert approved.destination_paypal_email == "paul@example.com"
    stored = db.session.execute(
        sa.text("SELECT destination_paypal_email FROM payouts WHERE id = :id"), {"id": approved.id}
    ).scalar_one()
    assert "paul" not in stored


def test_withdrawal_keeps_its_bank_destination_encrypted_at_rest(db, make_partner):
    partner = make_partner(payout_method="bank", payout_iban=VALID_IBAN, payout_account_holder="Pat Doe")
    ledger.record_entry(partner.id, "conversion_share", 5_000, "test:bank", created_at=LONG_AGO)
    payout = payouts.request_withdrawal(partner, 2_000, "bank")
    assert (payout.destination_iban, payout.destination_account_holder) == (VALID_IBAN, "Pat Doe")
    assert payout.destination_paypal_email is None
    stored = db.session.execute(
        sa.text("SELECT destination_iban, destination_account_holder FROM payouts WHERE id = :id"),
        {"id": payout.id},
    ).one()
    assert VALID_IBAN not in stored[0] and "Pat Doe" not in stored[1]


def test_changing_details_keeps_the_snapshot_of_an_open_payout(db, requested, payee):
    change_email(db, payee)
    db.session.refresh(requested)
    assert requested.destination_paypal_email == "paul@example.com"
    assert requested.details_masked == "PayPal p***@example.com"
    assert (requested.details_change_count, requested.details_changed_to) == (1, "PayPal n***@example.org")


# --- a change after approval needs a new approval ---------------------------------------------------


def test_changing_details_after_approval_sends_the_payout_back_to_approval(db, approved, payee):
    change_email(db, payee)
    db.session.refresh(approved)
    assert (approved.status, approved.decided_at, approved.decided_by_admin_id) == ("requested", None, None)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "payout.details_changed")).one()
    assert (entry.actor, entry.target_id) == (f"partner:{payee.id}", str(approved.id))
    assert entry.details == {"before": {"status": "approved"}, "after": {"status": "requested"}}


def test_paying_after_a_change_of_details_is_refused_until_approved_again(db, approved, payee, admin):
    change_email(db, payee)
    with pytest.raises(payouts.DestinationChanged) as refused:
        payouts.mark_paid(approved.id, admin, "PP-1")
    assert refused.value.status == 409
    payouts.approve_payout(approved.id, admin, seen_change_count=1)
    paid = payouts.mark_paid(approved.id, admin, "PP-1")
    assert (paid.status, paid.destination_paypal_email) == ("paid", "paul@example.com")
    approval = db.session.scalars(select(AuditLog).where(AuditLog.action == "payout.approve")).one()
    assert approval.details["details_changes_seen"] == 1


def test_approval_that_did_not_see_the_change_is_refused_and_changes_nothing(db, requested, payee, admin):
    change_email(db, payee)
    with pytest.raises(payouts.DestinationChanged) as refused:
        payouts.approve_payout(requested.id, admin, seen_change_count=0)
    assert refused.value.status == 409
    db.session.refresh(requested)
    assert requested.status == "requested"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"method": "paypal", "paypal_email": "paul@example.com"}, id="same-details-again"),
        pytest.param({"method": "bank", "iban": VALID_IBAN, "account_holder": "Paul Doe"}, id="other-method"),
    ],
)
def test_a_save_that_leaves_the_destination_alone_keeps_the_approval(db, approved, payee, change):
    payout_details.set_payout_details(payee, change.pop("method"), **change)
    db.session.commit()
    db.session.refresh(approved)
    assert (approved.status, approved.details_change_count) == ("approved", 0)


def test_each_change_is_counted_and_the_latest_is_shown(db, requested, payee):
    change_email(db, payee, "first@example.org")
    change_email(db, payee, "second@example.net")
    db.session.refresh(requested)
    assert (requested.details_change_count, requested.details_changed_to) == (2, "PayPal s***@example.net")


def test_closed_payouts_are_not_touched_by_a_change(db, approved, payee, admin):
    payouts.mark_paid(approved.id, admin, "PP-1")
    db.session.commit()
    change_email(db, payee)
    db.session.refresh(approved)
    assert (approved.status, approved.details_change_count) == ("paid", 0)


# --- the payment file pays the snapshot ------------------------------------------------------------


@pytest.fixture
def admin_in(client, admin):
    sign_in(client, admin)
    return client


def test_csv_pays_the_snapshot_not_the_current_details(admin_in, db, approved, payee, admin):
    change_email(db, payee)
    assert csv_rows(admin_in) == []  # back to approval: not in the payment file
    payouts.approve_payout(approved.id, admin, seen_change_count=1)
    db.session.commit()
    [row] = csv_rows(admin_in)
    assert row[:4] == ["paul@example.com", "50.00", "EUR", f"CF-{approved.id}"]


def test_bank_csv_pays_the_snapshot_not_the_current_details(admin_in, db, make_partner, admin):
    partner = make_partner(payout_method="bank", payout_iban=VALID_IBAN, payout_account_holder="Pat Doe")
    ledger.record_entry(partner.id, "conversion_share", 5_000, "test:bank", created_at=LONG_AGO)
    payout = payouts.request_withdrawal(partner, 2_000, "bank")
    db.session.commit()
    payout_details.set_payout_details(partner, "bank", iban=OTHER_IBAN, account_holder="Mallory")
    payouts.approve_payout(payout.id, admin, seen_change_count=1)
    db.session.commit()
    rows = csv_rows(admin_in, "bank")
    assert rows[1][:3] == ["Pat Doe", VALID_IBAN, "20.00"]
    assert OTHER_IBAN not in str(rows) and "Mallory" not in str(rows)


# --- the admin pages ---------------------------------------------------------------------------------


def test_payouts_page_shows_the_masked_snapshot_and_flags_a_changed_destination(
    admin_in, db, approved, payee
):
    change_email(db, payee)
    page = admin_in.get("/admin/payouts?status=requested").get_data(as_text=True)
    assert "PayPal p***@example.com" in page and "PayPal n***@example.org" in page
    assert f'id="admin-payout-{approved.id}-changed"' in page
    assert 'name="seen_changes" value="1"' in page
    assert "paul@example.com" not in page and "new@example.org" not in page


def test_payouts_page_flags_nothing_when_the_details_did_not_change(admin_in, approved):
    page = admin_in.get("/admin/payouts?status=approved").get_data(as_text=True)
    assert "PayPal p***@example.com" in page
    assert f'id="admin-payout-{approved.id}-changed"' not in page


def test_partner_ledger_page_flags_a_changed_destination(admin_in, db, requested, payee):
    change_email(db, payee)
    page = admin_in.get(f"/admin/partners/{payee.id}/ledger").get_data(as_text=True)
    assert "changed after the request (now PayPal n***@example.org)" in page


def approve(client, payout_id: int, seen: str | None, htmx: bool):
    data = {"csrf_token": csrf_token_of(client, "/admin/payouts")}
    if seen is not None:
        data["seen_changes"] = seen
    return client.post(f"/admin/payouts/{payout_id}/approve", data=data, headers=HTMX if htmx else {})


@pytest.mark.parametrize("htmx", [False, True])
def test_approving_without_having_seen_the_change_answers_409_with_the_reason(
    admin_in, db, requested, payee, htmx
):
    change_email(db, payee)
    response = approve(admin_in, requested.id, "0", htmx)
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "changed their payout details while you were looking" in body
    assert f'id="admin-payout-{requested.id}-changed"' in body  # the row now shows the change
    assert db.session.get(Payout, requested.id).status == "requested"


@pytest.mark.parametrize("htmx", [False, True])
def test_approving_after_having_seen_the_change_approves(admin_in, db, requested, payee, htmx):
    change_email(db, payee)
    response = approve(admin_in, requested.id, "1", htmx)
    assert response.status_code == (200 if htmx else 303)
    payout = db.session.get(Payout, requested.id)
    db.session.refresh(payout)
    assert payout.status == "approved"


@pytest.mark.parametrize("seen", ["abc", "-1", "1" * 30, "²", " "])
def test_approval_with_a_malformed_count_is_a_400_and_approves_nothing(admin_in, db, requested, seen):
    response = approve(admin_in, requested.id, seen, htmx=True)
    assert response.status_code == 400
    assert "Reload the page and approve again." in response.get_data(as_text=True)
    assert db.session.get(Payout, requested.id).status == "requested"


def test_partner_page_says_an_open_withdrawal_keeps_its_destination(client, requested, payee):
    sign_in(client, payee)
    page = client.get("/partner/payout").get_data(as_text=True)
    assert 'id="partner-payout-open-note"' in page


# --- the migration's backfill ----------------------------------------------------------------------


def legacy_partner(connection, partner_id: str, **details: str | None) -> None:
    """A partner row as of migration 0009, with already encrypted payout details."""
    values = {"paypal_email": None, "iban": None, "account_holder": None, **details}
    connection.execute(
        sa.text(
            "INSERT INTO partners (id, email, display_name, locale, status, session_epoch, referral_code, "
            "created_at, payout_paypal_email, payout_iban, payout_account_holder) VALUES (:id, :email, '', "
            "'fr', 'active', 0, :id, '2026-03-01', :paypal_email, :iban, :account_holder)"
        ),
        {"id": partner_id, "email": f"{partner_id}@example.com", **values},
    )


def legacy_payout(connection, payout_id: int, partner_id: str, method: str, status: str) -> None:
    connection.execute(
        sa.text(
            "INSERT INTO payouts (id, partner_id, amount_cents, method, details_masked, status, "
            "requested_at) VALUES (:id, :partner, 1000, :method, 'x', :status, '2026-03-02')"
        ),
        {"id": payout_id, "partner": partner_id, "method": method, "status": status},
    )


def test_migration_backfills_the_snapshot_of_open_payouts_from_the_partners_details(make_app, tmp_path):
    """Migration 0010: open payouts get the partner's details (they could not change while one was
    open), closed ones keep none; the ciphertext is copied, so it reads back with the app's keys."""
    from flask_migrate import upgrade

    from contentflow.extensions import db as _db
    from contentflow.security import EncryptedText

    application = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'b.db'}")
    with application.app_context():
        try:
            upgrade(revision="0009")
            cipher = EncryptedText()
            with _db.engine.begin() as connection:
                legacy_partner(
                    connection, "pp", paypal_email=cipher.process_bind_param("paul@example.com", None)
                )
                legacy_partner(
                    connection,
                    "pb",
                    iban=cipher.process_bind_param(VALID_IBAN, None),
                    account_holder=cipher.process_bind_param("Pat Doe", None),
                )
                legacy_payout(connection, 1, "pp", "paypal", "approved")
                legacy_payout(connection, 2, "pb", "bank", "requested")
                legacy_payout(connection, 3, "pp", "paypal", "paid")
            upgrade(revision="heads")
            with _db.engine.connect() as connection:
                rows = connection.execute(
                    sa.text(
                        "SELECT id, destination_paypal_email, destination_iban, destination_account_holder, "
                        "details_change_count FROM payouts ORDER BY id"
                    )
                ).all()
            decrypted = [
                (row[0], *(cipher.process_result_value(value, None) for value in row[1:4]), row[4])
                for row in rows
            ]
            assert decrypted == [
                (1, "paul@example.com", None, None, 0),
                (2, None, VALID_IBAN, "Pat Doe", 0),
                (3, None, None, None, 0),
            ]
        finally:
            _db.engine.dispose()
