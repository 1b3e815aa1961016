"""Payouts: withdrawal requests and their life, requested -> approved -> paid, or rejected.

Money moves in the ledger only: a request debits it at once (``payout:<id>:request``), a rejection
credits it back (``payout:<id>:returned``), payment only settles the payout. Requests of a partner are
serialised by a lock on the partner's row (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite takes its write
lock at ``BEGIN IMMEDIATE``), so two parallel requests cannot both spend the same balance. Transitions
are conditional updates (``... WHERE status = ...``): the second of two racing admins gets a 409.

A payout keeps a snapshot of its destination (``payout_details.destination_of``), and the payment file
pays that snapshot. When the partner changes that method's details while it is open, an approved payout
goes back to approval (``payout_details.set_payout_details``); an approval takes the same partner row
lock and must name the number of changes its admin saw, so it cannot approve a change it never showed.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select, update

from contentflow.errors import Conflict, Forbidden, NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, LedgerEntry, Partner, Payout
from contentflow.models.base import utcnow
from contentflow.money import format_money, to_cents
from contentflow.services import audit, balances, holds, ledger, payout_details
from contentflow.services.partners import lock_partner
from contentflow.services.payout_details import check_method

OPEN_STATUSES = ("requested", "approved")
STATUS_LABELS = {
    "requested": _l("waiting for approval"),
    "approved": _l("approved"),
    "paid": _l("paid"),
    "rejected": _l("rejected"),
}


class InvalidAmount(ValidationError):
    code = "invalid_amount"


class BelowMinimum(ValidationError):
    code = "below_minimum"


class MissingPayoutDetails(ValidationError):
    code = "missing_details"


class InsufficientBalance(Conflict):
    code = "insufficient_balance"


class PartnerOnHold(Forbidden):
    code = "on_hold"


class PayoutStateConflict(Conflict):
    code = "payout_state"


class DestinationChanged(Conflict):
    code = "destination_changed"


def minimum_cents() -> int:
    return to_cents(current_app.config["PAYOUT_MIN_EUR"])


def approval_threshold_cents() -> int:
    return to_cents(current_app.config["PAYOUT_APPROVAL_THRESHOLD_EUR"])


def request_withdrawal(
    partner: Partner,
    amount_cents: int,
    method: str,
    *,
    now: datetime | None = None,
    proposal_key: str | None = None,
) -> Payout:
    """Withdraw ``amount_cents`` to the partner's ``method``: the ledger is debited at once; at or above
    ``PAYOUT_APPROVAL_THRESHOLD_EUR`` the payout waits for an admin, below it is approved.

    Raises payout_details.UnknownMethod, InvalidAmount, BelowMinimum (400), PartnerOnHold (403),
    MissingPayoutDetails (400) or InsufficientBalance (409); nothing is written then. Not idempotent:
    each call is a request.
    """
    now = now or utcnow()
    check_method(method)
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0:
        raise InvalidAmount(_("The amount must be more than zero."))
    if amount_cents < minimum_cents():
        raise BelowMinimum(_("The minimum withdrawal is %(amount)s.", amount=format_money(minimum_cents())))
    partner = lock_partner(partner.id)
    if holds.is_on_hold(partner.id, now=now):
        raise PartnerOnHold(_("Your account is on hold: withdrawals are paused. Contact support."))
    masked = payout_details.masked_destination(partner, method)
    destination = payout_details.destination_of(partner, method)
    if masked is None or destination is None:
        raise MissingPayoutDetails(_("Add your payout details for this method first."))
    available = balances.get_balances(partner.id, now=now).raw_available_cents
    if amount_cents > available:
        raise InsufficientBalance(
            _("You can withdraw %(amount)s at most.", amount=format_money(max(0, available)))
        )
    needs_approval = amount_cents >= approval_threshold_cents()
    payout = Payout(
        partner_id=partner.id,
        amount_cents=amount_cents,
        method=method,
        details_masked=masked,
        **destination,
        status="requested" if needs_approval else "approved",
        proposal_key=proposal_key,
        requested_at=now,
        decided_at=None if needs_approval else now,
    )
    db.session.add(payout)
    db.session.flush()
    ledger.record_entry(
        partner.id,
        "withdrawal",
        -amount_cents,
        f"payout:{payout.id}:request",
        payout_id=payout.id,
        memo=f"withdrawal #{payout.id} ({method})",
        created_at=now,
    )
    return payout


def get_payout(payout_id: int) -> Payout:
    """Raises NotFound."""
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        raise NotFound(_("No such payout."), code="unknown_payout")
    return payout


def _change(before: str, after: str) -> dict:
    """An audit record's status change (the audit page shows ``before -> after``)."""
    return {"before": {"status": before}, "after": {"status": after}}


def _transition(payout_id: int, from_statuses: tuple[str, ...], **values) -> Payout:
    """Move the payout out of ``from_statuses`` in one conditional UPDATE. Raises NotFound or
    PayoutStateConflict (already moved on, by this admin or a racing one)."""
    moved = db.session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.status.in_(from_statuses))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    payout = get_payout(payout_id)
    db.session.refresh(payout)
    if not moved:
        raise PayoutStateConflict(
            _("This payout is already %(status)s.", status=STATUS_LABELS.get(payout.status, payout.status))
        )
    return payout


def approve_payout(
    payout_id: int, admin: AdminUser, *, seen_change_count: int = 0, now: datetime | None = None
) -> Payout:
    """An admin approves a requested payout, to be paid to its snapshot. ``seen_change_count`` is the
    payout's ``details_change_count`` the admin's page showed: when the partner changed their details
    since, nothing is approved. Audit-logged.

    Raises NotFound, PayoutStateConflict or DestinationChanged (409)."""
    now = now or utcnow()
    payout = get_payout(payout_id)
    # The lock a change of details takes: that change happens wholly before this approval or after it.
    lock_partner(payout.partner_id)
    db.session.refresh(payout)
    if payout.status == "requested" and payout.details_change_count != seen_change_count:
        raise DestinationChanged(
            _(
                "The partner changed their payout details while you were looking: "
                "check the destination and approve again."
            )
        )
    payout = _transition(
        payout_id, ("requested",), status="approved", decided_at=now, decided_by_admin_id=admin.id
    )
    audit.record(
        "payout.approve",
        admin=admin,
        target_type="payout",
        target_id=payout.id,
        details={
            **_change("requested", "approved"),
            # Approved knowing the partner changed their details since the request.
            **({"details_changes_seen": seen_change_count} if seen_change_count else {}),
        },
    )
    return payout


def mark_paid(payout_id: int, admin: AdminUser, reference: str, *, now: datetime | None = None) -> Payout:
    """An admin records that an approved payout was sent, with the transfer's ``reference``. No money
    moves in the ledger (the request already debited it). Audit-logged.

    Raises ValidationError (no reference), NotFound, PayoutStateConflict, or DestinationChanged when a
    change of the partner's details sent it back to approval."""
    reference = (reference or "").strip()
    if not reference or len(reference) > 120:
        raise ValidationError(
            _("Give the transfer's reference (120 characters at most)."), code="reference_required"
        )
    try:
        payout = _transition(
            payout_id, ("approved",), status="paid", paid_at=now or utcnow(), reference=reference
        )
    except PayoutStateConflict:
        stale = get_payout(payout_id)
        if stale.status == "requested" and stale.details_change_count:
            raise DestinationChanged(
                _(
                    "The partner changed their payout details after the approval: "
                    "check the destination and approve again before paying."
                )
            ) from None
        raise
    audit.record(
        "payout.pay",
        admin=admin,
        target_type="payout",
        target_id=payout.id,
        details={"reference": reference, **_change("approved", "paid")},
    )
    return payout


def reject_payout(payout_id: int, admin: AdminUser, note: str, *, now: datetime | None = None) -> Payout:
    """An admin rejects a requested or approved payout with a ``note`` for the partner; the amount goes
    back to the partner's balance. Audit-logged.

    Raises ValidationError (no note), NotFound or PayoutStateConflict (e.g. already paid)."""
    note = (note or "").strip()
    if not note or len(note) > 500:
        raise ValidationError(
            _("Say why (500 characters at most): the partner reads it."), code="note_required"
        )
    now = now or utcnow()
    # Locked, so the status read is the one the transition moves from (for the audit record).
    before = db.session.scalar(select(Payout.status).where(Payout.id == payout_id).with_for_update())
    payout = _transition(
        payout_id, OPEN_STATUSES, status="rejected", note=note, decided_at=now, decided_by_admin_id=admin.id
    )
    ledger.record_entry(
        payout.partner_id,
        "withdrawal_returned",
        payout.amount_cents,
        f"payout:{payout.id}:returned",
        payout_id=payout.id,
        memo=f"withdrawal #{payout.id} rejected",
        created_at=now,
    )
    audit.record(
        "payout.reject",
        admin=admin,
        target_type="payout",
        target_id=payout.id,
        details={"note": note, **_change(before, "rejected")},
    )
    return payout


# --- weekly proposals ----------------------------------------------------------------------------------


def proposal_key(partner_id: str, now: datetime) -> str:
    """``weekly:<ISO year>-W<week>:<partner>``: one proposal per partner and ISO week."""
    year, week, _day = now.isocalendar()
    return f"weekly:{year}-W{week:02d}:{partner_id}"


def _open_payout_exists(partner_id):
    return exists().where(Payout.partner_id == partner_id, Payout.status.in_(OPEN_STATUSES))


def proposal_candidates(*, now: datetime | None = None) -> list[str]:
    """Ids of active partners with a payout method, no open payout, and a ledger total of at least the
    minimum (the available balance, never more than that total, is checked per partner)."""
    rich = (
        select(LedgerEntry.partner_id)
        .group_by(LedgerEntry.partner_id)
        .having(func.sum(LedgerEntry.amount_cents) >= minimum_cents())
    )
    return list(
        db.session.scalars(
            select(Partner.id)
            .where(
                Partner.status == "active",
                Partner.payout_method.is_not(None),
                Partner.id.in_(rich),
                ~_open_payout_exists(Partner.id),
            )
            .order_by(Partner.id)
        )
    )


def propose_payout(partner_id: str, *, now: datetime | None = None) -> Payout | None:
    """Propose this week's payout of the partner's whole available balance (status by the threshold
    rule), or None when there is nothing to propose: already proposed this week, an open payout, on
    hold, no details for the preferred method, or below the minimum. Idempotent per ISO week (the
    unique ``proposal_key``)."""
    now = now or utcnow()
    key = proposal_key(partner_id, now)
    partner = lock_partner(partner_id)
    if db.session.scalar(select(Payout.id).where(Payout.proposal_key == key)) is not None:
        return None
    if db.session.scalar(select(_open_payout_exists(partner.id))):
        return None
    method = partner.payout_method
    if method not in current_app.config["PAYOUT_METHODS"] or holds.is_on_hold(partner.id, now=now):
        return None
    if payout_details.masked_destination(partner, method) is None:
        return None
    available = balances.get_balances(partner.id, now=now).raw_available_cents
    if available < minimum_cents():
        return None
    return request_withdrawal(partner, available, method, now=now, proposal_key=key)


# --- lists ---------------------------------------------------------------------------------------------


def list_payouts(
    *, partner_id: str | None = None, status: str | None = None, limit: int = 200
) -> list[Payout]:
    """Payouts newest first, of one partner and/or one status."""
    statement = select(Payout).order_by(Payout.requested_at.desc(), Payout.id.desc()).limit(limit)
    if partner_id is not None:
        statement = statement.where(Payout.partner_id == partner_id)
    if status is not None:
        statement = statement.where(Payout.status == status)
    return list(db.session.scalars(statement))


def list_with_emails(status: str, limit: int = 200) -> list[tuple[Payout, str]]:
    """Payouts in ``status``, oldest request first, each with its partner's e-mail (the admin queue)."""
    return [
        (payout, email)
        for payout, email in db.session.execute(
            select(Payout, Partner.email)
            .join(Partner, Partner.id == Payout.partner_id)
            .where(Payout.status == status)
            .order_by(Payout.requested_at, Payout.id)
            .limit(limit)
        )
    ]


def partner_email(payout: Payout) -> str:
    """The e-mail of the partner ``payout`` belongs to."""
    return db.session.scalar(select(Partner.email).where(Partner.id == payout.partner_id)) or ""


def count_by_status() -> dict[str, int]:
    """How many payouts are in each status (every status present, zero included)."""
    counts = dict(db.session.execute(select(Payout.status, func.count()).group_by(Payout.status)).all())
    return {status: int(counts.get(status, 0)) for status in STATUS_LABELS}
