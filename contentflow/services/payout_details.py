"""Where a partner's money goes: PayPal e-mail or bank account (IBAN and holder), encrypted at rest
(``EncryptedText`` columns), masked wherever shown, decrypted for use only in the payment file.

IBANs are checked the ISO 13616 way: 15 to 34 characters (country code, two check digits, account
number), then the ISO 7064 mod-97-10 checksum: move the first four characters to the end, turn letters
into numbers (A=10 ... Z=35); the number modulo 97 must be 1. That catches every single wrong character
and almost every swap of two. No bank-registry look-up (no network call, no extra dependency).
"""

from __future__ import annotations

import csv
import io
import re

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from contentflow.errors import ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Partner, Payout
from contentflow.money import from_cents
from contentflow.services import audit, mail
from contentflow.services.mail import Message
from contentflow.services.partners import lock_partner, normalize_email

IBAN_FORMAT = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
#: PayPal's payout file (Payouts web upload) has no header row: email, amount, currency, id, note.
PAYPAL_COLUMNS = ("email", "amount", "currency", "unique_id", "note")
#: The bank file has a header row.
BANK_COLUMNS = ("name", "iban", "amount", "currency", "reference")
#: A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InvalidPayoutDetails(ValidationError):
    """Bad payout details; ``field`` names the form field at fault."""

    code = "invalid_details"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownMethod(ValidationError):
    code = "unknown_method"


def check_method(method: str) -> None:
    """Raises UnknownMethod unless ``method`` is one of ``PAYOUT_METHODS``."""
    if method not in current_app.config["PAYOUT_METHODS"]:
        raise UnknownMethod(_("This payout method is not offered."))


def normalize_iban(raw: str) -> str:
    """Spaces and dashes removed, upper-cased, checksum verified. Raises InvalidPayoutDetails."""
    iban = re.sub(r"[\s-]", "", raw or "").upper()
    if not IBAN_FORMAT.match(iban) or not iban_checksum_is_valid(iban):
        raise InvalidPayoutDetails(
            _("This IBAN is not valid: check it on your bank statement."), field="iban"
        )
    return iban


def iban_checksum_is_valid(iban: str) -> bool:
    """The ISO 7064 mod-97-10 check of an upper-case, alphanumeric IBAN."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def mask_email(email: str) -> str:
    """``paul@example.com`` -> ``p***@example.com``."""
    local, _at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_iban(iban: str) -> str:
    """``FR7630006000011234567890189`` -> ``FR76 **** **** 0189`` (the length is not revealed)."""
    return f"{iban[:4]} **** **** {iban[-4:]}"


def masked_destination(partner: Partner, method: str) -> str | None:
    """What may be shown of the partner's details for ``method``, or None when they have none."""
    if method == "paypal" and partner.payout_paypal_email:
        return "PayPal " + mask_email(partner.payout_paypal_email)
    if method == "bank" and partner.payout_iban and partner.payout_account_holder:
        return mask_iban(partner.payout_iban)
    return None


def destination_of(partner: Partner, method: str) -> dict[str, str] | None:
    """The partner's current details for ``method`` as a payout's snapshot columns, or None when they
    have none: what a payout requested now is paid to."""
    if method == "paypal" and partner.payout_paypal_email:
        return {"destination_paypal_email": partner.payout_paypal_email}
    if method == "bank" and partner.payout_iban and partner.payout_account_holder:
        return {
            "destination_iban": partner.payout_iban,
            "destination_account_holder": partner.payout_account_holder,
        }
    return None


def _send_open_payouts_back(partner: Partner, method: str) -> list[int]:
    """After a change of the partner's ``method`` details: each open payout of that method counts the
    change and remembers the new details (masked); an approved one goes back to approval, since it would
    still pay its snapshot. Audit-logged per payout. Returns the ids of the payouts concerned."""
    open_payouts = db.session.scalars(
        select(Payout)
        .where(
            Payout.partner_id == partner.id,
            Payout.method == method,
            Payout.status.in_(("requested", "approved")),
        )
        .order_by(Payout.id)
        .with_for_update()
    ).all()
    changed_to = masked_destination(partner, method)
    for payout in open_payouts:
        before = payout.status
        payout.details_change_count += 1
        payout.details_changed_to = changed_to
        payout.status, payout.decided_at, payout.decided_by_admin_id = "requested", None, None
        audit.record(
            "payout.details_changed",
            actor=f"partner:{partner.id}",
            target_type="payout",
            target_id=payout.id,
            details={"before": {"status": before}, "after": {"status": "requested"}},
        )
    db.session.flush()
    return [payout.id for payout in open_payouts]


def set_payout_details(
    partner: Partner, method: str, *, paypal_email: str = "", iban: str = "", account_holder: str = ""
) -> bool:
    """Save the details of ``method`` and make it the partner's preferred method; the other method's
    details stay. When anything changed, the partner is e-mailed (after the commit). Returns whether
    anything changed (saving the same details again is a no-op).

    A withdrawal in progress keeps the destination it was requested with (its snapshot); when this
    method's details change, its open payouts are flagged and an approved one needs a new approval (the
    partner's row lock orders this with approvals). Raises UnknownMethod or InvalidPayoutDetails (with
    its ``field``).
    """
    check_method(method)
    if method == "paypal":
        if not (paypal_email or "").strip():
            raise InvalidPayoutDetails(_("Enter your PayPal e-mail."), field="paypal_email")
        try:
            new = {"payout_paypal_email": normalize_email(paypal_email)}
        except ValidationError as error:
            raise InvalidPayoutDetails(error.message, field="paypal_email") from None
    else:
        holder = " ".join((account_holder or "").split())
        if not 2 <= len(holder) <= 70:
            raise InvalidPayoutDetails(
                _("Enter the account holder's name as the bank knows it (70 characters at most)."),
                field="account_holder",
            )
        new = {"payout_iban": normalize_iban(iban), "payout_account_holder": holder}
    new["payout_method"] = method
    # Locked and re-read: a withdrawal or an approval in flight for this partner finishes first.
    partner = lock_partner(partner.id)
    if all(getattr(partner, name) == value for name, value in new.items()):
        return False
    destination_before = destination_of(partner, method)
    for name, value in new.items():
        setattr(partner, name, value)
    db.session.flush()
    if destination_of(partner, method) != destination_before:
        _send_open_payouts_back(partner, method)
    mail.queue_message(details_changed_message(partner))
    return True


def details_changed_message(partner: Partner) -> Message:
    """The e-mail telling the partner their payout details changed, in their language, masked."""
    shown = masked_destination(partner, partner.payout_method or "") or ""
    with force_locale(partner.locale):
        return Message(
            to=partner.email,
            subject=_("Your payout details changed"),
            text=_(
                "Hello,\n\nThe payout details of your ContentFlow account were changed to: %(details)s.\n\n"
                "If you did not make this change, sign in, correct them and reply to this e-mail at once.",
                details=shown,
            ),
            tag="payout_details",
        )


# --- the payment file ----------------------------------------------------------------------------------


def _cell(value: str) -> str:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def approved_payouts_csv(method: str, admin: AdminUser) -> tuple[str, list[int]]:
    """The approved payouts of ``method`` as a payment file, and the payout ids in it. Audit-logged.

    Each payout is paid to its snapshot (the details it was requested with), never to the partner's
    current details: a change of those sent it back to approval. PayPal (Payouts web upload, no header
    row): email, amount, currency, unique id (``CF-<payout>``), note. Bank (header row): name, iban,
    amount, currency, reference (``CF-<payout>``). Amounts are ``12.34`` in EUR. Cells a spreadsheet
    would run as formulas start with a quote. A payout without a snapshot is left out. Raises
    UnknownMethod.
    """
    check_method(method)
    approved = db.session.scalars(
        select(Payout).where(Payout.status == "approved", Payout.method == method).order_by(Payout.id)
    ).all()
    out = io.StringIO()
    writer = csv.writer(out)
    if method == "bank":
        writer.writerow(BANK_COLUMNS)
    included: list[int] = []
    for payout in approved:
        amount = str(from_cents(payout.amount_cents))
        reference = f"CF-{payout.id}"
        if method == "paypal" and payout.destination_paypal_email:
            row = [
                payout.destination_paypal_email,
                amount,
                "EUR",
                reference,
                f"ContentFlow payout {reference}",
            ]
        elif method == "bank" and payout.destination_iban and payout.destination_account_holder:
            row = [
                payout.destination_account_holder,
                payout.destination_iban,
                amount,
                "EUR",
                f"ContentFlow {reference}",
            ]
        else:
            continue
        writer.writerow([_cell(value) for value in row])
        included.append(payout.id)
    audit.record(
        "payout.export", admin=admin, target_type="payout", details={"method": method, "payout_ids": included}
    )
    return out.getvalue(), included
